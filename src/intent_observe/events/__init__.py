"""Parse and normalise both Intent line shapes into one `Event` type (parsing is the core's)."""

from intent_observe.events.parse import (
    Block,
    TimestampError,
    blocks,
    iter_lines,
    parse_file,
    parse_line,
    parse_lines,
    parse_timestamp,
)
from intent_observe.model import ArtifactKind, Event, Position, Rejected

__all__ = [
    "ArtifactKind",
    "Block",
    "Event",
    "Position",
    "Rejected",
    "TimestampError",
    "blocks",
    "iter_lines",
    "parse_file",
    "parse_line",
    "parse_lines",
    "parse_timestamp",
]
