"""The one replay loop: complete lines → the identity engine, with what the artifact files say.

The tail (a batch at a time) and `inspect` (a file a block at a time) read a history the same
way: the lines of a block are parsed and processed in the compiled core
(`Engine.process_lines`: no `Event` object per line), and each derived event
(`artifacts.derive.Derived`) joins just before the first log event later than it. What each
does with what the engine drains (encode it, keep it) is its own.
"""

from __future__ import annotations

from typing import Protocol

from intent_observe.artifacts.derive import Derived
from intent_observe.identity.engine import Engine
from intent_observe.model import Rejected


class Lines(Protocol):
    """Complete lines of a file and where they start (`sources.follow.Chunk`, `events.Block`)."""

    @property
    def data(self) -> bytes: ...
    @property
    def file(self) -> str: ...
    @property
    def offset(self) -> int: ...
    @property
    def line(self) -> int: ...


def replay(engine: Engine, lines: Lines, derived: Derived, observed_ns: int | None = None) -> list[Rejected]:
    """The lines into `engine`, the derived events due before them first; the unusable lines."""
    rejected, fed = engine.process_lines(
        lines.data, lines.file, lines.offset, lines.line, observed_ns, derived.oldest_first()
    )
    derived.taken(fed)
    return rejected
