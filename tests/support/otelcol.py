"""The OpenTelemetry Collector of deploy/otelcol/builder.yaml, built from upstream modules and run
on loopback with our shipped configs.

    with running_collector([PHASE1_CONFIG], workdir, loopback_overrides, env=...) as collector:
        send to collector.ports["grpc"]

The shipped config is loaded as it is; a second `--config` file (the Collector deep-merges them)
moves its listeners onto free loopback ports and switches off the Collector's own metrics
endpoint, so several Collectors can run at once.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.support.deploy_tools import BUILD, REPO_ROOT, install
from tests.support.ports import free_port
from tests.support.processes import stop_process

OTELCOL = BUILD / "otelcol" / "otelcol-intent"
MANIFEST = REPO_ROOT / "deploy" / "otelcol" / "builder.yaml"
_START_TIMEOUT_S = 30.0
_BIND_ATTEMPTS = 3

# Port names → the config to merge over the shipped one, given the ports reserved for those names.
Overrides = Callable[[dict[str, int]], dict[str, Any]]


def otelcol_binary() -> Path:
    """Built (or found cached) by the project's installer; the first build takes minutes."""
    install("otelcol")
    return OTELCOL


def manifest_version() -> str:
    return str(yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["dist"]["version"])


def validate(configs: list[Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`otelcol validate`: unknown keys, bad values and broken pipelines make it exit non-zero."""
    args = [f"--config={path}" for path in configs]
    return subprocess.run(
        [str(otelcol_binary()), "validate", *args], capture_output=True, text=True, env=env, timeout=60
    )


@dataclass
class Collector:
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def quiet_telemetry(health_port: int) -> dict[str, Any]:
    """What every test run merges in: the health check on a free port (readiness is read from it)
    and no Prometheus endpoint for the Collector's own metrics (its default port is shared)."""
    return {
        "extensions": {"health_check": {"endpoint": f"127.0.0.1:{health_port}"}},
        "service": {"telemetry": {"metrics": {"level": "none"}}},
    }


@contextmanager
def running_collector(
    configs: list[Path],
    workdir: Path,
    overrides: Overrides,
    port_names: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[Collector]:
    """The Collector on `configs` plus `overrides(ports)`, ready once its health check answers.

    The Collector cannot report a port it chose itself, so ports are reserved by binding and
    releasing them; should another process take one in between, the Collector fails to bind,
    says so, and is started again on fresh ports."""
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(_BIND_ATTEMPTS):
        ports = {name: free_port() for name in ("health", *port_names)}
        collector = _start(configs, workdir, overrides, ports, env, attempt)
        if collector is not None:
            break
    else:
        raise RuntimeError(f"the Collector found no free ports in {_BIND_ATTEMPTS} attempts")
    try:
        yield collector
    finally:
        stop_process(collector.process)


def _start(
    configs: list[Path],
    workdir: Path,
    overrides: Overrides,
    ports: dict[str, int],
    env: dict[str, str] | None,
    attempt: int,
) -> Collector | None:
    merged = _deep_merge(quiet_telemetry(ports["health"]), overrides(ports))
    override_path = workdir / f"overrides-{attempt}.yaml"
    override_path.write_text(yaml.safe_dump(merged), encoding="utf-8")
    log_path = workdir / f"otelcol-{attempt}.log"
    command = [str(otelcol_binary()), *(f"--config={p}" for p in [*configs, override_path])]
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    collector = Collector(process, ports, log_path)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not _healthy(ports["health"]):
        if process.poll() is not None:
            if "address already in use" in collector.log():
                return None
            raise RuntimeError(f"the Collector exited at start:\n{collector.log()[-3000:]}")
        if time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(f"the Collector was not healthy in time:\n{collector.log()[-3000:]}")
        time.sleep(0.1)
    return collector


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
