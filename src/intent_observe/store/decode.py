"""OTLP export requests → the rows the store writes.

Runs on the receiver's worker threads (not the writer's), so decoding happens in
parallel with writing. Anything unusable (an all-zero trace id, an unsupported
metric type, a time SQLite cannot hold) is counted as rejected with a reason, for the
partial-success answer: the items around it are stored.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, fields
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2

from intent_observe._core import decode_log_records, decode_spans
from intent_observe.store.rows import LogRow, SpanRow, log_rows, span_rows

CLAUDE_SERVICE = "claude-code"
UNKNOWN_SERVICE = "unknown_service"
# Resource attributes `intent-observe run --contract` sets on a wrapped session.
LINK_ATTRIBUTES = ("intent.contract.id", "intent.spec.id", "intent.id")
_DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
_MAX_ATTR_DEPTH = 8
# OTLP times and counts are unsigned 64-bit; SQLite integers are signed: from 2^63 on they
# cannot be stored (nor are they a time before the year 2262).
MAX_STORABLE = 2**63 - 1


def storable(*values: int) -> bool:
    return all(value <= MAX_STORABLE for value in values)


_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value"})


def any_value(value: AnyValue, depth: int = 0) -> Any:
    which = value.WhichOneof("value")
    if which in _SCALARS:
        return getattr(value, which)
    if which is None:
        return None
    if which == "bytes_value":
        return value.bytes_value.hex()
    if depth >= _MAX_ATTR_DEPTH:
        return None
    if which == "array_value":
        return [any_value(v, depth + 1) for v in value.array_value.values]
    return attributes(value.kvlist_value.values, depth + 1)


def attributes(pairs: Any, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kv: KeyValue
    for kv in pairs:
        value = kv.value
        which = value.WhichOneof("value")
        # the common case inline: one attribute costs one oneof check and one read
        out[kv.key] = getattr(value, which) if which in _SCALARS else any_value(value, depth)
    return out


def stable_id(*parts: str | bytes) -> int:
    """A 63-bit id from content, so the same resource or series always gets the same row."""
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x00")
    return int.from_bytes(h.digest(), "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    id: int
    service: str
    attributes: dict[str, Any]
    json: str
    link: dict[str, str | None]  # the ids `run --contract` puts on a wrapped session's resource
    session_id: str | None

    @property
    def row(self) -> tuple[int, str, str]:
        return (self.id, self.service, self.json)

    @property
    def names_session(self) -> bool:
        """Whether telemetry under this resource may belong to a session worth listing."""
        return self.service == CLAUDE_SERVICE or any(self.link.values())


def resource_info(resource: Resource) -> ResourceInfo:
    attrs = attributes(resource.attributes)
    doc = orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS).decode()
    service = _text(attrs.get("service.name")) or UNKNOWN_SERVICE
    link = {key: _text(attrs.get(key)) for key in LINK_ATTRIBUTES}
    return ResourceInfo(stable_id(doc), service, attrs, doc, link, _text(attrs.get("session.id")))


@dataclass(slots=True)
class SessionTouch:
    """A piece of Claude Code telemetry naming its session: extends the session's time span and links."""

    session_id: str
    time_ns: int
    contract_id: str | None = None
    spec_id: str | None = None
    intent_id: str | None = None
    trace_id: str | None = None
    parent_span_id: str | None = None


@dataclass(slots=True)
class Batch:
    """Rows from one request, ready for one writer transaction."""

    resources: list[tuple[int, str, str]] = field(default_factory=list)
    spans: list[SpanRow] = field(default_factory=list)
    logs: list[LogRow] = field(default_factory=list)
    points: list[MetricPoint] = field(default_factory=list)
    sessions: list[SessionTouch] = field(default_factory=list)
    promotions: list[tuple[str, str | None]] = field(default_factory=list)  # (orphan trace, intent)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, count: int, reason: str) -> None:
        self.rejected += count
        if reason not in self.reasons:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)

    def __getstate__(self) -> dict[str, Any]:
        # rows leave the decoding process as plain tuples, and the core names them again: pickled
        # as NamedTuples they cost a Python call a row each way (measured: 3 µs a span more, 2 of
        # them in the writer's process)
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        return state | {"spans": list(map(tuple, self.spans)), "logs": list(map(tuple, self.logs))}

    def __setstate__(self, state: dict[str, Any]) -> None:
        spans, logs = state.pop("spans"), state.pop("logs")
        for name, value in state.items():
            setattr(self, name, value)
        self.spans, self.logs = span_rows(spans), log_rows(logs)


