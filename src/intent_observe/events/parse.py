"""Both line shapes → one `Event`; anything unusable → a `Rejected` with its reason.

Envelope: {"event": "spec.created", "timestamp": …, "span_id", "parent_id", "ref",
"trace_id", "source", "actor", "data": {…}}.  Flat: {"event_type": …, "contract_id": …,
…top-level fields}.  Both are read through one lookup (top level first, then `data`),
so a writer that mixes them is read too.
"""

from __future__ import annotations

import hashlib
import math
import posixpath
import re
from collections.abc import Iterator
from typing import Any

import orjson

from intent_observe.events.model import ArtifactKind, Event, Position, Rejected
from intent_observe.events.timestamps import TimestampError, parse_timestamp
from intent_observe.metrics.catalog import AUTONOMY_LEVELS, autonomy_level

MAX_LINE_BYTES = 1 << 20  # a line longer than 1 MiB is rejected, not parsed

_ENVELOPE_KEYS = frozenset(
    {"version", "event", "timestamp", "trace_id", "span_id", "parent_id", "source", "actor", "ref", "data"}
)
_PLACEHOLDER_IDS = frozenset({"", "unknown", "null", "none", "n/a", "na", "-", "undefined", "nil", "?"})

# Event type prefix → artifact kind (longest prefix first). An approval of an intent is an
# event *about* the intent (a span under it), not one of its own: it must not redefine it.
_KIND_BY_PREFIX: tuple[tuple[str, ArtifactKind], ...] = (
    ("contract.assertion.", ArtifactKind.ASSERTION),
    ("intent.approval.", ArtifactKind.OTHER),
    ("signal.", ArtifactKind.SIGNAL),
    ("cluster.", ArtifactKind.CLUSTER),
    ("intent.", ArtifactKind.INTENT),
    ("spec.", ArtifactKind.SPEC),
    ("contract.", ArtifactKind.CONTRACT),
    ("decision.", ArtifactKind.DECISION),
)

# The usual id shapes, used to tell which of span_id / ref / parent_id names what.
_ID_SHAPE = re.compile(
    r"(?i)(?:(sig)[-_]|(clu?|cluster)[-_]|(int)[-_]|(spec)[-_]|(con|contract)[-_]|(assert)|(dec)[-_])"
)
_ID_SHAPE_KINDS = (
    ArtifactKind.SIGNAL,
    ArtifactKind.CLUSTER,
    ArtifactKind.INTENT,
    ArtifactKind.SPEC,
    ArtifactKind.CONTRACT,
    ArtifactKind.ASSERTION,
    ArtifactKind.DECISION,
)

TYPED_ID_FIELD = {
    ArtifactKind.SIGNAL: "signal_id",
    ArtifactKind.CLUSTER: "cluster_id",
    ArtifactKind.INTENT: "intent_id",
    ArtifactKind.SPEC: "spec_id",
    ArtifactKind.CONTRACT: "contract_id",
    ArtifactKind.ASSERTION: "assertion_id",
    ArtifactKind.DECISION: "decision_id",
}


# Links as real writers put them beside the typed `*_id` fields: `data.intent`, `data.spec`, …
LINK_FIELD = {
    ArtifactKind.SIGNAL: "signal",
    ArtifactKind.CLUSTER: "cluster",
    ArtifactKind.INTENT: "intent",
    ArtifactKind.SPEC: "spec",
    ArtifactKind.CONTRACT: "contract",
}
# What names a writer: the first text among these keys of a `source` object.
_SOURCE_NAME_KEYS = ("name", "type", "kind", "surface", "tool", "system", "id")
MAX_LISTED_IDS = 256


class LineError(ValueError):
    pass


def kind_of_type(event_type: str) -> ArtifactKind:
    for prefix, kind in _KIND_BY_PREFIX:
        if event_type.startswith(prefix):
            return kind
    return ArtifactKind.OTHER


def kind_of_id(artifact_id: str) -> ArtifactKind | None:
    m = _ID_SHAPE.match(artifact_id)
    return _ID_SHAPE_KINDS[m.lastindex - 1] if m is not None and m.lastindex else None


