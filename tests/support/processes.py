"""Stopping the real processes tests start (collectors, receivers, Prometheus, Grafana)."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def stop_process(process: subprocess.Popen[Any], signum: int = signal.SIGTERM, grace_s: float = 10) -> None:
    """Ask a process to stop with `signum` (so it can flush), SIGKILL it if it has not within
    `grace_s`; reaped either way. Nothing to do for one that has already exited."""
    if process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
