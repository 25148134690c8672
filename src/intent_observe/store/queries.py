"""Read-side queries behind the JSON API, the CLI and the alert engine: the event log here (a
page of events, the live stream, counts), with what every query shares (limits, LIKE patterns,
ISO times); metric values and the summary in metric_queries.py, traces and Claude Code
sessions in trace_queries.py.

Every function takes a read connection (see `Store.read`) and returns plain JSON-able
data shaped as /tmp/team/web-api.md (the API contract) describes.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_DETAIL_SEPARATOR = " — "


def iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_GLOB_CHARS = re.compile(r"[*?\[]")


def like_pattern(text: str) -> str:
    """A LIKE pattern (ESCAPE '\\') matching `text` anywhere, its own % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, min(int(limit), MAX_LIMIT))


# ------------------------------------------------------------------------------- events
_EVENT_COLUMNS = (
    "id, record_key, time_ns, event_name, artifact_id, artifact_type, source, actor, intent_id, "
    "autonomy_level, body, trace_id, span_id"
)


@dataclass(frozen=True)
class EventFilter:
    since: int | None = None
    until: int | None = None
    type_glob: str | None = None
    source: str | None = None
    autonomy_level: str | None = None
    text: str | None = None
    limit: int = DEFAULT_LIMIT
    before_id: int | None = None
    after_id: int | None = None


def _event_where(f: EventFilter) -> tuple[str, list[Any]]:
    clauses, args = ["category = 'intent'"], []
    for clause, value in (
        ("time_ns >= ?", f.since),
        ("time_ns < ?", f.until),
        # an exact type walks its (type, id) index; a pattern walks ids newest first and filters,
        # which finds the first page at once for any type that is not rare
        (
            "event_name = ?" if f.type_glob and not _GLOB_CHARS.search(f.type_glob) else "+event_name GLOB ?",
            f.type_glob,
        ),
        ("source = ?", f.source),
        ("autonomy_level = ?", f.autonomy_level),
        ("id < ?", f.before_id),
        ("id > ?", f.after_id),
    ):
        if value is not None and value != "":
            clauses.append(clause)
            args.append(value)
    if f.text:
        clauses.append("(body LIKE ? ESCAPE '\\' OR artifact_id LIKE ? ESCAPE '\\')")
        pattern = like_pattern(f.text)
        args += [pattern, pattern]
    return " AND ".join(clauses), args


def event_row(row: tuple[Any, ...]) -> dict[str, Any]:
    rid, key, t, name, art, art_type, source, actor, intent, level, body, trace, span = row
    _, sep, detail = body.partition(_DETAIL_SEPARATOR)
    return {
        "id": rid,
        "event_id": key,
        "time_ns": t,
        "time_iso": iso(t),
        "type": name,
        "artifact_id": art,
        "artifact_type": art_type or "other",
        "source": source,
        "actor": actor,
        "intent_id": intent,
        "autonomy_level": level,
        "detail": detail if sep else body,
        "trace_id": trace,
        "span_id": span,
    }


def events(conn: sqlite3.Connection, f: EventFilter) -> dict[str, Any]:
    where, args = _event_where(f)
    limit = clamp_limit(f.limit)
    ranged = f.since is not None or f.until is not None
    rows = _newest_in_time_range(conn, f, where, args, limit + 1) if ranged else None
    if rows is None:
        rows = conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM logs WHERE {where} ORDER BY id DESC LIMIT ?", (*args, limit + 1)
        ).fetchall()
    more = len(rows) > limit
    items = [event_row(r) for r in rows[:limit]]
    return {"events": items, "next_before_id": items[-1]["id"] if more and items else None}


_RECENT_WINDOW = 20_000  # rows, newest first, searched before the time index is used


def _newest_in_time_range(
    conn: sqlite3.Connection, f: EventFilter, where: str, args: list[Any], wanted: int
) -> list[Any] | None:
    """A time range ("last 30 days") can hold most of the store: walking its time index and sorting
    it by id took 0.55 s at a million events. The newest rows by id usually hold the first page,
    so they are searched first; when they hold `wanted` matches, those are the answer (any other
    match has a smaller id). Otherwise (a narrow or old range) None: the time index is the way."""
    below, below_args = ("AND id < ?", [f.before_id]) if f.before_id is not None else ("", [])
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM (SELECT {_EVENT_COLUMNS}, category FROM logs INDEXED BY "
        f"logs_category_id WHERE category = 'intent' {below} ORDER BY id DESC LIMIT ?) "
        f"WHERE {where} ORDER BY id DESC LIMIT ?",
        (*below_args, _RECENT_WINDOW, *args, wanted),
    ).fetchall()
    return rows if len(rows) == wanted else None


def events_after(conn: sqlite3.Connection, after_id: int, limit: int = 500) -> list[dict[str, Any]]:
    """Events stored after row `after_id`, oldest first (the live stream's order)."""
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM logs WHERE category = 'intent' AND id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    ).fetchall()
    return [event_row(r) for r in rows]


def last_event_row_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(id) FROM logs WHERE category = 'intent'").fetchone()
    return int(row[0] or 0)


# ------------------------------------------------------------------------------- status
def counts(conn: sqlite3.Connection) -> dict[str, int]:
    def rows(table: str) -> int:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    return {"spans": rows("spans"), "logs": rows("logs"), "metric_points": rows("metric_points")}
