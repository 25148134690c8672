"""The steps a request goes through on its way out — queue → retry → send — each optional.

    exporter = OtlpExporter(load_export_config())                            # send: one attempt
    chain = export_chain(exporter, DiskQueue(path))     # Queue(Retry(exporter, RetryPolicy(…)), …)
    chain.start()
    chain.consume(Signal.TRACES, body, stop)       # returns once acknowledged or durably queued
    chain.shutdown()                               # the drainer, the queue file, the exporter

Every step is a `Consumer` (otlp.consumer) handing on to the next one:

- `Retry` hands a request on until it is taken. Each `ConsumerBusy` answer is counted
  (`failures()`: the adapter's `intent.adapter.export_failures`) and waited out — the delay the
  answer names (gRPC RetryInfo, HTTP Retry-After, the store's), capped, else exponential backoff
  with full jitter — until `stop` is set (`ConsumerAborted`) or `max_elapsed_seconds` have
  passed (then the last `ConsumerBusy` goes up, for a queue in front to take the request).
- `Queue` keeps requests in a bounded, crash-safe disk queue while what is behind it cannot
  take them: a request goes there when the next step answers busy, and every request joins it
  while it holds anything, so they arrive in order. A drainer thread hands queued requests on
  as soon as the next step takes them. A full queue holds the caller back — nothing is dropped —
  until `stop` is set.
- `Fanout` hands each request to every consumer in turn; it is safe once all of them have it.

A chain is one component: starting or shutting down its first step does so to every step and
consumer behind it. `intent-observe tail` sends through queue → retry → the exporter; `up` hands
the tail's batches to retry → the store (busy while its writer is saturated), and with
`--forward` to a second chain too.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from intent_observe.otlp.consumer import (
    ACCEPTED,
    Component,
    Consumer,
    ConsumerAborted,
    ConsumerBusy,
    ConsumerRejected,
    PartialResult,
)
from intent_observe.otlp.signals import Signal
from intent_observe.sinks.disk_queue import DiskQueue, QueueFull

log = logging.getLogger(__name__)

SPILL_AFTER_S = 30.0  # a batch the backend has not taken for this long goes to the disk queue
_IDLE_WAIT_S = 0.5


class Stage:
    """A step of a chain: what it reports and how it starts and stops include what is behind it."""

    def __init__(self, downstream: Sequence[Consumer]) -> None:
        self.downstream = list(downstream)

    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        raise NotImplementedError

    def failures(self) -> Counter[str]:
        """Busy answers so far, by signal (each a failed delivery attempt)."""
        return sum((stage.failures() for stage in self._stages()), Counter())

    def queue_depth(self) -> int:
        """Requests waiting in disk queues."""
        return sum(stage.queue_depth() for stage in self._stages())

    def flush(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for queued requests to be taken; whether none is left."""
        deadline = time.monotonic() + timeout_s
        return all([stage.flush(max(0.0, deadline - time.monotonic())) for stage in self._stages()])

    def start(self) -> None:
        for consumer in self.downstream:
            if isinstance(consumer, Component):
                consumer.start()

    def shutdown(self) -> None:
        for consumer in self.downstream:
            if isinstance(consumer, Component):
                consumer.shutdown()

    def _stages(self) -> list[Stage]:
        return [consumer for consumer in self.downstream if isinstance(consumer, Stage)]


@dataclass(frozen=True)
class RetryPolicy:
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 10.0
    multiplier: float = 2.0
    max_server_delay_seconds: float = 60.0  # cap on a named delay, against nonsense values
    max_elapsed_seconds: float | None = None  # None: until taken or stopped

    def delay(self, retry_number: int, named: float | None) -> float:
        """The delay the answer named, capped; else full jitter: uniform in
        (0, min(max, initial·multiplier^n)]."""
        if named is not None:
            return min(named, self.max_server_delay_seconds)
        ceiling = min(self.max_backoff_seconds, self.initial_backoff_seconds * self.multiplier**retry_number)
        return ceiling * (1.0 - random.random())


