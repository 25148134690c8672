"""Parse and normalise both Intent line shapes into one `Event` type."""

from intent_observe.events.model import ArtifactKind, Event, Position, Rejected
from intent_observe.events.parse import iter_lines, parse_file, parse_line

__all__ = ["ArtifactKind", "Event", "Position", "Rejected", "iter_lines", "parse_file", "parse_line"]
