"""The send step of the exporter chain (sinks.chain): one attempt to hand a request to a backend.

    exporter = OtlpExporter(load_export_config())
    result = exporter.consume(Signal.TRACES, request_bytes)     # a `Consumer` (otlp.consumer)
    exporter.shutdown()

One persistent gRPC channel or HTTP connection pool per signal. An acknowledged request
returns its partial success (counted, never resent); so does Loki's 400 for log records older
than it accepts (it stored the others): the refused records come back in
`PartialResult.refused` (`sinks.loki_partial`). A retryable answer (gRPC UNAVAILABLE,
DEADLINE_EXCEEDED, ABORTED…, RESOURCE_EXHAUSTED with RetryInfo; HTTP 429/502/503/504, refused
or dropped connections) raises `ConsumerBusy` with the delay it names (RetryInfo, Retry-After),
for a `Retry` step in front; a permanent one raises `ConsumerRejected`. Link changes are logged
once each: connected, failing, recovered.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

from intent_observe.otlp.consumer import ConsumerBusy, ConsumerRejected, PartialResult
from intent_observe.otlp.signals import WIRES, Signal
from intent_observe.sinks.otlp_attempt import MAX_ERROR_TEXT, Outcome, Transport
from intent_observe.sinks.otlp_config import GRPC, ExportConfig, SignalExportConfig

log = logging.getLogger(__name__)


@dataclass
class ExporterStats:
    """Counters the adapter turns into its own `intent.adapter.*` health metrics."""

    batches: Counter[Signal] = field(default_factory=Counter)
    rejected_items: Counter[Signal] = field(default_factory=Counter)


class OtlpExporter:
    def __init__(self, config: ExportConfig) -> None:
        self.config = config
        self.stats = ExporterStats()
        self._transports: dict[Signal, Transport] = {}
        self._lock = threading.Lock()
        self._link_state: dict[str, str] = {}  # display endpoint → "connected" | "failing"
        self._partial_logged: set[Signal] = set()
        self._opening: threading.Thread | None = None

    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        """One attempt to send an encoded Export*ServiceRequest; returns once acknowledged."""
        config = self.config.for_signal(signal)
        outcome = self._transport(signal).send(body, config.timeout_seconds)
        if outcome.acknowledged:
            self._on_acknowledged(signal, config, outcome)
            return PartialResult(outcome.rejected, outcome.message, outcome.refused)
        self._set_link_state(config, "failing", outcome)
        if outcome.retryable:
            raise ConsumerBusy(f"{config.display_endpoint}: {outcome.message}", outcome.retry_after)
        refused = f"{config.display_endpoint} refused the {signal.value} batch: {outcome.message}"
        raise ConsumerRejected(refused)

    def start(self) -> None:
        """Each signal's transport made, its client library imported (grpc: 60 ms of CPU), on a
        thread of its own: the tail reads and encodes its first lines meanwhile, and a live
        tail's first lines do not wait for it (the connection itself opens with the first
        request). A request sent before its transport is made waits for it."""
        self._opening = threading.Thread(target=self._open_all, name="otlp-exporter-start", daemon=True)
        self._opening.start()

    def _open_all(self) -> None:
        try:
            for signal in Signal:
                self._transport(signal)
        except Exception:  # the first request makes it again, and reports why it cannot
            log.debug("an OTLP transport could not be made ahead of its first request", exc_info=True)

    def shutdown(self) -> None:
        if self._opening is not None:
            self._opening.join()  # none made after its close
        with self._lock:
            for transport in self._transports.values():
                transport.close()
            self._transports.clear()

    def __enter__(self) -> OtlpExporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def _transport(self, signal: Signal) -> Transport:
        with self._lock:
            transport = self._transports.get(signal)
            if transport is None:
                transport = self._transports[signal] = _open(self.config.for_signal(signal), signal)
            return transport

    def _count(self, counter: Counter[Signal], signal: Signal, amount: int) -> None:
        with self._lock:  # exports of several signals may run on several threads
            counter[signal] += amount

    def _on_acknowledged(self, signal: Signal, config: SignalExportConfig, outcome: Outcome) -> None:
        self._count(self.stats.batches, signal, 1)
        self._set_link_state(config, "connected", outcome)
        if outcome.rejected or outcome.message:
            self._count(self.stats.rejected_items, signal, outcome.rejected)
            self._log_partial_success_once(signal, config, outcome)

    def _log_partial_success_once(self, signal: Signal, config: SignalExportConfig, outcome: Outcome) -> None:
        with self._lock:
            first = signal not in self._partial_logged
            self._partial_logged.add(signal)
        if first:
            log.warning(
                "%s accepted a %s batch only partly (%d rejected: %s); further partial answers are counted",
                config.display_endpoint,
                signal.value,
                outcome.rejected,
                outcome.message[:MAX_ERROR_TEXT],
            )

    def _set_link_state(self, config: SignalExportConfig, state: str, outcome: Outcome) -> None:
        """Log only transitions: connected, backing off, recovered."""
        endpoint = config.display_endpoint
        with self._lock:
            previous = self._link_state.get(endpoint)
            self._link_state[endpoint] = state
        if previous == state:
            return
        if state == "connected":
            log.info(
                "%s %s",
                "recovered: OTLP export works again to" if previous else "connected: OTLP export to",
                endpoint,
            )
        else:
            then = "backing off and retrying" if outcome.retryable else "not retrying this batch"
            log.warning("export to %s failing (%s); %s", endpoint, outcome.message, then)


def _open(config: SignalExportConfig, signal: Signal) -> Transport:
    """The signal's transport; only its protocol's client library is imported (grpc or httpx: each
    tens of milliseconds of every start-up)."""
    if config.protocol == GRPC:
        from intent_observe.sinks.otlp_grpc import GrpcTransport

        return GrpcTransport(config, WIRES[signal])
    from intent_observe.sinks.otlp_http import HttpTransport

    return HttpTransport(config, WIRES[signal])
