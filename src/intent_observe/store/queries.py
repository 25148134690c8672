"""Read-side queries behind the JSON API, the CLI and the alert engine.

Every function takes a read connection (see `Store.read`) and returns plain JSON-able
data shaped as /tmp/team/web-api.md (the API contract) describes.
"""

from __future__ import annotations

import math
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from intent_observe.metrics import catalog
from intent_observe.metrics.catalog import AUTONOMY_LEVELS, MetricDef
from intent_observe.store.decode import span_details
from intent_observe.store.values import from_column, load_histogram

HOUR_NS = 3600 * 10**9
SPARKLINE_HOURS = 48
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_DETAIL_SEPARATOR = " — "
_CYCLE_STAGES = (
    ("signal_to_intent", catalog.CYCLE_SIGNAL_TO_INTENT),
    ("intent_to_spec", catalog.CYCLE_INTENT_TO_SPEC),
    ("spec_to_complete", catalog.CYCLE_SPEC_TO_COMPLETE),
)
# Event types counted when a summary is asked for a time range (event time, not export time).
_SIGNAL_CREATED = ("signal.created", "signal.captured")
_INTENT_DEFINED = ("intent.proposed", "intent.accepted", "intent.approved", "signal.promoted")
_SPEC_CREATED = ("spec.created", "spec.written")
_CONTRACT_RESULT = ("contract.completed", "contract.verified", "contract.passed", "contract.failed")
# A contract result event that reports a failure, read as the identity engine reads it: the
# event type, a result word, or a count of failed assertions.
_CONTRACT_FAILED_SQL = """(
    event_name = 'contract.failed' OR severity_number >= 17
    OR lower(coalesce(json_extract(attributes, '$."intent.data.result"'),
                      json_extract(attributes, '$."intent.data.status"'),
                      json_extract(attributes, '$."intent.data.outcome"'),
                      json_extract(attributes, '$."intent.data.verdict"'), ''))
       IN ('fail', 'failed', 'failure', 'error', 'errored', 'red')
    OR coalesce(json_extract(attributes, '$."intent.data.assertions_failed"'), 0) > 0
    OR json_extract(attributes, '$."intent.data.passed"') = 0
)"""


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


# ------------------------------------------------------------------------------ metrics
@dataclass(frozen=True, slots=True)
class Series:
    name: str
    service: str
    labels: dict[str, str]
    kind: str
    unit: str
    temporality: str
    time_ns: int
    value: float
    histogram: dict[str, Any] | None


def current_series(conn: sqlite3.Connection, name_prefix: str = "") -> list[Series]:
    """The newest value of every live series: a gauge series missing from its metric's newest
    export is gone (a closed intent's last-event gauge), cumulative and delta series stay."""
    rows = conn.execute(
        """SELECT s.name, s.service, s.labels, s.kind, s.unit, s.temporality, s.time_ns, s.value,
                  s.histogram
           FROM metric_series s JOIN metric_exports e ON e.name = s.name AND e.service = s.service
           WHERE s.name >= ?1 AND s.name < ?1 || char(1114111)
             AND (s.kind != 'gauge' OR s.time_ns >= e.time_ns)
           ORDER BY s.name, s.labels""",
        (name_prefix,),
    )
    return [
        Series(n, svc, orjson.loads(lb), k, u, tmp, t, from_column(v), load_histogram(h))
        for n, svc, lb, k, u, tmp, t, v, h in rows
    ]


def metric_total(conn: sqlite3.Connection, metric: MetricDef, **labels: str) -> float:
    """Sum of the newest finite values of a metric's live series whose labels match (a NaN or
    infinite value, which any OTLP client may send, says nothing about a total)."""
    return sum(
        s.value
        for s in current_series(conn, metric.name)
        if s.name == metric.name
        and math.isfinite(s.value)
        and all(s.labels.get(k) == v for k, v in labels.items())
    )


def metric_value_at(conn: sqlite3.Connection, metric: MetricDef, at_ns: int, **labels: str) -> float:
    """Sum over matching series of each one's value at `at_ns` (0 for a series not yet seen)."""
    total = 0.0
    for series_id, labels_json in conn.execute(
        "SELECT id, labels FROM metric_series WHERE name = ?", (metric.name,)
    ):
        series_labels = orjson.loads(labels_json)
        if not all(series_labels.get(k) == v for k, v in labels.items()):
            continue
        row = conn.execute(
            "SELECT value FROM metric_points WHERE series_id = ? AND time_ns <= ? "
            "ORDER BY time_ns DESC LIMIT 1",
            (series_id, at_ns),
        ).fetchone()
        total += from_column(row[0]) if row else 0.0
    return total


