"""The one contract between stages, and the lifecycle of every component.

Every stage that takes telemetry is a `Consumer`: the embedded store, each step of the
exporter chain (queue, retry, send), a fan-out to several. `consume(signal, body, stop)`
takes one serialized Export*ServiceRequest, as the producer has it (the receiver's request
body, the tail's encoded batch: nothing is parsed into message objects and serialized again
on the way), and returns only once it is safe — committed, acknowledged or durably queued:

- a `PartialResult`: taken, with the items refused alone (`rejected`, why in `message`; and,
  where the answer names them, which log records: `refused`). Receivers answer it as an OTLP
  partial success; the tail dead-letters the refused records with their batch.
- `ConsumerBusy`: nothing taken, try again after `retry_after_seconds` (None: no hint).
  Receivers answer HTTP 503 + Retry-After / gRPC UNAVAILABLE + RetryInfo; a retry step waits.
- `ConsumerRejected`: never take it (a backend's permanent refusal): do not send it again.
- `ConsumerAborted`: `stop` was set before the data was safe; it must be kept for later.
- protobuf's `DecodeError`: a malformed body (receivers answer 400 / INVALID_ARGUMENT).

`stop` is the one stop signal of a delivery: whoever owns the work (the tail's delivery, a
queue's drainer) sets it, and every stage that waits (a retry's backoff, a full queue) ends
its wait when it is set. Consumers are called from several threads at once: thread-safe.

What the stack owns — receiver, tail, store, exporter chain, alerts, web server — is a
`Component`: `start()` once, `shutdown()` once (also after a failed or partial start).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from intent_observe.otlp.signals import Signal


@dataclass(frozen=True, slots=True)
class RefusedRecord:
    """A log record the backend refused while it stored the rest of its batch: the event line it
    came from (`intent.event.file`, `.line`, `.offset`) and why."""

    file: str
    line: int
    offset: int
    reason: str


@dataclass(frozen=True)
class PartialResult:
    """How much of one request the consumer refused, and why (empty when all was accepted)."""

    rejected: int = 0
    message: str = ""
    refused: tuple[RefusedRecord, ...] = ()


ACCEPTED = PartialResult()


class ConsumerBusy(Exception):
    """The consumer cannot take the data now; nothing was taken. Retry later."""

    def __init__(self, reason: str, retry_after_seconds: float | None = 1.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_seconds = retry_after_seconds


class ConsumerRejected(Exception):
    """The data is refused for good (bad request, unauthorized, too large…): do not resend it.
    Messages never contain header values."""


class ConsumerAborted(Exception):
    """Not safe before the stop signal was set; the data must be kept for later."""


class Consumer(Protocol):
    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        """Returns once `body` (a serialized Export*ServiceRequest of `signal`) is safe."""
        ...


@runtime_checkable
class Component(Protocol):
    def start(self) -> None: ...

    def shutdown(self) -> None: ...
