"""Where a followed file stands, saved in the identity store's own transaction.

A mark names the file three ways, taking the best of the tools users know: device +
inode (the fast "is the path still my file" check), its first bytes (up to 1 KiB, the
filelog receiver's fingerprint, kept raw so a file shorter than that can be compared
too) and a hash of the bytes just before the offset (Fluent Bit's check for a different
file behind the same inode, or the same history rewritten). The offset is always just
after a newline, and it only moves when the batch that ends there was acknowledged:
the adapter writes the mark, the identity state and the dead-letter size together.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import dataclass, replace

import orjson

HEAD_BYTES = 1024  # fingerprint: the first bytes of a file
TAIL_BYTES = 1024  # the bytes just before the offset, hashed

SCHEMA = "CREATE TABLE IF NOT EXISTS tail_checkpoint (name TEXT PRIMARY KEY, doc BLOB NOT NULL);"


def tail_hash(data: bytes) -> str:
    return hashlib.blake2b(data[-TAIL_BYTES:], digest_size=16).hexdigest()


def read_at(fd: int, size: int, offset: int) -> bytes:
    """Up to `size` bytes at `offset` (fewer only at the end of the file)."""
    parts, done = [], 0
    while done < size:
        part = os.pread(fd, size - done, offset + done)
        if not part:
            break
        parts.append(part)
        done += len(part)
    return b"".join(parts)


def bytes_before(fd: int, offset: int) -> bytes:
    """The TAIL_BYTES bytes just before `offset` (fewer near the start)."""
    start = max(0, offset - TAIL_BYTES)
    return read_at(fd, offset - start, start)


def fingerprint(fd: int, offset: int) -> tuple[bytes, str]:
    """A mark at `offset` in the file open at `fd`: its first bytes and the hash of those before it."""
    return read_at(fd, min(offset, HEAD_BYTES), 0), tail_hash(bytes_before(fd, offset))


@dataclass(frozen=True, slots=True)
class FileMark:
    """A position in one file: lines before `offset` are delivered."""

    path: str = ""  # where the file was found when it was read (rotation moves it)
    dev: int = 0
    ino: int = 0
    offset: int = 0
    line: int = 1  # number of the line that starts at `offset`
    head: bytes = b""  # the file's first min(offset, HEAD_BYTES) bytes
    tail: str = tail_hash(b"")  # hash of the TAIL_BYTES bytes before `offset`

    def advanced(self, data: bytes, before: bytes, lines: int) -> FileMark:
        """The mark after `data` (whole lines read at `offset`; `before` = the bytes preceding it)."""
        return self.advanced_over(len(data), data[:HEAD_BYTES], data[-TAIL_BYTES:], before, lines)

    def advanced_over(self, length: int, first: bytes, last: bytes, before: bytes, lines: int) -> FileMark:
        """The mark after `length` bytes of whole lines, known by their `first` and `last` bytes
        (up to HEAD_BYTES and TAIL_BYTES of them): a line skipped unread moves the mark too."""
        head = self.head if len(self.head) >= HEAD_BYTES else (self.head + first)[:HEAD_BYTES]
        return replace(
            self,
            offset=self.offset + length,
            line=self.line + lines,
            head=head,
            tail=tail_hash(before[-TAIL_BYTES:] + last[-TAIL_BYTES:]),
        )

    def holds(self, fd: int, size: int) -> bool:
        """Whether the file open at `fd` (`size` bytes long) still holds what was read up to the
        mark: the same first bytes, the same bytes before the offset (device and inode aside)."""
        return size >= self.offset and fingerprint(fd, self.offset) == (self.head, self.tail)

    def to_doc(self) -> dict[str, object]:
        return {
            "path": self.path,
            "dev": self.dev,
            "ino": self.ino,
            "offset": self.offset,
            "line": self.line,
            "head": self.head.hex(),
            "tail": self.tail,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, object]) -> FileMark:
        return cls(
            path=str(doc["path"]),
            dev=int(doc["dev"]),  # type: ignore[call-overload]
            ino=int(doc["ino"]),  # type: ignore[call-overload]
            offset=int(doc["offset"]),  # type: ignore[call-overload]
            line=int(doc["line"]),  # type: ignore[call-overload]
            head=bytes.fromhex(str(doc["head"])),
            tail=str(doc["tail"]),
        )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    mark: FileMark
    dead_letter_size: int = 0  # bytes of the dead-letter file that belong to delivered lines
    metrics_start_ns: int = 0  # start time of the cumulative intent.* counters (a reset restarts them)


def load(conn: sqlite3.Connection) -> Checkpoint | None:
    conn.executescript(SCHEMA)
    row = conn.execute("SELECT doc FROM tail_checkpoint WHERE name='file'").fetchone()
    if row is None:
        return None
    doc = orjson.loads(row[0])
    return Checkpoint(FileMark.from_doc(doc["mark"]), doc["dead_letter_size"], doc["metrics_start_ns"])


def write(conn: sqlite3.Connection, checkpoint: Checkpoint) -> None:
    """Call inside the identity store's transaction, so state and offsets move together."""
    doc = {
        "mark": checkpoint.mark.to_doc(),
        "dead_letter_size": checkpoint.dead_letter_size,
        "metrics_start_ns": checkpoint.metrics_start_ns,
    }
    conn.execute(
        "INSERT OR REPLACE INTO tail_checkpoint (name, doc) VALUES ('file', ?)", (orjson.dumps(doc),)
    )
