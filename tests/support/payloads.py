"""Encoded OTLP requests with known content, shaped like the adapter's output."""

from __future__ import annotations

import hashlib

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from intent_observe.otlp.signals import Signal


def span_id_for(run: str, index: int) -> bytes:
    return hashlib.blake2b(f"{run}/{index}".encode(), digest_size=8).digest()


def trace_request(run: str, count: int, start: int = 0) -> ExportTraceServiceRequest:
    """`count` spans whose ids `span_id_for(run, i)` a test can predict."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "intent"
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "intent-observe"
    trace_id = hashlib.blake2b(run.encode(), digest_size=16).digest()
    for index in range(start, start + count):
        span = scope.spans.add(
            trace_id=trace_id,
            span_id=span_id_for(run, index),
            name=f"contract CON-{index:05d}",
            kind=1,
            start_time_unix_nano=1_700_000_000_000_000_000 + index,
            end_time_unix_nano=1_700_000_000_500_000_000 + index,
        )
        for key, value in (("intent.artifact.id", f"CON-{index:05d}"), ("intent.artifact.type", "contract")):
            span.attributes.add(key=key).value.string_value = value
    return request


def logs_request(run: str, count: int) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for index in range(count):
        record = scope.log_records.add(time_unix_nano=1_700_000_000_000_000_000 + index, severity_number=9)
        record.body.string_value = f"{run} contract.completed CON-{index:05d}"
        record.span_id = span_id_for(run, index)
    return request


def metrics_request(value: int) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="intent.signals.total")
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = 2
    metric.sum.data_points.add(as_int=value, time_unix_nano=1_700_000_000_000_000_000)
    return request


def encoded(signal: Signal, run: str, count: int) -> bytes:
    """One encoded request of `count` items (a point whose value is `count`, for metrics)."""
    if signal is Signal.TRACES:
        return trace_request(run, count).SerializeToString()
    if signal is Signal.LOGS:
        return logs_request(run, count).SerializeToString()
    return metrics_request(count).SerializeToString()
