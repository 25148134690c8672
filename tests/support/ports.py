"""Ports for the servers tests start, without races.

Our own servers bind port 0 and report the port they got (`up` prints it, the receiver
has `grpc_port`/`http_port`, Prometheus logs it): tests read it back. A third-party
program that cannot (rotel, Tansu) is given ports that were free a moment ago; another
process may take one before it binds, so `on_free_ports` starts it again on fresh ones
when it exits saying the address is in use.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_ATTEMPTS = 5


class PortTaken(Exception):
    """The program exited because one of its ports was taken before it could bind it."""


def free_port() -> int:
    """A port free right now on 127.0.0.1 — only for programs that cannot bind port 0."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def says_address_in_use(log_text: str) -> bool:
    text = log_text.lower()
    return "address already in use" in text or "address in use" in text or "os error 98" in text


def on_free_ports(count: int, start: Callable[[list[int]], T]) -> T:
    """`start(ports)` on `count` ports free a moment ago; again on fresh ones while it raises PortTaken."""
    for _ in range(_ATTEMPTS):
        try:
            return start([free_port() for _ in range(count)])
        except PortTaken:
            continue
    raise RuntimeError(f"no free ports held long enough in {_ATTEMPTS} attempts")


@contextmanager
def refused_address() -> Iterator[str]:
    """An http:// address on which nothing listens (a bound socket that does not listen: no other
    process can take its port while the test uses it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