def clean_id(value: object) -> str | None:
    """An id as written, or None when it names nothing (missing, empty, `unknown`…)."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = value if isinstance(value, str) else str(value)
    if text.strip().lower() in _PLACEHOLDER_IDS:
        return None
    return text


def event_id_of(raw: bytes) -> str:
    """A stable id for one line: the same bytes give the same id on every machine."""
    return hashlib.blake2b(raw.strip(), digest_size=16).hexdigest()


def parse_line(raw: bytes, position: Position) -> Event | Rejected | None:
    """One line → Event, Rejected, or None for a blank line."""
    stripped = raw.strip()
    if not stripped:
        return None
    try:
        return _parse(stripped, position)
    except LineError as exc:
        return Rejected(position, str(exc), raw)


def _parse(raw: bytes, position: Position) -> Event:
    if len(raw) > MAX_LINE_BYTES:
        raise LineError(f"line is {len(raw)} bytes, over the {MAX_LINE_BYTES}-byte limit")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LineError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise LineError(f"a line must be a JSON object, not {type(doc).__name__}")

    shape = "envelope" if "event" in doc else "flat"
    event_type = doc.get("event") if shape == "envelope" else doc.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise LineError("no event type: neither a string 'event' nor 'event_type'")
    event_type = event_type.strip()

    data = doc.get("data")
    if shape == "envelope":
        payload: dict[str, Any] = (
            data if isinstance(data, dict) else ({} if data is None else {"value": data})
        )
        # One lookup for both shapes: top-level values win over `data`, nulls do not.
        fields = payload.copy()
        fields.update((k, v) for k, v in doc.items() if v is not None)
    else:
        payload = doc.copy()
        del payload["event_type"]
        fields = doc

    stamp = fields.get("timestamp")
    if stamp is None:
        stamp = fields.get("ts") or fields.get("time") or fields.get("created_at")
    if stamp is None:
        raise LineError("no timestamp ('timestamp', 'ts', 'time' or 'created_at')")
    try:
        time_ns = parse_timestamp(stamp)
    except TimestampError as exc:
        raise LineError(str(exc)) from None

    kind = kind_of_type(event_type)
    refs = _references(doc, fields)
    artifact_id = _artifact_id(kind, doc, refs, fields)
    trust = _trust(fields)
    signals = _id_list(payload.get("signals"))
    level = _autonomy(fields.get("autonomy_level"))
    if level is None and trust is not None:
        level = autonomy_level(trust)

    return Event(
        type=event_type,
        time_ns=time_ns,
        kind=kind,
        artifact_id=artifact_id,
        event_id=event_id_of(raw),
        position=position,
        shape=shape,
        parent_id=clean_id(doc.get("parent_id")),
        intent_id=refs.get(ArtifactKind.INTENT),
        spec_id=refs.get(ArtifactKind.SPEC),
        contract_id=refs.get(ArtifactKind.CONTRACT),
        cluster_id=refs.get(ArtifactKind.CLUSTER),
        signal_id=refs.get(ArtifactKind.SIGNAL),
        trace_hint=_text(fields.get("trace_id")),
        source=_source(fields.get("source")),
        actor=_text(doc.get("actor")) or _text(payload.get("agent")) or _text(payload.get("author")),
        trust=trust,
        autonomy_level=level,
        title=_title(payload),
        file=_file(fields.get("file")),
        signals=signals,
        contracts=_id_list(payload.get("contracts")),
        payload=payload,
    )


def _title(payload: dict[str, Any]) -> str | None:
    for key in ("title", "name", "summary", "assertion_name"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _references(doc: dict[str, Any], fields: dict[str, Any]) -> dict[ArtifactKind, str]:
    """Which artifact of each kind this line names: typed `*_id` fields first, then id shapes."""
    refs: dict[ArtifactKind, str] = {}
    for kind, key in TYPED_ID_FIELD.items():
        if key in fields:
            value = clean_id(fields[key])
            if value is not None:
                refs[kind] = value
    for kind, key in LINK_FIELD.items():
        if kind not in refs and isinstance(fields.get(key), str):
            value = clean_id(fields[key])
            if value is not None:
                refs[kind] = value
    for key in ("span_id", "ref", "parent_id"):
        value = clean_id(doc.get(key))
        if value is None:
            continue
        shape = kind_of_id(value)
        if shape is not None and shape not in refs:
            refs[shape] = value
    return refs


def _artifact_id(
    kind: ArtifactKind, doc: dict[str, Any], refs: dict[ArtifactKind, str], fields: dict[str, Any]
) -> str | None:
    if kind is ArtifactKind.ASSERTION:
        return clean_id(fields.get("assertion_id")) or clean_id(fields.get("assertion_name"))
    if kind in refs:
        return refs[kind]
    if kind is ArtifactKind.OTHER:
        return None
    # An envelope id that has no recognisable shape is still this event's artifact,
    # unless its shape says it is some other kind.
    for key in ("span_id", "ref"):
        value = clean_id(doc.get(key))
        if value is not None and kind_of_id(value) is None:
            return value
    return None


def _id_list(value: object) -> tuple[str, ...]:
    """The ids a list names (`signals`, `contracts`), placeholders dropped, at most 256."""
    if not isinstance(value, list):
        return ()
    ids = (clean_id(item) for item in value[:MAX_LISTED_IDS] if isinstance(item, str))
    return tuple(dict.fromkeys(i for i in ids if i is not None))


def _file(value: object) -> str | None:
    """The artifact's file, normalised so `./.intent/x.md` and `.intent/x.md` are one file."""
    if not isinstance(value, str) or not value.strip():
        return None
    path = posixpath.normpath(value.strip().replace("\\", "/"))
    return path.removeprefix("./")


def _source(value: object) -> str | None:
    """A writer's name; a `source` object is read for its name, not dropped."""
    if isinstance(value, dict):
        for key in _SOURCE_NAME_KEYS:
            text = _text(value.get(key))
            if text is not None:
                return text
        return None
    return _text(value)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _trust(fields: dict[str, Any]) -> float | None:
    for key in ("trust_score", "trust", "score"):
        value = fields.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if math.isfinite(number) and 0.0 <= number <= 1.0:
            return number
    return None


def _autonomy(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip().upper()
    if text.isdigit():
        text = "L" + text
    return text if text in AUTONOMY_LEVELS else None


def iter_lines(
    data: bytes, file: str, start_offset: int = 0, start_line: int = 1
) -> Iterator[tuple[bytes, Position]]:
    """Complete lines of a buffer with their positions; a trailing partial line is not yielded."""
    offset, line = 0, start_line
    end = len(data)
    while offset < end:
        nl = data.find(b"\n", offset)
        if nl < 0:
            return
        yield data[offset:nl], Position(file, line, start_offset + offset)
        offset, line = nl + 1, line + 1


def parse_file(path: str) -> Iterator[Event | Rejected]:
    """Every usable event and every rejected line of a file; a final line without newline counts."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data and not data.endswith(b"\n"):
        data += b"\n"
    for raw, position in iter_lines(data, path):
        parsed = parse_line(raw, position)
        if parsed is not None:
            yield parsed
