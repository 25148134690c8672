"""Everything `intent-observe up` runs in one process, started and stopped in order.

stack = Stack(StackOptions(events=[Path(".intent/events/events.jsonl")]))
stack.start()        # store → OTLP receiver → tail adapter → alerts → web app; raises UpError
... stack.url ...
stack.stop()         # the reverse order; the tail flushes what it has read into the store
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from intent_observe import layout
from intent_observe.alerts.engine import AlertEngine
from intent_observe.alerts.notify import WebhookNotifier
from intent_observe.otlp.receiver import (
    TOKEN_ENV,
    OtlpReceiver,
    ReceiverConfig,
    ReceiverStartError,
    is_loopback,
    listening_socket,
)
from intent_observe.sinks.chain import Fanout, Retry, Stage
from intent_observe.sources.tail import TailAdapter, TailConfig, TailError
from intent_observe.stack.config import ConfigError, ObserveConfig, load_config
from intent_observe.stack.demo import LiveDemo
from intent_observe.store.schema import StoreError
from intent_observe.store.store import Store
from intent_observe.web.app import create_app
from intent_observe.web.context import AppContext

log = logging.getLogger("intent_observe.up")

METRIC_INTERVAL_S = 2.0
TAIL_RESTART_FIRST_S = 1.0
TAIL_RESTART_MAX_S = 60.0
_START_TIMEOUT_S = 10.0


class UpError(Exception):
    """The stack cannot start; the message says why and what to do."""


@dataclass
class StackOptions:
    events: list[Path]
    observe_dir: Path = field(default_factory=lambda: layout.observe_dir(Path()))
    host: str = "127.0.0.1"
    port: int = 4040
    grpc_port: int | None = 4317  # None: no OTLP receiver on that protocol; 0: any free port
    http_port: int | None = 4318
    token: str | None = field(default=None, repr=False)
    forward: Stage | None = None  # also deliver the tail's batches there (a remote OTLP endpoint)
    live_demo: bool = False
    config: ObserveConfig | None = None  # default: observe_dir/config.toml

    @property
    def store_path(self) -> Path:
        return layout.store_file(self.observe_dir)


@dataclass
class TailHealth:
    """Whether the tail adapter's thread runs, how often it was restarted, and its last failure."""

    state: str = "starting"  # running | restarting | stopped
    restarts: int = 0
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def running(self) -> None:
        with self._lock:
            self.state = "running"

    def failed(self, error: str) -> None:
        log.error("the tail adapter stopped: %s; restarting it", error)
        with self._lock:
            self.state, self.error = "restarting", error
            self.restarts += 1

    def stopped(self) -> None:
        with self._lock:
            self.state = "stopped"

    def doc(self) -> dict[str, Any]:
        with self._lock:
            return {"state": self.state, "restarts": self.restarts, "error": self.error}


def _run_until_failure(adapter: TailAdapter) -> str:
    """Run the adapter; what ended it (while `up` was not stopping, any end is a failure)."""
    try:
        code = adapter.run()
    except Exception as exc:
        log.exception("the tail adapter failed")
        return f"{type(exc).__name__}: {exc}"
    failure = adapter.failure
    if failure is not None:
        return f"{type(failure).__name__}: {failure}"
    return f"the tail adapter ended (exit code {code})"


