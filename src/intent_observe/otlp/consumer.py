"""What the OTLP receiver hands each decoded request to.

The embedded store implements `OtlpConsumer`; the receiver turns its answers into
OTLP status codes: a `PartialResult` with `rejected > 0` becomes a partial-success
response, `ConsumerBusy` becomes HTTP 503 + Retry-After / gRPC UNAVAILABLE + RetryInfo
so well-behaved clients back off and resend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from intent_observe.otlp.signals import SignalWire


@dataclass(frozen=True)
class PartialResult:
    """How much of one request the consumer refused, and why (empty when all was accepted)."""

    rejected: int = 0
    message: str = ""


ACCEPTED = PartialResult()


class ConsumerBusy(Exception):
    """Raised by a consumer that cannot take data right now; the client should retry later."""

    def __init__(self, reason: str = "receiver busy", retry_after_seconds: float = 1.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_seconds = retry_after_seconds


class OtlpConsumer(Protocol):
    """Called from receiver worker threads, possibly concurrently: implementations must be thread-safe."""

    def consume_traces(self, request: ExportTraceServiceRequest) -> PartialResult: ...

    def consume_logs(self, request: ExportLogsServiceRequest) -> PartialResult: ...

    def consume_metrics(self, request: ExportMetricsServiceRequest) -> PartialResult: ...


@runtime_checkable
class BodyConsumer(Protocol):
    """A consumer that also takes a request still serialized (protobuf), to decode it where it likes."""

    def consume_body(self, signal: str, body: bytes) -> PartialResult:
        """Raises protobuf's DecodeError for a malformed body."""
        ...


def deliver_body(consumer: OtlpConsumer, wire: SignalWire, body: bytes) -> PartialResult:
    """Hand a protobuf-encoded request to the consumer, parsed here unless it takes the bytes.

    Raises protobuf's DecodeError for a malformed body (nothing has been consumed then)."""
    if isinstance(consumer, BodyConsumer):
        return consumer.consume_body(wire.signal.value, body)
    return deliver(consumer, wire, wire.request_type.FromString(body))


def deliver(consumer: OtlpConsumer, wire: SignalWire, request: Message) -> PartialResult:
    """Hand a decoded request to the consumer method for its signal."""
    result: PartialResult = getattr(consumer, wire.consumer_method)(request)
    return result
