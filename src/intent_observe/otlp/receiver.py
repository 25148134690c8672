"""The OTLP receiver: gRPC on :4317 and HTTP on :4318, started and stopped in-process.

    receiver = OtlpReceiver(consumer, ReceiverConfig())
    receiver.start()          # binds both ports or raises ReceiverStartError
    ... receiver.grpc_port, receiver.http_port ...
    receiver.shutdown()

The HTTP side is an ASGI app (`OtlpHttpApp`) served by uvicorn on a thread of its own;
the gRPC side is a grpcio server with its own worker pool. Binding beyond loopback
without an access token is refused. With `tls_cert_file`/`tls_key_file` both sides speak
TLS only, and with `tls_client_ca_file` they also require a client certificate.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import uvicorn

from intent_observe.otlp.admission import DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUESTS, DEFAULT_WAIT_S, Admission
from intent_observe.otlp.auth import BearerToken, is_loopback
from intent_observe.otlp.consumer import Consumer
from intent_observe.otlp.grpc_service import otlp_grpc_handlers
from intent_observe.otlp.http_app import DEFAULT_BODY_IDLE_TIMEOUT_S, DEFAULT_BODY_TIMEOUT_S, OtlpHttpApp

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
TOKEN_ENV = "INTENT_OBSERVE_TOKEN"
_START_TIMEOUT_S = 10.0
_KEEP_ALIVE_S = 30
# Connections (HTTP) and calls (gRPC) held open at once, waiting included; beyond: 503 / RESOURCE_EXHAUSTED.
_MAX_CONNECTIONS = 256
_MAX_GRPC_CALLS = 64


class ReceiverStartError(Exception):
    """The receiver cannot start: insecure configuration or a port that cannot be bound."""


@dataclass(frozen=True)
class ReceiverConfig:
    host: str = "127.0.0.1"
    grpc_port: int | None = 4317  # None: no gRPC server; 0: any free port
    http_port: int | None = 4318  # None: no HTTP server; 0: any free port
    token: str | None = field(default=None, repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # after decompression; also the wire limit
    grpc_workers: int = 8
    http_workers: int = 4
    # the admission budget both protocols share (see otlp/admission.py)
    max_requests_in_flight: int = DEFAULT_MAX_REQUESTS
    max_bytes_in_flight: int = DEFAULT_MAX_BYTES
    admission_wait_s: float = DEFAULT_WAIT_S
    body_idle_timeout_s: float = DEFAULT_BODY_IDLE_TIMEOUT_S  # OTLP/HTTP: longest pause in a body
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S  # the whole body (HTTP), the request message (gRPC)
    tls_cert_file: Path | None = None  # PEM; with tls_key_file, both servers speak TLS only
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None  # PEM; when set, clients must present a certificate it signed

    def __post_init__(self) -> None:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ReceiverStartError("the receiver's TLS certificate and key must be given together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ReceiverStartError("client certificate checks need the receiver's own TLS certificate")

    @classmethod
    def from_env(cls, **overrides: object) -> ReceiverConfig:
        """Defaults, with the access token from INTENT_OBSERVE_TOKEN unless given."""
        overrides.setdefault("token", os.environ.get(TOKEN_ENV) or None)
        return cls(**overrides)  # type: ignore[arg-type]


class OtlpReceiver:
    def __init__(self, consumer: Consumer, config: ReceiverConfig | None = None) -> None:
        self.config = config or ReceiverConfig()
        self._consumer = consumer
        self._token = _token_for(self.config)
        self.admission = Admission(
            self.config.max_requests_in_flight, self.config.max_bytes_in_flight, self.config.admission_wait_s
        )
        self._grpc_server: grpc.Server | None = None
        self._http_server: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None
        self._http_executor: ThreadPoolExecutor | None = None
        self.grpc_port: int | None = None
        self.http_port: int | None = None

    def start(self) -> None:
        try:
            if self.config.grpc_port is not None:
                self.grpc_port = self._start_grpc(self.config.grpc_port)
            if self.config.http_port is not None:
                self.http_port = self._start_http(self.config.http_port)
        except BaseException:
            self.shutdown()
            raise
        log.info(
            "OTLP receiver listening on %s (gRPC %s, HTTP %s)",
            self.config.host,
            self.grpc_port or "off",
            self.http_port or "off",
        )

    def shutdown(self, grace_seconds: float = 2.0) -> None:
        """Stop accepting, let in-flight requests finish for up to `grace_seconds`, release ports."""
        if self._http_server is not None and self._http_thread is not None:
            self._http_server.should_exit = True
            self._http_thread.join(grace_seconds + 1.0)
        if self._grpc_server is not None:
            self._grpc_server.stop(grace_seconds).wait()
        if self._http_executor is not None:
            self._http_executor.shutdown(wait=True)
        self._grpc_server = self._http_server = self._http_thread = self._http_executor = None

    def __enter__(self) -> OtlpReceiver:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()

    def _start_grpc(self, port: int) -> int:
        cap = self.config.max_body_bytes
        server = grpc.server(
            ThreadPoolExecutor(self.config.grpc_workers, thread_name_prefix="otlp-grpc"),
            handlers=otlp_grpc_handlers(
                self._consumer, self._token, self.admission, cap, self.config.body_timeout_s
            ),
            maximum_concurrent_rpcs=_MAX_GRPC_CALLS,
            options=[
                # checked by grpc core after decompression, so it also caps gzip bombs
                ("grpc.max_receive_message_length", cap),
                # never share the port with another process that is already listening
                ("grpc.so_reuseport", 0),
                # without BDP probing, grpc core does not read ahead into calls still waiting for
                # admission (with it, 40 waiting 16 MiB calls cost 800 MiB before any was admitted)
                ("grpc.http2.bdp_probe", 0),
            ],
        )
        address = _join_host_port(self.config.host, port)
        credentials = _grpc_server_credentials(self.config)
        try:
            if credentials is None:
                bound = server.add_insecure_port(address)
            else:
                bound = server.add_secure_port(address, credentials)
        except RuntimeError as exc:
            raise ReceiverStartError(f"cannot listen for OTLP/gRPC on {address}: {exc}") from None
        if bound == 0:
            raise ReceiverStartError(f"cannot listen for OTLP/gRPC on {address}")
        server.start()
        self._grpc_server = server
        return bound

    def _start_http(self, port: int) -> int:
        try:
            sock = listening_socket(self.config.host, port)
        except OSError as exc:
            raise ReceiverStartError(
                f"cannot listen for OTLP/HTTP on {self.config.host}:{port}: {exc}"
            ) from None
        self._http_executor = ThreadPoolExecutor(self.config.http_workers, thread_name_prefix="otlp-http")
        app = OtlpHttpApp(
            self._consumer,
            self._http_executor,
            max_body_bytes=self.config.max_body_bytes,
            token=self._token,
            admission=self.admission,
            loopback_only=is_loopback(self.config.host),
            body_idle_timeout_s=self.config.body_idle_timeout_s,
            body_timeout_s=self.config.body_timeout_s,
        )
        config = uvicorn.Config(
            app,
            log_config=None,  # leave the host process's logging (e.g. the web app's uvicorn) alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            limit_concurrency=_MAX_CONNECTIONS,
            # SDK batch processors send every 5 s: keep their connection open across batches
            timeout_keep_alive=_KEEP_ALIVE_S,
            **_uvicorn_tls(self.config),
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), name="otlp-http", daemon=True
        )
        self._http_server, self._http_thread = server, thread
        thread.start()
        _wait_until(lambda: server.started or not thread.is_alive(), _START_TIMEOUT_S)
        if not server.started:
            raise ReceiverStartError(f"OTLP/HTTP server on port {port} did not start")
        bound: int = sock.getsockname()[1]
        return bound


def _token_for(config: ReceiverConfig) -> BearerToken | None:
    if config.token:
        return BearerToken(config.token)
    if not is_loopback(config.host):
        raise ReceiverStartError(
            f"refusing to listen on {config.host} without an access token: set {TOKEN_ENV} or bind 127.0.0.1"
        )
    return None


def _grpc_server_credentials(config: ReceiverConfig) -> grpc.ServerCredentials | None:
    if config.tls_cert_file is None or config.tls_key_file is None:
        return None
    client_ca = config.tls_client_ca_file.read_bytes() if config.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(config.tls_key_file.read_bytes(), config.tls_cert_file.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def _uvicorn_tls(config: ReceiverConfig) -> dict[str, Any]:
    if config.tls_cert_file is None:
        return {}
    options: dict[str, Any] = {
        "ssl_certfile": str(config.tls_cert_file),
        "ssl_keyfile": str(config.tls_key_file),
    }
    if config.tls_client_ca_file is not None:
        options |= {"ssl_ca_certs": str(config.tls_client_ca_file), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A bound, listening TCP socket (port 0: any free port) to hand to uvicorn; OSError if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # SO_REUSEADDR lets a restarted server take its port back from TIME_WAIT connections
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # inherited by accepted connections (asyncio sets it only on sockets created with
    # IPPROTO_TCP): an answer written as headers then body must not wait for the client's
    # delayed ACK (Nagle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
