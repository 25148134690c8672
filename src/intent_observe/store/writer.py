"""The store's single writer: one thread, one connection, fed by a bounded queue.

Callers (receiver workers, the in-process adapter, the alert engine) decode on their
own thread, hand the rows over as a job and wait until the transaction holding it
has committed, so an OTLP `200 OK` means "on disk". Jobs waiting in the queue are
committed together (group commit), which is where the throughput comes from. Each
job runs under its own SAVEPOINT: one bad job fails alone. What a batch does to the
tables is apply.py's; what the store keeps, retention.py's.

The writer never checkpoints the WAL itself: copying WAL pages into the database file
and syncing it is milliseconds of I/O every few thousand rows, which a second thread
(`_Checkpointer`, its own connection) does while the writer goes on appending.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from intent_observe.store.apply import Refused, apply_batch_isolating
from intent_observe.store.decode import Batch
from intent_observe.store.retention import Retention, apply_retention
from intent_observe.store.schema import open_store_file, store_connection

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]

_MAX_JOBS_PER_COMMIT = 256
_STOP = object()
# A checkpoint once this many rows changed since the last one, or a second after a smaller change.
_CHECKPOINT_ROWS = 4_000
_CHECKPOINT_IDLE_S = 1.0


class WriterClosed(Exception):
    """The writer has stopped (shutdown or a fatal database error)."""


class Writer:
    def __init__(self, path: Path, retention: Retention | None = None, queue_size: int = 128) -> None:
        self.path = path
        self.retention = retention or Retention()
        self._conn = open_store_file(path)
        self._conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job, off this thread
        self._checkpointer = _Checkpointer(path)
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._version = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._closed = False
        self._next_retention = 0.0
        self._thread.start()

    # --------------------------------------------------------------- callers
    @property
    def version(self) -> int:
        """Increases with every commit: readers compare it to know whether anything changed."""
        return self._version

    def submit(self, job: Callable[[sqlite3.Connection], T], timeout: float | None = 5.0) -> Future[T]:
        """Queue `job` for the next transaction; raises `queue.Full` when the writer is saturated."""
        if self._closed:
            raise WriterClosed("the store is closed")
        future: Future[T] = Future()
        self._queue.put((job, future), timeout=timeout)
        return future

    def run(self, job: Callable[[sqlite3.Connection], T], timeout: float = 60.0) -> T:
        """Run `job` in the writer's transaction and return its result once committed."""
        return self.submit(job).result(timeout)

    def write_batch(self, batch: Batch) -> Future[Refused]:
        return self.submit(lambda conn: apply_batch_isolating(conn, batch))

    def wait_for_change(self, seen_version: int, timeout: float) -> int:
        """Block until a commit after `seen_version` (or timeout); returns the current version."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != seen_version or self._closed, timeout)
            return self._version

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop the thread and close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put((_STOP, None))
        self._thread.join(timeout)
        with self._changed:
            self._changed.notify_all()

    # ---------------------------------------------------------------- thread
    def _run(self) -> None:
        try:
            while True:
                jobs = self._take_jobs()
                stop = any(job is _STOP for job, _ in jobs)
                self._commit([(job, fut) for job, fut in jobs if job is not _STOP])
                self._maybe_apply_retention()
                if stop:
                    break
        finally:
            self._fail_waiting()
            self._checkpointer.close()
            self._conn.close()  # the last connection: SQLite checkpoints what is left

    def _take_jobs(self) -> list[tuple[Any, Future[Any] | None]]:
        jobs = [self._queue.get()]
        while len(jobs) < _MAX_JOBS_PER_COMMIT:
            try:
                jobs.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return jobs

    def _commit(self, jobs: list[tuple[Any, Future[Any] | None]]) -> None:
        if not jobs:
            return
        conn = self._conn
        changes = conn.total_changes
        results: list[tuple[Future[Any] | None, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job, future in jobs:
                results.append((future, *_run_in_savepoint(conn, job)))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("store commit failed: %s", exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            results = [(future, None, exc) for _, future in jobs]
        self._checkpointer.note(conn.total_changes - changes)
        for future, value, error in results:
            if future is None:
                continue
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def _maybe_apply_retention(self) -> None:
        now = time.monotonic()
        if now < self._next_retention:
            return
        self._next_retention = now + self.retention.interval_seconds
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            apply_retention(self._conn, self.retention, time.time_ns())
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("store retention failed: %s", exc)
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    def _fail_waiting(self) -> None:
        while True:
            try:
                _, future = self._queue.get_nowait()
            except queue.Empty:
                return
            if future is not None:
                future.set_exception(WriterClosed("the store closed before this write"))


class _Checkpointer:
    """Checkpoints the WAL on a thread and connection of its own (PASSIVE: never blocks the writer)."""

    def __init__(self, path: Path) -> None:
        self._conn = store_connection(path)
        self._lock = threading.Lock()
        self._pending = 0  # rows changed since the last checkpoint
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="store-checkpoint", daemon=True)
        self._thread.start()

    def note(self, rows: int) -> None:
        """Called by the writer after each commit."""
        with self._lock:
            self._pending += rows
            if self._pending >= _CHECKPOINT_ROWS:
                self._wake.set()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(_CHECKPOINT_IDLE_S)
            with self._lock:
                self._wake.clear()
                pending, self._pending = self._pending, 0
            if pending and not self._stopping:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    log.warning("store checkpoint failed: %s", exc)


def _run_in_savepoint(conn: sqlite3.Connection, job: Job) -> tuple[Any, BaseException | None]:
    conn.execute("SAVEPOINT job")
    try:
        value = job(conn)
    except Exception as exc:
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return None, exc
    conn.execute("RELEASE job")
    return value, None
