"""Everything `intent-observe up` runs in one process: components started in order, shut down in reverse.

stack = Stack(StackOptions(events=[Path(".intent/events/events.jsonl")]))
stack.start()        # store → forward chain → OTLP receiver → tail → alerts → web app → demo; raises UpError
... stack.url ...
stack.stop()         # each one's shutdown(), in reverse; the tail flushes what it has read into the store

Every part is a `Component` (otlp.consumer: `start()`, `shutdown()`), kept in the order it
started; a part whose start fails is shut down with the ones before it.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from intent_observe import layout
from intent_observe.alerts.engine import AlertEngine
from intent_observe.alerts.notify import WebhookNotifier
from intent_observe.otlp.consumer import Component
from intent_observe.otlp.receiver import (
    TOKEN_ENV,
    OtlpReceiver,
    ReceiverConfig,
    ReceiverStartError,
    is_loopback,
)
from intent_observe.sinks.chain import Fanout, Retry, Stage
from intent_observe.sources.tail import TailAdapter, TailConfig, TailError
from intent_observe.stack.config import ConfigError, ObserveConfig, load_config
from intent_observe.stack.demo import LiveDemo
from intent_observe.stack.tail import SupervisedTail
from intent_observe.stack.web_server import WebServer, WebStartError
from intent_observe.store.schema import StoreError
from intent_observe.store.store import Store
from intent_observe.web.context import AppContext

log = logging.getLogger("intent_observe.up")

METRIC_INTERVAL_S = 2.0
C = TypeVar("C", bound=Component)


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


class Stack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.store: Store | None = None
        self.receiver: OtlpReceiver | None = None
        self.tail: SupervisedTail | None = None
        self.alerts: AlertEngine | None = None
        self.web: WebServer | None = None
        self._components: list[Component] = []  # started, in order

    @property
    def url(self) -> str:
        host = self.options.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def port(self) -> int | None:
        return self.web.port if self.web is not None else None

    @property
    def ctx(self) -> AppContext | None:
        return self.web.ctx if self.web is not None else None

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
            self.store = self._start(Store(opts.store_path, config.store))
            if opts.forward is not None:
                self._start(opts.forward)
            if opts.grpc_port is not None or opts.http_port is not None:
                listen = ReceiverConfig(
                    host=opts.host, grpc_port=opts.grpc_port, http_port=opts.http_port, token=token
                )
                self.receiver = self._start(OtlpReceiver(self.store, listen))
            self.tail = self._start(SupervisedTail(self._tail_adapter(fresh)))
            notifier = self._start(
                WebhookNotifier(
                    config.alerts.webhooks,
                    config.alerts.webhook_timeout_seconds,
                    config.alerts.webhook_retries,
                )
            )
            self.alerts = self._start(AlertEngine(self.store, config.alerts, notifier))
            self.web = self._start(WebServer(self._app_context(token), opts.host, opts.port))
            if opts.live_demo:
                self._start(LiveDemo(opts.events[0]))
        except (ConfigError, StoreError, ReceiverStartError, TailError, WebStartError, OSError) as exc:
            self.stop()
            raise UpError(str(exc)) from None
        except BaseException:
            self.stop()
            raise

    def _start(self, component: C) -> C:
        """Start `component`; `stop()` shuts it down, in reverse order (also when this start fails)."""
        self._components.append(component)
        component.start()
        return component

    def _tail_adapter(self, fresh_store: bool) -> Callable[[], TailAdapter]:
        """How the supervised tail makes its adapters: the events files into the store (and the
        forward chain), retried while the store's writer is saturated."""
        assert self.store is not None
        store, opts = self.store, self.options
        state_dir = layout.up_tail_dir(opts.observe_dir)
        if fresh_store and state_dir.is_dir():
            # a new store must get the whole history, whatever an earlier run's checkpoint says
            shutil.rmtree(state_dir)
        config = TailConfig(
            paths=[str(p) for p in opts.events],
            state_dir=state_dir,
            metric_interval_s=METRIC_INTERVAL_S,
            poll_interval_s=0.25,
        )

        def new_adapter() -> TailAdapter:
            sink: Stage = Retry(store)
            if opts.forward is not None:
                sink = Fanout([sink, opts.forward])
            adapter = TailAdapter(config, sink)
            adapter.open()
            return adapter

        return new_adapter

    def _app_context(self, token: str | None) -> AppContext:
        assert self.store is not None and self.tail is not None
        opts = self.options
        return AppContext(
            store=self.store,
            token=token,
            loopback_only=is_loopback(opts.host),
            receiver={
                "grpc": self.receiver.grpc_port if self.receiver else None,
                "http": self.receiver.http_port if self.receiver else None,
            },
            events_path=opts.events[0],
            file_status=self.tail.file_status,
            tail_status=self.tail.status,
            alerts=self.alerts,
        )

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Shut down what started, in reverse order (demo, web app, alerts, tail — which flushes what
        it has read into the store —, receiver, forward chain, store); safe on a partly started stack."""
        while self._components:
            self._components.pop().shutdown()

    def request_stop(self) -> None:
        """Ask the web server to end (from a signal handler); `wait()` then returns."""
        if self.web is not None:
            self.web.request_stop()

    def wait(self) -> None:
        """Block until the web server ends (stop() or a signal)."""
        if self.web is not None:
            self.web.wait()
