"""`up`'s web app and API under uvicorn, on a thread of its own.

web = WebServer(ctx, "127.0.0.1", 4040)
web.start()           # listening and answering when this returns; raises WebStartError
web.wait()            # until request_stop() (a signal handler) or shutdown()
web.shutdown()        # open live streams end, then the server
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn

from intent_observe.otlp.receiver import listening_socket
from intent_observe.web.app import create_app
from intent_observe.web.context import AppContext

_START_TIMEOUT_S = 10.0
_JOIN_S = 15.0


class WebStartError(Exception):
    """The web app cannot listen or did not start; the message says why."""


class WebServer:
    def __init__(self, ctx: AppContext, host: str, port: int) -> None:
        self.ctx = ctx
        self.host = host
        self.port = port  # the bound one once started (0: any free port)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sock = _web_socket(self.host, self.port)
        config = uvicorn.Config(
            create_app(self.ctx),
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), name="up-web", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            raise WebStartError(f"the web app on port {self.port} did not start")
        self.port = sock.getsockname()[1]

    def request_stop(self) -> None:
        """Ask the server to end (safe from a signal handler); `wait()` then returns."""
        if self._server is not None:
            self._server.should_exit = True

    def wait(self) -> None:
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def shutdown(self) -> None:
        self.ctx.stopping.set()
        self.request_stop()
        if self._thread is not None:
            self._thread.join(_JOIN_S)


def _web_socket(host: str, port: int) -> socket.socket:
    try:
        return listening_socket(host, port, backlog=128)
    except OSError as exc:
        raise WebStartError(
            f"cannot listen on {host}:{port} for the web app: {exc} (choose another with --port)"
        ) from None
