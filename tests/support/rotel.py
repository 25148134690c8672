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
from tests.support.ports import PortTaken, on_free_ports, says_address_in_use
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


class RotelCollector(LoopbackEndpoints):
    def __init__(self, export_to: str, workdir: Path, export_protocol: str = "grpc") -> None:
        self.export_to = export_to
        self.export_protocol = export_protocol
        self.grpc_port = self.http_port = 0
        self.log_path = workdir / "rotel.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """rotel cannot listen on port 0: on ports free a moment ago, again on others if one was taken."""
        on_free_ports(2, self._start_on)

    def _start_on(self, ports: list[int]) -> None:
        self.grpc_port, self.http_port = ports
        command = [
            str(rotel_binary()), "start",
            "--otlp-grpc-endpoint", f"127.0.0.1:{self.grpc_port}",
            "--otlp-http-endpoint", f"127.0.0.1:{self.http_port}",
            "--exporter", "otlp",
            "--otlp-exporter-endpoint", self.export_to,
            "--otlp-exporter-protocol", self.export_protocol,
            "--batch-timeout", "50ms",
        ]  # fmt: skip
        logged_before = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not (_listening(self.grpc_port) and _listening(self.http_port)):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = self.log_path.read_text(errors="replace")[logged_before:]
                if says_address_in_use(log):
                    raise PortTaken(log)
                raise RuntimeError(f"rotel did not start; see {self.log_path}:\n{log[-2000:]}")
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
