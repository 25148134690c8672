"""A loopback stand-in for Loki's OTLP/HTTP ingestion (and Grafana Cloud's gateway in front of it),
for what no Loki here can show: it refuses log records older than `cutoff_ns` one by one, stores
the others, and answers such a request 400 with Loki's own wording, either of its two refusals of
an entry's time: older than `reject_old_samples_max_age` (TOO_OLD: "entry for stream '…' has
timestamp too old: …, oldest acceptable timestamp is: …"), or further behind its stream's newest
entry than the out-of-order window (TOO_FAR_BEHIND: "entry with timestamp … ignored, reason: 'entry
too far behind, entry timestamp is: …, oldest acceptable timestamp is: …'," for each, then the
total; the wording of Loki's own tests). Traces and metrics are taken whole. Everything is
recorded for the test to read.

    with loki_stand_in(cutoff_ns, TOO_FAR_BEHIND) as loki:
        export to loki.endpoint; then loki.accepted_logs, loki.refused_logs, loki.metric_values
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from tests.support.http_standin import serving

TOO_OLD = "too old"
TOO_FAR_BEHIND = "too far behind"


@dataclass
class LokiStandIn:
    cutoff_ns: int
    wording: str = TOO_OLD
    port: int = 0
    accepted_logs: list[str] = field(default_factory=list)  # intent.event.id of each stored record
    refused_logs: list[str] = field(default_factory=list)
    metric_values: dict[str, float] = field(default_factory=dict)  # newest value of each gauge/sum
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _rfc3339(ns: int) -> str:
    """As Loki writes times in its refusals: Go's RFC 3339, to the second."""
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _refusal(loki: LokiStandIn, service: str, refused: list[int], total: int) -> str | None:
    """Loki's answer to a request of which the records at these times were refused (None: none)."""
    if not refused:
        return None
    cutoff, stream = _rfc3339(loki.cutoff_ns), f'{{service_name="{service}"}}'
    if loki.wording == TOO_OLD:  # one entry named
        return f"entry for stream '{stream}' has timestamp too old: {_rfc3339(refused[0])}, " + (
            f"oldest acceptable timestamp is: {cutoff}"
        )
    entries = "".join(
        f"entry with timestamp {datetime.fromtimestamp(ns / 1e9, UTC):%Y-%m-%d %H:%M:%S} +0000 UTC ignored, "
        f"reason: 'entry too far behind, entry timestamp is: {_rfc3339(ns)}, "
        f"oldest acceptable timestamp is: {cutoff}',\n"
        for ns in refused
    )
    return f"{entries}user 'fake', total ignored: {len(refused)} out of {total} for stream: {stream}"


def _take_logs(loki: LokiStandIn, body: bytes) -> str | None:
    """Store what is new enough; Loki's refusal text for what is not, if any."""
    refused: list[int] = []
    total = 0
    service = "intent"
    request = ExportLogsServiceRequest.FromString(body)
    for resource_logs in request.resource_logs:
        service = next(
            a.value.string_value for a in resource_logs.resource.attributes if a.key == "service.name"
        )
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                total += 1
                event_id = next(a.value.string_value for a in record.attributes if a.key == "intent.event.id")
                with loki.lock:
                    if record.time_unix_nano >= loki.cutoff_ns:
                        loki.accepted_logs.append(event_id)
                        continue
                    loki.refused_logs.append(event_id)
                refused.append(record.time_unix_nano)
    return _refusal(loki, service, refused, total)


def _take_metrics(loki: LokiStandIn, body: bytes) -> None:
    request = ExportMetricsServiceRequest.FromString(body)
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind in ("gauge", "sum"):
                    for point in getattr(metric, kind).data_points:
                        with loki.lock:
                            loki.metric_values[metric.name] = float(getattr(point, point.WhichOneof("value")))


def _handler(loki: LokiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            refusal = None
            if self.path == "/v1/logs":
                refusal = _take_logs(loki, body)
            elif self.path == "/v1/metrics":
                _take_metrics(loki, body)
            status, answer, kind = (
                (400, refusal.encode(), "text/plain") if refusal else (200, b"", "application/x-protobuf")
            )
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads what was recorded."""

    return Handler


@contextmanager
def loki_stand_in(cutoff_ns: int, wording: str = TOO_OLD) -> Iterator[LokiStandIn]:
    loki = LokiStandIn(cutoff_ns, wording)
    with serving(_handler(loki), "loki-stand-in") as port:
        loki.port = port
        yield loki
