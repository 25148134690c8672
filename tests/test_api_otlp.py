"""Telemetry from the official OpenTelemetry SDK exporters (gRPC and HTTP) through `up`'s
receiver into the store, read back over the API; and a Claude-Code-shaped session
(service.name=claude-code, delta metrics, log events by event.name, spans under a
TRACEPARENT) that shows up under the contract it worked on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from tests.support.observe import stack_with_history, wait_for

from intent_observe.stack.stack import Stack

DELTA = {Counter: AggregationTemporality.DELTA}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack_with_history(tmp_path_factory.mktemp("repo")) as (running, _, _):
        yield running


def exporters(stack: Stack, protocol: str) -> tuple[Any, Any, Any]:
    assert stack.receiver is not None
    if protocol == "grpc":
        url = f"http://127.0.0.1:{stack.receiver.grpc_port}"
        return (
            GrpcSpans(url, insecure=True),
            GrpcLogs(url, insecure=True),
            GrpcMetrics(url, insecure=True, preferred_temporality=DELTA),
        )
    base = f"http://127.0.0.1:{stack.receiver.http_port}"
    return (
        HttpSpans(f"{base}/v1/traces"),
        HttpLogs(f"{base}/v1/logs"),
        HttpMetrics(f"{base}/v1/metrics", preferred_temporality=DELTA),
    )  # fmt: skip


class Sdk:
    """Tracer, logger and meter providers of the official SDK, exporting to one protocol."""

    def __init__(self, stack: Stack, protocol: str, resource: dict[str, str]) -> None:
        spans, logs, metrics = exporters(stack, protocol)
        res = Resource.create(resource)
        self.tracers = TracerProvider(resource=res)
        self.tracers.add_span_processor(SimpleSpanProcessor(spans))
        self.loggers = LoggerProvider(resource=res)
        self.loggers.add_log_record_processor(SimpleLogRecordProcessor(logs))
        self.reader = PeriodicExportingMetricReader(metrics, export_interval_millis=3_600_000)
        self.meters = MeterProvider(resource=res, metric_readers=[self.reader])

    def shutdown(self) -> None:
        self.tracers.shutdown()
        self.loggers.shutdown()
        self.meters.shutdown()


def api(stack: Stack, path: str, **params: Any) -> Any:
    response = httpx.get(f"{stack.url}{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_traces_logs_and_metrics_are_stored_and_served(stack: Stack, protocol: str) -> None:
    sdk = Sdk(stack, protocol, {"service.name": f"checkout-{protocol}"})
    tracer = sdk.tracers.get_tracer("test")
    with (
        tracer.start_as_current_span(f"order {protocol}") as root,
        tracer.start_as_current_span("charge card", attributes={"amount": 12.5}),
    ):
        sdk.loggers.get_logger("test").emit(body=f"charged via {protocol}", attributes={"order": 7})
    trace_id = format(root.get_span_context().trace_id, "032x")
    sdk.meters.get_meter("test").create_counter("checkout.orders").add(3, {"shop": "eu"})
    sdk.shutdown()

    doc = wait_for(lambda: _trace_if_complete(stack, trace_id))
    assert [(s["name"], s["depth"], s["service"]) for s in doc["spans"]] == [
        (f"order {protocol}", 0, f"checkout-{protocol}"),
        ("charge card", 1, f"checkout-{protocol}"),
    ]
    assert doc["spans"][1]["attributes"] == {"amount": 12.5}
    assert [(log["body"], log["attributes"]) for log in doc["logs"]] == [
        (f"charged via {protocol}", {"order": 7})
    ]
    listed = api(stack, "/api/traces", q=f"order {protocol}")["traces"]
    assert [t["trace_id"] for t in listed] == [trace_id]

    def orders() -> float | None:
        row = stack.store.read(  # type: ignore[union-attr]
            lambda c: c.execute(
                "SELECT value FROM metric_series WHERE name = 'checkout.orders' AND service = ?",
                (f"checkout-{protocol}",),
            ).fetchone()
        )
        return row[0] if row else None

    assert wait_for(orders) == 3


def _trace_if_complete(stack: Stack, trace_id: str) -> dict[str, Any] | None:
    response = httpx.get(f"{stack.url}/api/traces/{trace_id}", timeout=10)
    if response.status_code != 200:
        return None
    doc: dict[str, Any] = response.json()
    return doc if len(doc["spans"]) == 2 and doc["logs"] else None


def _contract_span(stack: Stack, contract: str) -> tuple[str, str]:
    doc = api(stack, "/api/intents/INT-001")
    span = next(s for s in doc["spans"] if s["name"] == f"contract {contract}")
    return doc["trace_id"], span["span_id"]


def _claude_session(
    stack: Stack, protocol: str, session: str, resource: dict[str, str], contract: str
) -> None:
    """What Claude Code sends for one session: spans under TRACEPARENT, events, delta metrics."""
    sdk = Sdk(stack, protocol, {"service.name": "claude-code", "service.version": "2.0.14", **resource})
    trace_id, span_id = _contract_span(stack, contract)
    parent = TraceContextTextMapPropagator().extract({"traceparent": f"00-{trace_id}-{span_id}-01"})
    attrs = {"session.id": session, "prompt.id": "p-1"}
    tracer = sdk.tracers.get_tracer("com.anthropic.claude_code")
    llm = {**attrs, "model": "claude-sonnet-4-5"}
    with (
        tracer.start_as_current_span("claude_code.interaction", context=parent, attributes=attrs),
        tracer.start_as_current_span("claude_code.llm_request", attributes=llm),
    ):
        pass
    logger = sdk.loggers.get_logger("com.anthropic.claude_code.events")
    # Claude Code names events in `event.name` without the prefix; the body carries the full name
    for name, extra in (
        ("api_request", {"cost_usd": 0.01, "input_tokens": 1000}),
        ("api_request", {"cost_usd": 0.02, "input_tokens": 2000}),
        ("api_error", {"error": "overloaded", "status_code": "529"}),
        ("tool_decision", {"decision": "accept", "tool_name": "Bash"}),
        ("tool_decision", {"decision": "reject", "tool_name": "Edit"}),
        ("tool_result", {"tool_name": "Bash", "success": "true"}),
        ("user_prompt", {"prompt_length": 42}),
    ):
        logger.emit(body=f"claude_code.{name}", attributes={"event.name": name, **attrs, **extra})
    meter = sdk.meters.get_meter("com.anthropic.claude_code")
    tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
    cost = meter.create_counter("claude_code.cost.usage", unit="USD")
    tokens.add(1000, {**attrs, "type": "input"})
    tokens.add(300, {**attrs, "type": "output"})
    cost.add(0.01, attrs)
    sdk.reader.force_flush()  # one delta export …
    tokens.add(2000, {**attrs, "type": "input"})
    tokens.add(5000, {**attrs, "type": "cacheRead"})
    cost.add(0.02, attrs)
    sdk.shutdown()  # … and the next one: the store adds them up


def test_a_claude_code_session_shows_under_its_contract(stack: Stack) -> None:
    link = {"intent.contract.id": "CON-002", "intent.spec.id": "SPEC-001", "intent.id": "INT-001"}
    _claude_session(stack, "grpc", "session-linked", link, "CON-002")

    def session() -> dict[str, Any] | None:
        found = [s for s in api(stack, "/api/claude")["sessions"] if s["session_id"] == "session-linked"]
        return (
            found[0]
            if found and found[0]["cost_usd"] >= 0.03 - 1e-9 and found[0]["api_requests"] == 2
            else None
        )

    s = wait_for(session)
    assert (s["contract_id"], s["intent_id"]) == ("CON-002", "INT-001")
    assert s["tokens"] == {"input": 3000, "output": 300, "cacheRead": 5000, "cacheCreation": 0}
    assert s["cost_usd"] == pytest.approx(0.03)
    assert (s["api_requests"], s["api_errors"]) == (2, 1)
    assert s["tool_decisions"] == {"accept": 1, "reject": 1}
    per_contract = {c["contract_id"]: c for c in api(stack, "/api/claude")["per_contract"]}
    assert per_contract["CON-002"]["errors"] == 1 and per_contract["CON-002"]["intent_id"] == "INT-001"
    # the session's spans sit under the contract's span in the intent's trace
    doc = api(stack, "/api/intents/INT-001")
    by_name = {sp["name"]: sp for sp in doc["spans"]}
    interaction = by_name["claude_code.interaction"]
    assert interaction["parent_span_id"] == by_name["contract CON-002"]["span_id"]
    assert (
        interaction["service"] == "claude-code"
        and interaction["depth"] == by_name["contract CON-002"]["depth"] + 1
    )
    trace = next(t for t in api(stack, "/api/traces", kind="intent")["traces"] if t["intent_id"] == "INT-001")
    assert trace["services"] == ["claude-code", "intent"]


def test_a_session_without_resource_ids_is_linked_by_its_parent_span(stack: Stack) -> None:
    _claude_session(stack, "http", "session-traceparent", {}, "CON-001")

    def session() -> dict[str, Any] | None:
        found = [s for s in api(stack, "/api/claude")["sessions"] if s["session_id"] == "session-traceparent"]
        return (
            found[0] if found and found[0]["api_requests"] == 2 and found[0]["tokens"]["cacheRead"] else None
        )

    s = wait_for(session)
    assert (s["contract_id"], s["intent_id"]) == ("CON-001", "INT-001")