@dataclass(slots=True)
class MetricPoint:
    series_id: int
    name: str
    service: str
    labels: str  # canonical JSON
    kind: str  # counter | updown | gauge | histogram
    unit: str
    temporality: str  # cumulative | delta | none
    session_id: str | None
    start_ns: int
    time_ns: int
    value: float
    histogram: dict[str, Any] | None = None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text else None


def _touch_session(
    batch: Batch,
    res: ResourceInfo,
    attrs: dict[str, Any],
    time_ns: int,
    trace: tuple[str, str | None] | None = None,
) -> None:
    """Note a session seen in Claude Code telemetry (or any telemetry `run --contract` linked)."""
    if not res.names_session:
        return
    session = _text(attrs.get("session.id")) or res.session_id
    if session is None:
        return
    link = res.link
    touch = SessionTouch(
        session, time_ns, link["intent.contract.id"], link["intent.spec.id"], link["intent.id"]
    )
    if trace is not None:
        touch.trace_id, touch.parent_span_id = trace
    batch.sessions.append(touch)


def decode_body(signal: str, body: bytes, received_ns: int) -> Batch:
    """A serialized Export*ServiceRequest of `signal` ("traces", "logs", "metrics") → rows.

    What the decoding process runs (see decode_pool); raises protobuf's DecodeError."""
    if signal == "traces":
        ExportTraceServiceRequest.FromString(body)  # the official parser refuses a malformed body
        return _decode_trace_body(body, received_ns)
    if signal == "logs":
        ExportLogsServiceRequest.FromString(body)  # the official parser refuses a malformed body
        return _decode_logs_body(body, received_ns)
    if signal == "metrics":
        return decode_metrics(ExportMetricsServiceRequest.FromString(body))
    raise ValueError(f"no such OTLP signal: {signal!r}")


# ----------------------------------------------------------------------------- traces
def _decode_trace_body(body: bytes, received_ns: int) -> Batch:
    """The compiled core reads the spans straight from the request's bytes (each span's row:
    its ids, times, status, the attributes kept in columns, its own protobuf as it came)."""
    batch = Batch()
    groups, promotions, batch.rejected, batch.reasons = decode_spans(
        body, received_ns, _resource_of_bytes, SpanRow
    )
    for res, rows in groups:
        batch.resources.append(res.row)
        batch.spans += rows
        if res.names_session:
            for row in rows:
                trace = (row.trace_id, row.parent_span_id)
                _touch_session(batch, res, {"session.id": row.session_id}, row.start_ns, trace)
    batch.promotions = promotions
    return batch


def _resource_of_bytes(raw: bytes) -> ResourceInfo:
    return resource_info(Resource.FromString(raw))


def span_details(proto: bytes | None) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """A stored span's attributes and links, decoded from its protobuf."""
    if not proto:
        return {}, []
    span = trace_pb2.Span.FromString(proto)
    links = [
        {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()}
        for link in span.links
        if len(link.trace_id) == 16 and len(link.span_id) == 8
    ]
    return attributes(span.attributes), links


# ------------------------------------------------------------------------------- logs
def _decode_logs_body(body: bytes, received_ns: int) -> Batch:
    """The compiled core reads the log records from the request's bytes: each row keyed by its
    `intent.event.id` (else a hash of its content), its category (intent | claude | other), event
    name, body, the attributes kept in columns and all of them as sorted JSON."""
    batch = Batch()
    groups, batch.rejected, batch.reasons = decode_log_records(body, received_ns, _resource_of_bytes, LogRow)
    for res, rows in groups:
        batch.resources.append(res.row)
        batch.logs += rows
        for row in rows:
            if row.category == "claude":
                _touch_session(batch, res, {"session.id": row.session_id}, row.time_ns)
    return batch


