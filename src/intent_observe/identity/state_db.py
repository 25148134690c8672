"""Durable identity state in SQLite: what a restart needs to give every event the same ids.

Saved in one transaction with whatever the caller adds (the tail adapter's file
checkpoints), so a crash leaves either the old state and old offsets or the new
ones, never a mix. Only artifacts and memberships changed since the last save are
written, each as a compact binary row the engine (compiled core) makes and reads; the small
rest (pending logs, metric counters, claimed trace ids) is one row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from intent_observe import sqlite
from intent_observe._core import STATE_VERSION, Engine, state_header
from intent_observe.sqlite import Mode

SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (key TEXT PRIMARY KEY, doc BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS memberships (key TEXT PRIMARY KEY, doc BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (key TEXT PRIMARY KEY, doc BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS derived (key TEXT PRIMARY KEY, doc BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS engine (name TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS intent_activity (key TEXT PRIMARY KEY, last_ns INTEGER NOT NULL);
"""
# 3: each open intent's newest event time has a row of its own in `intent_activity`.
# 4: artifacts are identified by their file, spans are sent once (announced + phases).
# 5: what the artifact files said (derived events taken, artifacts by file) is kept too.
# 6: rows are the compiled engine's binary form (no JSON; announced attributes not kept).
# 7: an artifact row writes only the fields set (a mask says which), times scaled to their
#    unit and after the first as distances from it; a membership's signal and container are
#    read from its key; a signal's own file and key are not written again in its files.
# A state of an earlier version cannot be carried over: the history is read again from its start.
_UPSERT_ACTIVITY = "INSERT OR REPLACE INTO intent_activity (key, last_ns) VALUES (?, ?)"


class StaleState(RuntimeError):
    """The saved state was written under other identity rules: it must be rebuilt from the log."""


_TABLES = frozenset({"artifacts", "memberships", "files", "derived"})


class StateReader:
    """The committed rows of the keyed tables, as the engine reads them when it needs one; on a
    connection of its own, so a lookup never runs inside the writer's open transaction."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def _reads(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite.connect(self._path, Mode.READ_ONLY)
        return self._conn

    def row(self, table: str, key: str) -> bytes | None:
        assert table in _TABLES
        found = self._reads().execute(f"SELECT doc FROM {table} WHERE key = ?", (key,)).fetchone()
        return None if found is None else bytes(found[0])

    def keys(self, table: str) -> Iterator[str]:
        """Every key of `table`, as SQLite steps through them: a restart notes millions of
        them (a 1 GB log's state: 5M), which as one list took hundreds of megabytes."""
        assert table in _TABLES
        return (key for (key,) in self._reads().execute(f"SELECT key FROM {table}"))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@dataclass(frozen=True, slots=True)
class SavedState:
    """A committed state, as `Engine(state)` reads it: the core row, the open intents' activity,
    and the store its other rows are read from as they are needed."""

    core: bytes
    activity: list[tuple[str, int]]
    store: StateReader


def stored_scope(conn: sqlite3.Connection) -> str | None:
    """The scope a state was saved for (None: no state, or one of another version)."""
    row = conn.execute("SELECT doc FROM engine WHERE name='core'").fetchone()
    try:
        return None if row is None else state_header(row[0])[1]
    except ValueError:
        return None


class IdentityStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite.connect(self.path, Mode.DURABLE)
        self.conn.executescript(SCHEMA)
        self.reader = StateReader(self.path)  # the committed rows, for an engine that lets some go

    def close(self) -> None:
        self.reader.close()
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

    def load(self, scope: str = "") -> SavedState | None:
        """The committed state (None: nothing saved yet)."""
        row = self.conn.execute("SELECT doc FROM engine WHERE name='core'").fetchone()
        if row is None:
            return None
        core = bytes(row[0])
        version, saved_scope = (0, "") if core.startswith(b"{") else state_header(core)  # JSON: up to 5
        if version < STATE_VERSION:
            raise StaleState(
                f"{self.path}: identity state version {version} was written under earlier "
                f"identity rules (now {STATE_VERSION})"
            )
        if version != STATE_VERSION:
            raise RuntimeError(f"{self.path}: identity state version {version} is not {STATE_VERSION}")
        if saved_scope != scope:
            raise RuntimeError(
                f"{self.path}: identity state was written for scope {saved_scope!r}, not {scope!r}"
            )
        activity = self.conn.execute("SELECT key, last_ns FROM intent_activity").fetchall()
        return SavedState(core, activity, self.reader)

    def prepare(self, engine: Engine) -> PreparedWrite:
        """What changed, serialised now, to be written later with `PreparedWrite.apply`.

        Lets a pipelined caller (the tail adapter) keep reading while a batch is in flight
        and still commit exactly the state that batch left behind once it is acknowledged.
        """
        seq, artifacts, memberships, activity, inactive, files, derived, core = engine.take_rows()
        return PreparedWrite(
            artifacts, memberships, activity, inactive, files, derived, core, lambda: engine.confirm(seq)
        )

    def save(self, engine: Engine) -> None:
        prepared = self.prepare(engine)
        with self.transaction() as conn:
            prepared.apply(conn)
        prepared.confirm()


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """Serialised identity-state changes; `apply` writes them inside a transaction."""

    artifacts: list[tuple[str, bytes]]
    memberships: list[tuple[str, bytes]]
    activity: list[tuple[str, int]]  # intent key → newest event, for open intents that changed
    inactive: list[tuple[str]]  # intents closed since: their activity rows go
    files: list[tuple[str, bytes]]  # a file → the artifacts announced from it
    derived: list[tuple[str]]  # derived events taken
    core: bytes
    confirm: Callable[[], None]  # once committed: the engine may let go of what this wrote
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
        conn.executemany("INSERT OR REPLACE INTO derived (key, doc) VALUES (?, x'')", self.derived)
        conn.execute("INSERT OR REPLACE INTO engine (name, doc) VALUES ('core', ?)", (self.core,))
