"""Durable identity state in SQLite: what a restart needs to give every event the same ids.

Saved in one transaction with whatever the caller adds (the tail adapter's file
checkpoints), so a crash leaves either the old state and old offsets or the new
ones, never a mix. Only artifacts and memberships changed since the last save are
written; the small rest (pending logs, metric counters, claimed trace ids) is one row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import orjson

from intent_observe import sqlite
from intent_observe.identity.engine import (
    Engine,
    EngineState,
    PendingLog,
    Phase,
    artifact_table,
    key_list_table,
    membership_table,
)
from intent_observe.identity.records import LogRecord
from intent_observe.identity.table import DEFAULT_LIMIT
from intent_observe.metrics.state import Histogram, MetricState
from intent_observe.sqlite import Mode

SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS memberships (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS files (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS derived (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS engine (name TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS intent_activity (key TEXT PRIMARY KEY, last_ns INTEGER NOT NULL);
"""
# 3: each open intent's newest event time has a row of its own in `intent_activity`.
# 4: artifacts are identified by their file, spans are sent once (announced + phases).
# 5: what the artifact files said (derived events taken, artifacts by file) is kept too.
# A state of an earlier version cannot be carried over: the history is read again from its start.
_STATE_VERSION = 5
_UPSERT_ACTIVITY = "INSERT OR REPLACE INTO intent_activity (key, last_ns) VALUES (?, ?)"


class StaleState(RuntimeError):
    """The saved state was written under other identity rules: it must be rebuilt from the log."""


class IdentityStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite.connect(self.path, Mode.DURABLE)
        self.conn.executescript(SCHEMA)
        self._reads: sqlite3.Connection | None = None

    def close(self) -> None:
        if self._reads is not None:
            self._reads.close()
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def load(self, scope: str = "", cache_limit: int = DEFAULT_LIMIT) -> EngineState:
        """The committed state; `cache_limit` artifacts (and memberships) are kept in memory."""
        row = self.conn.execute("SELECT doc FROM engine WHERE name='core'").fetchone()
        if row is None:
            return EngineState(scope=scope)
        core = orjson.loads(row[0])
        if isinstance(core.get("version"), int) and core["version"] < _STATE_VERSION:
            raise StaleState(
                f"{self.path}: identity state version {core['version']} was written under earlier "
                f"identity rules (now {_STATE_VERSION})"
            )
        if core.get("version") != _STATE_VERSION:
            raise RuntimeError(
                f"{self.path}: identity state version {core.get('version')} is not {_STATE_VERSION}"
            )
        if core["scope"] != scope:
            raise RuntimeError(
                f"{self.path}: identity state was written for scope {core['scope']!r}, not {scope!r}"
            )
        state = EngineState(scope=scope)
        # Artifacts and memberships are read on first use, not all at start-up (flat memory).
        state.artifacts = artifact_table(
            limit=cache_limit, backing=self._reader("artifacts"), backing_keys=self._keys("artifacts")
        )
        state.memberships = membership_table(
            limit=cache_limit, backing=self._reader("memberships"), backing_keys=self._keys("memberships")
        )
        state.unplaced = set(core["unplaced"])
        state.waiting = core["waiting"]
        state.claimed = core["claimed"]
        state.members_pending = core["members_pending"]
        state.events_seen = core["events_seen"]
        state.derived_ignored = core["derived_ignored"]
        state.files = key_list_table(
            limit=cache_limit, backing=self._reader("files"), backing_keys=self._keys("files")
        )
        state.derived_taken = key_list_table(
            limit=cache_limit, backing=self._reader("derived"), backing_keys=self._keys("derived")
        )
        state.pending = [PendingLog(p["home"], LogRecord(**p["record"])) for p in core["pending"]]
        state.phases = {owner: [Phase(**p) for p in phases] for owner, phases in core["phases"].items()}
        state.metrics = _metrics_from(core["metrics"])
        state.metrics.intent_last_ns = dict(self.conn.execute("SELECT key, last_ns FROM intent_activity"))
        return state

    def _reader(self, table: str) -> Callable[[str], bytes | None]:
        conn = self._read_conn()
        query = f"SELECT doc FROM {table} WHERE key = ?"

        def read(key: str) -> bytes | None:
            row = conn.execute(query, (key,)).fetchone()
            return row[0] if row else None

        return read

    def _keys(self, table: str) -> Callable[[], Iterator[str]]:
        conn = self._read_conn()
        return lambda: (key for (key,) in conn.execute(f"SELECT key FROM {table}"))

    def _read_conn(self) -> sqlite3.Connection:
        """A second connection: lookups never run inside the writer's open transaction."""
        if self._reads is None:
            self._reads = sqlite.connect(self.path, Mode.READ_ONLY)
        return self._reads

    def write(self, conn: sqlite3.Connection, engine: Engine) -> None:
        """Write what changed; call inside `transaction()`."""
        self.prepare(engine).apply(conn)

    def prepare(self, engine: Engine) -> PreparedWrite:
        """What changed, serialised now, to be written later with `PreparedWrite.apply`.

        Lets a pipelined caller (the tail adapter) keep reading while a batch is in flight
        and still commit exactly the state that batch left behind once it is acknowledged.
        """
        state = engine.state
        changes = engine.take_changed()
        last_ns = state.metrics.intent_last_ns
        core = {
            "version": _STATE_VERSION,
            "scope": state.scope,
            "claimed": state.claimed,
            "members_pending": state.members_pending,
            "unplaced": sorted(state.unplaced),
            "waiting": state.waiting,
            "events_seen": state.events_seen,
            "derived_ignored": state.derived_ignored,
            "pending": [{"home": p.home, "record": asdict(p.record)} for p in state.pending],
            "phases": {owner: [asdict(p) for p in phases] for owner, phases in state.phases.items()},
            "metrics": {f.name: getattr(state.metrics, f.name) for f in _CORE_METRIC_FIELDS},
        }
        return PreparedWrite(
            artifacts=[
                (k, orjson.dumps(state.artifacts[k])) for k in changes.artifacts if k in state.artifacts
            ],
            memberships=[(key, orjson.dumps(state.memberships[key])) for key in changes.memberships],
            activity=[(key, last_ns[key]) for key in changes.activity if key in last_ns],
            inactive=[(key,) for key in changes.activity if key not in last_ns],
            files=[(key, orjson.dumps(state.files[key])) for key in changes.files],
            derived=[(key, b"[]") for key in changes.derived],
            core=orjson.dumps(core, default=_encode_default),
        )

    def save(self, engine: Engine) -> None:
        with self.transaction() as conn:
            self.write(conn, engine)


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """Serialised identity-state changes; `apply` writes them inside a transaction."""

    artifacts: list[tuple[str, bytes]]
    memberships: list[tuple[str, bytes]]
    activity: list[tuple[str, int]]  # intent key → newest event, for open intents that changed
    inactive: list[tuple[str]]  # intents closed since: their activity rows go
    files: list[tuple[str, bytes]]  # a file → the artifacts announced from it
    derived: list[tuple[str, bytes]]  # derived events taken
    core: bytes
    replace_all: bool = False  # a fresh state: drop every stored artifact and membership first

    def apply(self, conn: sqlite3.Connection) -> None:
        if self.replace_all:
            for table in ("artifacts", "memberships", "intent_activity", "files", "derived"):
                conn.execute(f"DELETE FROM {table}")
        conn.executemany("INSERT OR REPLACE INTO artifacts (key, doc) VALUES (?, ?)", self.artifacts)
        conn.executemany("INSERT OR REPLACE INTO memberships (key, doc) VALUES (?, ?)", self.memberships)
        conn.executemany(_UPSERT_ACTIVITY, self.activity)
        conn.executemany("DELETE FROM intent_activity WHERE key = ?", self.inactive)
        conn.executemany("INSERT OR REPLACE INTO files (key, doc) VALUES (?, ?)", self.files)
        conn.executemany("INSERT OR REPLACE INTO derived (key, doc) VALUES (?, ?)", self.derived)
        conn.execute("INSERT OR REPLACE INTO engine (name, doc) VALUES ('core', ?)", (self.core,))


def _encode_default(value: Any) -> Any:
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__}")


_CORE_METRIC_FIELDS = tuple(f for f in fields(MetricState) if f.name != "intent_last_ns")


def _metrics_from(doc: dict[str, Any]) -> MetricState:
    histogram_fields = {f.name for f in fields(MetricState) if f.type in ("Histogram", Histogram)}
    kwargs: dict[str, Any] = {}
    for name, value in doc.items():
        if name in histogram_fields:
            kwargs[name] = Histogram(tuple(value["bounds"]), value["counts"], value["total"], value["count"])
        elif name in ("event_types", "sources"):
            kwargs[name] = set(value)
        else:
            kwargs[name] = value
    return MetricState(**kwargs)
