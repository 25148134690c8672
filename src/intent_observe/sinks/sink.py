"""Where the tail adapter's batches go: an OTLP backend, an in-process consumer, or both.

A sink's `deliver` returns only once the batch is safe — acknowledged by the backend or
the consumer, or durably written to the on-disk queue — because the caller moves the
file checkpoint right after. It raises `ExportRejected` when the data is refused for
good, and `ExportAborted` when told to stop before the batch was safe (the checkpoint
then stays where it was and the lines are read again by the next run).

    sink = ExporterSink(OtlpExporter(load_export_config()), DiskQueue(path))   # network
    sink = ConsumerSink(store)          # `intent-observe up`: straight into the embedded store
    sink = FanoutSink([ConsumerSink(store), ExporterSink(...)])                 # both
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from intent_observe.otlp.consumer import ConsumerBusy, OtlpConsumer
from intent_observe.otlp.signals import WIRES, Signal
from intent_observe.sinks.disk_queue import DiskQueue, QueueFull
from intent_observe.sinks.loki_partial import RefusedRecord
from intent_observe.sinks.otlp_exporter import ExportAborted, ExportRejected, OtlpExporter

log = logging.getLogger(__name__)

SPILL_AFTER_S = 30.0  # a batch the backend has not taken for this long goes to the disk queue
_IDLE_WAIT_S = 0.5


@dataclass(frozen=True, slots=True)
class Payload:
    """Encoded Export*ServiceRequest bytes per signal; a signal with nothing to send is left out."""

    parts: tuple[tuple[Signal, bytes], ...]

    @classmethod
    def of(
        cls, traces: bytes | None = None, logs: bytes | None = None, metrics: bytes | None = None
    ) -> Payload:
        found = ((Signal.TRACES, traces), (Signal.LOGS, logs), (Signal.METRICS, metrics))
        return cls(tuple((signal, data) for signal, data in found if data))


class Sink(Protocol):
    def deliver(self, payload: Payload, stop: threading.Event) -> list[RefusedRecord]:
        """Returns once the batch is safe, with the records the backend refused while it took the
        rest (Loki's too-old log entries): the caller dead-letters them with the batch."""
        ...

    def failures(self) -> dict[str, int]:
        """Failed delivery attempts so far, by signal (for `intent.adapter.export_failures`)."""
        ...

    def queue_depth(self) -> int: ...

    def flush(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for queued batches to reach the backend; whether none is left."""
        ...

    def close(self) -> None: ...


class ConsumerSink:
    """Hands decoded requests to an `OtlpConsumer` (the embedded store), retrying while it is busy."""

    def __init__(self, consumer: OtlpConsumer) -> None:
        self.consumer = consumer
        self._failures: dict[str, int] = {}

    def deliver(self, payload: Payload, stop: threading.Event) -> list[RefusedRecord]:
        for signal, data in payload.parts:
            wire = WIRES[signal]
            request = wire.request_type.FromString(data)
            while True:
                try:
                    result = getattr(self.consumer, wire.consumer_method)(request)
                    break
                except ConsumerBusy as busy:
                    self._failures[signal.value] = self._failures.get(signal.value, 0) + 1
                    if stop.wait(max(0.01, busy.retry_after_seconds)):
                        raise ExportAborted(f"stopped while the consumer was busy: {busy.reason}") from None
            if result.rejected:
                log.warning(
                    "the store refused %d %s items: %s", result.rejected, signal.value, result.message
                )
        return []

    def failures(self) -> dict[str, int]:
        return dict(self._failures)

    def queue_depth(self) -> int:
        return 0

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self) -> None:
        pass


class ExporterSink:
    """An OTLP backend, with a bounded disk queue taking batches while the backend is down long.

    While the queue holds anything, new batches join it behind the older ones (so they
    arrive in order), and a drainer thread sends them as soon as the backend answers.
    A full queue holds the reader back: nothing is dropped.
    """

    def __init__(
        self, exporter: OtlpExporter, queue: DiskQueue | None = None, spill_after_s: float = SPILL_AFTER_S
    ) -> None:
        self.exporter = exporter
        self.queue = queue
        self.spill_after_s = spill_after_s
        self._stop_drain = threading.Event()
        self._drained = threading.Condition()
        self._drainer: threading.Thread | None = None
        if queue is not None:
            self._drainer = threading.Thread(target=self._drain, name="tail-disk-queue", daemon=True)
            self._drainer.start()

    def deliver(self, payload: Payload, stop: threading.Event) -> list[RefusedRecord]:
        """A batch that goes through the disk queue is answered later: its refused records are
        counted and logged then (`_drain`), not returned."""
        parts = list(payload.parts)
        refused: list[RefusedRecord] = []
        while parts:
            signal, data = parts[0]
            if self.queue is not None and self.queue.depth().entries:
                self._spill(parts, stop)
                return refused
            deadline = time.monotonic() + self.spill_after_s if self.queue is not None else None
            try:
                refused += self.exporter.export(signal, data, stop=stop, deadline=deadline).refused
            except ExportAborted:
                if stop.is_set() or self.queue is None:
                    raise
                log.warning(
                    "backend unavailable for %.0f s: keeping batches in the disk queue", self.spill_after_s
                )
                self._spill(parts, stop)
                return refused
            parts.pop(0)
        return refused

    def _spill(self, parts: list[tuple[Signal, bytes]], stop: threading.Event) -> None:
        assert self.queue is not None
        while parts:
            signal, data = parts[0]
            try:
                self.queue.put(data, signal=signal.value)
            except QueueFull:
                with self._drained:
                    self._drained.wait(_IDLE_WAIT_S)
                if stop.is_set():
                    raise ExportAborted("stopped while the disk queue was full") from None
                continue
            parts.pop(0)

    def _drain(self) -> None:
        assert self.queue is not None
        while not self._stop_drain.is_set():
            batch = self.queue.peek()
            if batch is None:
                self._stop_drain.wait(_IDLE_WAIT_S / 5)
                continue
            try:
                self.exporter.export(Signal(batch.signal), batch.payload, stop=self._stop_drain)
            except ExportAborted:
                return
            except ExportRejected as error:
                log.error("dropping a queued %s batch the backend refused for good: %s", batch.signal, error)
            self.queue.ack(batch.id)
            with self._drained:
                self._drained.notify_all()

    def flush(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.queue is not None and self.queue.depth().entries:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def failures(self) -> dict[str, int]:
        return {signal.value: count for signal, count in self.exporter.stats.failed_attempts.items()}

    def queue_depth(self) -> int:
        return self.queue.depth().entries if self.queue is not None else 0

    def close(self) -> None:
        self._stop_drain.set()
        if self._drainer is not None:
            self._drainer.join(5)
        self.exporter.close()
        if self.queue is not None:
            self.queue.close()


class FanoutSink:
    """Every batch to each sink in turn; safe once all of them have it."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    def deliver(self, payload: Payload, stop: threading.Event) -> list[RefusedRecord]:
        return [record for sink in self.sinks for record in sink.deliver(payload, stop)]

    def failures(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for sink in self.sinks:
            for signal, count in sink.failures().items():
                total[signal] = total.get(signal, 0) + count
        return total

    def queue_depth(self) -> int:
        return sum(sink.queue_depth() for sink in self.sinks)

    def flush(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        return all([sink.flush(max(0.0, deadline - time.monotonic())) for sink in self.sinks])

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