class Stack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.store: Store | None = None
        self.receiver: OtlpReceiver | None = None
        self.adapter: TailAdapter | None = None
        self.alerts: AlertEngine | None = None
        self.notifier: WebhookNotifier | None = None
        self.demo: LiveDemo | None = None
        self.ctx: AppContext | None = None
        self._server: uvicorn.Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._adapter_lock = threading.Lock()
        self.tail_health = TailHealth()
        self.port: int | None = None

    @property
    def url(self) -> str:
        host = self.options.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    # ----------------------------------------------------------------- start
    def start(self) -> None:
        opts = self.options
        token = opts.token or os.environ.get(TOKEN_ENV) or None
        if token is not None and not token.strip():
            raise UpError(
                f"{TOKEN_ENV} is set but blank: give it a secret (e.g. `openssl rand -hex 24`) or unset it"
            )
        if not is_loopback(opts.host) and not token:
            raise UpError(
                f"refusing to listen on {opts.host} without an access token: set {TOKEN_ENV} "
                "(it then guards the app, the API, /metrics and the OTLP receiver) or use --host 127.0.0.1"
            )
        try:
            config = opts.config or load_config(layout.config_file(opts.observe_dir))
            fresh = not opts.store_path.exists()
            self.store = Store(opts.store_path, config.store)
            if opts.forward is not None:
                opts.forward.start()
            self._start_receiver(token)
            self._start_adapter(fresh)
            self._start_alerts(config)
            self._start_web(token)
            if opts.live_demo:
                self.demo = LiveDemo(opts.events[0])
                self.demo.start()
        except (ConfigError, StoreError, ReceiverStartError, TailError, OSError) as exc:
            self.stop()
            raise UpError(str(exc)) from None
        except BaseException:
            self.stop()
            raise

    def _start_receiver(self, token: str | None) -> None:
        opts = self.options
        if opts.grpc_port is None and opts.http_port is None:
            return
        assert self.store is not None
        self.receiver = OtlpReceiver(
            self.store,
            ReceiverConfig(host=opts.host, grpc_port=opts.grpc_port, http_port=opts.http_port, token=token),
        )
        self.receiver.start()

    def _start_adapter(self, fresh_store: bool) -> None:
        state_dir = layout.up_tail_dir(self.options.observe_dir)
        if fresh_store and state_dir.is_dir():
            # a new store must get the whole history, whatever an earlier run's checkpoint says
            shutil.rmtree(state_dir)
        self.adapter = self._new_adapter()
        self._spawn("up-tail", self._supervise_tail)

    def _new_adapter(self) -> TailAdapter:
        assert self.store is not None
        # the tail's requests go to the store as encoded, retried while its writer is saturated
        sink: Stage = Retry(self.store)
        if self.options.forward is not None:
            sink = Fanout([sink, self.options.forward])
        config = TailConfig(
            paths=[str(p) for p in self.options.events],
            state_dir=layout.up_tail_dir(self.options.observe_dir),
            metric_interval_s=METRIC_INTERVAL_S,
            poll_interval_s=0.25,
        )
        adapter = TailAdapter(config, sink)
        adapter.open()
        return adapter

    def _supervise_tail(self) -> None:
        """The tail adapter's thread. When the adapter fails (or ends while `up` runs) the failure
        is logged and shown (/api/status, /metrics, the pages' live pill), and a new adapter
        starts from the last checkpoint after a pause growing from 1 s to a minute."""
        delay = TAIL_RESTART_FIRST_S
        adapter: TailAdapter | None = self.adapter
        while True:
            if adapter is not None:
                self.tail_health.running()
                began = time.monotonic()
                error = _run_until_failure(adapter)
                if self._stopping.is_set():
                    break
                self.tail_health.failed(error)
                if time.monotonic() - began > TAIL_RESTART_MAX_S:
                    delay = TAIL_RESTART_FIRST_S  # it had been running well: a new failure, a short pause
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, TAIL_RESTART_MAX_S)
            adapter = self._restarted_adapter()
        self.tail_health.stopped()

    def _restarted_adapter(self) -> TailAdapter | None:
        """A new adapter, unless `up` is stopping (under the lock `stop` takes, so none starts after it)."""
        with self._adapter_lock:
            if self._stopping.is_set():
                return None
            try:
                self.adapter = self._new_adapter()
            except (TailError, OSError, RuntimeError, sqlite3.Error) as exc:
                self.tail_health.failed(f"cannot restart: {exc}")
                return None
            return self.adapter

    def _start_alerts(self, config: ObserveConfig) -> None:
        assert self.store is not None
        settings = config.alerts
        self.notifier = WebhookNotifier(
            settings.webhooks, settings.webhook_timeout_seconds, settings.webhook_retries
        )
        self.alerts = AlertEngine(self.store, settings, self.notifier)
        self.alerts.start()

    def _start_web(self, token: str | None) -> None:
        assert self.store is not None
        opts = self.options
        self.ctx = AppContext(
            store=self.store,
            token=token,
            loopback_only=is_loopback(opts.host),
            receiver={
                "grpc": self.receiver.grpc_port if self.receiver else None,
                "http": self.receiver.http_port if self.receiver else None,
            },
            events_path=opts.events[0],
            file_status=self.file_status,
            tail_status=self.tail_status,
            alerts=self.alerts,
        )
        sock = _web_socket(opts.host, opts.port)
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
        thread = self._spawn("up-web", lambda: asyncio.run(server.serve(sockets=[sock])))
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            raise UpError(f"the web app on port {opts.port} did not start")
        self.port = sock.getsockname()[1]

    def _spawn(self, name: str, target: Any) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def file_status(self) -> list[dict[str, Any]]:
        if self.adapter is None:
            return []
        out = []
        for tailed in self.adapter.files:
            size = tailed.follower.size()
            out.append(
                {
                    "path": tailed.path,
                    "offset": tailed.committed.offset,
                    "size": size,
                    "lag_bytes": tailed.lag_bytes(),
                    "problem": tailed.follower.problem,  # e.g. the path is a FIFO: not followed
                }
            )
        return out

    def tail_status(self) -> dict[str, Any]:
        """The tail's health for /api/status, /metrics and the pages: `ok` is false while its
        thread is down or a followed path cannot be read."""
        problems = [f["problem"] for f in self.file_status() if f["problem"]]
        ok = self.tail_health.state == "running" and not problems
        return self.tail_health.doc() | {"ok": ok, "problem": problems[0] if problems else None}

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Stop in reverse order of start; safe to call on a partly started stack."""
        if self.demo is not None:
            self.demo.stop()
        if self.ctx is not None:
            self.ctx.stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self.alerts is not None:
            self.alerts.stop()
        if self.notifier is not None:
            self.notifier.close()
        with self._adapter_lock:
            self._stopping.set()
            if self.adapter is not None:
                self.adapter.stop()
        if self.receiver is not None:
            self.receiver.stop()
        for thread in self._threads:
            thread.join(15)
        if self.options.forward is not None:
            self.options.forward.shutdown()
        if self.store is not None:
            self.store.close()
        self._threads.clear()

    def request_stop(self) -> None:
        """Ask the web server to end (from a signal handler); `wait()` then returns."""
        if self._server is not None:
            self._server.should_exit = True

    def wait(self) -> None:
        """Block until the web server ends (stop() or a signal)."""
        for thread in self._threads:
            if thread.name == "up-web":
                while thread.is_alive():
                    thread.join(0.5)


def _web_socket(host: str, port: int) -> socket.socket:
    try:
        return listening_socket(host, port, backlog=128)
    except OSError as exc:
        raise UpError(
            f"cannot listen on {host}:{port} for the web app: {exc} (choose another with --port)"
        ) from None
