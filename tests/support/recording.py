"""A consumer for the real OTLP receiver that records everything it receives in SQLite.

Each span, log record and metric data point becomes one row, so a test (or a fault test
in another process) can read exactly what arrived. A control file lets the test make the
receiver refuse data (HTTP 503 / gRPC UNAVAILABLE) for a while.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from intent_observe.otlp.consumer import ACCEPTED, ConsumerBusy, PartialResult
from intent_observe.otlp.signals import WIRES, Signal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
  trace_id TEXT, span_id TEXT, parent_span_id TEXT, name TEXT, kind INTEGER,
  start_ns INTEGER, end_ns INTEGER, status_code INTEGER, attributes TEXT, resource TEXT,
  scope TEXT, links TEXT);
CREATE TABLE IF NOT EXISTS logs (
  trace_id TEXT, span_id TEXT, time_ns INTEGER, observed_ns INTEGER, severity_number INTEGER,
  severity_text TEXT, body TEXT, attributes TEXT, resource TEXT, event_name TEXT);
CREATE TABLE IF NOT EXISTS points (
  metric TEXT, kind TEXT, unit TEXT, attributes TEXT, time_ns INTEGER, value REAL,
  count INTEGER, bucket_counts TEXT, explicit_bounds TEXT, is_monotonic INTEGER, temporality INTEGER,
  resource TEXT);
CREATE TABLE IF NOT EXISTS refusals (signal TEXT, at REAL);
"""


class ReceiverControl:
    """Shared through a file so it also steers a receiver running in another process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def refuse_for(self, seconds: float) -> None:
        """Answer every request with 'busy, retry later' for the next `seconds`."""
        _write_atomically(self.path, repr(time.time() + seconds))

    def accept(self) -> None:
        _write_atomically(self.path, "0")

    def refusing(self) -> bool:
        try:
            return time.time() < float(self.path.read_text() or "0")
        except FileNotFoundError:
            return False


def _write_atomically(path: Path, text: str) -> None:
    temp = path.with_suffix(".tmp")
    temp.write_text(text)
    temp.replace(path)


class RecordingConsumer:
    def __init__(self, db_path: Path, control: ReceiverControl) -> None:
        self._control = control
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        request = WIRES[signal].request_type.FromString(body)
        return getattr(self, f"consume_{signal.value}")(request)  # type: ignore[no-any-return]

    def consume_traces(self, request: ExportTraceServiceRequest) -> PartialResult:
        self._refuse_if_told("traces")
        rows = [
            _span_row(span, resource, scope.scope.name)
            for resource_spans in request.resource_spans
            for resource in [_attributes(resource_spans.resource.attributes)]
            for scope in resource_spans.scope_spans
            for span in scope.spans
        ]
        self._insert("INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        return ACCEPTED

    def consume_logs(self, request: ExportLogsServiceRequest) -> PartialResult:
        self._refuse_if_told("logs")
        rows = [
            _log_row(record, resource)
            for resource_logs in request.resource_logs
            for resource in [_attributes(resource_logs.resource.attributes)]
            for scope in resource_logs.scope_logs
            for record in scope.log_records
        ]
        self._insert("INSERT INTO logs VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        return ACCEPTED

    def consume_metrics(self, request: ExportMetricsServiceRequest) -> PartialResult:
        self._refuse_if_told("metrics")
        rows = [
            row
            for resource_metrics in request.resource_metrics
            for resource in [_attributes(resource_metrics.resource.attributes)]
            for scope in resource_metrics.scope_metrics
            for metric in scope.metrics
            for row in _point_rows(metric, resource)
        ]
        self._insert("INSERT INTO points VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        return ACCEPTED

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _refuse_if_told(self, signal: str) -> None:
        if self._control.refusing():
            self._insert("INSERT INTO refusals VALUES (?,?)", [(signal, time.time())])
            raise ConsumerBusy("test receiver told to refuse", retry_after_seconds=0.2)

    def _insert(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(sql, rows)
            self._db.execute("COMMIT")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _span_row(span: Span, resource: dict[str, Any], scope_name: str) -> tuple[Any, ...]:
    links = [{"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()} for link in span.links]
    return (
        span.trace_id.hex(),
        span.span_id.hex(),
        span.parent_span_id.hex(),
        span.name,
        span.kind,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        span.status.code,
        _json(_attributes(span.attributes)),
        _json(resource),
        scope_name,
        _json(links),
    )


def _log_row(record: LogRecord, resource: dict[str, Any]) -> tuple[Any, ...]:
    return (
        record.trace_id.hex(),
        record.span_id.hex(),
        record.time_unix_nano,
        record.observed_time_unix_nano,
        record.severity_number,
        record.severity_text,
        _json(any_value(record.body)),
        _json(_attributes(record.attributes)),
        _json(resource),
        record.event_name,
    )


def _point_rows(metric: Metric, resource: dict[str, Any]) -> Iterable[tuple[Any, ...]]:
    kind = metric.WhichOneof("data")
    data = getattr(metric, kind) if kind else None
    if data is None:
        return []
    monotonic = int(getattr(data, "is_monotonic", False))
    temporality = getattr(data, "aggregation_temporality", 0)
    rows = []
    for point in data.data_points:
        histogram = kind in ("histogram", "exponential_histogram")
        value = point.sum if histogram else getattr(point, point.WhichOneof("value") or "as_double")
        rows.append(
            (
                metric.name,
                kind,
                metric.unit,
                _json(_attributes(point.attributes)),
                point.time_unix_nano,
                float(value),
                point.count if histogram else None,
                _json(list(point.bucket_counts)) if kind == "histogram" else None,
                _json(list(point.explicit_bounds)) if kind == "histogram" else None,
                monotonic,
                temporality,
                _json(resource),
            )
        )
    return rows


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


@dataclass(frozen=True)
class Received:
    spans: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    points: list[dict[str, Any]]
    refusals: int

    @property
    def span_ids(self) -> set[str]:
        return {span["span_id"] for span in self.spans}


def read_received(db_path: Path) -> Received:
    """Everything the recording receiver stored so far (readable while it still writes)."""
    if not db_path.exists():
        return Received([], [], [], 0)
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "refusals" not in tables:
            return Received([], [], [], 0)
        spans = [_decoded(row) for row in db.execute("SELECT * FROM spans")]
        logs = [_decoded(row) for row in db.execute("SELECT * FROM logs")]
        points = [_decoded(row) for row in db.execute("SELECT * FROM points")]
        refusals = db.execute("SELECT count(*) FROM refusals").fetchone()[0]
    finally:
        db.close()
    return Received(spans, logs, points, refusals)


_JSON_COLUMNS = frozenset({"attributes", "resource", "links", "body", "bucket_counts", "explicit_bounds"})


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    return {
        key: orjson.loads(row[key]) if key in _JSON_COLUMNS and row[key] is not None else row[key]
        for key in row.keys()  # noqa: SIM118 - sqlite3.Row is not iterable by key
    }
