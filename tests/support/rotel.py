"""rotel (the PyPI package's bundled Rust OTel collector) between a sender and a receiver.

    with rotel_collector(export_to="http://127.0.0.1:4317", workdir=tmp) as rotel:
        send to rotel.grpc_endpoint / rotel.http_endpoint

Receives OTLP gRPC + HTTP on free loopback ports and exports OTLP/gRPC (or HTTP) onward.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.endpoints import LoopbackEndpoints
from tests.support.processes import stop_process

_READY_TIMEOUT_S = 15.0


def rotel_binary() -> Path:
    """The `rotel-agent` executable shipped inside the `rotel` wheel, else one on PATH."""
    try:
        import rotel
    except ImportError:
        rotel = None
    if rotel is not None:
        bundled = Path(rotel.__file__).parent / "rotel-agent"
        if bundled.is_file():
            return bundled
    found = shutil.which("rotel-agent") or shutil.which("rotel")
    if found is None:
        raise FileNotFoundError("rotel is not installed: pip install rotel")
    return Path(found)


def free_port() -> int:
    """A port free right now on 127.0.0.1 (for programs that cannot be told to bind port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RotelCollector(LoopbackEndpoints):
    def __init__(self, export_to: str, workdir: Path, export_protocol: str = "grpc") -> None:
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.log_path = workdir / "rotel.log"
        self.command = [
            str(rotel_binary()), "start",
            "--otlp-grpc-endpoint", f"127.0.0.1:{self.grpc_port}",
            "--otlp-http-endpoint", f"127.0.0.1:{self.http_port}",
            "--exporter", "otlp",
            "--otlp-exporter-endpoint", export_to,
            "--otlp-exporter-protocol", export_protocol,
            "--batch-timeout", "50ms",
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(self.command, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not (_listening(self.grpc_port) and _listening(self.http_port)):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"rotel did not start; see {self.log_path}:\n{self.log_path.read_text()[-2000:]}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM lets rotel flush what it batched; SIGKILL if it hangs."""
        if self._process is not None:
            stop_process(self._process)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def rotel_collector(export_to: str, workdir: Path, export_protocol: str = "grpc") -> Iterator[RotelCollector]:
    collector = RotelCollector(export_to, workdir, export_protocol)
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()
