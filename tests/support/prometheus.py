"""Debian's Prometheus on a port it chose itself (port 0), read back from its log.

with running_prometheus(config_file, workdir) as prometheus:
    httpx.get(f"{prometheus.url}/api/v1/query", ...)
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import stop_process

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
_LISTENING = re.compile(r'msg="Listening on" address=127\.0\.0\.1:(\d+)')
_START_TIMEOUT_S = 30.0


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None


@contextmanager
def running_prometheus(config: Path, workdir: Path) -> Iterator[Prometheus]:
    log_path = workdir / "prometheus.log"
    command = [
        PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
        "--web.listen-address=127.0.0.1:0",
    ]  # fmt: skip
    with log_path.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out)
    try:
        port = _bound_port(process, log_path)
        yield Prometheus(process, f"http://127.0.0.1:{port}", log_path)
    finally:
        stop_process(process, signal.SIGINT, grace_s=20)


def _bound_port(process: subprocess.Popen[bytes], log_path: Path) -> int:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        found = _LISTENING.search(log_path.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        time.sleep(0.05)
    raise RuntimeError(f"Prometheus did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
