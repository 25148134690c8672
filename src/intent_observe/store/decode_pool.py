"""Decoding large OTLP requests in a child process, so the writer thread keeps the GIL.

Turning a request into rows (every span's attributes read through protobuf's Python
objects) costs about as much CPU as writing them, and in one process both need the
GIL: decoding one request stalls the writer committing the previous one. A request of
at least `min_bytes` is therefore parsed and decoded by a spawned child process; its
rows come back pickled (under a microsecond per span to load) and are committed here
as before, so an answer still means "on disk". Small requests, the usual case for an
SDK exporting every few seconds, decode in the calling thread: the round trip would
cost more than it saves. The child starts with the first large request; if it dies,
the next large request starts another and this one is decoded in the calling thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from intent_observe.store.decode import Batch, decode_body

log = logging.getLogger(__name__)

DEFAULT_MIN_BYTES = 64 * 1024


class DecodePool:
    def __init__(self, processes: int = 1, min_bytes: int = DEFAULT_MIN_BYTES) -> None:
        """`processes=0` decodes every request in the calling thread."""
        self.processes = processes
        self.min_bytes = min_bytes
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    def decode(self, signal: str, body: bytes, received_ns: int, timeout: float) -> Batch:
        """The rows of a serialized request; raises protobuf's DecodeError, or TimeoutError."""
        executor = self._executor_for(len(body))
        if executor is None:
            return decode_body(signal, body, received_ns)
        try:
            return executor.submit(decode_body, signal, body, received_ns).result(timeout)
        except BrokenProcessPool:
            log.warning("the OTLP decoding process died; decoding in the receiver until it restarts")
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            return decode_body(signal, body, received_ns)

    def pids(self) -> list[int]:
        """Process ids of the decoding processes running now (none before the first large request)."""
        with self._lock:
            executor = self._executor
        return [] if executor is None else [p.pid for p in executor._processes.values() if p.pid]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _executor_for(self, size: int) -> ProcessPoolExecutor | None:
        if self.processes <= 0 or size < self.min_bytes:
            return None
        with self._lock:
            if self._closed:
                return None
            if self._executor is None:
                # spawn, not fork: the receiver's process runs gRPC threads, which fork would copy mid-flight
                self._executor = ProcessPoolExecutor(
                    self.processes, mp_context=multiprocessing.get_context("spawn")
                )
            return self._executor
