"""The core's OTLP encoder against the official opentelemetry-proto message classes.

The reference requests below are built field by field with the official classes from the
same records; the core's bytes must parse to them and, where proto3 leaves nothing to
choose, serialize to the very same bytes.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2

from intent_observe import __version__
from intent_observe._core import Encoder
from intent_observe.metrics import catalog
from intent_observe.metrics.catalog import Kind
from intent_observe.metrics.derive import Histogram, Point, snapshot
from intent_observe.records import AttrValue, LogRecord, SpanLink, SpanRecord
from intent_observe.report import read_history
from intent_observe.sinks.resource import resource_attributes

FIXTURE = Path(__file__).parent / "fixtures" / "history.jsonl"
SCOPE = InstrumentationScope(name="intent-observe", version=__version__)
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE


def key_values(attrs: dict[str, AttrValue]) -> list[KeyValue]:
    out = []
    for key, value in attrs.items():
        if isinstance(value, bool):
            any_value = AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = AnyValue(double_value=value)
        else:
            any_value = AnyValue(string_value=value)
        out.append(KeyValue(key=key, value=any_value))
    return out


def reference_traces(spans: list[SpanRecord], res: Resource) -> ExportTraceServiceRequest:
    protos = [
        trace_pb2.Span(
            trace_id=bytes.fromhex(s.trace_id),
            span_id=bytes.fromhex(s.span_id),
            parent_span_id=bytes.fromhex(s.parent_span_id) if s.parent_span_id else b"",
            name=s.name,
            kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=s.start_ns,
            end_time_unix_nano=s.end_ns,
            attributes=key_values(s.attributes),
            links=[
                trace_pb2.Span.Link(
                    trace_id=bytes.fromhex(link.trace_id),
                    span_id=bytes.fromhex(link.span_id),
                    attributes=key_values(link.attributes),
                )
                for link in s.links
            ],
            status=trace_pb2.Status(
                code=trace_pb2.Status.STATUS_CODE_ERROR if s.error else trace_pb2.Status.STATUS_CODE_UNSET,
                message=(s.status_message or "") if s.error else "",
            ),
        )
        for s in spans
    ]
    scope_spans = trace_pb2.ScopeSpans(scope=SCOPE, spans=protos)
    return ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=res, scope_spans=[scope_spans])]
    )


def reference_logs(logs: list[LogRecord], res: Resource) -> ExportLogsServiceRequest:
    protos = [
        logs_pb2.LogRecord(
            time_unix_nano=r.time_ns,
            observed_time_unix_nano=r.observed_ns,
            severity_number=r.severity_number,  # type: ignore[arg-type]
            severity_text=r.severity_text,
            body=AnyValue(string_value=r.body),
            attributes=key_values(r.attributes),
            trace_id=bytes.fromhex(r.trace_id),
            span_id=bytes.fromhex(r.span_id),
            flags=1,
            event_name=str(r.attributes.get("event.name", "")),
        )
        for r in logs
    ]
    scope_logs = logs_pb2.ScopeLogs(scope=SCOPE, log_records=protos)
    return ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(resource=res, scope_logs=[scope_logs])]
    )


def reference_metrics(points: list[Point], res: Resource, start_ns: int, time_ns: int) -> bytes:
    by_metric: dict[str, metrics_pb2.Metric] = {}
    for p in points:
        metric = by_metric.setdefault(
            p.metric.name,
            metrics_pb2.Metric(name=p.metric.name, description=p.metric.description, unit=p.metric.unit),
        )
        attrs = key_values(dict(p.labels))
        if p.metric.kind is Kind.HISTOGRAM and p.histogram is not None:
            metric.histogram.aggregation_temporality = CUMULATIVE
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
            metric.sum.aggregation_temporality = CUMULATIVE
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
    request = ExportMetricsServiceRequest(
        resource_metrics=[metrics_pb2.ResourceMetrics(resource=res, scope_metrics=[scope_metrics])]
    )
    return request.SerializeToString()


def resource(attrs: dict[str, str]) -> Resource:
    return Resource(attributes=key_values(dict(attrs)))


def test_the_fixture_history_encodes_to_the_official_bytes() -> None:
    run = read_history([str(FIXTURE)])
    attrs = resource_attributes(extra={"intent.repository": "repo"})
    encoder = Encoder(attrs, __version__)
    spans, logs = list(run.spans.values()), run.logs
    assert any(s.links for s in spans) and any(s.error for s in spans)
    traces, logs_bytes = encoder.traces(spans), encoder.logs(logs)
    assert ExportTraceServiceRequest.FromString(traces) == reference_traces(spans, resource(attrs))
    assert ExportLogsServiceRequest.FromString(logs_bytes) == reference_logs(logs, resource(attrs))
    assert traces == reference_traces(spans, resource(attrs)).SerializeToString()
    assert logs_bytes == reference_logs(logs, resource(attrs)).SerializeToString()
    points = list(snapshot(run.engine.state))
    assert encoder.metrics(points, 123, 456) == reference_metrics(points, resource(attrs), 123, 456)


def test_the_same_records_always_give_the_same_bytes() -> None:
    run = read_history([str(FIXTURE)])
    spans, logs = list(run.spans.values()), run.logs
    first = (
        Encoder({"service.name": "a"}, "1").traces(spans[:50]),
        Encoder({"service.name": "a"}, "1").logs(logs),
    )
    encoder = Encoder({"service.name": "a"}, "1")
    encoder.traces(spans[50:])  # other records in between change nothing
    assert (encoder.traces(spans[:50]), encoder.logs(logs)) == first


ODD = {
    "neg": -5,
    "big": 2**63 - 1,
    "small": -(2**63),
    "t": True,
    "f": False,
    "d": -0.5,
    "e": "",
    "u": "ü\n#",
}


def test_odd_values_parse_as_the_official_classes_build_them() -> None:
    span = SpanRecord(
        "ab" * 16, "cd" * 8, None, "x", 1, 2**64 - 1, True, None, dict(ODD), [SpanLink("01" * 16, "02" * 8)]
    )
    log = LogRecord(0, 5, "ab" * 16, "cd" * 8, 0, "", "", dict(ODD))
    encoder = Encoder({}, __version__)
    got = ExportTraceServiceRequest.FromString(encoder.traces([span]))
    assert got == reference_traces([span], resource({}))
    assert ExportLogsServiceRequest.FromString(encoder.logs([log])) == reference_logs([log], resource({}))


def test_an_unsigned_64_bit_int_keeps_its_bits() -> None:
    log = LogRecord(1, 1, "ab" * 16, "cd" * 8, 9, "INFO", "b", {"n": 2**64 - 1})
    got = ExportLogsServiceRequest.FromString(Encoder({}, "1").logs([log]))
    assert got.resource_logs[0].scope_logs[0].log_records[0].attributes[0].value.int_value == -1


def test_a_surrogate_escaped_file_name_is_written_as_python_writes_it() -> None:
    name = b"caf\xe9.jsonl".decode("utf-8", "surrogateescape")
    log = LogRecord(1, 1, "ab" * 16, "cd" * 8, 9, "INFO", name, {"intent.event.file": name})
    encoded = Encoder({}, "1").logs([log])
    assert encoded.count(name.encode("utf-8", "surrogatepass")) == 2


@pytest.mark.parametrize(
    ("trace_id", "span_id", "attrs"),
    [
        ("ab" * 15, "cd" * 8, {}),
        ("zz" * 16, "cd" * 8, {}),
        ("ab" * 16, "cd" * 9, {}),
        ("ab" * 16, "cd" * 8, {"n": 2**64}),
    ],
)
def test_a_record_the_core_cannot_encode_is_a_clear_error(
    trace_id: str, span_id: str, attrs: dict[str, AttrValue]
) -> None:
    span = SpanRecord(trace_id, span_id, None, "x", 1, 2, False, None, attrs)
    with pytest.raises(ValueError, match=r"hex|64 bits"):
        Encoder({}, "1").traces([span])


def test_a_histogram_point_without_observations_and_a_labelled_counter() -> None:
    trust = Histogram(catalog.TRUST_BUCKETS, [0] * (len(catalog.TRUST_BUCKETS) + 1), 0.0, 0)
    points = [
        Point(catalog.SIGNALS_TOTAL, (("source", "cli"),), 3.0),
        Point(catalog.SIGNALS_TOTAL, (("source", "mcp"),), 0.0),
        Point(catalog.CYCLE_SIGNAL_TO_INTENT, histogram=trust),
        Point(catalog.CYCLE_INTENT_TO_SPEC),
        Point(catalog.SIGNALS_ACTIVE, (("autonomy_level", "L2"),), 0.0),
    ]
    assert Encoder({"a": "b"}, __version__).metrics(points, 0, 7) == reference_metrics(
        points, resource({"a": "b"}), 0, 7
    )


class Label(str):
    """A label value a weak reference can watch."""


def test_metric_points_are_encoded_as_they_come_and_none_is_kept() -> None:
    """A snapshot has a point per open intent: the encoder must not hold them all at once."""
    kept: list[weakref.ref[Label]] = []

    def points() -> Iterator[Point]:
        for n in range(3):
            label = Label(f"INT-{n}")
            kept.append(weakref.ref(label))
            yield Point(catalog.INTENT_LAST_EVENT_TIMESTAMP, (("intent_id", label),), float(n))
            del label
            assert kept[-1]() is None, "the encoder still holds the point it was given before"

    listed = [Point(catalog.INTENT_LAST_EVENT_TIMESTAMP, (("intent_id", f"INT-{n}"),), n) for n in range(3)]
    assert Encoder({}, __version__).metrics(points(), 0, 7) == reference_metrics(listed, resource({}), 0, 7)


values = st.one_of(
    st.text(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
)


@settings(max_examples=300, deadline=None)
@given(
    attrs=st.dictionaries(st.text(), values, max_size=8),
    name=st.text(),
    message=st.one_of(st.none(), st.text()),
    error=st.booleans(),
    times=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
)
def test_any_span_and_log_parse_as_the_official_classes_build_them(
    attrs: dict[str, AttrValue], name: str, message: str | None, error: bool, times: tuple[int, int]
) -> None:
    span = SpanRecord(
        "0f" * 16,
        "1e" * 8,
        "2d" * 8,
        name,
        *times,
        error,
        message,
        attrs,
        [SpanLink("3c" * 16, "4b" * 8, attrs)],
    )
    log = LogRecord(*times, "0f" * 16, "1e" * 8, 17, "ERROR", name, attrs)
    encoder = Encoder({"service.name": name}, __version__)
    res = resource({"service.name": name})
    assert ExportTraceServiceRequest.FromString(encoder.traces([span])) == reference_traces([span], res)
    assert ExportLogsServiceRequest.FromString(encoder.logs([log])) == reference_logs([log], res)
