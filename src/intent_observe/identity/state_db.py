"""Durable identity state in SQLite: what a restart needs to give every event the same ids.

Saved in one transaction with whatever the caller adds (the tail adapter's file
checkpoints), so a crash leaves either the old state and old offsets or the new
ones, never a mix. Only artifacts and memberships changed since the last save are
written, each as a compact binary row the engine (compiled core) makes and reads; the small
rest (pending logs, metric counters, claimed trace ids) is one row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from intent_observe import sqlite
from intent_observe._core import Engine, state_header
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
# A state of an earlier version cannot be carried over: the history is read again from its start.
_STATE_VERSION = 6
_UPSERT_ACTIVITY = "INSERT OR REPLACE INTO intent_activity (key, last_ns) VALUES (?, ?)"


class StaleState(RuntimeError):
    """The saved state was written under other identity rules: it must be rebuilt from the log."""


@dataclass(frozen=True, slots=True)
class SavedState:
    """A committed state, as `Engine(state)` reads it: the core row and every table's rows."""

    core: bytes
    artifacts: list[tuple[str, bytes]]
    memberships: list[tuple[str, bytes]]
    files: list[tuple[str, bytes]]
    derived: list[str]
    activity: list[tuple[str, int]]


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

    def close(self) -> None:
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
        if version < _STATE_VERSION:
            raise StaleState(
                f"{self.path}: identity state version {version} was written under earlier "
                f"identity rules (now {_STATE_VERSION})"
            )
        if version != _STATE_VERSION:
            raise RuntimeError(f"{self.path}: identity state version {version} is not {_STATE_VERSION}")
        if saved_scope != scope:
            raise RuntimeError(
                f"{self.path}: identity state was written for scope {saved_scope!r}, not {scope!r}"
            )
        rows = self.conn.execute
        return SavedState(
            core=core,
            artifacts=rows("SELECT key, doc FROM artifacts").fetchall(),
            memberships=rows("SELECT key, doc FROM memberships").fetchall(),
            files=rows("SELECT key, doc FROM files").fetchall(),
            derived=[key for (key,) in rows("SELECT key FROM derived")],
            activity=rows("SELECT key, last_ns FROM intent_activity").fetchall(),
        )

    def write(self, conn: sqlite3.Connection, engine: Engine) -> None:
        """Write what changed; call inside `transaction()`."""
        self.prepare(engine).apply(conn)

    def prepare(self, engine: Engine) -> PreparedWrite:
        """What changed, serialised now, to be written later with `PreparedWrite.apply`.

        Lets a pipelined caller (the tail adapter) keep reading while a batch is in flight
        and still commit exactly the state that batch left behind once it is acknowledged.
        """
        artifacts, memberships, activity, inactive, files, derived, core = engine.take_rows()
        return PreparedWrite(artifacts, memberships, activity, inactive, files, derived, core)

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
    derived: list[tuple[str]]  # derived events taken
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
        conn.executemany("INSERT OR REPLACE INTO derived (key, doc) VALUES (?, x'')", self.derived)
        conn.execute("INSERT OR REPLACE INTO engine (name, doc) VALUES ('core', ?)", (self.core,))
