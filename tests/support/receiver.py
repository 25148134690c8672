"""The real OTLP receiver with a recording consumer, in this process or in a child process.

    with receiver_in_thread(tmp_path) as receiver: ...
    with receiver_process(tmp_path) as receiver: receiver.kill(); receiver.restart()

Both expose the same handle: ports, endpoints, `received()` (what the SQLite file holds),
`wait_for(predicate)`, and `control.refuse_for(seconds)` to make it answer 503/UNAVAILABLE.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.endpoints import LoopbackEndpoints
from tests.support.processes import stop_process
from tests.support.recording import Received, ReceiverControl, RecordingConsumer, read_received

from intent_observe.otlp.receiver import OtlpReceiver, ReceiverConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
_START_TIMEOUT_S = 20.0
_RESTART_ATTEMPTS = 10


class RecordingReceiver(LoopbackEndpoints):
    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = workdir / "received.sqlite"
        self.control = ReceiverControl(workdir / "receiver.control")
        self.grpc_port = 0
        self.http_port = 0

    def received(self) -> Received:
        return read_received(self.db_path)

    def wait_for(self, predicate: Callable[[Received], bool], timeout_s: float = 20.0) -> Received:
        """Poll until `predicate(received)` holds; return the last reading either way."""
        deadline = time.monotonic() + timeout_s
        while True:
            received = self.received()
            if predicate(received) or time.monotonic() > deadline:
                return received
            time.sleep(0.05)


class ThreadReceiver(RecordingReceiver):
    def __init__(self, workdir: Path, config: ReceiverConfig | None = None) -> None:
        super().__init__(workdir)
        self._consumer = RecordingConsumer(self.db_path, self.control)
        self.receiver = OtlpReceiver(self._consumer, config or ReceiverConfig(grpc_port=0, http_port=0))

    def start(self) -> None:
        self.receiver.start()
        self.grpc_port = self.receiver.grpc_port or 0
        self.http_port = self.receiver.http_port or 0

    def stop(self) -> None:
        self.receiver.shutdown()
        self._consumer.close()


class ProcessReceiver(RecordingReceiver):
    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start on the ports of the previous run (fixed once first chosen), or on free ones."""
        command = [
            sys.executable, "-m", "tests.support.receiver_main",
            "--db", str(self.db_path), "--control", str(self.control.path),
            "--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port),
        ]  # fmt: skip
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        self._process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
        ready = _read_line(self._process, _START_TIMEOUT_S)
        if not ready.startswith("READY "):
            self.kill()
            raise RuntimeError(f"recording receiver did not start: {ready!r}")
        _, grpc_port, http_port = ready.split()
        self.grpc_port, self.http_port = int(grpc_port), int(http_port)

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)

    def restart(self) -> None:
        """Kill, then start on the same ports (its clients reconnect there). Another process may
        hold one of them for a moment meanwhile (an outgoing connection's local port): retried."""
        self.kill()
        for attempt in range(_RESTART_ATTEMPTS):
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == _RESTART_ATTEMPTS - 1:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)


def _read_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout_s)
    return process.stdout.readline().strip() if readable else ""


@contextmanager
def receiver_in_thread(workdir: Path, config: ReceiverConfig | None = None) -> Iterator[ThreadReceiver]:
    """`config` defaults to free loopback ports and no token."""
    receiver = ThreadReceiver(workdir, config)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@contextmanager
def receiver_process(workdir: Path) -> Iterator[ProcessReceiver]:
    receiver = ProcessReceiver(workdir)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
