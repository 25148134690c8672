"""What SQLite plans for each statement a query function runs (EXPLAIN QUERY PLAN)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any


class Recorder:
    """A read connection that keeps every statement run through it, to explain them afterwards."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        self.statements.append((sql, tuple(args)))
        return self.conn.execute(sql, args)


def explained(conn: sqlite3.Connection, query: Callable[[Any], object]) -> list[str]:
    """The plan of every statement `query` runs on `conn`, its lines joined by " ; "."""
    recorder = Recorder(conn)
    query(recorder)
    return [
        " ; ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
        for sql, args in recorder.statements
    ]
