"""Our records as OTLP request messages, encoded by the core: input for the store's `consume`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from intent_observe import __version__
from intent_observe._core import Encoder
from intent_observe.metrics.derive import Point
from intent_observe.otlp.consumer import Consumer, PartialResult
from intent_observe.otlp.signals import WIRES
from intent_observe.records import LogRecord, SpanRecord

INTENT = {"service.name": "intent"}
_SIGNAL_OF = {wire.request_type: signal for signal, wire in WIRES.items()}


def consume(consumer: Consumer, request: Message) -> PartialResult:
    """Hand a request to a consumer as a receiver does: serialized, with its signal."""
    return consumer.consume(_SIGNAL_OF[type(request)], request.SerializeToString())


def trace_request(spans: Iterable[SpanRecord], res: Mapping[str, str] = INTENT) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(Encoder(res, __version__).traces(spans))


def logs_request(logs: Iterable[LogRecord], res: Mapping[str, str] = INTENT) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest.FromString(Encoder(res, __version__).logs(logs))


def metrics_request(
    points: Iterable[Point], start_ns: int, time_ns: int, res: Mapping[str, str] = INTENT
) -> ExportMetricsServiceRequest:
    return ExportMetricsServiceRequest.FromString(
        Encoder(res, __version__).metrics(points, start_ns, time_ns)
    )


def key_values(attrs: Mapping[str, str]) -> list[KeyValue]:
    """String attributes as the official message classes hold them (for hand-built requests)."""
    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attrs.items()]


def resource(attrs: Mapping[str, str]) -> Resource:
    return Resource(attributes=key_values(attrs))
