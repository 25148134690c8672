"""Artifact keys → OpenTelemetry trace and span ids, the same on every machine and every run."""

from __future__ import annotations

import hashlib
import re
import uuid

# Fixed namespace: changing it would change every id users have already stored.
NAMESPACE = uuid.UUID("9b0f1a8e-5c3d-4e1f-8a77-1d2c3b4a5e6f")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def _digest(parts: tuple[str, ...], size: int) -> bytes:
    h = hashlib.blake2b(digest_size=size, person=b"intent-observe")
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    out = h.digest()
    # OTel treats an all-zero id as invalid; flip one bit rather than fail.
    return out if any(out) else b"\x01" + out[1:]


def span_id(*parts: str) -> str:
    """16 hex digits."""
    return _digest(parts, 8).hex()


def derived_trace_id(*parts: str) -> str:
    """32 hex digits for traces that have no UUID of their own (orphans, standalone events)."""
    return _digest(parts, 16).hex()


def uuid_trace_id(scope: str, kind: str, artifact_id: str) -> str:
    """A UUIDv5 trace id, for intents and clusters, so `cluster-{uuid}` names stay meaningful."""
    return uuid.uuid5(NAMESPACE, f"{scope}\x00{kind}\x00{artifact_id}").hex


def trace_id_from_hint(hint: str | None) -> str | None:
    """The 32-hex trace id a writer supplied, when it is a real UUID or 32 hex digits; slugs give None."""
    if not hint:
        return None
    text = hint.strip()
    if _HEX32.fullmatch(text):
        candidate = text.lower()
    else:
        try:
            candidate = uuid.UUID(text).hex
        except ValueError:
            return None
    return None if candidate == "0" * 32 else candidate


def uuid_form(trace_id: str) -> str:
    return str(uuid.UUID(hex=trace_id))


def cluster_trace_from_hint(hint: str | None) -> str | None:
    """The UUID of a provisional `cluster-{uuid}` trace id a writer supplied."""
    if not hint or not hint.strip().lower().startswith("cluster-"):
        return None
    return trace_id_from_hint(hint.strip()[len("cluster-") :])
