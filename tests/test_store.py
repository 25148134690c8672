"""The embedded store on real SQLite files: spans (first copy kept, artifact state derived from phase
spans), idempotent logs, metrics, retention, migrations."""

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
from tests.support.requests import (
    INTENT,
    consume,
    key_values,
    logs_request,
    metrics_request,
    resource,
    trace_request,
)

from intent_observe.metrics import catalog
from intent_observe.metrics.derive import Point
from intent_observe.records import AttrValue, LogRecord, SpanRecord
from intent_observe.store import queries, trace_queries
from intent_observe.store.metric_queries import summary
from intent_observe.store.retention import Retention, apply_retention
from intent_observe.store.schema import StoreError, migrations
from intent_observe.store.store import Store

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
    s.shutdown()


def stored_span(store: Store, span_id: str) -> tuple[int, int]:
    row = store.read(
        lambda c: c.execute("SELECT end_ns, closed FROM spans WHERE span_id = ?", (span_id,)).fetchone()
    )
    return row


def test_the_first_copy_of_a_span_is_kept(store: Store) -> None:
    # A span is final once sent, and Tempo keeps the first copy it reads: so do we. A copy with
    # other content (a bug upstream) changes nothing, nor does an identical redelivery.
    first = span("01" * 8, 2_000, "closed")
    consume(store, trace_request([first]))
    consume(store, trace_request([span("01" * 8, 9_000, "open")]))
    consume(store, trace_request([first]))
    assert stored_span(store, "01" * 8) == (2_000, 1)
    assert store.read(queries.counts)["spans"] == 1


def announced(span_id: str, kind: str, art_id: str, start: int, parent: str | None = None) -> SpanRecord:
    """A long-lived artifact's announced span: an instant, no state of its own."""
    attrs: dict[str, AttrValue] = {"intent.artifact.type": kind, "intent.artifact.id": art_id}
    if kind == "intent":
        attrs["intent.title"] = "Reliable login"
    return SpanRecord(TRACE, span_id, parent, f"{kind} {art_id}", start, start, False, None, attrs)


def phase(
    span_id: str, of: SpanRecord, label: str, start: int, end: int, *, error: bool = False
) -> SpanRecord:
    """A phase of an artifact (a contract run, a lifecycle): a closed child span with a duration."""
    attrs: dict[str, AttrValue] = {
        "intent.artifact.type": str(of.attributes["intent.artifact.type"]),
        "intent.artifact.id": str(of.attributes["intent.artifact.id"]),
        "intent.phase": "run" if label.startswith("run") else label,
        "intent.artifact.state": "closed",
    }
    return SpanRecord(TRACE, span_id, of.span_id, f"{of.name} · {label}", start, end, error, None, attrs)


def spans_by_name(store: Store) -> dict[str, dict[str, object]]:
    doc = store.read(lambda c: trace_queries.trace(c, TRACE))
    assert doc is not None
    return {s["name"]: s for s in doc["spans"]}


def test_a_phase_span_closes_its_artifact_whichever_arrives_first(store: Store) -> None:
    intent = announced("10" * 8, "intent", "INT-1", 1_000)
    spec = announced("20" * 8, "spec", "SPEC-1", 2_000, intent.span_id)
    first, second = (announced(f"{n}0" * 8, "contract", f"CON-{n}", 3_000, spec.span_id) for n in (3, 4))
    consume(store, trace_request([intent, spec, first]))
    consume(store, trace_request([phase("31" * 8, first, "run1", 3_000, 8_000)]))
    # the second contract's run reaches the store before the contract's own span
    consume(store, trace_request([phase("41" * 8, second, "run1", 3_000, 6_000, error=True)]))
    consume(store, trace_request([second]))
    spans = spans_by_name(store)
    assert {name: s["state"] for name, s in spans.items()} == {
        "intent INT-1": "open",
        "spec SPEC-1": "open",
        "contract CON-3": "closed",
        "contract CON-3 · run1": "closed",
        "contract CON-4": "closed",
        "contract CON-4 · run1": "closed",
    }
    run = spans["contract CON-4 · run1"]
    assert (run["phase"], run["status"], run["parent_span_id"]) == ("run", "error", second.span_id)
    assert spans["contract CON-4"]["status"] == "unset"  # the run failed, not the announcement
    assert spans["contract CON-4"]["phases"] == ["41" * 8]
    stored = store.read(lambda c: c.execute("SELECT span_id, closed FROM spans ORDER BY span_id").fetchall())
    assert dict(stored) == {"10" * 8: 0, "20" * 8: 0, "30" * 8: 1, "31" * 8: 1, "40" * 8: 1, "41" * 8: 1}


