"""Span, log and metric records → OTLP protobuf requests (the wire format every sink speaks)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2

from intent_observe import __version__
from intent_observe.identity.records import AttrValue, LogRecord, SpanRecord
from intent_observe.metrics.catalog import Kind
from intent_observe.metrics.derive import Point

SCOPE = InstrumentationScope(name="intent-observe", version=__version__)
_CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE


def any_value(value: AttrValue) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=value)


def key_values(attrs: Mapping[str, AttrValue]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def resource(attrs: Mapping[str, str]) -> Resource:
    return Resource(attributes=key_values(attrs))


def span_proto(span: SpanRecord) -> trace_pb2.Span:
    status = trace_pb2.Status(
        code=trace_pb2.Status.STATUS_CODE_ERROR if span.error else trace_pb2.Status.STATUS_CODE_UNSET,
        message=span.status_message or "" if span.error else "",
    )
    return trace_pb2.Span(
        trace_id=bytes.fromhex(span.trace_id),
        span_id=bytes.fromhex(span.span_id),
        parent_span_id=bytes.fromhex(span.parent_span_id) if span.parent_span_id else b"",
        name=span.name,
        kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=span.start_ns,
        end_time_unix_nano=span.end_ns,
        attributes=key_values(span.attributes),
        links=[
            trace_pb2.Span.Link(
                trace_id=bytes.fromhex(link.trace_id),
                span_id=bytes.fromhex(link.span_id),
                attributes=key_values(link.attributes),
            )
            for link in span.links
        ],
        status=status,
    )


def log_proto(log: LogRecord) -> logs_pb2.LogRecord:
    return logs_pb2.LogRecord(
        time_unix_nano=log.time_ns,
        observed_time_unix_nano=log.observed_ns,
        severity_number=log.severity_number,  # type: ignore[arg-type]
        severity_text=log.severity_text,
        body=AnyValue(string_value=log.body),
        attributes=key_values(log.attributes),
        trace_id=bytes.fromhex(log.trace_id),
        span_id=bytes.fromhex(log.span_id),
        flags=1,
        event_name=str(log.attributes.get("event.name", "")),
    )


def trace_request(spans: Iterable[SpanRecord], res: Resource) -> ExportTraceServiceRequest:
    scope_spans = trace_pb2.ScopeSpans(scope=SCOPE, spans=[span_proto(s) for s in spans])
    return ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=res, scope_spans=[scope_spans])]
    )


def logs_request(logs: Iterable[LogRecord], res: Resource) -> ExportLogsServiceRequest:
    scope_logs = logs_pb2.ScopeLogs(scope=SCOPE, log_records=[log_proto(r) for r in logs])
    return ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(resource=res, scope_logs=[scope_logs])]
    )


def metrics_request(
    points: Iterable[Point], res: Resource, start_ns: int, time_ns: int
) -> ExportMetricsServiceRequest:
    """Cumulative sums, gauges and explicit-bucket histograms, one Metric per catalog entry."""
    by_metric: dict[str, metrics_pb2.Metric] = {}
    for p in points:
        metric = by_metric.get(p.metric.name)
        if metric is None:
            metric = metrics_pb2.Metric(
                name=p.metric.name, description=p.metric.description, unit=p.metric.unit
            )
            by_metric[p.metric.name] = metric
        attrs = key_values(dict(p.labels))
        if p.metric.kind is Kind.HISTOGRAM and p.histogram is not None:
            metric.histogram.aggregation_temporality = _CUMULATIVE
            metric.histogram.data_points.append(
                metrics_pb2.HistogramDataPoint(
                    attributes=attrs,
                    start_time_unix_nano=start_ns,
                    time_unix_nano=time_ns,
                    count=p.histogram.count,
                    sum=p.histogram.total,
                    bucket_counts=p.histogram.counts,
                    explicit_bounds=p.histogram.bounds,
                )
            )
        elif p.metric.kind is Kind.COUNTER:
            metric.sum.aggregation_temporality = _CUMULATIVE
            metric.sum.is_monotonic = True
            metric.sum.data_points.append(
                metrics_pb2.NumberDataPoint(
                    attributes=attrs,
                    start_time_unix_nano=start_ns,
                    time_unix_nano=time_ns,
                    as_int=int(p.value),
                )
            )
        else:
            metric.gauge.data_points.append(
                metrics_pb2.NumberDataPoint(
                    attributes=attrs, time_unix_nano=time_ns, as_double=float(p.value)
                )
            )
    scope_metrics = metrics_pb2.ScopeMetrics(scope=SCOPE, metrics=list(by_metric.values()))
    return ExportMetricsServiceRequest(
        resource_metrics=[metrics_pb2.ResourceMetrics(resource=res, scope_metrics=[scope_metrics])]
    )
