"""One event as asked for: the draft, its type's rule, the checks it must pass and its line.

What can be told from the draft alone lives here; what the history says (ids in use, parents,
trace context) is the emitter's (emit.py), which reads it from the identity view.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from intent_observe.artifacts.ids import PREFIXES
from intent_observe.events import Event, Rejected, TimestampError, parse_timestamp
from intent_observe.events.parse import (
    MAX_LINE_BYTES,
    TYPED_ID_FIELD,
    clean_id,
    kind_of_id,
    kind_of_type,
    parse_line,
)
from intent_observe.model import ArtifactKind, Position

MAX_ID_CHARS = 200
_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class EmitError(ValueError):
    """The event cannot be written as asked; nothing was written."""


@dataclass(frozen=True, slots=True)
class Rule:
    """What an event type needs: the kind its parent names, and whether it announces a new artifact."""

    parent: ArtifactKind | None = None
    parent_required: bool = False
    creates: bool = False
    title_required: bool = False


_RULES: dict[str, Rule] = {
    "signal.created": Rule(creates=True, title_required=True),
    "signal.captured": Rule(creates=True, title_required=True),
    "signal.clustered": Rule(ArtifactKind.CLUSTER, parent_required=True),
    "signal.promoted": Rule(ArtifactKind.INTENT, parent_required=True),
    "cluster.created": Rule(creates=True),
    "intent.proposed": Rule(creates=True, title_required=True),
    "spec.created": Rule(ArtifactKind.INTENT, parent_required=True, creates=True),
    "spec.written": Rule(ArtifactKind.INTENT, parent_required=True, creates=True),
    "contract.started": Rule(ArtifactKind.SPEC, parent_required=True),
    "contract.assertion.passed": Rule(ArtifactKind.CONTRACT, parent_required=True),
    "contract.assertion.failed": Rule(ArtifactKind.CONTRACT, parent_required=True),
    "decision.recorded": Rule(creates=True),
}
# The parent kind of every other event of a kind, when it names one.
_PARENT_BY_KIND = {
    ArtifactKind.SPEC: ArtifactKind.INTENT,
    ArtifactKind.CONTRACT: ArtifactKind.SPEC,
    ArtifactKind.ASSERTION: ArtifactKind.CONTRACT,
}


def rule_for(event_type: str) -> Rule:
    rule = _RULES.get(event_type)
    if rule is not None:
        return rule
    return Rule(_PARENT_BY_KIND.get(kind_of_type(event_type)))


@dataclass(slots=True)
class Draft:
    """One event as asked for, before validation and trace context."""

    type: str
    id: str | None = None
    parent: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    actor: str | None = None
    timestamp: str | None = None  # any accepted form; written as UTC `Z` with microseconds
    trace_id: str | None = None  # explicit trace id; else the identity model's
    origin: str | None = None  # where it was read ("line 3"), named in its errors


def check_type(event_type: str) -> None:
    if not _EVENT_TYPE.fullmatch(event_type):
        raise EmitError(f"event type {event_type!r} is not of the form 'noun.verb' (e.g. signal.created)")


def check_id(label: str, value: str | None, lenient: list[str] | None) -> None:
    if value is None:
        return
    if not value.strip() or clean_id(value) is None:
        raise EmitError(f"{label} {value!r} names nothing; give a real id")
    if _CONTROL.search(value) or len(value) > MAX_ID_CHARS:
        # Other writers' ids spanning lines are kept as written (readers take the first line); ours never do.
        missing(f"{label} {value[:40]!r}… must be one line of at most {MAX_ID_CHARS} characters", lenient)


def check_parent_kind(draft: Draft, rule: Rule) -> None:
    if draft.parent is None or rule.parent is None:
        return
    shape = kind_of_id(draft.parent)
    if shape is not None and shape is not rule.parent:
        raise EmitError(
            f"{draft.type} --parent must name its {rule.parent.value} "
            f"({prefix_of(rule.parent)}-…), not the {shape.value} {draft.parent}"
        )


def link_ids(draft: Draft, kind: ArtifactKind, rule: Rule) -> None:
    """Name the artifact and its parent in typed `data` fields, so every reader resolves them alike."""
    pairs = [(TYPED_ID_FIELD.get(kind), draft.id)]
    parent_kind = rule.parent or (kind_of_id(draft.parent) if draft.parent else None)
    if parent_kind is not None and parent_kind is not kind:
        pairs.append((TYPED_ID_FIELD.get(parent_kind), draft.parent))
    for key, value in pairs:
        if key is None or value is None:
            continue
        given = draft.data.get(key)
        if given is not None and given != value:
            raise EmitError(f"data.{key}={given!r} contradicts {value!r}; give it once")
        draft.data[key] = value


def prefix_of(kind: ArtifactKind) -> str:
    return PREFIXES.get(kind, ("ID",))[0]


def missing(reason: str, lenient: list[str] | None) -> None:
    """Refuse the draft, or (lenient) note why it is incomplete and let it through."""
    if lenient is None:
        raise EmitError(reason)
    lenient.append(f"{reason}; written as given")


def has_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def related_id(data: Mapping[str, Any]) -> str | None:
    for kind in (ArtifactKind.CONTRACT, ArtifactKind.SPEC, ArtifactKind.INTENT):
        value = clean_id(data.get(TYPED_ID_FIELD[kind]))
        if value is not None:
            return value
    return None


def promoted_intent(envelope: dict[str, Any]) -> str | None:
    """The intent a promotion (signal.promoted, or an intent event listing signals/cluster) fills."""
    data = envelope["data"]
    if envelope["event"] == "signal.promoted":
        return envelope["parent_id"]
    if envelope["event"].startswith("intent.") and ("signals" in data or "cluster_id" in data):
        return envelope["span_id"]
    return None


def utc_timestamp(value: str | None) -> str:
    if value is None:
        moment = datetime.now(UTC)
    else:
        try:
            ns = parse_timestamp(value)
        except TimestampError as exc:
            raise EmitError(str(exc)) from None
        return format_timestamp(ns)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_timestamp(ns: int) -> str:
    """UTC, `Z`, microseconds: the one form this writer puts in a line."""
    moment = datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=ns % 10**9 // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def line_bytes(envelope: dict[str, Any]) -> bytes:
    try:
        line = orjson.dumps(envelope) + b"\n"
    except TypeError as exc:
        raise EmitError(f"data is not JSON: {exc}") from None
    if len(line) > MAX_LINE_BYTES:
        raise EmitError(f"the event is {len(line)} bytes, over the {MAX_LINE_BYTES}-byte line limit")
    return line


def default_actor() -> str:
    actor = os.environ.get("INTENT_ACTOR") or os.environ.get("GITHUB_ACTOR")
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def draft_from_line(raw: bytes, number: int) -> Draft:
    """A JSON line from an existing script (either shape) → a draft; its trace context is recomputed
    only where it gave none."""
    parsed = parse_line(raw, Position("<stdin>", number, 0))
    if parsed is None:
        raise EmitError(f"line {number}: empty")
    if isinstance(parsed, Rejected):
        raise EmitError(f"line {number}: {parsed.reason}")
    draft = _draft_from_event(parsed, orjson.loads(raw))
    draft.origin = f"line {number}"
    return draft


def _draft_from_event(ev: Event, doc: dict[str, Any]) -> Draft:
    rule = rule_for(ev.type)
    typed = {
        ArtifactKind.INTENT: ev.intent_id,
        ArtifactKind.SPEC: ev.spec_id,
        ArtifactKind.CONTRACT: ev.contract_id,
        ArtifactKind.CLUSTER: ev.cluster_id,
    }
    parent = (typed.get(rule.parent) if rule.parent is not None else None) or ev.parent_id
    if parent is not None and parent == ev.artifact_id:
        parent = None  # `parent_id` naming the artifact itself, as some writers do
    envelope_keys = ("event_type", "timestamp", "ts", "time", "trace_id", "source", "actor", "version")
    data = (
        dict(ev.payload)
        if ev.shape == "envelope"
        else {k: v for k, v in doc.items() if k not in envelope_keys}
    )
    trace = doc.get("trace_id")
    return Draft(
        type=ev.type,
        id=ev.artifact_id,
        parent=parent,
        data=data,
        source=ev.source,
        actor=ev.actor or default_actor(),
        timestamp=format_timestamp(ev.time_ns),
        trace_id=trace if isinstance(trace, str) and trace.strip() else None,
    )
