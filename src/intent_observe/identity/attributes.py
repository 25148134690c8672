"""The `intent.*` attributes spans and log records carry, built from one event."""

from __future__ import annotations

from typing import Any

import orjson

from intent_observe.identity.records import AttrValue
from intent_observe.model import Event

MAX_VALUE_CHARS = 1024
MAX_DATA_KEYS = 64
_MAX_DEPTH = 3


def bounded(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, limit: int = 200) -> str:
    """Display form of a user string: control characters escaped, length bounded."""
    flat = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")
    return bounded(flat, limit)


def flatten_payload(payload: dict[str, Any]) -> dict[str, AttrValue]:
    """`intent.data.<key>` attributes: nested objects dotted, lists as JSON, long values bounded."""
    out: dict[str, AttrValue] = {}
    _flatten_into(out, "intent.data.", payload, 0)
    return out


def _flatten_into(out: dict[str, AttrValue], prefix: str, value: dict[str, Any], depth: int) -> None:
    for key, item in value.items():
        if len(out) >= MAX_DATA_KEYS:
            out["intent.data._truncated"] = True
            return
        kind = type(item)
        if kind is str:
            out[prefix + key] = item if len(item) <= MAX_VALUE_CHARS else bounded(item)
        elif kind is int:
            # OTLP ints are 64-bit; larger JSON integers travel as text.
            out[prefix + key] = item if -(2**63) <= item < 2**63 else str(item)
        elif kind is float or kind is bool:
            out[prefix + key] = item
        elif kind is dict and depth < _MAX_DEPTH:
            _flatten_into(out, prefix + key + ".", item, depth + 1)
        elif item is not None:
            out[prefix + key] = bounded(orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode())


def event_attributes(ev: Event) -> dict[str, AttrValue]:
    """Attributes that describe one event, whatever span or log record carries them."""
    attrs: dict[str, AttrValue] = {
        "intent.event.type": ev.type,
        "intent.artifact.type": str(ev.kind),
    }
    if ev.artifact_id is not None:
        attrs["intent.artifact.id"] = bounded(ev.artifact_id, 256)
    if ev.source is not None:
        attrs["intent.source"] = bounded(ev.source, 256)
    if ev.actor is not None:
        attrs["intent.actor"] = bounded(ev.actor, 256)
    if ev.trust is not None:
        attrs["intent.trust.score"] = ev.trust
    if ev.autonomy_level is not None:
        attrs["intent.autonomy_level"] = ev.autonomy_level
    title = ev.title
    if title is not None:
        attrs["intent.title"] = bounded(title)
    attrs.update(flatten_payload(ev.payload))
    return attrs


def summary_line(ev: Event) -> str:
    """The log body: one readable line, e.g. `signal.created SIG-001 — Flaky login test`."""
    parts = [ev.type]
    if ev.artifact_id is not None:
        parts.append(one_line(ev.artifact_id, 80))
    detail = ev.title or _first_text(ev.payload, ("error", "reason", "verdict", "message", "description"))
    if detail:
        parts.append("— " + one_line(detail))
    return " ".join(parts)


def _first_text(payload: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None
