"""The one event type every source produces and every sink consumes (the compiled core builds it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ArtifactKind(StrEnum):
    SIGNAL = "signal"
    CLUSTER = "cluster"
    INTENT = "intent"
    SPEC = "spec"
    CONTRACT = "contract"
    ASSERTION = "assertion"
    DECISION = "decision"
    OTHER = "other"


# `Event.shape` of an event derived from an artifact file's front matter, not read from the log.
DERIVED_SHAPE = "front-matter"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a line came from: file path, line number counted from 1, byte offset of its first byte."""

    file: str
    line: int
    offset: int


@dataclass(slots=True)
class Event:
    """One Intent event, whichever line shape it was written in.

    Ids are kept exactly as written (they may hold newlines or `#`); `None` means
    the line named no usable id (missing, empty, or a placeholder such as `unknown`).
    """

    type: str
    time_ns: int
    kind: ArtifactKind
    artifact_id: str | None
    event_id: str
    position: Position
    shape: str  # "envelope" | "flat" | DERIVED_SHAPE
    parent_id: str | None = None
    intent_id: str | None = None
    spec_id: str | None = None
    contract_id: str | None = None
    cluster_id: str | None = None
    signal_id: str | None = None
    trace_hint: str | None = None
    source: str | None = None
    actor: str | None = None
    trust: float | None = None
    autonomy_level: str | None = None
    title: str | None = None  # the payload's title, name or summary, when it has one
    file: str | None = None  # the artifact's Markdown file (`data.file`): its identity where given
    signals: tuple[str, ...] = ()  # member signals a line names (`signals: [...]`)
    contracts: tuple[str, ...] = ()  # contracts a spec lists (`contracts: [...]`)
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that could not be used, and why. It never stops the lines after it."""

    position: Position
    reason: str
    raw: bytes

    def describe(self) -> str:
        p = self.position
        return f"{p.file}:{p.line} (byte {p.offset}): {self.reason}"
