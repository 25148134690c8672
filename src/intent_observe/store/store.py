"""The embedded store: a `Consumer` (otlp.consumer) on the write side, SQLite readers on the other.

store = Store(Path(".intent/observe/store.db"))   # opened and migrated: a bad file fails here
receiver = OtlpReceiver(store)            # the store is the receiver's consumer
rows = store.read(lambda conn: conn.execute("SELECT count(*) FROM spans").fetchone())
store.shutdown()
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TypeVar

from intent_observe.otlp.consumer import ACCEPTED, ConsumerBusy, PartialResult
from intent_observe.otlp.signals import Signal
from intent_observe.store.decode import Batch
from intent_observe.store.decode_pool import DecodePool
from intent_observe.store.retention import Retention
from intent_observe.store.schema import store_connection
from intent_observe.store.writer import Writer, WriterClosed

T = TypeVar("T")

# How long a request may wait for its commit before the client is told to retry.
_COMMIT_TIMEOUT_S = 30.0


class Store:
    def __init__(
        self, path: Path, retention: Retention | None = None, *, decode_in_child: bool = True
    ) -> None:
        """`decode_in_child`: large OTLP requests are decoded by a child process (else by the caller)."""
        self.path = Path(path)
        self.writer = Writer(self.path, retention)
        self.decoder = DecodePool(decode_in_child)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    # ---------------------------------------------------------------- Consumer
    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        """A serialized Export*ServiceRequest, from the receiver or the tail, committed before this
        returns (large ones decode in a child process); raises protobuf's DecodeError for a
        malformed body, before anything is written. Never waits on `stop`: busy, it says so."""
        received_ns = time.time_ns()
        try:
            batch = self.decoder.decode(signal.value, body, received_ns, _COMMIT_TIMEOUT_S)
        except TimeoutError:
            raise ConsumerBusy("the store is busy decoding", retry_after_seconds=1.0) from None
        return self._write(batch)

    def _write(self, batch: Batch) -> PartialResult:
        try:
            refused = self.writer.write_batch(batch).result(_COMMIT_TIMEOUT_S)
        except (queue.Full, FutureTimeout):
            raise ConsumerBusy("the store is busy writing", retry_after_seconds=1.0) from None
        except WriterClosed:
            raise ConsumerBusy("the store is shutting down", retry_after_seconds=5.0) from None
        except sqlite3.Error as exc:
            raise ConsumerBusy(f"the store could not write: {exc}", retry_after_seconds=5.0) from None
        for reason in refused.reasons:
            batch.reject(0, reason)
        if batch.rejected or refused.count:
            return PartialResult(batch.rejected + refused.count, batch.message)
        return ACCEPTED

    # ----------------------------------------------------------------- readers
    def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run `query` on this thread's read-only connection, in one consistent snapshot."""
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            return query(conn)
        finally:
            conn.execute("COMMIT")

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = store_connection(self.path, readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @property
    def version(self) -> int:
        return self.writer.version

    def size_bytes(self) -> int:
        return sum(
            p.stat().st_size for p in (self.path, self.path.with_name(self.path.name + "-wal")) if p.exists()
        )

    def start(self) -> None:
        """Nothing left to do: the store is ready once constructed (a file it cannot open or migrate
        fails there, before anything that depends on it starts)."""

    def shutdown(self) -> None:
        """Commit what is queued, then stop the writer, the decoding process and the readers."""
        self.decoder.close()
        self.writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
