"""The trace list and the intent lookup on a real SQLite store file: what they return, and that
SQLite answers them from an index (EXPLAIN QUERY PLAN), never by sorting or scanning a whole table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.query_plans import explained
from tests.support.requests import consume, logs_request, trace_request
from tests.support.store_files import trigger_as_created

from intent_observe.records import AttrValue, LogRecord, SpanRecord
from intent_observe.store import trace_queries
from intent_observe.store.apply import _CLOSE_IF_PHASED, _CLOSE_PARENT, _LOG_INSERT
from intent_observe.store.rows import LogRow
from intent_observe.store.schema import migrations
from intent_observe.store.store import Store

KINDS = ("intent", "orphan", "all")
TEXTS = (None, "INT-0", "signal", "no such text", "0a" * 16)


def root(trace: int, start: int, art_type: str, art_id: str, **attrs: str) -> SpanRecord:
    return SpanRecord(
        f"{trace:032x}",
        f"{trace:015x}1",
        None,
        f"{art_type} {art_id}",
        start,
        start + 1_000,
        False,
        None,
        {
            "intent.artifact.type": art_type,
            "intent.artifact.id": art_id,
            "intent.title": f"T {art_id}",
            **attrs,
        },
    )


def child(parent: SpanRecord, n: int, art_type: str, art_id: str) -> SpanRecord:
    attrs = {"intent.artifact.type": art_type, "intent.artifact.id": art_id}
    return SpanRecord(
        parent.trace_id, f"{int(parent.trace_id, 16):015x}{n + 1:x}", parent.span_id, f"{art_type} {art_id}",
        parent.start_ns + n, parent.end_ns, False, None, attrs,
    )  # fmt: skip


def fill(store: Store) -> None:
    """Intent, orphan, cluster and other traces, with start times shared by several traces, an
    intent whose trace is shared with another intent, and an intent span with no trace row of its own."""
    spans = []
    for n in range(1, 31):
        start = 1_000_000 * (n // 8)  # eight traces per start time, two of each kind: ties
        kind = ("intent", "signal", "cluster", "decision")[n % 4]
        top = root(n, start, kind, f"{kind[:3].upper()}-{n:03d}" if kind != "intent" else f"INT-{n:03d}")
        spans += [top, child(top, 1, "spec", f"SPEC-{n:03d}")]
    # INT-900 and INT-901 in one trace: its row names INT-901 only
    shared = root(99, 5_000_000, "intent", "INT-900")
    spans += [shared, child(shared, 1, "intent", "INT-901")]
    # a trace whose spans carry intent.id but no intent span: its row names INT-950, kind other
    spans.append(root(98, 6_000_000, "contract", "CON-950", **{"intent.id": "INT-950"}))
    consume(store, trace_request(spans))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(tmp_path_factory.mktemp("plans") / "store.db")
    fill(s)
    yield s
    s.shutdown()


def plans(store: Store, query: Any) -> list[str]:
    """The EXPLAIN QUERY PLAN lines of every statement `query` runs."""
    return store.read(lambda c: explained(c, query))


def all_trace_rows(store: Store) -> list[tuple[Any, ...]]:
    return store.read(
        lambda c: c.execute("SELECT trace_id, kind, intent_id, start_ns FROM traces").fetchall()
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("text", TEXTS)
def test_the_trace_list_walks_an_index_for_every_kind_and_filter(store: Store, kind: str, text: str) -> None:
    (plan,) = plans(store, lambda c: trace_queries.traces(c, kind, text, 500))
    assert "TEMP B-TREE" not in plan
    index = "traces_start" if kind == "all" else "traces_kind_start"
    assert f"USING INDEX {index}" in plan


@pytest.mark.parametrize("kind", KINDS)
def test_the_trace_list_is_newest_first_with_ties_in_trace_id_order(store: Store, kind: str) -> None:
    rows = all_trace_rows(store)
    expected = sorted(
        (r for r in rows if kind == "all" or r[1] == kind), key=lambda r: (r[3], r[0]), reverse=True
    )
    assert len({r[3] for r in expected}) < len(expected)  # the fixture has ties
    for limit in (1, 4, 500):
        listed = store.read(lambda c, lim=limit: trace_queries.traces(c, kind, None, lim))
        assert [t["trace_id"] for t in listed["traces"]] == [r[0] for r in expected[:limit]]


def test_a_text_filter_keeps_every_match_of_each_kind(store: Store) -> None:
    intents = store.read(lambda c: trace_queries.traces(c, "intent", "INT-0", 500))["traces"]
    assert sorted(t["intent_id"] for t in intents) == [f"INT-{n:03d}" for n in range(4, 31, 4)]
    everything = store.read(lambda c: trace_queries.traces(c, "all", "INT-0", 500))["traces"]
    assert [t["trace_id"] for t in everything] == [t["trace_id"] for t in intents]
    shared = store.read(lambda c: trace_queries.traces(c, "all", "INT-901", 500))["traces"]
    assert [t["trace_id"] for t in shared] == [f"{99:032x}"]
    by_id = store.read(lambda c: trace_queries.traces(c, "all", f"{98:032X}", 500))["traces"]
    assert [(t["trace_id"], t["intent_id"]) for t in by_id] == [(f"{98:032x}", "INT-950")]


def test_an_intent_is_found_by_index_whether_its_trace_row_names_it_or_not(store: Store) -> None:
    for intent in ("INT-004", "INT-900", "INT-901", "INT-950", "INT-999"):
        for plan in plans(store, lambda c, i=intent: trace_queries.intent_trace_id(c, i)):
            assert plan.startswith("SEARCH ") and "TEMP B-TREE" not in plan, plan
    found = {
        i: store.read(lambda c, i=i: trace_queries.intent_trace_id(c, i)) for i in ("INT-004", "INT-028")
    }
    assert found == {"INT-004": f"{4:032x}", "INT-028": f"{28:032x}"}
    # the shared trace's row names INT-901; INT-900 is found through its intent span
    assert store.read(lambda c: trace_queries.intent_trace_id(c, "INT-901")) == f"{99:032x}"
    assert store.read(lambda c: trace_queries.intent_trace_id(c, "INT-900")) == f"{99:032x}"
    # no intent span: an intent.id attribute alone does not make a trace that intent's trace
    assert store.read(lambda c: trace_queries.intent_trace_id(c, "INT-950")) is None
    assert store.read(lambda c: trace_queries.intent_trace_id(c, "INT-999")) is None


def test_an_intent_seen_in_two_traces_resolves_to_the_newest(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    try:
        consume(store, trace_request([root(1, 5_000, "intent", "INT-1")]))
        consume(store, trace_request([root(2, 9_000, "intent", "INT-1")]))
        consume(store, trace_request([root(3, 7_000, "intent", "INT-1")]))
        assert store.read(lambda c: trace_queries.intent_trace_id(c, "INT-1")) == f"{2:032x}"
    finally:
        store.shutdown()


def test_a_store_written_before_the_indexes_gets_them_and_answers_the_same(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = Store(path)
    fill(store)
    kinds = {k: store.read(lambda c, k=k: trace_queries.traces(c, k, None, 500)) for k in KINDS}
    store.shutdown()
    # the file as version 6 left it: none of migration 7's indexes, traces_intent on intent_id, and
    # none of migration 8's derived artifact state nor of migration 9's newest titles, and the
    # event list's (…, id) indexes that migration 10 replaced, and no text index (migration 11)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        "DROP INDEX traces_start; DROP INDEX traces_intent_kind_start; DROP INDEX spans_intent_artifact;"
        "CREATE INDEX traces_intent ON traces (intent_id) WHERE intent_id IS NOT NULL;"
        "DROP INDEX spans_phase_parent; ALTER TABLE spans DROP COLUMN phase;"
        "ALTER TABLE traces DROP COLUMN root_state; DROP TABLE span_titles;"
        "DROP INDEX logs_category_source_time; DROP INDEX logs_category_level_time;"
        "CREATE INDEX logs_category_event_id ON logs (category, event_name, id);"
        "CREATE INDEX logs_category_source_id ON logs (category, source, id);"
        "CREATE INDEX logs_category_level_id ON logs (category, autonomy_level, id);"
        "DROP TRIGGER logs_text_delete; DROP TABLE logs_text;"
        f"{trigger_as_created('logs_hour_insert')}"  # the events per hour, until migration 12
        "PRAGMA user_version=6;"
    )
    conn.close()
    store = Store(path)
    try:
        version = store.read(lambda c: c.execute("PRAGMA user_version").fetchone()[0])
        assert version == len(migrations())
        indexes = store.read(
            lambda c: {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        )
        assert {"traces_start", "traces_intent_kind_start", "spans_intent_artifact"} <= indexes
        assert {"logs_category_source_time", "logs_category_level_time"} <= indexes
        assert not {"traces_intent", "logs_category_event_id", "logs_category_source_id"} & indexes
        assert {k: store.read(lambda c, k=k: trace_queries.traces(c, k, None, 500)) for k in KINDS} == kinds
        assert store.read(lambda c: trace_queries.intent_trace_id(c, "INT-900")) == f"{99:032x}"
    finally:
        store.shutdown()


@pytest.mark.parametrize("statement", [_CLOSE_PARENT, _CLOSE_IF_PHASED])
def test_deriving_an_artifacts_state_searches_by_key_and_index(store: Store, statement: str) -> None:
    plan = store.read(
        lambda c: [row[3] for row in c.execute("EXPLAIN QUERY PLAN " + statement, ("ab" * 16, "01" * 8))]
    )
    assert plan and all(line.startswith(("SEARCH ", "CORRELATED SCALAR", "SCALAR")) for line in plan), plan
    if statement == _CLOSE_IF_PHASED:
        assert any("spans_phase_parent" in line for line in plan), plan


def _record(span: SpanRecord, time_ns: int, title: str | None, event_id: str) -> LogRecord:
    attrs: dict[str, AttrValue] = {"intent.event.id": event_id, "event.name": "intent.updated"}
    if title is not None:
        attrs["intent.title"] = title
    return LogRecord(time_ns, time_ns, span.trace_id, span.span_id, 9, "INFO", "renamed", attrs)


def test_a_trace_shows_the_newest_title_its_root_s_records_carry(tmp_path: Path) -> None:
    """Spans are sent once: an intent announced before its title was known has none on its span,
    and a rename travels in later log records only. The list and the trace view show the newest
    record's title (a record arriving late with an older title changes nothing), and find it; the
    list stays on its index."""
    store = Store(tmp_path / "store.db")
    try:
        bare = root(7, 1_000, "intent", "INT-007")
        del bare.attributes["intent.title"]  # announced by a signal's promotion: no title yet
        spec = child(bare, 1, "spec", "SPEC-007")
        consume(store, trace_request([bare, spec]))
        consume(store, logs_request([_record(bare, 2_000, "First title", "a" * 32)]))
        consume(store, logs_request([_record(bare, 9_000, "Renamed", "b" * 32)]))
        consume(store, logs_request([_record(bare, 5_000, "Older, arriving late", "c" * 32)]))
        consume(store, logs_request([_record(bare, 9_500, None, "d" * 32)]))  # carries no title
        consume(store, logs_request([_record(spec, 9_900, "The spec's own", "e" * 32)]))
        consume(store, logs_request([_record(bare, 2_000, "First title", "a" * 32)]))  # redelivered
        [listed] = store.read(lambda c: trace_queries.traces(c, "intent"))["traces"]
        assert listed["title"] == "Renamed"
        assert store.read(lambda c: trace_queries.traces(c, "all", "Renamed"))["traces"] == [listed]
        assert store.read(lambda c: trace_queries.traces(c, "all", "Older"))["traces"] == []
        shown = store.read(lambda c: trace_queries.trace(c, bare.trace_id))
        assert shown is not None
        assert {key: shown[key] for key in listed} == listed  # one row, one rule: title, duration…
        titles = {s["span_id"]: s["title"] for s in shown["spans"]}
        assert titles == {bare.span_id: "Renamed", spec.span_id: "The spec's own"}  # each span's newest
        (plan,) = plans(store, lambda c: trace_queries.traces(c, "intent", "Renamed", 500))
        assert "USING INDEX traces_kind_start" in plan and "TEMP B-TREE" not in plan
    finally:
        store.shutdown()


def test_one_batch_of_records_gives_each_span_its_newest_title_and_counts_its_hours(tmp_path: Path) -> None:
    """What a batch's records add is derived once for the batch: each span's title is that of its
    newest record (a tie in time: the record stored last), unless a stored one is newer."""
    store = Store(tmp_path / "store.db")
    hour = 3_600 * 10**9
    try:
        top = root(7, 1_000, "intent", "INT-007")
        spec = child(top, 1, "spec", "SPEC-007")
        consume(store, trace_request([top, spec]))
        consume(store, logs_request([_record(spec, 3 * hour, "Stored, newer", "0" * 32)]))
        batch = [
            _record(top, hour + 5, "Older", "a" * 32),
            _record(top, hour + 9, "Newest, first", "b" * 32),
            _record(top, hour + 9, "Newest, stored last", "c" * 32),
            _record(top, 2 * hour, None, "d" * 32),  # carries no title
            _record(top, hour + 7, "Older again", "e" * 32),
            _record(spec, 2 * hour, "Older than the stored", "f" * 32),
        ]
        consume(store, logs_request(batch))
        shown = store.read(lambda c: trace_queries.trace(c, top.trace_id))
        assert shown is not None
        titles = {s["span_id"]: s["title"] for s in shown["spans"]}
        assert titles == {top.span_id: "Newest, stored last", spec.span_id: "Stored, newer"}
        hours = store.read(lambda c: dict(c.execute("SELECT hour, count FROM event_hours")))
        assert hours == {1: 4, 2: 2, 3: 1}
    finally:
        store.shutdown()


def test_a_log_record_s_insert_fires_no_trigger(tmp_path: Path) -> None:
    """The writer inserts a batch's records one statement a row, inside the batch's savepoint. A
    trigger on that INSERT gives each row's statement a sub-journal of its own, which SQLite
    truncates at the statement's end by walking its in-memory sub-journal from the start, through
    every page the batch touched: a cost per record that grew with the table (2,000-record batches
    from 0.05 s to 1.3 s of CPU). What records add is derived once a batch (the test above)."""
    store = Store(tmp_path / "store.db")
    try:
        program = store.read(
            lambda c: {row[1] for row in c.execute("EXPLAIN " + _LOG_INSERT, [None] * len(LogRow._fields))}
        )
    finally:
        store.shutdown()
    assert "Insert" in program and "Program" not in program  # Program: a trigger's subprogram


def test_the_trace_view_and_the_list_give_a_trace_one_duration(store: Store) -> None:
    """The duration is the spans' extent, first start to last end, phases included: one figure for
    the list and the trace view of every trace."""
    listed = store.read(lambda c: trace_queries.traces(c, "all", None, 500))["traces"]
    for row in listed:
        shown = store.read(lambda c, tid=row["trace_id"]: trace_queries.trace(c, tid))
        assert shown is not None
        ends = [(s["start_ns"], s["end_ns"]) for s in shown["spans"]]
        assert (shown["start_ns"], shown["end_ns"]) == (min(a for a, _ in ends), max(b for _, b in ends))
        assert shown["duration_ms"] == row["duration_ms"] == (shown["end_ns"] - shown["start_ns"]) / 1e6
