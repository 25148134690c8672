"""The event list's text search (`q`): a case-insensitive (ASCII) substring of an event's body or
artifact id, its `%`, `_` and `\\` literal. A text of three characters or more finds its candidates
in the trigram index logs_text, which the write path, retention and the migration keep; the
LIKE still decides, so the index changes what is fast, never what is found."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.query_plans import explained
from tests.support.requests import consume, logs_request
from tests.support.store_files import trigger_as_created

from intent_observe.records import LogRecord
from intent_observe.store import queries
from intent_observe.store.queries import EventFilter
from intent_observe.store.retention import Retention, apply_retention
from intent_observe.store.schema import migrations
from intent_observe.store.store import Store

# (artifact id, body): cases, escapes, quotes, non-ASCII letters, a NUL, trigrams held apart
EVENTS = [
    ("SIG-001", "signal.created SIG-001 — Login page times out"),
    ("sig-002", "signal.created sig-002 — LOGIN fails under load"),
    ("CON-100", "contract.completed CON-100 — 100% of assertions passed"),
    ("CON-101", "contract.completed CON-101 — 100 % passed, 1_000 runs"),
    ("SPEC-7", 'spec.created SPEC-7 — the "quoted" spec, a\\b path'),
    ("INT-É", "intent.proposed INT-É — Résumé of the ÉTÉ plan"),
    ("INT-9", "intent.proposed INT-9 — ab cd abc, then bcd: trigrams held apart"),
    ("NUL-1", "system.health NUL-1 — before\x00after"),
    ("DEC-3", "decision.recorded DEC-3 — ok"),
    ("CLU-42", "signal.clustered — three signals, one cause"),  # its id in its column alone
]
TEXTS = [
    "login", "LOGIN", "Login page", "sig-00", "SIG", "100%", "100 %", "1_000", "1_0", "_", "%", "\\b",
    "a\\b", '"quoted"', 'd "q', "été", "ÉTÉ", "résumé", "Résumé", "abcd", "abc", "ab", "b", "fore",
    "before\x00after", "\x00", "after", "—", " — ", "ok", "DEC-3 — ok", "clu-4", "nothing like it", "",
]  # fmt: skip


def holds(text: str, artifact_id: str, body: str) -> bool:
    """What the search means, said once more in Python: SQLite's LIKE folds ASCII letters only,
    and reads a text as ending at its first NUL."""

    def fold(s: str) -> str:
        return "".join(c.lower() if c.isascii() else c for c in s.split("\x00")[0])

    return fold(text) in fold(body) or fold(text) in fold(artifact_id)


def record(n: int, artifact_id: str, body: str) -> LogRecord:
    attrs = {"intent.event.id": f"{n:032x}", "event.name": body.split()[0], "intent.artifact.id": artifact_id}
    return LogRecord(1_000 * n, 1_000 * n, "ab" * 16, "01" * 8, 9, "INFO", body, attrs)  # type: ignore[arg-type]


def found(store: Store, text: str) -> list[str]:
    page = store.read(lambda c: queries.events(c, EventFilter(text=text, limit=1000)))
    return [e["artifact_id"] for e in page["events"]]


def integrity_checked(store: Store) -> None:
    """FTS5 compares the index with the rows of logs it says it holds: raises when they differ."""
    store.writer.run(
        lambda c: c.execute("INSERT INTO logs_text (logs_text, rank) VALUES ('integrity-check', 1)")
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(tmp_path_factory.mktemp("search") / "store.db")
    consume(s, logs_request([record(n, art, body) for n, (art, body) in enumerate(EVENTS, 1)]))
    yield s
    s.shutdown()


@pytest.mark.parametrize("candidates", [queries._TEXT_CANDIDATES, 1])
def test_a_search_finds_what_its_like_pattern_matches_whether_the_index_or_the_walk_answers(
    store: Store, candidates: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with at most 1 candidate, every text the index knows is "common": the walk answers it
    monkeypatch.setattr(queries, "_TEXT_CANDIDATES", candidates)
    for text in TEXTS:
        expected = [art for art, body in reversed(EVENTS) if not text or holds(text, art, body)]
        assert found(store, text) == expected, text


def test_the_index_finds_a_superset_the_like_narrows(store: Store) -> None:
    # every trigram of "abcd" is in INT-9's body, never "abcd" itself
    query = queries.text_index_query("abcd")
    assert query is not None
    ids = store.read(
        lambda c: c.execute("SELECT rowid FROM logs_text WHERE logs_text MATCH ?", (query,)).fetchall()
    )
    assert len(ids) == 1 and found(store, "abcd") == []
    assert [queries.text_index_query(t) for t in ("ab", "a\x00bc")] == [None, None]


def test_a_rare_text_reads_its_candidates_by_key_never_the_whole_log(store: Store) -> None:
    plans = store.read(lambda c: explained(c, lambda r: queries.events(r, EventFilter(text="Login page"))))
    candidates, page = plans[:2]  # then the newest row's id
    assert candidates.startswith("SCAN logs_text VIRTUAL TABLE"), plans
    assert "SEARCH logs USING INTEGER PRIMARY KEY" in page and "SCAN logs" not in page, plans


def test_the_index_follows_redelivery_and_retention(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    try:
        consume(store, logs_request([record(n, art, body) for n, (art, body) in enumerate(EVENTS, 1)]))
        consume(store, logs_request([record(1, *EVENTS[0])]))  # redelivered: stored and indexed once
        assert found(store, "Login page") == ["SIG-001"]
        deleted = store.writer.run(lambda c: apply_retention(c, Retention(max_logs=3), time.time_ns()))
        assert deleted["logs"] == len(EVENTS) - 3
        assert found(store, "Login page") == [] and found(store, "DEC-3") == ["DEC-3"]
        integrity_checked(store)
    finally:
        store.shutdown()


def test_a_store_written_before_the_index_gets_it_built_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = Store(path)
    consume(store, logs_request([record(n, art, body) for n, (art, body) in enumerate(EVENTS, 1)]))
    store.shutdown()
    version = next(v for v, sql in migrations() if "CREATE VIRTUAL TABLE logs_text" in sql)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        f"DROP TRIGGER logs_text_delete; DROP TABLE logs_text; {trigger_as_created('logs_hour_insert')}"
        f"{trigger_as_created('logs_span_title')} PRAGMA user_version={version - 1};"
    )
    conn.close()
    store = Store(path)
    try:
        assert found(store, "login") == ["sig-002", "SIG-001"]
        integrity_checked(store)
    finally:
        store.shutdown()
