"""Hostile clients of `up`: floods of large calls, slow bodies, and the resident memory they cost.

Used by tests/test_hardening.py (which asserts bounds) and benchmarks/bench_hostile.py
(which prints the figures).
"""

from __future__ import annotations

import re
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc

MIB = 1024 * 1024
TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


class PeakRss:
    """The largest resident size of a process while the `with` block runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = rss_mib(pid)
        self.peak = self.before
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            self.peak = max(self.peak, rss_mib(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib(self.pid))

    @property
    def growth(self) -> float:
        return self.peak - self.before


def grpc_export(port: int, method: str, body: bytes, token: str | None = None) -> tuple[str, bytes]:
    """(status code name, response bytes) of one raw OTLP/gRPC call."""
    options = [("grpc.max_send_message_length", 64 * MIB)]
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            return "OK", call(body, timeout=60, metadata=metadata)
        except grpc.RpcError as error:
            return error.code().name, b""


def in_parallel(count: int, call: Callable[[], str]) -> list[str]:
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(call())) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def slow_body(port: int, seconds: float) -> str:
    """Declare 15 MiB and send it at 1 MiB/s; what the receiver answered within `seconds`:
    an HTTP status, "reset" (answered and closed while we sent), or "reading" (still taking it)."""
    head = (
        f"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/x-protobuf\r\nContent-Length: {15 * MIB}\r\n\r\n"
    )
    chunk = b"\0" * (256 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        sock.setblocking(False)
        deadline = time.monotonic() + seconds
        answer = b""
        try:
            while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
                readable, writable, _ = select.select([sock], [sock], [], 0.25)
                if readable:
                    answer += sock.recv(65536) or b"closed"
                elif writable:
                    sock.send(chunk)
                    time.sleep(0.25)
        except ConnectionError:
            return "reset" if not answer else answer.decode("latin-1")
    return answer.decode("latin-1") if answer else "reading"
