"""The real OpenTelemetry Collector (deploy/otelcol/builder.yaml, built from upstream modules) on our
shipped phase-1 and phase-2 configs: `otelcol validate` on each, and our adapter → the Collector →
our receiver with every span, log record and final metric value accounted for.

What must arrive comes from `report.read_history` (the whole-file reader), never from the adapter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import ThreadReceiver, receiver_in_thread
from tests.support.otelcol import manifest_version, otelcol_binary, running_collector, validate
from tests.tailing import (
    Expected,
    assert_exactly,
    expected_from,
    has_all,
    latest_metrics,
    metrics_of,
    run_tail,
    tail_env,
)

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PHASE1 = DEPLOY / "phase1" / "otelcol.yaml"
PHASE2 = DEPLOY / "phase2" / "otelcol.yaml"
HISTORY = ROOT / "tests" / "fixtures" / "history.jsonl"
GRAFANA_CLOUD_ENV = {
    "GRAFANA_CLOUD_INSTANCE_ID": "123456",
    "GRAFANA_CLOUD_API_TOKEN": "glc_test_token",
}


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, **extra}


@pytest.fixture(scope="module")
def expected() -> Expected:
    return expected_from([HISTORY])


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ThreadReceiver]:
    with receiver_in_thread(tmp_path / "receiver") as running:
        yield running


def test_the_built_collector_holds_exactly_the_components_of_the_manifest() -> None:
    listing = yaml.safe_load(
        subprocess.run([otelcol_binary(), "components"], capture_output=True, text=True, timeout=30).stdout
    )
    assert listing["buildinfo"]["version"] == manifest_version()
    manifest = yaml.safe_load((DEPLOY / "otelcol" / "builder.yaml").read_text(encoding="utf-8"))
    for kind in ("receivers", "processors", "exporters", "extensions"):
        modules = {entry["module"] for entry in listing[kind]}
        assert modules == {entry["gomod"] for entry in manifest[kind]}, kind


@pytest.mark.parametrize("config", [PHASE1, PHASE2], ids=["phase1", "phase2"])
def test_shipped_config_passes_otelcol_validate(config: Path) -> None:
    result = validate([config], _env(GRAFANA_CLOUD_OTLP_ENDPOINT="https://otlp.example.test/otlp"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_otelcol_validate_refuses_a_misspelt_setting(tmp_path: Path) -> None:
    config = yaml.safe_load(PHASE1.read_text(encoding="utf-8"))
    config["processors"]["memory_limiter"]["limit_mibs"] = 256
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = validate([bad], _env(GRAFANA_CLOUD_OTLP_ENDPOINT="https://otlp.example.test/otlp"))
    assert result.returncode != 0
    assert "limit_mibs" in result.stdout + result.stderr


def _listeners(ports: dict[str, int]) -> dict[str, Any]:
    protocols = {name: {"endpoint": f"127.0.0.1:{ports[name]}"} for name in ("grpc", "http")}
    return {"receivers": {"otlp": {"protocols": protocols}}}


def _phase1_run(receiver: ThreadReceiver) -> tuple[dict[str, str], Any]:
    """Phase 1 as shipped: Grafana Cloud's endpoint and credentials come from the environment, so
    only the listeners move; the OTLP/HTTP export with basic auth goes to our receiver."""
    env = _env(GRAFANA_CLOUD_OTLP_ENDPOINT=receiver.http_endpoint, **GRAFANA_CLOUD_ENV)
    return env, _listeners


def _phase2_run(receiver: ThreadReceiver) -> tuple[dict[str, str], Any]:
    """Phase 2 with Tempo (OTLP gRPC), Loki and Mimir (OTLP/HTTP) replaced by our receiver."""

    def overrides(ports: dict[str, int]) -> dict[str, Any]:
        return {
            **_listeners(ports),
            "exporters": {
                "otlp_grpc/tempo": {"endpoint": f"127.0.0.1:{receiver.grpc_port}"},
                "otlp_http/loki": {"endpoint": receiver.http_endpoint},
                "otlp_http/mimir": {"endpoint": receiver.http_endpoint},
            },
        }

    return _env(), overrides


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("config", "setup", "environment"),
    [(PHASE1, _phase1_run, "local"), (PHASE2, _phase2_run, "single-node")],
    ids=["phase1", "phase2"],
)
def test_adapter_through_the_collector_delivers_every_record(
    receiver: ThreadReceiver,
    expected: Expected,
    tmp_path: Path,
    config: Path,
    setup: Any,
    environment: str,
) -> None:
    env, overrides = setup(receiver)
    events = tmp_path / "repo" / "events.jsonl"
    events.parent.mkdir()
    shutil.copy(HISTORY, events)
    with running_collector([config], tmp_path / "otelcol", overrides, ("grpc", "http"), env) as collector:
        sent = run_tail(
            "--once",
            "--state-dir",
            str(tmp_path / "state"),
            str(events),
            env=tail_env(f"http://127.0.0.1:{collector.ports['grpc']}", "grpc"),
        )
        assert sent.returncode == 0, sent.stderr
        final_metrics = metrics_of(expected.run)
        received = receiver.wait_for(
            lambda r: has_all(expected)(r) and latest_metrics(r) == final_metrics, timeout_s=60
        )
    assert len(expected.span_ids) > 100
    assert_exactly(received, expected)
    assert len(received.logs) == len(expected.logs)  # nothing doubled on the way
    assert latest_metrics(received) == final_metrics
    want = {s.span_id: (s.trace_id, s.name) for s in expected.run.spans.values()}
    assert {s["span_id"]: (s["trace_id"], s["name"]) for s in received.spans} == want
    # The resource processor of the shipped config ran on every signal.
    resources = [r["resource"] for r in (*received.spans, *received.logs, *received.points)]
    assert {r.get("deployment.environment.name") for r in resources} == {environment}
    assert {r["service.name"] for r in resources} == {"intent"}
    # INTERNAL spans of one service: nothing for a service graph (deploy/phase2/tempo.yaml has none).
    assert {s["kind"] for s in received.spans} == {1}  # SPAN_KIND_INTERNAL
