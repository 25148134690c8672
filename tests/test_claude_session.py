"""A Claude-Code-shaped session wrapped by `intent-observe run` lands under its contract.

The child is a real process using the official OpenTelemetry SDK exporters configured only
by the environment `run` gives it (as Claude Code is): metrics with delta temporality, log
events named by `event.name`, spans parented by TRACEPARENT. It exports over gRPC to the
real OTLP receiver on 127.0.0.1; the Intent file is then shipped by `intent-observe tail
--once` to the same receiver, so one backend holds the contract span and the session under it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from tests.support.receiver import receiver_in_thread
from tests.support.recording import Received
from tests.tailing import run_tail, tail_env

from intent_observe.commands.emit import OTLP_DEFAULTS
from intent_observe.emitter.emit import emit
from intent_observe.report import read_history

CLI = [sys.executable, "-m", "intent_observe.cli"]
SESSION = r"""
import os
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

assert os.environ["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
# Endpoint and protocol come from OTEL_EXPORTER_OTLP_*; OTEL_RESOURCE_ATTRIBUTES joins the resource.
resource = Resource.create({"service.name": "claude-code", "service.version": "2.0.14", "os.type": "linux"})
tracers = TracerProvider(resource=resource)
tracers.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
loggers = LoggerProvider(resource=resource)
loggers.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter()))
reader = PeriodicExportingMetricReader(
    OTLPMetricExporter(preferred_temporality={Counter: AggregationTemporality.DELTA}),
    export_interval_millis=60_000,
)
meters = MeterProvider(resource=resource, metric_readers=[reader])

session = {"session.id": "0f6c3d7e-session", "prompt.id": "p-1"}
parent = TraceContextTextMapPropagator().extract({"traceparent": os.environ["TRACEPARENT"]})
tracer = tracers.get_tracer("com.anthropic.claude_code")
with tracer.start_as_current_span("claude_code.interaction", context=parent, attributes=session):
    with tracer.start_as_current_span("claude_code.llm_request", attributes={"model": "claude-sonnet-4-5"}):
        pass
    with tracer.start_as_current_span("claude_code.tool", attributes={"tool_name": "Bash"}):
        pass

logger = loggers.get_logger("com.anthropic.claude_code.events")
logger.emit(body="claude_code.api_request", attributes={
    "event.name": "claude_code.api_request", **session, "model": "claude-sonnet-4-5",
    "cost_usd": 0.0123, "duration_ms": 2300, "input_tokens": 1200, "output_tokens": 340})
logger.emit(body="claude_code.tool_result", attributes={
    "event.name": "claude_code.tool_result", **session, "tool_name": "Bash", "success": "true"})

meter = meters.get_meter("com.anthropic.claude_code")
tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
for kind, amount in (("input", 1200), ("output", 340), ("cacheRead", 5000)):
    tokens.add(amount, {**session, "type": kind, "model": "claude-sonnet-4-5"})
cost = meter.create_counter("claude_code.cost.usage", unit="USD")
cost.add(0.0123, {**session, "model": "claude-sonnet-4-5"})

tracers.shutdown()
loggers.shutdown()
meters.shutdown()
"""


def _intent_loop(events: Path) -> None:
    emit("signal.created", "SIG-001", data={"title": "login test flaky"}, file=events)
    emit("signal.promoted", "SIG-001", "INT-015", file=events)
    emit("intent.proposed", "INT-015", data={"title": "Reliable login"}, file=events)
    emit("spec.created", "SPEC-042", "INT-015", data={"contracts": ["CON-091"]}, file=events)


def _session_arrived(received: Received) -> bool:
    names = {span["name"] for span in received.spans}
    metrics = {point["metric"] for point in received.points}
    return {"claude_code.interaction", "claude_code.tool"} <= names and "claude_code.cost.usage" in metrics


@pytest.mark.timeout(180)
def test_a_wrapped_session_nests_under_its_contract(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    events = repo / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True)
    _intent_loop(events)
    script = tmp_path / "claude_like.py"
    script.write_text(SESSION)

    with receiver_in_thread(tmp_path / "receiver") as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEPARENT", "CLAUDE_"))}
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.grpc_endpoint,  # the user's choice is kept
            OTEL_RESOURCE_ATTRIBUTES="team=payments",
        )
        wrapped = subprocess.run(
            [*CLI, "run", "--contract", "CON-091", "--", sys.executable, str(script)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert wrapped.returncode == 0, wrapped.stderr
        received = receiver.wait_for(_session_arrived)

        # The Intent file itself, shipped by the real adapter to the same receiver.
        tail = run_tail("--once", str(events), env=tail_env(receiver.grpc_endpoint))
        assert tail.returncode == 0, tail.stderr
        history = read_history([str(events)])
        contract = history.engine.state.artifacts["contract:CON-091"]
        received = receiver.wait_for(lambda r: contract.span_id in r.span_ids)

    by_name = {span["name"]: span for span in received.spans}
    contract_span = next(s for s in received.spans if s["span_id"] == contract.span_id)
    assert contract_span["name"] == "contract CON-091"
    contract_run = by_name["contract CON-091 · run 1"]  # the wrapped command's run, sent when it ended
    assert contract_run["parent_span_id"] == contract.span_id
    assert contract_run["attributes"]["intent.artifact.state"] == "closed"
    interaction = by_name["claude_code.interaction"]
    assert interaction["parent_span_id"] == contract_run["span_id"]
    assert interaction["trace_id"] == contract.trace_id == contract_span["trace_id"]
    for child in ("claude_code.llm_request", "claude_code.tool"):
        assert by_name[child]["parent_span_id"] == interaction["span_id"]
        assert by_name[child]["trace_id"] == contract.trace_id

    ids = {"intent.contract.id": "CON-091", "intent.spec.id": "SPEC-042", "intent.id": "INT-015"}
    session_resources = [s["resource"] for s in received.spans if s["name"].startswith("claude_code.")]
    session_resources += [
        r["resource"] for r in received.logs if r["resource"].get("service.name") == "claude-code"
    ]
    session_resources += [p["resource"] for p in received.points if p["metric"].startswith("claude_code.")]
    assert len(session_resources) >= 3 + 2 + 4
    for resource in session_resources:
        assert resource["service.name"] == "claude-code"
        assert resource["team"] == "payments"  # the user's OTEL_RESOURCE_ATTRIBUTES survive
        assert {k: resource[k] for k in ids} == ids

    token_points = [p for p in received.points if p["metric"] == "claude_code.token.usage"]
    assert sorted(p["attributes"]["type"] for p in token_points) == ["cacheRead", "input", "output"]
    assert {p["temporality"] for p in token_points} == {1}  # AGGREGATION_TEMPORALITY_DELTA
    events_named = {r["attributes"].get("event.name") for r in received.logs}
    assert {"claude_code.api_request", "claude_code.tool_result"} <= events_named

    lines = [line for line in events.read_text().splitlines() if "CON-091" in line]
    assert '"contract.started"' in lines[-2] and '"contract.completed"' in lines[-1]
    assert '"exit_code":0' in lines[-1] and '"result":"pass"' in lines[-1]


def test_the_documented_claude_settings_turn_on_what_run_sets() -> None:
    """The README's `.claude/settings.json` snippet is valid JSON and names run's own defaults."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Connect your sources", 1)[1].split("\n## ", 1)[0]
    snippet = section.split("```json\n", 1)[1].split("```", 1)[0]
    settings = orjson.loads(snippet)
    assert settings["env"] == OTLP_DEFAULTS
