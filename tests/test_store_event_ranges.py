"""Events in a time range on a real SQLite store: the newest rows are searched first and the time
index only when they do not hold a page, so the answers must be exactly those of one plain query."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
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


def record(n: int) -> LogRecord:
    """Event n: ingested in order, its time mostly rising with n but some written late (n % 7)."""
    event_type = TYPES[n % len(TYPES)]
    return LogRecord(
        time_ns=at(n - 150 * (n % 7 == 0)),
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


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path: Path = tmp_path_factory.mktemp("ranges") / "store.db"
    store = Store(path)
    for start in range(0, ROWS, 50):  # several requests: ids in ingest order
        consume(store, logs_request([record(n) for n in range(start, start + 50)]))
    store.shutdown()
    return sqlite3.connect(path)


def plain(conn: sqlite3.Connection, f: EventFilter) -> list[int]:
    where, args = queries._event_where(f)
    sql = f"SELECT id FROM logs WHERE {where} ORDER BY id DESC LIMIT ?"
    return [rid for (rid,) in conn.execute(sql, (*args, queries.clamp_limit(f.limit) + 1))]


FILTERS: list[dict[str, Any]] = [
    {"since": at(-200)},  # everything
    {"since": at(300)},  # recent
    {"since": at(10), "until": at(40)},  # old and narrow: the time index
    {"since": at(390), "until": at(391)},  # one second
    {"since": at(100), "type_glob": "contract.*"},
    {"since": at(100), "source": "mcp", "type_glob": "spec.created"},
    {"until": at(200)},
    {"since": at(-200), "before_id": 120},
    {"since": at(250), "before_id": 120},  # paging past the range
]


@pytest.mark.parametrize("window", [10_000, 40, 3])
@pytest.mark.parametrize("kwargs", FILTERS)
@pytest.mark.parametrize("limit", [1, 25, 500])
def test_a_time_range_returns_what_one_plain_query_returns(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch, window: int, kwargs: dict[str, Any], limit: int
) -> None:
    monkeypatch.setattr(queries, "_RECENT_WINDOW", window)  # the window holds the page, or does not
    f = EventFilter(limit=limit, **kwargs)
    expected = plain(conn, f)
    got = queries.events(conn, f)
    assert [e["id"] for e in got["events"]] == expected[:limit]
    assert got["next_before_id"] == (expected[limit - 1] if len(expected) > limit else None)


def test_paging_a_range_yields_each_matching_event_once_newest_first(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "_RECENT_WINDOW", 30)
    since, until = at(50), at(350)
    seen: list[int] = []
    before: int | None = None
    while True:
        page = queries.events(conn, EventFilter(since=since, until=until, limit=20, before_id=before))
        seen += [e["id"] for e in page["events"]]
        before = page["next_before_id"]
        if before is None:
            break
    times = dict(conn.execute("SELECT id, time_ns FROM logs"))
    matching = sorted((rid for rid, t in times.items() if since <= t < until), reverse=True)
    assert seen == matching and len(matching) > 200
