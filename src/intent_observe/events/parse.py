"""Both line shapes → one `Event`; anything unusable → a `Rejected` with its reason.

The parser is the compiled core's (crates/core/src/parse.rs, timestamps.rs): envelope
lines ({"event", "timestamp", "span_id", "parent_id", "ref", "trace_id", "source", "actor",
"data": {…}}) and flat ones ({"event_type", …top-level fields}) are read through one lookup
(top level first, then `data`), so a writer that mixes them is read too. This module gives
its functions their Python types.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from intent_observe import _core
from intent_observe._core import (
    MAX_LINE_BYTES,
    TimestampError,
    artifact_file,
    clean_id,
    count_lines,
    event_id_of,
    iter_lines,
    kind_of_id,
    kind_of_type,
    parse_line,
    parse_lines,
    parse_timestamp,
)
from intent_observe.model import ArtifactKind, Event, Rejected

__all__ = [
    "MAX_LINE_BYTES",
    "TYPED_ID_FIELD",
    "Block",
    "TimestampError",
    "artifact_file",
    "blocks",
    "clean_id",
    "event_id_of",
    "iter_lines",
    "kind_of_id",
    "kind_of_type",
    "parse_file",
    "parse_line",
    "parse_lines",
    "parse_timestamp",
]

# The typed id field that names an artifact of each kind (`signal_id`, …), as the core reads them.
TYPED_ID_FIELD = {ArtifactKind(kind): field for kind, field in _core.TYPED_ID_FIELDS}


# A file is parsed a block of lines at a time: memory flat in its size. `inspect`'s engine commits
# and trims its working set after each block, so a block's events (about 300 here) are what its
# tables grow by before a trim: 1 MiB blocks peaked at 101-108 MB on 100,000 events, 256 KiB at
# 91-94 MB, CPU the same. Below glibc's mmap threshold (128 KiB), a block's bytes come from the
# heap: one of 256 KiB was mapped and unmapped each block (100,000 events: 21,300 page faults →
# 18,100; the same instructions).
READ_BLOCK_BYTES = 1 << 16


class Block(NamedTuple):
    """Complete lines of a file (each ending with a newline) and where they start."""

    data: bytes
    file: str
    offset: int
    line: int


def blocks(path: str) -> Iterator[Block]:
    """A file's lines a block at a time; a final line without newline counts (one is added).

    The file is read into one buffer, reused: a block's lines are copied out of it once, and
    the line cut at its end moved to its front (a buffer and two copies made each block had
    the allocator hand memory back and fault it in again)."""
    buffer = bytearray(READ_BLOCK_BYTES)
    offset, line, filled = 0, 1, 0  # filled: bytes in `buffer`, from a cut line's start
    with open(path, "rb") as fh:
        while True:
            if filled == len(buffer):  # a line longer than the buffer
                buffer.extend(bytes(len(buffer)))
            read = fh.readinto(memoryview(buffer)[filled:])
            if not read:
                break
            filled += read
            end = buffer.rfind(b"\n", 0, filled) + 1  # complete lines only
            if end:
                data = bytes(memoryview(buffer)[:end])
                yield Block(data, path, offset, line)
                offset, line = offset + end, line + count_lines(data)
                buffer[: filled - end] = buffer[end:filled]
                filled -= end
    if filled:  # a final line without its newline
        yield Block(bytes(buffer[:filled]) + b"\n", path, offset, line)


def parse_file(path: str) -> Iterator[Event | Rejected]:
    """Every usable event and every rejected line of a file; a final line without newline counts."""
    for block in blocks(path):
        yield from parse_lines(*block)
