"""The trace side of the read queries: the list of traces, one trace as a tree with its logs, an
intent's trace, and the Claude Code sessions linked into traces by their contract.

Every function takes a read connection (see `Store.read`).
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

import orjson

from intent_observe.store.decode import span_details
from intent_observe.store.queries import clamp_limit, like_pattern
from intent_observe.store.values import from_column

# A trace's row as the list and the trace view both show it: its root's newest title (the title of
# the root span's newest log record that carries one, else the span's own), and its duration, one
# rule for both: its spans' extent, first start to last end, phases included (what Tempo and Jaeger
# show for the same trace; an open artifact's life so far is its row's bar, not the trace's duration).
_SUMMARY = (
    "t.trace_id, t.intent_id, t.root_name, coalesce(st.title, t.title), t.span_count, t.error_count, "
    "t.start_ns, t.end_ns, t.services, t.root_state "
    "FROM traces t LEFT JOIN span_titles st ON st.trace_id = t.trace_id AND st.span_id = t.root_span_id"
)


def _summary(row: tuple[Any, ...]) -> dict[str, Any]:
    tid, intent, root, title, count, errors, start, end, services, state = row
    return {
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


def traces(conn: sqlite3.Connection, kind: str = "all", text: str | None = None, limit: int = 100) -> dict:
    clauses, args = [], []
    if kind in ("intent", "orphan"):
        clauses.append("t.kind = ?")
        args.append(kind)
    if text:
        pattern = like_pattern(text)
        clauses.append(
            "(t.root_name LIKE ? ESCAPE '\\' OR coalesce(st.title, t.title) LIKE ? ESCAPE '\\' "
            "OR t.intent_id LIKE ? ESCAPE '\\' OR t.trace_id = ?)"
        )
        args += [pattern, pattern, pattern, text.lower()]
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    # newest first, walking traces_kind_start (one kind) or traces_start (all): never a sort of the
    # table; trace_id breaks ties, in the order both indexes already hold
    rows = conn.execute(
        f"SELECT {_SUMMARY} {where} ORDER BY t.start_ns DESC, t.trace_id DESC LIMIT ?",
        (*args, clamp_limit(limit)),
    ).fetchall()
    return {"traces": [_summary(row) for row in rows]}


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
    renamed = dict(conn.execute("SELECT span_id, title FROM span_titles WHERE trace_id = ?", (trace_id,)))
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
                "title": renamed.get(sid, attrs.get("intent.title")),  # its newest, as the trace's
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
    # the trace's row is written in the transaction that stores its spans: there is one
    summary = _summary(conn.execute(f"SELECT {_SUMMARY} WHERE t.trace_id = ?", (trace_id,)).fetchone())
    return {**summary, "spans": ordered, "logs": logs}


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
        if span["state"] == "open":  # a contract running again has phases, and is open
            span["until_ns"] = newest[span["span_id"]]
        elif span["phases"]:
            span["until_ns"] = max(by_id[p]["end_ns"] for p in span["phases"])
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
