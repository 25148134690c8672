"""The embedded store on real SQLite files: upserts, idempotent logs, metrics, retention, migrations."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from tests.support.requests import INTENT, key_values, logs_request, resource, trace_request

from intent_observe.identity.records import LogRecord, SpanRecord
from intent_observe.store import queries
from intent_observe.store.schema import StoreError, migrations
from intent_observe.store.store import Store
from intent_observe.store.writer import Retention, apply_retention

TRACE = "ab" * 16
RES = resource(INTENT)


def span(span_id: str, end_ns: int, state: str, parent: str | None = None, **extra: object) -> SpanRecord:
    attrs: dict[str, str | int | float | bool] = {
        "intent.artifact.type": "contract",
        "intent.artifact.id": "CON-1",
        "intent.artifact.state": state,
    }
    attrs.update(extra)  # type: ignore[arg-type]
    return SpanRecord(TRACE, span_id, parent, "contract CON-1", 1_000, end_ns, False, None, attrs)


def log(event_id: str, body: str = "contract.started CON-1") -> LogRecord:
    attrs = {"intent.event.id": event_id, "event.name": "contract.started", "intent.artifact.id": "CON-1"}
    return LogRecord(5_000, 6_000, TRACE, "01" * 8, 9, "INFO", body, attrs)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "observe" / "store.db")
    yield s
    s.close()


def stored_span(store: Store, span_id: str) -> tuple[int, int]:
    row = store.read(
        lambda c: c.execute("SELECT end_ns, closed FROM spans WHERE span_id = ?", (span_id,)).fetchone()
    )
    return row


def test_a_span_exported_open_then_closed_keeps_the_closed_version(store: Store) -> None:
    store.consume_traces(trace_request([span("01" * 8, 2_000, "open")]))
    store.consume_traces(trace_request([span("01" * 8, 9_000, "closed")]))
    assert stored_span(store, "01" * 8) == (9_000, 1)
    # a late duplicate of the open version (redelivery) must not undo the close
    store.consume_traces(trace_request([span("01" * 8, 12_000, "open")]))
    assert stored_span(store, "01" * 8) == (9_000, 1)
    assert store.read(queries.counts)["spans"] == 1


def test_among_equal_states_the_later_end_wins(store: Store) -> None:
    store.consume_traces(trace_request([span("02" * 8, 5_000, "open")]))
    store.consume_traces(trace_request([span("02" * 8, 3_000, "open")]))
    assert stored_span(store, "02" * 8) == (5_000, 0)


def test_a_redelivered_event_is_stored_once(store: Store) -> None:
    request = logs_request([log("e1" * 16), log("e2" * 16)])
    store.consume_logs(request)
    store.consume_logs(request)
    assert store.read(queries.counts)["logs"] == 2
    hours = store.read(lambda c: c.execute("SELECT sum(count) FROM event_hours").fetchone()[0])
    assert hours == 2


def test_a_log_without_an_event_id_is_keyed_by_its_content(store: Store) -> None:
    record = logs_pb2.LogRecord(time_unix_nano=7, body={"string_value": "hello"})
    request = ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(resource=RES, scope_logs=[logs_pb2.ScopeLogs(log_records=[record])])
        ]
    )
    store.consume_logs(request)
    store.consume_logs(request)
    request.resource_logs[0].scope_logs[0].log_records[0].body.string_value = "other"
    store.consume_logs(request)
    assert store.read(queries.counts)["logs"] == 2


def test_spans_without_valid_ids_are_rejected_with_a_reason(store: Store) -> None:
    bad = trace_pb2.Span(trace_id=bytes(16), span_id=b"\x01" * 8, name="x")
    good = trace_pb2.Span(trace_id=b"\x02" * 16, span_id=b"\x03" * 8, name="y")
    request = ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=RES, scope_spans=[trace_pb2.ScopeSpans(spans=[bad, good])])
        ]
    )
    result = store.consume_traces(request)
    assert result.rejected == 1 and "trace id" in result.message
    assert store.read(queries.counts)["spans"] == 1


def _delta_sum(value: int, session: str, token_type: str, t: int) -> ExportMetricsServiceRequest:
    point = metrics_pb2.NumberDataPoint(
        attributes=key_values({"session.id": session, "type": token_type}), time_unix_nano=t, as_int=value
    )
    metric = metrics_pb2.Metric(
        name="claude_code.token.usage",
        unit="tokens",
        sum=metrics_pb2.Sum(
            data_points=[point],
            is_monotonic=True,
            aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_DELTA,
        ),
    )
    res = resource({"service.name": "claude-code"})
    return ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=res, scope_metrics=[metrics_pb2.ScopeMetrics(metrics=[metric])]
            )
        ]
    )


def test_delta_metrics_accumulate_per_series(store: Store) -> None:
    for t, value in ((1, 100), (2, 250), (3, 50)):
        store.consume_metrics(_delta_sum(value, "s-1", "input", t))
    store.consume_metrics(_delta_sum(7, "s-1", "output", 4))
    values = store.read(
        lambda c: dict(
            c.execute("SELECT labels, value FROM metric_series WHERE session_id = 's-1'").fetchall()
        )
    )
    assert sorted(values.values()) == [7, 400]


def test_retention_deletes_the_oldest_rows_beyond_the_limits(store: Store) -> None:
    spans = [span(f"{i:016x}", 2_000 + i, "closed") for i in range(1, 11)]
    store.consume_traces(trace_request(spans))
    store.consume_logs(logs_request([log(f"{i:032x}") for i in range(1, 8)]))
    deleted = store.writer.run(
        lambda c: apply_retention(c, Retention(max_spans=4, max_logs=5), time.time_ns())
    )
    assert deleted["spans"] == 6 and deleted["logs"] == 2
    left = store.read(lambda c: [r[0] for r in c.execute("SELECT span_id FROM spans ORDER BY span_id")])
    assert left == [f"{i:016x}" for i in range(7, 11)]  # the newest four
    trace = store.read(lambda c: queries.traces(c))["traces"][0]
    assert trace["span_count"] == 4  # the trace summary follows the deletion


def test_retention_by_age_uses_event_time(store: Store) -> None:
    now = time.time_ns()
    old, new = log("0a" * 16), log("0b" * 16)
    old.time_ns, new.time_ns = now - 40 * 86_400 * 10**9, now - 86_400 * 10**9
    store.consume_logs(logs_request([old, new]))
    store.writer.run(lambda c: apply_retention(c, Retention(max_age_days=30), now))
    keys = store.read(lambda c: [r[0] for r in c.execute("SELECT record_key FROM logs")])
    assert keys == ["0b" * 16]


def test_migrations_are_numbered_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    versions = [v for v, _ in migrations()]
    assert versions == list(range(1, len(versions) + 1))
    path = tmp_path / "store.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(versions)
    conn.execute(f"PRAGMA user_version={len(versions) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer intent-observe"):
        Store(path)


def test_reopening_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first = Store(path)
    first.consume_logs(logs_request([log("cd" * 16)]))
    first.close()
    second = Store(path)
    try:
        assert second.read(queries.counts)["logs"] == 1
    finally:
        second.close()


KILLED_WRITER = r"""
import sys
from pathlib import Path
from intent_observe.identity.records import LogRecord
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from intent_observe._core import Encoder
from intent_observe.store.store import Store
store = Store(Path(sys.argv[1]))
encoder = Encoder({"service.name": "intent"}, "0")
n = 0
while True:
    batch = [LogRecord(n + i, n + i, "ab" * 16, "01" * 8, 9, "INFO", "x" * 200,
                       {"intent.event.id": f"{n + i:032x}"}) for i in range(500)]
    store.consume_logs(ExportLogsServiceRequest.FromString(encoder.logs(batch)))   # returns once committed
    n += 500
    print(n, flush=True)
"""


def test_a_killed_writer_leaves_a_consistent_file_with_every_acknowledged_batch(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    acknowledged = 0
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    while acknowledged < 5_000 and time.monotonic() < deadline:
        acknowledged = int(child.stdout.readline())
    child.kill()  # SIGKILL: no cleanup, mid-transaction
    child.wait()
    assert acknowledged >= 5_000
    store = Store(path)
    try:
        assert store.read(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0]) == "ok"
        stored = store.read(queries.counts)["logs"]
        assert stored >= acknowledged and stored % 500 == 0  # whole batches only
    finally:
        store.close()
