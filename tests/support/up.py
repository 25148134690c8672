"""`intent-observe up` as a real process on ports it chose itself (port 0), read back from what it prints.

up = UpProcess(repo, "--auto-demo")      # waits until ready
up.url, up.grpc_port, up.http_port, up.pid
up.stop()                                # SIGTERM; returns the exit status
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "intent-observe"
READY = re.compile(r"ready in ([0-9.]+) s: (http://\S+:\d+)")
RECEIVER = re.compile(r"OTLP receiver: gRPC :(\d+|off) · HTTP :(\d+|off)")
_READY_TIMEOUT_S = 30.0


def up_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's OTEL_* and INTENT_OBSERVE_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INTENT_OBSERVE_"))}
    return {**env, "COLUMNS": "250", "NO_COLOR": "1", **extra}


class UpProcess:
    def __init__(self, repo: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [str(BIN), "up", "--port", "0", "--grpc-port", "0", "--http-port", "0", *args],
            cwd=repo,
            env=env or up_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self.url = self._wait_ready()
        # keep reading what it prints, so that a full pipe never blocks it
        threading.Thread(target=self._drain, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_ready(self) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + _READY_TIMEOUT_S
        url = None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            ready, receiver = READY.search(line), RECEIVER.search(line)
            if ready:
                url = ready.group(2).replace("0.0.0.0", "127.0.0.1")
            if receiver:
                self.grpc_port, self.http_port = (None if p == "off" else int(p) for p in receiver.groups())
            if url and line.startswith("  store "):  # the last line of the ready message
                return url
        self.stop()
        raise AssertionError("up did not become ready:\n" + "".join(self.output))

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def log(self) -> str:
        return "".join(self.output)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)
