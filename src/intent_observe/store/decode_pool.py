"""Decoding large OTLP requests in a child process, so the writer thread keeps the GIL.

Turning a request into rows (every span's attributes read through protobuf's Python
objects) costs about as much CPU as writing them, and in one process both need the
GIL: decoding one request stalls the writer committing the previous one. A request of
at least `min_bytes` is therefore parsed and decoded by a child process
(`python -m intent_observe.store.decode_worker`, over pipes); its rows come back
pickled (under a microsecond per span to load) and are committed here as before, so
an answer still means "on disk". Small requests, the usual case for an SDK exporting
every few seconds, decode in the calling thread: the round trip would cost more than
it saves. The child starts with the first large request and handles one request at a
time; if it dies, the request that finds it dead is decoded in the calling thread and
the next large one starts another.

A plain subprocess rather than multiprocessing: the child imports only the decoder,
never the parent's main module, and no resource-tracker process comes along.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from intent_observe.store.decode import Batch, decode_body
from intent_observe.store.decode_worker import HEADER

log = logging.getLogger(__name__)

DEFAULT_MIN_BYTES = 64 * 1024
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding intent_observe/


class _WorkerGone(Exception):
    """The decoding process exited or closed its pipe."""


class DecodePool:
    def __init__(self, enabled: bool = True, min_bytes: int = DEFAULT_MIN_BYTES) -> None:
        """`enabled=False` decodes every request in the calling thread."""
        self.enabled = enabled
        self.min_bytes = min_bytes
        self._lock = threading.Lock()  # one request at a time through the pipes
        self._worker: subprocess.Popen[bytes] | None = None
        self._closed = False

    def decode(self, signal: str, body: bytes, received_ns: int, timeout: float) -> Batch:
        """The rows of a serialized request; raises protobuf's DecodeError, or TimeoutError."""
        if not self.enabled or len(body) < self.min_bytes:
            return decode_body(signal, body, received_ns)
        with self._lock:
            worker = self._running_worker()
            if worker is None:
                return decode_body(signal, body, received_ns)
            try:
                status, value = self._exchange(worker, signal, body, received_ns, timeout)
            except _WorkerGone:
                log.warning("the OTLP decoding process exited; this request is decoded in the receiver")
                self._stop_worker()
                return decode_body(signal, body, received_ns)
            except TimeoutError:
                self._stop_worker()  # it may still answer: never read that answer for another request
                raise
        if status == "error":
            # raised from here, the exception's traceback holds this frame, whose locals hold the
            # exception: a cycle keeping `body` (up to 16 MiB) alive until the collector runs
            try:
                raise value
            finally:
                del value, body
        batch: Batch = value
        return batch

    def pids(self) -> list[int]:
        """The decoding process's id while it runs (none before the first large request)."""
        with self._lock:
            worker = self._worker
            return [worker.pid] if worker is not None and worker.poll() is None else []

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop_worker()

    # ------------------------------------------------------------------ child
    def _running_worker(self) -> subprocess.Popen[bytes] | None:
        if self._closed:
            return None
        if self._worker is not None and self._worker.poll() is None:
            return self._worker
        self._stop_worker()
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": _PACKAGE_ROOT + (os.pathsep + path if path else "")}
        try:
            self._worker = subprocess.Popen(
                [sys.executable, "-m", "intent_observe.store.decode_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            log.warning("cannot start the OTLP decoding process (%s); decoding in the receiver", exc)
            self.enabled = False
            return None
        return self._worker

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        for pipe in (worker.stdin, worker.stdout):
            if pipe is not None:
                pipe.close()
        try:
            worker.wait(5)  # the end of its input ends it
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    @staticmethod
    def _exchange(
        worker: subprocess.Popen[bytes], signal: str, body: bytes, received_ns: int, timeout: float
    ) -> tuple[str, Any]:
        assert worker.stdin is not None and worker.stdout is not None
        header = pickle.dumps((signal, received_ns), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            # the body goes as it is, after its own length: pickled, it would be copied (up to 16 MiB)
            for part in (HEADER.pack(len(header)), header, HEADER.pack(len(body)), body):
                _write_all(worker.stdin.fileno(), part)
        except (BrokenPipeError, ValueError):
            raise _WorkerGone from None
        deadline = time.monotonic() + timeout
        fd = worker.stdout.fileno()
        (size,) = HEADER.unpack(_read_exactly(fd, HEADER.size, deadline))
        answer: tuple[str, Any] = pickle.loads(_read_exactly(fd, size, deadline))
        return answer


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int, deadline: float) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError("the decoding process did not answer in time")
        chunk = os.read(fd, min(size - len(chunks), 1 << 20))
        if not chunk:
            raise _WorkerGone
        chunks += chunk
    return bytes(chunks)
