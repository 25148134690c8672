"""Read-side queries behind the JSON API, the CLI and the alert engine: the event log here (a
page of events, the live stream, counts), with what every query shares (limits, LIKE patterns,
ISO times); metric values and the summary in metric_queries.py, traces and Claude Code
sessions in trace_queries.py.

Every function takes a read connection (see `Store.read`) and returns plain JSON-able
data in the shapes the API's OpenAPI document (/openapi.json) describes.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

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


Place = tuple[int, int]  # (time_ns, id): where an event stands in the newest-first order


@dataclass(frozen=True)
class EventFilter:
    since: int | None = None
    until: int | None = None
    type_glob: str | None = None
    source: str | None = None
    autonomy_level: str | None = None
    text: str | None = None
    limit: int = DEFAULT_LIMIT
    # the previous page's last event, the page holds those after it: its place, or its id
    before: Place | None = None
    before_id: int | None = None


def _event_where(f: EventFilter) -> tuple[str, list[Any]]:
    clauses, args = ["category = 'intent'"], []
    for clause, value in (
        ("time_ns >= ?", f.since),
        ("time_ns < ?", f.until),
        # an exact type walks its (type, time) index; a pattern walks times newest first and
        # filters, which finds the first page at once for any type that is not rare
        (
            "event_name = ?" if f.type_glob and not _GLOB_CHARS.search(f.type_glob) else "+event_name GLOB ?",
            f.type_glob,
        ),
        ("source = ?", f.source),
        ("autonomy_level = ?", f.autonomy_level),
    ):
        if value is not None and value != "":
            clauses.append(clause)
            args.append(value)
    if f.before is not None:
        clauses.append("(time_ns, id) < (?, ?)")
        args += f.before
    if f.before_id is not None:  # nothing once that event is deleted: NULL compares to nothing
        clauses.append("(time_ns, id) < (SELECT time_ns, id FROM logs WHERE id = ?)")
        args.append(f.before_id)
    if f.text:
        clauses.append("(body LIKE ? ESCAPE '\\' OR artifact_id LIKE ? ESCAPE '\\')")
        pattern = like_pattern(f.text)
        args += [pattern, pattern]
    return " AND ".join(clauses), args


# A text search reads its candidates from logs_text (the event_text_index migration) when there are
# fewer than this many; a text found in more is common: walking the newest events finds a page at once.
_TEXT_CANDIDATES = 2_000


def text_index_query(text: str) -> str | None:
    """The logs_text query for the events whose body or artifact id may hold `text` (every one that
    does, and some more: the LIKE decides), or None where the index cannot tell: a trigram index
    knows no text shorter than three characters, and FTS5 reads a NUL as the query's end. Every
    trigram of the text: fewer would find many rows holding them apart (a common candidate set
    falls back to the walk, which may read every event)."""
    if len(text) < 3 or "\x00" in text:
        return None
    grams = sorted({text[i : i + 3] for i in range(len(text) - 2)})
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def _text_candidates(conn: sqlite3.Connection, text: str | None) -> list[int] | None:
    """Ids of the events that may hold `text`, or None when they are not few (or cannot be told)."""
    query = text_index_query(text) if text else None
    if query is None:
        return None
    found = conn.execute(
        "SELECT rowid FROM logs_text WHERE logs_text MATCH ? LIMIT ?", (query, _TEXT_CANDIDATES)
    )
    ids = [row[0] for row in found]
    return ids if len(ids) < _TEXT_CANDIDATES else None


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


_CURSOR = re.compile(r"^(-?\d{1,19}):(\d{1,19})$")


def parse_cursor(text: str) -> Place:
    """The place a `next_before` cursor ("time_ns:id") names; ValueError when it names none."""
    match = _CURSOR.match(text)
    if not match or not all(-(2**63) <= int(n) < 2**63 for n in match.groups()):
        raise ValueError("a cursor is time_ns:id, as next_before gives it")
    return int(match.group(1)), int(match.group(2))


def events(conn: sqlite3.Connection, f: EventFilter) -> dict[str, Any]:
    """A page of events newest first by their time (a tie: the one stored last first), and the
    cursors of the next: `next_before` ("time_ns:id" of its last event) and `next_before_id`
    (that event's id, which older clients page with). Each index of a filter ends in
    (time_ns, id), so the page is read off it, never sorted; events stored meanwhile do not
    shift later pages. `last_id` is the newest row when it was read: the live stream
    (`events_after`) continues from it."""
    where, args = _event_where(f)
    limit = clamp_limit(f.limit)
    source, source_args = "logs", []
    candidates = _text_candidates(conn, f.text)
    if candidates is not None:  # read those rows alone (CROSS JOIN: in that order), sort the few
        source = "(SELECT value AS candidate FROM json_each(?)) CROSS JOIN logs ON logs.id = candidate"
        source_args = [orjson.dumps(candidates).decode()]
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM {source} WHERE {where} ORDER BY time_ns DESC, id DESC LIMIT ?",
        (*source_args, *args, limit + 1),
    ).fetchall()
    items = [event_row(r) for r in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    return {
        "events": items,
        "last_id": last_event_row_id(conn),
        "next_before": f"{last['time_ns']}:{last['id']}" if last else None,
        "next_before_id": last["id"] if last else None,
    }


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
