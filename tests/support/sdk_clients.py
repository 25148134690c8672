"""Telemetry sent by the official OpenTelemetry Python SDK exporters, and a check that it arrived intact.

sent = send_with_sdk("grpc", "http://127.0.0.1:4317", run="a")
assert_arrived_intact(sent, receiver.wait_for(sent.arrived))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, Status, StatusCode
from tests.support.recording import Received

SIGNAL_TITLE = "signal.created SIG-001 — Flaky login test <b>&</b>"


@dataclass
class SentTelemetry:
    run: str
    spans: dict[str, dict[str, Any]] = field(default_factory=dict)  # span id hex → expected fields
    logs: list[dict[str, Any]] = field(default_factory=list)
    counter_total: int = 0
    histogram_values: list[float] = field(default_factory=list)
    gauge_value: float = 0.0

    def arrived(self, received: Received) -> bool:
        """True once every span, log record and the three metrics of this run are in `received`."""
        mine = _of_run(received, self.run)
        names = {point["metric"] for point in mine.points}
        return (
            set(self.spans) <= mine.span_ids
            and len(mine.logs) >= len(self.logs)
            and {"intent.signals.total", "intent.cycle_time", "intent.queue.depth"} <= names
        )


def _exporters(protocol: str, endpoint: str) -> tuple[Any, Any, Any]:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return (
            OTLPSpanExporter(endpoint=endpoint, insecure=True),
            OTLPLogExporter(endpoint=endpoint, insecure=True),
            OTLPMetricExporter(endpoint=endpoint, insecure=True),
        )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return (
        OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"),
        OTLPLogExporter(endpoint=f"{endpoint}/v1/logs"),
        OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"),
    )


def send_with_sdk(protocol: str, endpoint: str, run: str) -> SentTelemetry:
    """Send a small intent trace, its log records and three metrics with the SDK's OTLP exporters."""
    span_exporter, log_exporter, metric_exporter = _exporters(protocol, endpoint)
    resource = Resource.create({"service.name": "intent", "test.run": run})
    sent = SentTelemetry(run)

    tracers = TracerProvider(resource=resource)
    tracers.add_span_processor(SimpleSpanProcessor(span_exporter))
    loggers = LoggerProvider(resource=resource)
    loggers.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    meters = MeterProvider(resource=resource, metric_readers=[reader])

    _send_spans_and_logs(tracers, loggers, sent)
    _record_metrics(meters, sent)
    tracers.shutdown()
    loggers.shutdown()
    meters.shutdown()  # exports the final collection
    return sent


def _send_spans_and_logs(tracers: TracerProvider, loggers: LoggerProvider, sent: SentTelemetry) -> None:
    tracer = tracers.get_tracer("intent-observe")
    logger = loggers.get_logger("intent-observe")
    intent_attributes = {
        "intent.artifact.id": "INT-015",
        "intent.trust.score": 0.75,
        "intent.tags": ["a", "b"],
    }
    with tracer.start_as_current_span("intent INT-015", attributes=intent_attributes) as intent:
        intent_context = intent.get_span_context()
        with tracer.start_as_current_span(
            "contract CON-091", links=[Link(intent_context)], attributes={"intent.contract.id": "CON-091"}
        ) as contract:
            contract.set_status(Status(StatusCode.ERROR, "assertion failed"))
            logger.emit(
                body=SIGNAL_TITLE,
                severity_number=SeverityNumber.WARN,
                attributes={"event.name": "signal.created", "intent.event.line": 7},
            )
            contract_context = contract.get_span_context()
    sent.spans[f"{intent_context.span_id:016x}"] = {
        "trace_id": f"{intent_context.trace_id:032x}",
        "name": "intent INT-015",
        "parent_span_id": "",
        "attributes": intent_attributes,
        "status_code": 0,
    }
    sent.spans[f"{contract_context.span_id:016x}"] = {
        "trace_id": f"{contract_context.trace_id:032x}",
        "name": "contract CON-091",
        "parent_span_id": f"{intent_context.span_id:016x}",
        "attributes": {"intent.contract.id": "CON-091"},
        "status_code": 2,
        "links": [
            {"trace_id": f"{intent_context.trace_id:032x}", "span_id": f"{intent_context.span_id:016x}"}
        ],
    }
    sent.logs.append(
        {
            "body": SIGNAL_TITLE,
            "trace_id": f"{contract_context.trace_id:032x}",
            "span_id": f"{contract_context.span_id:016x}",
            "severity_number": SeverityNumber.WARN.value,
            "attributes": {"event.name": "signal.created", "intent.event.line": 7},
        }
    )


def _record_metrics(meters: MeterProvider, sent: SentTelemetry) -> None:
    meter = meters.get_meter("intent-observe")
    counter = meter.create_counter("intent.signals.total")
    for amount in (2, 3):
        counter.add(amount, {"intent.source": "cli"})
    sent.counter_total = 5
    histogram = meter.create_histogram("intent.cycle_time", unit="s")
    sent.histogram_values = [5.0, 120.0, 3600.0]
    for value in sent.histogram_values:
        histogram.record(value)
    meter.create_gauge("intent.queue.depth").set(7.0)
    sent.gauge_value = 7.0


def _of_run(received: Received, run: str) -> Received:
    def mine(row: dict[str, Any]) -> bool:
        return bool(row["resource"].get("test.run") == run)

    return Received(
        [s for s in received.spans if mine(s)],
        [log for log in received.logs if mine(log)],
        [p for p in received.points if mine(p)],
        received.refusals,
    )


def assert_arrived_intact(sent: SentTelemetry, received: Received) -> None:
    mine = _of_run(received, sent.run)
    spans = {span["span_id"]: span for span in mine.spans}
    assert set(spans) == set(sent.spans)
    for span_id, expected in sent.spans.items():
        got = spans[span_id]
        for key, value in expected.items():
            assert got[key] == value, (span_id, key)
        assert got["end_ns"] > got["start_ns"] > 0
        assert got["resource"]["service.name"] == "intent"

    assert len(mine.logs) == len(sent.logs)
    for expected, got in zip(sent.logs, mine.logs, strict=True):
        for key, value in expected.items():
            assert got[key] == value, key

    points = {point["metric"]: point for point in mine.points}
    counter = points["intent.signals.total"]
    assert (counter["kind"], counter["value"], counter["is_monotonic"]) == ("sum", sent.counter_total, 1)
    assert counter["attributes"] == {"intent.source": "cli"}
    histogram = points["intent.cycle_time"]
    assert histogram["kind"] == "histogram" and histogram["unit"] == "s"
    assert histogram["count"] == len(sent.histogram_values)
    assert histogram["value"] == sum(sent.histogram_values)
    assert sum(histogram["bucket_counts"]) == len(sent.histogram_values)
    assert points["intent.queue.depth"]["value"] == sent.gauge_value
