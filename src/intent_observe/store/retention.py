"""How much the store keeps, and the deletions that hold it there (the writer runs them)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from intent_observe.store.apply import refresh_traces


@dataclass(frozen=True)
class Retention:
    """How much the store keeps; 0 means no limit. Oldest rows go first."""

    max_age_days: float = 0
    max_spans: int = 5_000_000
    max_logs: int = 5_000_000
    metric_history_days: float = 400
    interval_seconds: float = 60

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 0:
                raise ValueError(f"retention {name} must be ≥ 0, got {value!r}")


_DAY_NS = 86_400 * 10**9


def apply_retention(conn: sqlite3.Connection, r: Retention, now_ns: int) -> dict[str, int]:
    """Delete what is older or beyond the row limits, oldest first; returns rows deleted per table."""
    deleted = {"spans": 0, "logs": 0, "metric_points": 0}
    if r.max_age_days:
        cutoff = now_ns - int(r.max_age_days * _DAY_NS)
        deleted["spans"] += _delete_spans(conn, "end_ns < ?", (cutoff,))
        deleted["logs"] += conn.execute("DELETE FROM logs WHERE time_ns < ?", (cutoff,)).rowcount
    if r.max_spans:
        excess = conn.execute("SELECT count(*) FROM spans").fetchone()[0] - r.max_spans
        if excess > 0:
            deleted["spans"] += _delete_spans(
                conn, "rowid IN (SELECT rowid FROM spans ORDER BY rowid LIMIT ?)", (excess,)
            )
    if r.max_logs:
        excess = conn.execute("SELECT count(*) FROM logs").fetchone()[0] - r.max_logs
        if excess > 0:
            deleted["logs"] += conn.execute(
                "DELETE FROM logs WHERE id IN (SELECT id FROM logs ORDER BY id LIMIT ?)", (excess,)
            ).rowcount
    if r.metric_history_days:
        cutoff = now_ns - int(r.metric_history_days * _DAY_NS)
        deleted["metric_points"] = conn.execute(
            "DELETE FROM metric_points WHERE time_ns < ?", (cutoff,)
        ).rowcount
    conn.execute("DELETE FROM event_hours WHERE count <= 0")
    return deleted


def _delete_spans(conn: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> int:
    traces = [row[0] for row in conn.execute(f"SELECT DISTINCT trace_id FROM spans WHERE {where}", args)]
    count = conn.execute(f"DELETE FROM spans WHERE {where}", args).rowcount
    refresh_traces(conn, set(traces))
    return count