def test_an_artifact_lives_until_its_last_phase_or_while_open_until_its_newest_event(store: Store) -> None:
    intent = announced("10" * 8, "intent", "INT-1", 1_000)
    spec = announced("20" * 8, "spec", "SPEC-1", 2_000, intent.span_id)
    contract = announced("30" * 8, "contract", "CON-1", 3_000, spec.span_id)
    runs = [phase("31" * 8, contract, "run1", 3_000, 5_000), phase("32" * 8, contract, "run2", 6_000, 9_000)]
    consume(store, trace_request([intent, spec, contract, *runs]))
    progress = log("e1" * 16)  # a spec's progress travels as a log record on its span
    progress.time_ns, progress.span_id = 12_000, spec.span_id
    consume(store, logs_request([progress]))
    spans = spans_by_name(store)
    assert spans["contract CON-1"]["until_ns"] == 9_000  # closed: to the end of its last run
    assert spans["spec SPEC-1"]["until_ns"] == 12_000  # open: to its newest event
    assert spans["intent INT-1"]["until_ns"] == 12_000  # open: the newest event under it
    assert spans["contract CON-1 · run2"]["until_ns"] == 9_000


def test_a_running_contracts_assertions_are_drawn_under_it_until_the_run_arrives(store: Store) -> None:
    intent = announced("10" * 8, "intent", "INT-1", 1_000)
    spec = announced("20" * 8, "spec", "SPEC-1", 2_000, intent.span_id)
    contract = announced("30" * 8, "contract", "CON-1", 3_000, spec.span_id)
    # the run is going: its assertion names the run's span, which is sent when the run ends
    attrs: dict[str, AttrValue] = {
        "intent.artifact.type": "assertion",
        "intent.artifact.id": "assert-1",
        "intent.artifact.state": "closed",
        "intent.contract.id": "CON-1",
    }
    assertion = SpanRecord(TRACE, "32" * 8, "31" * 8, "assertion assert-1", 7_000, 7_000, False, None, attrs)
    consume(store, trace_request([intent, spec, contract, assertion]))
    # and so does a Claude Code session wrapped by `run --contract CON-1` (TRACEPARENT: the run)
    session = SpanRecord(TRACE, "33" * 8, "31" * 8, "claude_code.interaction", 5_000, 8_000, False, None, {})
    wrapped = {"service.name": "claude-code", "intent.contract.id": "CON-1", "session.id": "s-1"}
    consume(store, trace_request([session], wrapped))
    spans = spans_by_name(store)
    running = spans["contract CON-1"]
    assert (running["state"], running["until_ns"]) == ("open", 8_000)  # open, up to its newest event
    for name in ("assertion assert-1", "claude_code.interaction"):
        waiting = spans[name]
        assert (waiting["parent_span_id"], waiting["tree_parent_span_id"]) == ("31" * 8, running["span_id"])
        assert (waiting["depth"], running["depth"]) == (3, 2)
    consume(store, trace_request([phase("31" * 8, contract, "run1", 3_000, 9_000)]))
    spans = spans_by_name(store)
    assert spans["assertion assert-1"]["tree_parent_span_id"] == spans["contract CON-1 · run1"]["span_id"]
    assert (spans["assertion assert-1"]["depth"], spans["contract CON-1"]["state"]) == (4, "closed")


def test_a_trace_row_takes_its_duration_from_every_span_and_its_state_from_the_root(store: Store) -> None:
    intent = announced("10" * 8, "intent", "INT-1", 1_000)
    spec = announced("20" * 8, "spec", "SPEC-1", 2_000, intent.span_id)
    consume(store, trace_request([intent, spec, phase("21" * 8, spec, "lifecycle", 2_000, 50_000)]))

    def listed() -> dict[str, object]:
        (row,) = store.read(lambda c: trace_queries.traces(c, "intent"))["traces"]
        return row

    row = listed()
    assert (row["intent_id"], row["root_name"], row["title"]) == ("INT-1", "intent INT-1", "Reliable login")
    assert (row["state"], row["span_count"], row["duration_ms"]) == ("open", 3, (50_000 - 1_000) / 1e6)
    consume(store, trace_request([phase("11" * 8, intent, "lifecycle", 1_000, 70_000)]))
    row = listed()
    assert (row["state"], row["span_count"], row["duration_ms"]) == ("closed", 4, (70_000 - 1_000) / 1e6)
    assert store.read(lambda c: trace_queries.intent_trace_id(c, "INT-1")) == TRACE


def test_a_redelivered_event_is_stored_once(store: Store) -> None:
    request = logs_request([log("e1" * 16), log("e2" * 16)])
    consume(store, request)
    consume(store, request)
    assert store.read(queries.counts)["logs"] == 2
    hours = store.read(lambda c: c.execute("SELECT sum(count) FROM event_hours").fetchone()[0])
    assert hours == 2


def test_the_events_total_counts_the_events_the_events_page_lists(store: Store) -> None:
    # two lines read (the adapter's metric) and an event a file's front matter adds: three listed
    lines = [log("e1" * 16), log("e2" * 16)]
    front = log("e3" * 16)
    front.attributes["intent.source"] = "front-matter"
    consume(store, logs_request([*lines, front]))
    points = [Point(catalog.EVENTS_TOTAL, (("event_type", "contract.started"), ("source", "cli")), 2)]
    consume(store, metrics_request(points, 1_000, 7_000))
    assert store.read(lambda c: summary(c, now_ns=7_000))["events_total"] == 3
    assert store.read(lambda c: summary(c, since=1, now_ns=7_000))["events_total"] == 3  # as in a range


def test_the_trust_distribution_counts_the_open_signals_with_no_trust_score(store: Store) -> None:
    levels = {"L1": 1, "L3": 2, "unscored": 52}  # most signals of a real repository carry no score
    points = [Point(catalog.SIGNALS_ACTIVE, (("autonomy_level", level),), n) for level, n in levels.items()]
    consume(store, metrics_request(points, 1_000, 7_000))
    trust = store.read(lambda c: summary(c, now_ns=7_000))["trust"]
    assert trust == {"L0": 0, "L1": 1, "L2": 0, "L3": 2, "L4": 0, "unscored": 52}


def test_the_summary_counts_the_open_intents_and_the_specs_with_no_intent(store: Store) -> None:
    def artifact(trace: str, span_id: str, parent: str | None, kind: str, **links: str) -> SpanRecord:
        attrs = {"intent.artifact.type": kind, "intent.artifact.id": span_id, **links}
        return SpanRecord(trace, span_id, parent, f"{kind} {span_id}", 1_000, 2_000, False, None, attrs)

    under, alone = "cd" * 16, "ef" * 16
    spans = [artifact(under, "1" * 16, None, "intent"), artifact(under, "2" * 16, "1" * 16, "spec")]
    consume(store, trace_request([*spans, artifact(alone, "3" * 16, None, "spec")]))
    consume(store, metrics_request([Point(catalog.INTENTS_ACTIVE, (), 1)], 1_000, 7_000))
    counts = store.read(lambda c: summary(c, now_ns=7_000))
    assert (counts["intents_open"], counts["specs_without_intent"]) == (1, 1)


def test_a_log_without_an_event_id_is_keyed_by_its_content(store: Store) -> None:
    record = logs_pb2.LogRecord(time_unix_nano=7, body={"string_value": "hello"})
    request = ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(resource=RES, scope_logs=[logs_pb2.ScopeLogs(log_records=[record])])
        ]
    )
    consume(store, request)
    consume(store, request)
    request.resource_logs[0].scope_logs[0].log_records[0].body.string_value = "other"
    consume(store, request)
    assert store.read(queries.counts)["logs"] == 2


def test_spans_without_valid_ids_are_rejected_with_a_reason(store: Store) -> None:
    bad = trace_pb2.Span(trace_id=bytes(16), span_id=b"\x01" * 8, name="x")
    good = trace_pb2.Span(trace_id=b"\x02" * 16, span_id=b"\x03" * 8, name="y")
    request = ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=RES, scope_spans=[trace_pb2.ScopeSpans(spans=[bad, good])])
        ]
    )
    result = consume(store, request)
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
        consume(store, _delta_sum(value, "s-1", "input", t))
    consume(store, _delta_sum(7, "s-1", "output", 4))
    values = store.read(
        lambda c: dict(
            c.execute("SELECT labels, value FROM metric_series WHERE session_id = 's-1'").fetchall()
        )
    )
    assert sorted(values.values()) == [7, 400]


