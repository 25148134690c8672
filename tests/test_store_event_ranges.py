"""The event list on a real SQLite store: newest first by event time (a tie: the event stored last
first), whatever order the events arrived in, through every filter and every page, also while
events keep arriving. The expected answers come from the events themselves, sorted in Python."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from tests.support.query_plans import explained
from tests.support.requests import consume, logs_request

from intent_observe.records import LogRecord
from intent_observe.store import queries
from intent_observe.store.queries import EventFilter
from intent_observe.store.store import Store

ROWS = 400
T0 = 1_000  # seconds: every time positive, late ones included
TYPES = ("signal.created", "contract.started", "contract.completed", "spec.created")


def at(second: int) -> int:
    return (T0 + second) * 10**9


def record(n: int, second: int | None = None) -> LogRecord:
    """Event n: two a second, so times tie, rising with n but some written down late (n % 7)."""
    event_type = TYPES[n % len(TYPES)]
    return LogRecord(
        time_ns=at(n // 2 - 150 * (n % 7 == 0) if second is None else second),
        observed_ns=n * 10**9,
        trace_id=f"{n + 1:032x}",
        span_id=f"{n + 1:016x}",
        severity_number=9,
        severity_text="INFO",
        body=f"{event_type} X-{n}",
        attributes={
            "event.name": event_type,
            "intent.event.type": event_type,
            "intent.event.id": f"e{n}",
            "intent.source": ("cli", "mcp")[n % 2],
        },
    )


def store_of(path: Path, numbers: range) -> Store:
    store = Store(path)
    for start in range(numbers.start, numbers.stop, 50):  # several requests: ids in ingest order
        consume(store, logs_request([record(n) for n in range(start, min(start + 50, numbers.stop))]))
    return store


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path = tmp_path_factory.mktemp("ranges") / "store.db"
    store_of(path, range(ROWS)).shutdown()
    return sqlite3.connect(path)


def expected(conn: sqlite3.Connection, f: EventFilter) -> list[int]:
    """The ids matching `f` (its cursor aside), newest first: sorted here, not by SQLite."""
    rows = conn.execute("SELECT id, time_ns, event_name, source, body FROM logs WHERE category = 'intent'")
    keep = [
        (t, rid)
        for rid, t, name, source, body in rows
        if (f.since is None or t >= f.since)
        and (f.until is None or t < f.until)
        and (f.type_glob is None or fnmatchcase(name, f.type_glob))
        and (f.source is None or source == f.source)
        and (f.text is None or f.text in body)
    ]
    return [rid for _, rid in sorted(keep, reverse=True)]


FILTERS: list[dict[str, Any]] = [
    {},
    {"since": at(100)},  # recent
    {"since": at(10), "until": at(40)},  # old and narrow
    {"since": at(190), "until": at(191)},  # one second: a tie
    {"since": at(50), "type_glob": "contract.*"},
    {"type_glob": "spec.created"},
    {"source": "mcp"},
    {"since": at(50), "source": "mcp", "type_glob": "spec.created"},
    {"until": at(100)},
    {"text": "X-13"},
]


@pytest.mark.parametrize("kwargs", FILTERS)
@pytest.mark.parametrize("limit", [1, 25, 500])
def test_a_page_is_the_newest_events_by_time(
    conn: sqlite3.Connection, kwargs: dict[str, Any], limit: int
) -> None:
    want = expected(conn, EventFilter(**kwargs))
    got = queries.events(conn, EventFilter(limit=limit, **kwargs))
    assert [e["id"] for e in got["events"]] == want[:limit]
    last = got["events"][-1] if len(want) > limit else None
    assert got["next_before"] == (f"{last['time_ns']}:{last['id']}" if last else None)
    assert got["next_before_id"] == (last["id"] if last else None)
    assert got["last_id"] == ROWS  # the newest stored: where the live stream goes on


# a text's few candidates are read by key and sorted instead (test_store_text_search)
@pytest.mark.parametrize("before", [{}, {"before": (at(100), 250)}, {"before_id": 250}])
@pytest.mark.parametrize("kwargs", [f for f in FILTERS if "text" not in f])
def test_every_page_is_read_off_an_index_in_its_order(
    conn: sqlite3.Connection, kwargs: dict[str, Any], before: dict[str, Any]
) -> None:
    for plan in explained(conn, lambda c: queries.events(c, EventFilter(**kwargs, **before))):
        assert plan.startswith("SEARCH logs USING ") and "TEMP B-TREE" not in plan, plan


def pages(read: Callable[[EventFilter], dict[str, Any]], f: EventFilter, by_id: bool = False) -> list[int]:
    """Every event `f` matches, page after page, following next_before (or next_before_id)."""
    seen: list[int] = []
    page = read(f)
    while True:
        seen += [e["id"] for e in page["events"]]
        if page["next_before"] is None:
            return seen
        if by_id:
            page = read(EventFilter(**{**vars(f), "before_id": page["next_before_id"]}))
        else:
            page = read(EventFilter(**{**vars(f), "before": queries.parse_cursor(page["next_before"])}))


@pytest.mark.parametrize("by_id", [False, True], ids=["before", "before_id"])
@pytest.mark.parametrize("kwargs", FILTERS)
def test_paging_yields_each_matching_event_once_newest_first(
    conn: sqlite3.Connection, kwargs: dict[str, Any], by_id: bool
) -> None:
    seen = pages(lambda f: queries.events(conn, f), EventFilter(limit=7, **kwargs), by_id)
    assert seen == expected(conn, EventFilter(**kwargs))


def test_an_event_written_down_late_is_listed_by_its_time_not_on_top(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    consume(store, logs_request([record(n, second=n) for n in range(6)]))
    consume(store, logs_request([record(6, second=1), record(7, second=3)]))  # arrive last
    try:
        got = store.read(lambda c: queries.events(c, EventFilter()))
    finally:
        store.shutdown()
    # e7 ties with e3: the one stored last comes first
    assert [e["event_id"] for e in got["events"]] == ["e5", "e4", "e7", "e3", "e2", "e6", "e1", "e0"]


def test_events_arriving_while_paging_neither_repeat_nor_shift_later_pages(tmp_path: Path) -> None:
    store = store_of(tmp_path / "store.db", range(100))
    read: Callable[[EventFilter], dict[str, Any]] = lambda f: store.read(lambda c: queries.events(c, f))  # noqa: E731
    try:
        first = read(EventFilter(limit=10))
        # ids 101, 102, 103: newer than every event, among the first page's, older than it
        arriving = [record(100, second=500), record(101, second=48), record(102, second=-20)]
        consume(store, logs_request(arriving))
        rest = pages(read, EventFilter(limit=10, before=queries.parse_cursor(first["next_before"])))
        now = store.read(lambda c: expected(c, EventFilter()))
    finally:
        store.shutdown()
    assert now.index(102) < 10 < now.index(103)
    assert [e["id"] for e in first["events"]] + rest == [rid for rid in now if rid not in (101, 102)]


def test_before_id_of_a_deleted_event_gives_an_empty_page(tmp_path: Path) -> None:
    store = store_of(tmp_path / "store.db", range(20))
    try:
        cursor = store.read(lambda c: queries.events(c, EventFilter(limit=5)))["next_before_id"]
        store.writer.run(lambda c: c.execute("DELETE FROM logs WHERE id = ?", (cursor,)))
        got = store.read(lambda c: queries.events(c, EventFilter(before_id=cursor)))
    finally:
        store.shutdown()
    assert got["events"] == [] and got["next_before"] is None


@pytest.mark.parametrize(
    "text", ["", "12", "12:", ":3", "a:1", "1:-1", "1:2:3", f"{2**63}:1", f"1:{2**63}", " 1:2"]
)
def test_a_cursor_that_names_no_place_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        queries.parse_cursor(text)


def test_a_cursor_names_the_place_next_before_gives() -> None:
    assert queries.parse_cursor(f"{-(2**63)}:{2**63 - 1}") == (-(2**63), 2**63 - 1)
