"""Trace ids as the engine (crates/core/src/identity/ids.rs) derives them, for those who predict
one before the engine has placed its artifact, and their UUID form."""

from __future__ import annotations

import uuid

# Fixed namespace: changing it would change every id users have already stored.
NAMESPACE = uuid.UUID("9b0f1a8e-5c3d-4e1f-8a77-1d2c3b4a5e6f")


def uuid_trace_id(scope: str, kind: str, artifact_key: str) -> str:
    """A UUIDv5 trace id, for intents and clusters, so `cluster-{uuid}` names stay meaningful."""
    return uuid.uuid5(NAMESPACE, f"{scope}\x00{kind}\x00{artifact_key}").hex


def uuid_form(trace_id: str) -> str:
    return str(uuid.UUID(hex=trace_id))
