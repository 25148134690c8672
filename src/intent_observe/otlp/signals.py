"""The three OTLP signals in one table, shared by the receiver and the exporter.

Each row names what differs between traces, logs and metrics on the wire: the
HTTP path, the gRPC method, the request/response messages, and the field the
partial-success answer counts rejections in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.protobuf.message import Message


class Signal(StrEnum):
    TRACES = "traces"
    LOGS = "logs"
    METRICS = "metrics"


@dataclass(frozen=True)
class SignalWire:
    signal: Signal
    http_path: str  # e.g. "/v1/traces"
    grpc_service: str  # fully qualified service name
    # The protobuf module of the request/response messages and their names' stem (`ExportTrace`:
    # ExportTraceServiceRequest, …Response, …PartialSuccess). Imported on first use: the tail
    # sends its requests as they are and reads an empty answer, and protobuf's descriptors are
    # a fifth of its start-up.
    module: str
    stem: str
    rejected_field: str  # field of the partial-success message counting rejected items

    @property
    def grpc_method(self) -> str:
        return f"/{self.grpc_service}/Export"

    @property
    def request_type(self) -> type[Message]:
        return self._message("ServiceRequest")

    @property
    def response_type(self) -> type[Message]:
        return self._message("ServiceResponse")

    def _message(self, suffix: str) -> type[Message]:
        message: type[Message] = getattr(import_module(self.module), self.stem + suffix)
        return message

    def response(self, rejected: int = 0, message: str = "") -> Message:
        """The Export*ServiceResponse, with partial_success set only when something was rejected."""
        if rejected == 0 and not message:
            return self.response_type()
        partial = self._message("PartialSuccess")(**{self.rejected_field: rejected, "error_message": message})
        return self.response_type(partial_success=partial)

    def rejected_in(self, response: Message) -> tuple[int, str]:
        """(rejected count, error message) of a response's partial_success."""
        partial = response.partial_success  # type: ignore[attr-defined]
        return int(getattr(partial, self.rejected_field)), str(partial.error_message)


WIRES: dict[Signal, SignalWire] = {
    Signal.TRACES: SignalWire(
        Signal.TRACES,
        "/v1/traces",
        "opentelemetry.proto.collector.trace.v1.TraceService",
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        "ExportTrace",
        "rejected_spans",
    ),
    Signal.LOGS: SignalWire(
        Signal.LOGS,
        "/v1/logs",
        "opentelemetry.proto.collector.logs.v1.LogsService",
        "opentelemetry.proto.collector.logs.v1.logs_service_pb2",
        "ExportLogs",
        "rejected_log_records",
    ),
    Signal.METRICS: SignalWire(
        Signal.METRICS,
        "/v1/metrics",
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
        "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
        "ExportMetrics",
        "rejected_data_points",
    ),
}

WIRE_BY_HTTP_PATH: dict[str, SignalWire] = {wire.http_path: wire for wire in WIRES.values()}