def test_retention_deletes_the_oldest_rows_beyond_the_limits(store: Store) -> None:
    spans = [span(f"{i:016x}", 2_000 + i, "closed") for i in range(1, 11)]
    consume(store, trace_request(spans))
    consume(store, logs_request([log(f"{i:032x}") for i in range(1, 8)]))
    deleted = store.writer.run(
        lambda c: apply_retention(c, Retention(max_spans=4, max_logs=5), time.time_ns())
    )
    assert deleted["spans"] == 6 and deleted["logs"] == 2
    left = store.read(lambda c: [r[0] for r in c.execute("SELECT span_id FROM spans ORDER BY span_id")])
    assert left == [f"{i:016x}" for i in range(7, 11)]  # the newest four
    trace = store.read(lambda c: trace_queries.traces(c))["traces"][0]
    assert trace["span_count"] == 4  # the trace summary follows the deletion


def test_retention_by_age_uses_event_time(store: Store) -> None:
    now = time.time_ns()
    old, new = log("0a" * 16), log("0b" * 16)
    old.time_ns, new.time_ns = now - 40 * 86_400 * 10**9, now - 86_400 * 10**9
    consume(store, logs_request([old, new]))
    store.writer.run(lambda c: apply_retention(c, Retention(max_age_days=30), now))
    keys = store.read(lambda c: [r[0] for r in c.execute("SELECT record_key FROM logs")])
    assert keys == ["0b" * 16]


def test_migrations_are_numbered_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    versions = [v for v, _ in migrations()]
    assert versions == list(range(1, len(versions) + 1))
    path = tmp_path / "store.db"
    Store(path).shutdown()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(versions)
    conn.execute(f"PRAGMA user_version={len(versions) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer intent-observe"):
        Store(path)


def test_a_store_of_the_previous_schema_gets_its_trace_states_from_its_root_spans(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for version, sql in migrations()[:7]:  # the schema before artifact state was derived
        conn.executescript(f"BEGIN;{sql}\nPRAGMA user_version={version};COMMIT;")
    conn.execute("INSERT INTO resources VALUES (1, 'intent', '{}')")
    for trace_id, closed, art_type in (("a" * 32, 1, "intent"), ("b" * 32, 0, "intent"), ("c" * 32, 0, None)):
        conn.execute(
            "INSERT INTO spans (trace_id, span_id, name, service, resource_id, kind, start_ns, end_ns, "
            "status_code, closed, artifact_type, received_ns) "
            "VALUES (?, '01', 'x', 'intent', 1, 1, 1, 2, 0, ?, ?, 0)",
            (trace_id, closed, art_type),
        )
        conn.execute(
            "INSERT INTO traces VALUES (?, '01', 'x', NULL, NULL, 'intent', 1, 0, 1, 2, '[]')", (trace_id,)
        )
    conn.close()
    store = Store(path)
    try:
        states = store.read(
            lambda c: {t["trace_id"][0]: t["state"] for t in trace_queries.traces(c)["traces"]}
        )
        assert states == {"a": "closed", "b": "open", "c": None}
    finally:
        store.shutdown()


def test_reopening_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first = Store(path)
    consume(first, logs_request([log("cd" * 16)]))
    first.shutdown()
    second = Store(path)
    try:
        assert second.read(queries.counts)["logs"] == 1
    finally:
        second.shutdown()


KILLED_WRITER = r"""
import sys
from pathlib import Path
from intent_observe.records import LogRecord
from intent_observe._core import Encoder
from intent_observe.otlp.signals import Signal
from intent_observe.store.store import Store
store = Store(Path(sys.argv[1]))
encoder = Encoder({"service.name": "intent"}, "0")
n = 0
while True:
    batch = [LogRecord(n + i, n + i, "ab" * 16, "01" * 8, 9, "INFO", "x" * 200,
                       {"intent.event.id": f"{n + i:032x}"}) for i in range(500)]
    store.consume(Signal.LOGS, encoder.logs(batch))   # returns once committed
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
        store.shutdown()
