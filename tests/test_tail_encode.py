"""The direct OTLP writer produces the very requests the protobuf-object encoder builds."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from intent_observe.identity.records import LogRecord, SpanLink, SpanRecord
from intent_observe.report import read_history
from intent_observe.sinks import otlp_encode, otlp_wire
from intent_observe.sinks.resource import resource_attributes

FIXTURE = Path(__file__).parent / "fixtures" / "history.jsonl"


def test_the_fixture_history_encodes_identically() -> None:
    run = read_history([str(FIXTURE)])
    res = otlp_encode.resource(resource_attributes(extra={"intent.repository": "repo"}))
    spans, logs = list(run.spans.values()), run.logs
    fast_traces = ExportTraceServiceRequest.FromString(
        otlp_wire.trace_request(spans, otlp_wire.resource_field(res))
    )
    fast_logs = ExportLogsServiceRequest.FromString(
        otlp_wire.logs_request(logs, otlp_wire.resource_field(res))
    )
    assert fast_traces == otlp_encode.trace_request(spans, res)
    assert fast_logs == otlp_encode.logs_request(logs, res)
    assert any(s.links for s in spans) and any(s.error for s in spans)


def test_odd_values_encode_identically() -> None:
    attrs = {
        "neg": -5,
        "big": 2**63 - 1,
        "small": -(2**63),
        "t": True,
        "f": False,
        "d": -0.5,
        "e": "",
        "u": "ü\n#",
    }
    span = SpanRecord(
        "ab" * 16, "cd" * 8, None, "x", 1, 2**64 - 1, True, None, attrs, [SpanLink("01" * 16, "02" * 8)]
    )
    log = LogRecord(0, 5, "ab" * 16, "cd" * 8, 0, "", "", attrs)
    res = otlp_encode.resource({})
    for _ in range(2):  # the second time from the cache
        got = otlp_wire.trace_request([span], otlp_wire.resource_field(res))
        assert ExportTraceServiceRequest.FromString(got) == otlp_encode.trace_request([span], res)
        got = otlp_wire.logs_request([log], otlp_wire.resource_field(res))
        assert ExportLogsServiceRequest.FromString(got) == otlp_encode.logs_request([log], res)
