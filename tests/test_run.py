"""`intent-observe run`: contract events around a real child process, its environment, its signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from intent_observe.commands.emit import session_environment
from intent_observe.emitter.emit import emit
from intent_observe.records import TraceContext
from intent_observe.report import read_history

RUN = [sys.executable, "-m", "intent_observe.cli", "run"]
CONTEXT = TraceContext(
    trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    span_id="00f067aa0ba902b7",
    parent_span_id="1111111111111111",
    intent_id="INT-015",
    spec_id="SPEC-042",
    contract_id="CON 091,x",
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    events = root / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True)
    emit("intent.proposed", "INT-015", data={"title": "Reliable login"}, file=events)
    emit("spec.created", "SPEC-042", "INT-015", data={"contracts": ["CON-091"]}, file=events)
    return root


def events_of(repo: Path) -> list[dict[str, Any]]:
    path = repo / ".intent" / "events" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEPARENT", "CLAUDE_"))}
    env.update(extra)
    return env


def run_cli(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUN, *args],
        cwd=repo,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_environment_adds_ids_and_keeps_what_the_user_set() -> None:
    env = session_environment(
        {"OTEL_RESOURCE_ATTRIBUTES": "team=payments, intent.id=MINE", "PATH": "/bin"}, CONTEXT
    )
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == (
        "team=payments, intent.id=MINE,intent.contract.id=CON%20091%2Cx,intent.spec.id=SPEC-042"
    )
    assert env["TRACEPARENT"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4317"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert env["PATH"] == "/bin"


def test_environment_leaves_a_configured_exporter_alone() -> None:
    base = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector:4318/v1/traces",
        "OTEL_METRICS_EXPORTER": "none",
    }
    env = session_environment(base, None)
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env
    assert env["OTEL_METRICS_EXPORTER"] == "none"
    assert "TRACEPARENT" not in env and "OTEL_RESOURCE_ATTRIBUTES" not in env


def test_child_sees_its_contract_and_exit_status_is_passed_on(repo: Path) -> None:
    probe = "; ".join(
        [
            "import os, sys",
            "print(os.environ['TRACEPARENT'])",
            "print(os.environ['OTEL_RESOURCE_ATTRIBUTES'])",
            "sys.exit(3)",
        ]
    )
    result = run_cli(repo, "--contract", "CON-091", "--", sys.executable, "-c", probe)
    assert result.returncode == 3, result.stderr
    traceparent, attributes = result.stdout.splitlines()
    run = read_history([str(repo / ".intent" / "events" / "events.jsonl")])
    contract = run.engine.state.artifacts["contract:CON-091"]
    [contract_run] = [s for s in run.spans.values() if s.parent_span_id == contract.span_id]
    assert contract_run.name == "contract CON-091 · run 1"
    assert traceparent == f"00-{contract.trace_id}-{contract_run.span_id}-01"  # the child's work: in the run
    assert attributes == "intent.contract.id=CON-091,intent.spec.id=SPEC-042,intent.id=INT-015"
    started, completed = events_of(repo)[-2:]
    assert (started["event"], started["parent_id"], started["data"]["agent"]) == (
        "contract.started",
        "SPEC-042",
        Path(sys.executable).name,
    )
    assert completed["event"] == "contract.completed"
    assert completed["data"]["exit_code"] == 3 and completed["data"]["result"] == "fail"
    assert completed["data"]["duration"] >= 0
    assert contract_run.error and contract_run.attributes["intent.artifact.state"] == "closed"


def test_unknown_contract_is_refused_before_the_command_runs(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    before = events_of(repo)
    result = run_cli(repo, "--contract", "CON-404", "--", "touch", str(marker))
    assert result.returncode == 1
    assert "needs its parent spec" in result.stderr and "not started" in result.stderr
    assert not marker.exists() and events_of(repo) == before


def test_a_missing_command_completes_the_contract_as_failed(repo: Path) -> None:
    result = run_cli(repo, "--contract", "CON-091", "--", "/nonexistent/agent")
    assert result.returncode == 127
    assert "cannot run /nonexistent/agent" in result.stderr
    assert events_of(repo)[-1]["data"]["result"] == "fail"


TRAPPING_CHILD = """
import signal, sys, time, pathlib
marker = pathlib.Path(sys.argv[1])
def stop(signum, frame):
    with marker.open("a") as fh:
        fh.write(signal.Signals(signum).name + "\\n")
    sys.exit(7)
signal.signal(signal.SIGTERM, stop)
marker.write_text("")
for _ in range(600):
    time.sleep(0.05)
"""


@pytest.mark.timeout(60)
def test_sigterm_reaches_the_child_once_and_its_status_is_kept(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "signals"
    wrapper = subprocess.Popen(
        [*RUN, "--contract", "CON-091", "--", sys.executable, "-c", TRAPPING_CHILD, str(marker)],
        cwd=repo,
        env=clean_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the child never started"
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=30) == 7
    assert marker.read_text() == "SIGTERM\n"
    completed = events_of(repo)[-1]
    assert completed["event"] == "contract.completed" and completed["data"]["exit_code"] == 7


@pytest.mark.timeout(60)
def test_a_child_killed_by_a_signal_exits_128_plus_signal(repo: Path) -> None:
    result = run_cli(
        repo, "--contract", "CON-091", "--", sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"
    )
    assert result.returncode == 128 + 9
    data = events_of(repo)[-1]["data"]
    assert (data["signal"], data["result"]) == ("SIGKILL", "fail")