class Retry(Stage):
    def __init__(self, next_step: Consumer, policy: RetryPolicy | None = None) -> None:
        super().__init__([next_step])
        self.next_step = next_step
        self.policy = policy or RetryPolicy()
        self._failures: Counter[str] = Counter()
        self._lock = threading.Lock()  # requests of several signals may retry on several threads

    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        stop = stop or threading.Event()
        limit = self.policy.max_elapsed_seconds
        give_up = None if limit is None else time.monotonic() + limit
        retries = 0
        while True:
            try:
                return self.next_step.consume(signal, body, stop)
            except ConsumerBusy as busy:
                with self._lock:
                    self._failures[signal.value] += 1
                pause = self.policy.delay(retries, busy.retry_after_seconds)
                retries += 1
                if give_up is not None:
                    pause = min(pause, give_up - time.monotonic())
                if stop.wait(max(0.0, pause)):
                    stopped = f"stopped before the {signal.value} request was taken: {busy}"
                    raise ConsumerAborted(stopped) from None
                if give_up is not None and time.monotonic() >= give_up:
                    late = f"{signal.value} request not taken within {limit:g} s: {busy}"
                    raise ConsumerBusy(late, busy.retry_after_seconds) from None

    def failures(self) -> Counter[str]:
        with self._lock:
            own = Counter(self._failures)
        return own + super().failures()


class Queue(Stage):
    def __init__(self, next_step: Consumer, queue: DiskQueue) -> None:
        super().__init__([next_step])
        self.next_step = next_step
        self.queue = queue
        self._stop_drain = threading.Event()
        self._drained = threading.Condition()
        self._drainer: threading.Thread | None = None

    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        """A request that goes through the disk queue is answered later, by the drainer: this returns
        ACCEPTED for it (the partial answer, if any, is logged by the exporter)."""
        stop = stop or threading.Event()
        if not self.queue.depth().entries:
            try:
                return self.next_step.consume(signal, body, stop)
            except ConsumerBusy as busy:
                log.warning("%s: keeping batches in the disk queue", busy)
        self._put(signal, body, stop)
        return ACCEPTED

    def _put(self, signal: Signal, body: bytes, stop: threading.Event) -> None:
        while True:
            try:
                self.queue.put(body, signal=signal.value)
                return
            except QueueFull:
                with self._drained:
                    self._drained.wait(_IDLE_WAIT_S)
                if stop.is_set():
                    raise ConsumerAborted("stopped while the disk queue was full") from None

    def _drain(self) -> None:
        while not self._stop_drain.is_set():
            batch = self.queue.peek()
            if batch is None:
                self._stop_drain.wait(_IDLE_WAIT_S / 5)
                continue
            try:
                self.next_step.consume(Signal(batch.signal), batch.payload, self._stop_drain)
            except ConsumerAborted:
                return
            except ConsumerBusy:  # still not taken: the same batch again, after a pause
                self._stop_drain.wait(_IDLE_WAIT_S)
                continue
            except ConsumerRejected as error:
                log.error("dropping a queued %s batch refused for good: %s", batch.signal, error)
            self.queue.ack(batch.id)
            with self._drained:
                self._drained.notify_all()

    def queue_depth(self) -> int:
        return self.queue.depth().entries + super().queue_depth()

    def flush(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.queue.depth().entries:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return super().flush(max(0.0, deadline - time.monotonic()))

    def start(self) -> None:
        super().start()
        self._drainer = threading.Thread(target=self._drain, name="disk-queue-drainer", daemon=True)
        self._drainer.start()

    def shutdown(self) -> None:
        self._stop_drain.set()
        if self._drainer is not None:
            self._drainer.join(5)
        self.queue.close()
        super().shutdown()


class Fanout(Stage):
    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        results = [consumer.consume(signal, body, stop) for consumer in self.downstream]
        return PartialResult(
            sum(r.rejected for r in results),
            "; ".join(r.message for r in results if r.message),
            tuple(record for r in results for record in r.refused),
        )


def export_chain(send: Consumer, queue: DiskQueue, spill_after_s: float = SPILL_AFTER_S) -> Queue:
    """queue → retry → send: what the backend has not taken within `spill_after_s` waits on disk."""
    return Queue(Retry(send, RetryPolicy(max_elapsed_seconds=spill_after_s)), queue)