# ---------------------------------------------------------------------------- metrics
def decode_metrics(request: ExportMetricsServiceRequest) -> Batch:
    batch = Batch()
    for resource_metrics in request.resource_metrics:
        res = resource_info(resource_metrics.resource)
        batch.resources.append(res.row)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _decode_metric(batch, res, metric)
    return batch


def _decode_metric(batch: Batch, res: ResourceInfo, metric: metrics_pb2.Metric) -> None:
    which = metric.WhichOneof("data")
    if which == "sum":
        kind = "counter" if metric.sum.is_monotonic else "updown"
        temporality = "delta" if metric.sum.aggregation_temporality == _DELTA else "cumulative"
        for dp in metric.sum.data_points:
            _number_point(batch, res, metric, dp, kind, temporality)
    elif which == "gauge":
        for dp in metric.gauge.data_points:
            _number_point(batch, res, metric, dp, "gauge", "none")
    elif which == "histogram":
        temporality = "delta" if metric.histogram.aggregation_temporality == _DELTA else "cumulative"
        for hp in metric.histogram.data_points:
            _histogram_point(batch, res, metric, hp, temporality)
    else:
        count = _point_count(metric, which)
        batch.reject(count, f"metric type {which or 'empty'} is not stored ({metric.name})")


def _point_count(metric: metrics_pb2.Metric, which: str | None) -> int:
    if which is None:
        return 0
    return len(getattr(metric, which).data_points)


def _series(res: ResourceInfo, name: str, attrs: dict[str, Any]) -> tuple[int, str, str | None]:
    labels = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in attrs.items()}
    doc = orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()
    # two repositories' adapters send the same series names: keep them apart, sum them on read
    repository = str(res.attributes.get("intent.repository", ""))
    return stable_id(name, res.service, repository, doc), doc, _text(attrs.get("session.id"))


def _number_point(batch: Batch, res: ResourceInfo, metric: Any, dp: Any, kind: str, temporality: str) -> None:
    if not storable(dp.start_time_unix_nano, dp.time_unix_nano):
        batch.reject(1, f"data point of {metric.name} with a time of 2^63 ns or later")
        return
    attrs = attributes(dp.attributes)
    series_id, labels, session = _series(res, metric.name, attrs)
    value = float(dp.as_int) if dp.WhichOneof("value") == "as_int" else dp.as_double
    batch.points.append(
        MetricPoint(
            series_id, metric.name, res.service, labels, kind, metric.unit, temporality, session,
            dp.start_time_unix_nano, dp.time_unix_nano, value,
        )
    )  # fmt: skip
    if session is not None:
        _touch_session(batch, res, attrs, dp.time_unix_nano)


def _histogram_point(batch: Batch, res: ResourceInfo, metric: Any, hp: Any, temporality: str) -> None:
    problem = _histogram_problem(hp)
    if problem:
        batch.reject(1, f"histogram of {metric.name}: {problem}")
        return
    attrs = attributes(hp.attributes)
    series_id, labels, session = _series(res, metric.name, attrs)
    bounds = list(hp.explicit_bounds)
    counts = list(hp.bucket_counts) or [0] * (len(bounds) + 1)
    histogram = {"bounds": bounds, "counts": counts, "sum": hp.sum, "count": hp.count}
    batch.points.append(
        MetricPoint(
            series_id, metric.name, res.service, labels, "histogram", metric.unit, temporality, session,
            hp.start_time_unix_nano, hp.time_unix_nano, float(hp.count), histogram,
        )
    )  # fmt: skip


def _histogram_problem(hp: Any) -> str | None:
    """Why a histogram point cannot be stored, or None."""
    bounds = hp.explicit_bounds
    if hp.bucket_counts and len(hp.bucket_counts) != len(bounds) + 1:
        return f"{len(hp.bucket_counts)} buckets for {len(bounds)} bounds"
    if not all(math.isfinite(bound) for bound in bounds):
        return "a bucket bound that is not a finite number"
    if not storable(hp.start_time_unix_nano, hp.time_unix_nano, hp.count, *hp.bucket_counts):
        return "a time or count of 2^63 or more"
    return None