def histogram_quantile(q: float, histogram: dict[str, Any] | None) -> float | None:
    """Prometheus' histogram_quantile over one cumulative histogram (linear within a bucket)."""
    if not histogram or not histogram.get("count"):
        return None
    bounds, counts = histogram["bounds"], histogram["counts"]
    rank = q * histogram["count"]
    cumulative = 0.0
    for i, count in enumerate(counts):
        if cumulative + count >= rank and count > 0:
            if i == len(bounds):  # +Inf bucket: the highest finite bound, as Prometheus answers
                return float(bounds[-1]) if bounds else None
            lower = bounds[i - 1] if i > 0 else 0.0
            return float(lower + (bounds[i] - lower) * (rank - cumulative) / count)
        cumulative += count
    return float(bounds[-1]) if bounds else None


def _cycle_time(conn: sqlite3.Connection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    series = {s.name: s for s in current_series(conn, "intent.cycle_time.")}
    for key, metric in _CYCLE_STAGES:
        hist = series[metric.name].histogram if metric.name in series else None
        out[key] = {
            "median_s": histogram_quantile(0.5, hist),
            "p95_s": histogram_quantile(0.95, hist),
            "count": int(hist["count"]) if hist else 0,
        }
    return out


def _trust(conn: sqlite3.Connection) -> dict[str, int]:
    levels = dict.fromkeys(AUTONOMY_LEVELS, 0)
    for s in current_series(conn, catalog.SIGNALS_ACTIVE.name):
        level = s.labels.get("autonomy_level")
        if s.name == catalog.SIGNALS_ACTIVE.name and level in levels and math.isfinite(s.value):
            levels[level] += int(s.value)
    return levels


# ------------------------------------------------------------------------------ summary
def summary(
    conn: sqlite3.Connection, now_ns: int, since: int | None = None, until: int | None = None
) -> dict[str, Any]:
    """The dashboard's numbers: the adapter's newest `intent.*` metrics, or for a time range,
    the events whose event time falls in it."""
    counts = _counts_in_range(conn, since, until) if since or until else _counts_from_metrics(conn)
    last = conn.execute("SELECT max(time_ns) FROM logs WHERE category = 'intent'").fetchone()[0]
    end_hour = (until or now_ns) // HOUR_NS
    hours = dict(
        conn.execute(
            "SELECT hour, count FROM event_hours WHERE hour > ? AND hour <= ?",
            (end_hour - SPARKLINE_HOURS, end_hour),
        ).fetchall()
    )
    orphans = conn.execute("SELECT count(*) FROM traces WHERE kind = 'orphan'").fetchone()[0]
    return {
        **counts,
        "orphans": orphans,
        "last_event_ns": last,
        "cycle_time": _cycle_time(conn),
        "trust": _trust(conn),
        "events_per_hour": [
            {"t_ns": h * HOUR_NS, "count": hours.get(h, 0)}
            for h in range(end_hour - SPARKLINE_HOURS + 1, end_hour + 1)
        ],
    }


def _counts_from_metrics(conn: sqlite3.Connection) -> dict[str, int]:
    events_total = metric_total(conn, catalog.EVENTS_TOTAL)
    if not events_total:  # no metrics pushed (yet): count the stored event records
        events_total = conn.execute("SELECT coalesce(sum(count), 0) FROM event_hours").fetchone()[0]
    return {
        "signals": int(metric_total(conn, catalog.SIGNALS_TOTAL)),
        "intents": int(metric_total(conn, catalog.INTENTS_TOTAL)),
        "specs": int(metric_total(conn, catalog.SPECS_TOTAL)),
        "contracts_passed": int(metric_total(conn, catalog.CONTRACTS_TOTAL, result="pass")),
        "contracts_failed": int(metric_total(conn, catalog.CONTRACTS_TOTAL, result="fail")),
        "events_total": int(events_total),
    }


def _counts_in_range(conn: sqlite3.Connection, since: int | None, until: int | None) -> dict[str, int]:
    lo, hi = since or 0, until or (1 << 63) - 1

    def distinct(types: tuple[str, ...]) -> int:
        marks = ",".join("?" * len(types))
        return int(
            conn.execute(
                f"SELECT count(DISTINCT coalesce(artifact_id, record_key)) FROM logs "
                f"WHERE category = 'intent' AND event_name IN ({marks}) AND time_ns >= ? AND time_ns < ?",
                (*types, lo, hi),
            ).fetchone()[0]
        )

    marks = ",".join("?" * len(_CONTRACT_RESULT))
    failed, total = conn.execute(
        f"SELECT coalesce(sum({_CONTRACT_FAILED_SQL}), 0), count(*) FROM logs "
        f"WHERE category = 'intent' AND event_name IN ({marks}) AND time_ns >= ? AND time_ns < ?",
        (*_CONTRACT_RESULT, lo, hi),
    ).fetchone()
    events = conn.execute(
        "SELECT count(*) FROM logs WHERE category = 'intent' AND time_ns >= ? AND time_ns < ?", (lo, hi)
    ).fetchone()[0]
    return {
        "signals": distinct(_SIGNAL_CREATED),
        "intents": distinct(_INTENT_DEFINED),
        "specs": distinct(_SPEC_CREATED),
        "contracts_passed": int(total - failed),
        "contracts_failed": int(failed),
        "events_total": int(events),
    }


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


# ------------------------------------------------------------------------------- traces
def traces(conn: sqlite3.Connection, kind: str = "all", text: str | None = None, limit: int = 100) -> dict:
    clauses, args = [], []
    if kind in ("intent", "orphan"):
        clauses.append("kind = ?")
        args.append(kind)
    if text:
        pattern = like_pattern(text)
        clauses.append(
            "(root_name LIKE ? ESCAPE '\\' OR title LIKE ? ESCAPE '\\' OR intent_id LIKE ? ESCAPE '\\' "
            "OR trace_id = ?)"
        )
        args += [pattern, pattern, pattern, text.lower()]
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    # newest first, walking traces_kind_start (one kind) or traces_start (all): never a sort of the
    # table; trace_id breaks ties, in the order both indexes already hold
    rows = conn.execute(
        f"SELECT trace_id, intent_id, root_name, title, span_count, error_count, start_ns, end_ns, services, "
        f"root_state FROM traces {where} ORDER BY start_ns DESC, trace_id DESC LIMIT ?",
        (*args, clamp_limit(limit)),
    ).fetchall()
    return {
        "traces": [
            {
                "trace_id": tid,
                "intent_id": intent,
                "root_name": root or "",
                "title": title,
                "state": state,
                "span_count": count,
                "error_count": errors,
                "start_ns": start,
                "end_ns": end,
                "duration_ms": (end - start) / 1e6,
                "services": sorted(orjson.loads(services)),
            }
            for tid, intent, root, title, count, errors, start, end, services, state in rows
        ]
    }


_STATUS = {0: "unset", 1: "ok", 2: "error"}
MAX_TRACE_SPANS = 10_000
MAX_TRACE_LOGS = 10_000


def trace(conn: sqlite3.Connection, trace_id: str) -> dict[str, Any] | None:
    # the contract a span names: its own attribute, else its resource's (`run --contract` sets it on
    # a wrapped Claude Code session)
    rows = conn.execute(
        "SELECT span_id, parent_span_id, name, s.service, start_ns, end_ns, status_code, status_message, "
        "closed, artifact_type, phase, proto, "
        """coalesce(contract_id, json_extract(r.attributes, '$."intent.contract.id"')) """
        "FROM spans s LEFT JOIN resources r ON r.id = s.resource_id WHERE trace_id = ? "
        "ORDER BY start_ns, span_id LIMIT ?",
        (trace_id, MAX_TRACE_SPANS),
    ).fetchall()
    if not rows:
        return None
    spans = []
    named_contract: dict[str, str | None] = {}
    for (
        sid,
        parent,
        name,
        service,
        start,
        end,
        code,
        message,
        closed,
        art_type,
        phase,
        proto,
        contract,
    ) in rows:
        attrs, links = span_details(proto)
        named_contract[sid] = contract
        spans.append(
            {
                "span_id": sid,
                "parent_span_id": parent,
                "name": name,
                "service": service,
                "start_ns": start,
                "end_ns": end,
                "status": _STATUS.get(code, "unset"),
                "status_message": message,
                # an Intent artifact's state (derived: closed once a phase span of it is stored)
                "state": None if art_type is None else "closed" if closed else "open",
                "phase": phase,
                "attributes": attrs,
                "links": links,
            }
        )
    logs = [
        {
            "time_ns": t,
            "span_id": sid,
            "severity": text or _severity_name(number),
            "body": body,
            "attributes": orjson.loads(attrs),
        }
        for t, sid, text, number, body, attrs in conn.execute(
            "SELECT time_ns, span_id, severity_text, severity_number, body, attributes FROM logs "
            "WHERE trace_id = ? ORDER BY time_ns, id LIMIT ?",
            (trace_id, MAX_TRACE_LOGS),
        )
    ]
    add_tree_parents(spans, named_contract)
    ordered = depth_first(spans)
    add_lifetimes(ordered, logs)
    return {"trace_id": trace_id, "spans": ordered, "logs": logs}


def add_tree_parents(spans: list[dict[str, Any]], named_contract: dict[str, str | None]) -> None:
    """Give each span its `tree_parent_span_id`, the span it is drawn under: its parent; for a span
    whose parent has not arrived yet (a running contract's assertions and a wrapped Claude Code
    session name the span of the run, which is sent when the run ends), the contract it names;
    else none (a root)."""
    ids = {s["span_id"] for s in spans}
    contracts = {
        s["attributes"].get("intent.artifact.id"): s["span_id"]
        for s in spans
        if s["phase"] is None and s["attributes"].get("intent.artifact.type") == "contract"
    }
    for span in spans:
        parent = span["parent_span_id"]
        if parent is not None and parent not in ids:
            parent = contracts.get(named_contract.get(span["span_id"]))
        span["tree_parent_span_id"] = parent if parent != span["span_id"] else None


def add_lifetimes(ordered: list[dict[str, Any]], logs: list[dict[str, Any]]) -> None:
    """Give each span (depth-first, as `depth_first` orders them) its `phases` (the ids of its phase
    spans) and `until_ns`, where its life as the waterfall draws it ends: a closed artifact's last
    phase; an open artifact's newest event (a span or log record of it or under it, as progress
    travels as log records); any other span's own end."""
    by_id = {s["span_id"]: s for s in ordered}
    newest = {sid: s["end_ns"] for sid, s in by_id.items()}
    for log in logs:
        sid = log["span_id"]
        if sid in newest and log["time_ns"] > newest[sid]:
            newest[sid] = log["time_ns"]
    for span in ordered:
        span["phases"] = []
    for span in reversed(ordered):  # descendants before their ancestors
        parent = by_id.get(span["tree_parent_span_id"])
        if parent is None:
            continue
        newest[parent["span_id"]] = max(newest[parent["span_id"]], newest[span["span_id"]])
        if span["phase"] is not None:
            parent["phases"].insert(0, span["span_id"])
    for span in ordered:
        if span["phases"]:
            span["until_ns"] = max(by_id[p]["end_ns"] for p in span["phases"])
        elif span["state"] == "open":
            span["until_ns"] = newest[span["span_id"]]
        else:
            span["until_ns"] = span["end_ns"]


def _severity_name(number: int) -> str:
    for floor, name in ((21, "FATAL"), (17, "ERROR"), (13, "WARN"), (9, "INFO"), (5, "DEBUG"), (1, "TRACE")):
        if number >= floor:
            return name
    return "UNSPECIFIED"


def depth_first(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spans ordered root first, each followed by the spans drawn under it (`add_tree_parents`, by
    start time), with `depth`."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:  # already sorted by start time
        children.setdefault(s["tree_parent_span_id"], []).append(s)
    ordered: list[dict[str, Any]] = []
    stack = [(s, 0) for s in reversed(children.get(None, []))]
    seen: set[str] = set()
    while stack:
        span, depth = stack.pop()
        if span["span_id"] in seen:
            continue  # a parent cycle in hostile data must not loop
        seen.add(span["span_id"])
        ordered.append({**span, "depth": depth})
        stack.extend((c, depth + 1) for c in reversed(children.get(span["span_id"], [])))
    # spans caught in a cycle have no root: list them at the top level rather than lose them
    ordered += [{**s, "depth": 0} for s in spans if s["span_id"] not in seen]
    return ordered


def intent_trace_id(conn: sqlite3.Connection, intent_id: str) -> str | None:
    """The trace of an intent: the newest trace whose row names it (traces_intent_kind_start), else
    a trace holding its intent span (spans_intent_artifact): a trace's row names one intent, the
    greatest id, when spans of two intents share the trace."""
    row = conn.execute(
        "SELECT trace_id FROM traces WHERE intent_id = ? AND kind = 'intent' ORDER BY start_ns DESC LIMIT 1",
        (intent_id,),
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT trace_id FROM spans WHERE artifact_type = 'intent' AND artifact_id = ? LIMIT 1",
            (intent_id,),
        ).fetchone()
    return row[0] if row else None


# ------------------------------------------------------------------------------- claude
TOKEN_TYPES = ("input", "output", "cacheRead", "cacheCreation")


def claude(conn: sqlite3.Connection, limit: int = 200) -> dict[str, Any]:
    sessions = [_session(conn, row) for row in conn.execute(
        "SELECT session_id, start_ns, end_ns, contract_id, intent_id, trace_id, parent_span_id "
        "FROM claude_sessions ORDER BY end_ns DESC LIMIT ?",
        (clamp_limit(limit),),
    ).fetchall()]  # fmt: skip
    totals = _empty_usage()
    per_contract: dict[str, dict[str, Any]] = {}
    for s in sessions:
        _add_usage(totals, s)
        if s["contract_id"]:
            entry = per_contract.setdefault(
                s["contract_id"],
                {"contract_id": s["contract_id"], "intent_id": s["intent_id"], **_empty_usage()},
            )
            _add_usage(entry, s)
    for entry in [totals, *per_contract.values()]:
        entry["errors"] = entry["api_errors"]
    totals["sessions"] = len(sessions)
    return {"sessions": sessions, "totals": totals, "per_contract": list(per_contract.values())}


def _empty_usage() -> dict[str, Any]:
    return {
        "tokens": dict.fromkeys(TOKEN_TYPES, 0),
        "cost_usd": 0.0,
        "api_requests": 0,
        "api_errors": 0,
        "tool_decisions": {"accept": 0, "reject": 0},
    }


def _add_usage(into: dict[str, Any], s: dict[str, Any]) -> None:
    for key in TOKEN_TYPES:
        into["tokens"][key] += s["tokens"][key]
    into["cost_usd"] += s["cost_usd"]
    into["api_requests"] += s["api_requests"]
    into["api_errors"] += s["api_errors"]
    for key in ("accept", "reject"):
        into["tool_decisions"][key] += s["tool_decisions"][key]


def _session(conn: sqlite3.Connection, row: tuple[Any, ...]) -> dict[str, Any]:
    session_id, start, end, contract_id, intent_id, trace_id, parent = row
    if contract_id is None:
        contract_id, intent_id = _linked_contract(conn, trace_id, parent, intent_id)
    usage = _empty_usage()
    for name, labels, stored in conn.execute(
        "SELECT name, labels, value FROM metric_series WHERE session_id = ?", (session_id,)
    ):
        value = from_column(stored)
        if not math.isfinite(value):
            continue  # a NaN or infinite count or cost adds nothing that can be shown
        if name == "claude_code.token.usage":
            token_type = orjson.loads(labels).get("type")
            if token_type in usage["tokens"]:
                usage["tokens"][token_type] += int(value)
        elif name == "claude_code.cost.usage":
            usage["cost_usd"] += value
    for event_name, attrs in conn.execute(
        "SELECT event_name, attributes FROM logs WHERE session_id = ? AND category = 'claude'",
        (session_id,),
    ):
        if event_name == "claude_code.api_request":
            usage["api_requests"] += 1
        elif event_name == "claude_code.api_error":
            usage["api_errors"] += 1
        elif event_name == "claude_code.tool_decision":
            decision = str(orjson.loads(attrs).get("decision", "")).lower()
            if decision in usage["tool_decisions"]:
                usage["tool_decisions"][decision] += 1
    usage["cost_usd"] = round(usage["cost_usd"], 6)
    return {
        "session_id": session_id,
        "start_ns": start,
        "end_ns": end,
        "contract_id": contract_id,
        "intent_id": intent_id,
        **usage,
    }


def _linked_contract(
    conn: sqlite3.Connection, trace_id: str | None, parent: str | None, intent_id: str | None
) -> tuple[str | None, str | None]:
    """The nearest contract span above a session's spans (TRACEPARENT), when the resource did
    not name the contract."""
    if trace_id is None or parent is None:
        return None, intent_id
    row = conn.execute(
        """WITH RECURSIVE up(span_id, parent, contract, intent, depth) AS (
               SELECT span_id, parent_span_id,
                      coalesce(contract_id, CASE WHEN artifact_type = 'contract' THEN artifact_id END),
                      intent_id, 0
               FROM spans WHERE trace_id = ?1 AND span_id = ?2
               UNION ALL
               SELECT s.span_id, s.parent_span_id,
                      coalesce(s.contract_id, CASE WHEN s.artifact_type = 'contract' THEN s.artifact_id END),
                      s.intent_id, up.depth + 1
               FROM spans s JOIN up ON s.trace_id = ?1 AND s.span_id = up.parent
               WHERE up.contract IS NULL AND up.depth < 32)
           SELECT contract, intent FROM up WHERE contract IS NOT NULL ORDER BY depth LIMIT 1""",
        (trace_id, parent),
    ).fetchone()
    if row is None:
        return None, intent_id
    return row[0], intent_id or row[1]


# ------------------------------------------------------------------------------- status
def counts(conn: sqlite3.Connection) -> dict[str, int]:
    def rows(table: str) -> int:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    return {"spans": rows("spans"), "logs": rows("logs"), "metric_points": rows("metric_points")}
