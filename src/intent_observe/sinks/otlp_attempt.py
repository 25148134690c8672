"""One attempt to hand a request to a backend, as each transport (sinks.otlp_grpc, sinks.otlp_http)
reports it to the exporter (sinks.otlp_exporter)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import DecodeError

from intent_observe.otlp.consumer import RefusedRecord
from intent_observe.otlp.signals import SignalWire
from intent_observe.version import __version__

USER_AGENT = f"intent-observe/{__version__}"
MAX_ERROR_TEXT = 300


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt: acknowledged (response), retryable (reason + delay hint) or fatal."""

    acknowledged: bool
    rejected: int = 0
    message: str = ""
    retryable: bool = False
    retry_after: float | None = None
    refused: tuple[RefusedRecord, ...] = ()

    @classmethod
    def ok(cls, rejected: int = 0, message: str = "", refused: tuple[RefusedRecord, ...] = ()) -> Outcome:
        return cls(True, rejected, message, refused=refused)

    @classmethod
    def retry(cls, reason: str, retry_after: float | None = None) -> Outcome:
        return cls(False, message=reason, retryable=True, retry_after=retry_after)

    @classmethod
    def fatal(cls, reason: str) -> Outcome:
        return cls(False, message=reason)


def acknowledged(wire: SignalWire, body: bytes) -> Outcome:
    """A 2xx answer (or gRPC OK): what its partial-success body says was rejected."""
    if not body:  # the usual answer: nothing rejected (and its message type never imported)
        return Outcome.ok()
    try:
        rejected, message = wire.rejected_in(wire.response_type.FromString(body))
    except DecodeError:
        return Outcome.ok()  # acknowledged; an unreadable body only hides partial-success details
    return Outcome.ok(rejected, message)


class Transport(Protocol):
    def send(self, payload: bytes, timeout: float) -> Outcome: ...

    def close(self) -> None: ...


def clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "…"
