"""A bounded, crash-safe FIFO of encoded OTLP batches on disk, for when the backend is down long.

    queue = DiskQueue(path, max_bytes=..., max_entries=...)
    batch_id = queue.put(request_bytes, signal="traces", meta={"checkpoint": ...})  # or QueueFull
    batch = queue.peek()          # oldest QueuedBatch, or None
    queue.ack(batch.id)           # after the backend acknowledged it
    queue.depth()                 # QueueDepth(entries, bytes)

SQLite in WAL mode: `put` and `ack` return only after their transaction committed
(synchronous=FULL, so an acknowledged put also survives power loss), and a transaction
is all-or-nothing, so a SIGKILL mid-write never leaves a torn batch. A CRC32 per batch
catches storage corruption on read. One process at a time: a lock file refuses a second.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from intent_observe import sqlite
from intent_observe.safe_files import open_regular, private_dir, private_file
from intent_observe.sqlite import Mode

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_ENTRIES = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  signal TEXT NOT NULL,
  payload BLOB NOT NULL,
  crc32 INTEGER NOT NULL,
  meta BLOB NOT NULL,
  enqueued_at REAL NOT NULL
)
"""


class DiskQueueError(Exception):
    pass


class QueueFull(DiskQueueError):
    """The queue is at its byte or entry bound; the caller must hold back (never a silent drop)."""


class QueueCorrupted(DiskQueueError):
    """A stored batch no longer matches its checksum."""


@dataclass(frozen=True)
class QueueDepth:
    entries: int
    bytes: int


@dataclass(frozen=True)
class QueuedBatch:
    id: int
    signal: str
    payload: bytes
    meta: dict[str, Any]
    enqueued_at: float  # unix seconds


class DiskQueue:
    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        durable: bool = True,
    ) -> None:
        """`durable=False` keeps SIGKILL safety but may lose the last commits on power loss."""
        self.path = path
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        private_dir(path.parent)
        self._lock_file = _exclusive_lock(path.with_name(path.name + ".lock"))
        self._lock = threading.Lock()
        self._db = _open(private_file(path), durable)
        entries, size = self._db.execute(
            "SELECT count(*), coalesce(sum(length(payload)), 0) FROM batches"
        ).fetchone()
        self._depth = QueueDepth(entries, size)

    def put(self, payload: bytes, *, signal: str, meta: Mapping[str, Any] | None = None) -> int:
        """Append a batch durably and return its id; raise QueueFull when it does not fit."""
        encoded_meta = orjson.dumps(dict(meta or {}))
        with self._lock:
            self._check_room(len(payload))
            cursor = self._db.execute(
                "INSERT INTO batches (signal, payload, crc32, meta, enqueued_at) VALUES (?, ?, ?, ?, ?)",
                (signal, payload, zlib.crc32(payload), encoded_meta, time.time()),
            )
            self._depth = QueueDepth(self._depth.entries + 1, self._depth.bytes + len(payload))
            return int(cursor.lastrowid or 0)

    def peek(self, signal: str | None = None) -> QueuedBatch | None:
        """The oldest batch (of `signal`, when given), left in the queue until acked."""
        query = "SELECT id, signal, payload, crc32, meta, enqueued_at FROM batches"
        query += " WHERE signal = ? ORDER BY id LIMIT 1" if signal else " ORDER BY id LIMIT 1"
        with self._lock:
            row = self._db.execute(query, (signal,) if signal else ()).fetchone()
        if row is None:
            return None
        batch_id, batch_signal, payload, crc, meta, enqueued_at = row
        if zlib.crc32(payload) != crc:
            raise QueueCorrupted(f"batch {batch_id} in {self.path} fails its checksum")
        return QueuedBatch(batch_id, batch_signal, bytes(payload), orjson.loads(meta), enqueued_at)

    def ack(self, batch_id: int) -> None:
        """Remove a delivered batch; acking an id twice is harmless."""
        with self._lock:
            # fetchall: the statement runs to its end, so its transaction commits now
            rows = self._db.execute(
                "DELETE FROM batches WHERE id = ? RETURNING length(payload)", (batch_id,)
            ).fetchall()
            if not rows:
                return
            self._depth = QueueDepth(self._depth.entries - 1, self._depth.bytes - rows[0][0])
            if self._depth.entries == 0:
                # give the freed pages back to the file system once the backlog has drained
                self._db.execute("PRAGMA incremental_vacuum")

    def depth(self) -> QueueDepth:
        with self._lock:
            return self._depth

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._lock_file.close()

    def __enter__(self) -> DiskQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_room(self, size: int) -> None:
        if size > self.max_bytes:
            raise QueueFull(
                f"a batch of {size} bytes is larger than the queue bound of {self.max_bytes} bytes"
            )
        if self._depth.entries >= self.max_entries or self._depth.bytes + size > self.max_bytes:
            raise QueueFull(
                f"disk queue {self.path} is full ({self._depth.entries} batches, {self._depth.bytes} bytes; "
                f"bounds {self.max_entries} batches, {self.max_bytes} bytes)"
            )


def _open(path: Path, durable: bool) -> sqlite3.Connection:
    # large pages keep megabyte batches in few overflow pages (measured: ~2-3x faster durable
    # puts and drains); each statement is its own transaction
    db = sqlite.connect(
        path,
        Mode.DURABLE if durable else Mode.CRASH_SAFE,
        before_journal=("page_size = 65536", "auto_vacuum = INCREMENTAL"),
    )
    db.execute(_SCHEMA)
    return db


def _exclusive_lock(lock_path: Path) -> IO[bytes]:
    handle = os.fdopen(open_regular(lock_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DiskQueueError(f"disk queue {lock_path.with_suffix('')} is in use by another process") from None
    return handle
