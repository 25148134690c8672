"""Every SQLite connection is opened here, in one of a few named modes.

    conn = sqlite.connect(path, Mode.DURABLE)

A connection is in autocommit mode (transactions are spelled out: `BEGIN`/`COMMIT`, or one
statement each) and may be used from any thread (each caller keeps its own lock or thread).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from enum import Enum
from pathlib import Path


class Mode(Enum):
    """How much a commit must survive, and whether the connection may write at all."""

    DURABLE = ("WAL", "FULL")  # a commit survives a power loss: identity state and checkpoints, queues
    CRASH_SAFE = ("WAL", "NORMAL")  # survives a process crash; an OS crash may lose the newest commits
    SCRATCH = ("OFF", "OFF")  # no journal, no fsync: a spill file that dies with its process
    READ_ONLY = (None, None)  # opened `mode=ro`: never created, never written (another's file, readers)


def connect(
    path: str | Path, mode: Mode, *, busy_timeout_s: float = 10.0, before_journal: Sequence[str] = ()
) -> sqlite3.Connection:
    """`before_journal`: pragmas that only take effect before the file has content (page size,
    auto-vacuum), run before the journal mode is set."""
    journal, synchronous = mode.value
    target = f"{Path(path).resolve().as_uri()}?mode=ro" if mode is Mode.READ_ONLY else str(path)
    conn = sqlite3.connect(
        target,
        uri=mode is Mode.READ_ONLY,
        timeout=busy_timeout_s,
        isolation_level=None,
        check_same_thread=False,
    )
    for pragma in before_journal:
        conn.execute(f"PRAGMA {pragma}")
    if journal is not None:
        conn.execute(f"PRAGMA journal_mode={journal}")
        conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn
