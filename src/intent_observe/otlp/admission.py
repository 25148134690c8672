"""Admission control for the OTLP receiver: a budget taken before a request body is read.

Both protocols share one budget: how many requests may be read, decoded and stored at
once, and how many bytes their bodies may hold together. A request asks for its share
before anything of its body is received (OTLP/HTTP: its Content-Length, plus the cap
when it is gzip-compressed; OTLP/gRPC: the message cap, since gRPC says the size only
while receiving). It waits a little for a share to come free, then is told to come back
later (429 + Retry-After / RESOURCE_EXHAUSTED + RetryInfo): a flood of large requests
then costs the budget, never memory beyond it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

DEFAULT_MAX_REQUESTS = 16
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_WAIT_S = 5.0
RETRY_AFTER_S = 2
_ASYNC_POLL_S = 0.02


class AdmissionRefused(Exception):
    """No share of the budget came free in time; the client should retry after `retry_after_s`."""

    def __init__(self, reason: str, retry_after_s: int = RETRY_AFTER_S) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Share:
    """A request's part of the budget; give it back with `Admission.release`."""

    nbytes: int


class Admission:
    def __init__(
        self,
        max_requests: int = DEFAULT_MAX_REQUESTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        wait_s: float = DEFAULT_WAIT_S,
    ) -> None:
        if max_requests < 1 or max_bytes < 1:
            raise ValueError("the receiver's admission budget must allow at least one request and byte")
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.wait_s = wait_s
        self._requests = 0
        self._bytes = 0
        self._freed = threading.Condition()

    def _try_take(self, nbytes: int) -> Share | None:
        # a request larger than the whole budget may still run alone, when nothing else does
        fits = self._bytes + nbytes <= self.max_bytes or self._requests == 0
        if self._requests < self.max_requests and fits:
            self._requests += 1
            self._bytes += nbytes
            return Share(nbytes)
        return None

    def admit(self, nbytes: int) -> Share:
        """Block (a worker thread) until `nbytes` fit, or raise AdmissionRefused after `wait_s`."""
        deadline = time.monotonic() + self.wait_s
        with self._freed:
            while True:
                share = self._try_take(nbytes)
                if share is not None:
                    return share
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AdmissionRefused(self._busy_reason())
                self._freed.wait(remaining)

    async def admit_async(self, nbytes: int) -> Share:
        """The same, on an event loop (which must not block): polls until the deadline."""
        deadline = time.monotonic() + self.wait_s
        while True:
            with self._freed:
                share = self._try_take(nbytes)
            if share is not None:
                return share
            if time.monotonic() >= deadline:
                raise AdmissionRefused(self._busy_reason())
            await asyncio.sleep(_ASYNC_POLL_S)

    def release(self, share: Share) -> None:
        with self._freed:
            self._requests -= 1
            self._bytes -= share.nbytes
            self._freed.notify_all()

    def in_flight(self) -> tuple[int, int]:
        """(requests, bytes) admitted right now."""
        with self._freed:
            return self._requests, self._bytes

    def _busy_reason(self) -> str:
        return (
            f"the receiver is at its limit ({self.max_requests} requests or "
            f"{self.max_bytes // (1024 * 1024)} MiB in flight); retry later"
        )
