"""The file tail adapter: event files → identity engine → OTLP batches → a consumer, losing nothing.

    adapter = TailAdapter(TailConfig(paths=["repo/.intent/events/events.jsonl"]), chain)
    code = adapter.run()            # blocks; `adapter.stop()` from another thread or a signal handler

One reader thread follows every file, parses whole lines, feeds each file's identity
engine a block at a time and encodes what the engine drains into OTLP traces and logs
requests, a few large ones per batch (sources.payload). A delivery thread hands batches in
order to a chain of consumers (sinks.chain: the exporter's queue → retry → send, or retry →
the embedded store) and, once the chain says a batch is safe (acknowledged, stored, or durably
queued), commits in one SQLite transaction the identity state the batch left behind, the file
mark just after its last line, and the dead-letter entries of its bad lines. The reader runs
ahead by a few batches (each carrying its own serialised state), so encoding and the network
overlap; a crash at any point restarts from the last commit and produces the same records
with the same ids.

Several files (one per repository) each get their own engine and identity scope (the
repository's directory name), so two repositories' INT-015 never merge; a single file
keeps the scope "" that `inspect` uses.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from intent_observe import layout
from intent_observe.artifacts.derive import Derived, derived_events_of
from intent_observe.events import Position, Rejected
from intent_observe.identity import checkpoint
from intent_observe.identity.checkpoint import Checkpoint, FileMark
from intent_observe.identity.engine import Engine
from intent_observe.identity.replay import replay
from intent_observe.identity.state_db import IdentityStore, PreparedWrite, SavedState, StaleState
from intent_observe.metrics import catalog
from intent_observe.metrics.derive import Point, snapshot
from intent_observe.otlp.consumer import ConsumerAborted, ConsumerRejected, RefusedRecord
from intent_observe.safe_files import open_regular, private_dir, private_file
from intent_observe.sinks.chain import Stage
from intent_observe.sinks.resource import otlp_encoder
from intent_observe.sources import payload
from intent_observe.sources.deadletter import DeadLetterFile
from intent_observe.sources.follow import LONGEST_LINE, Chunk, FileFollower, OversizedLine
from intent_observe.sources.payload import Payload, blocks
from intent_observe.sources.watch import FileWatcher

log = logging.getLogger("intent_observe.tail")

DEFAULT_PATH = str(layout.events_file(Path()))
BATCH_BYTES = 1 << 18  # input bytes committed together while catching up: ~1,250 events
# Lines go into the engine and are drained a block at a time: the core is fastest on blocks of
# this size (its work stays in the CPU's caches: 100,000 events 1.03 s of CPU in 64 KiB blocks,
# 0.84 s in 16 KiB, 0.86 s in 8 KiB). The core lets go of the GIL while it works, so the
# delivery thread sends and commits meanwhile.
BLOCK_BYTES = 1 << 14
IN_FLIGHT_BATCHES = 2
# Identity-state entries of each kind kept in memory between batches; the rest are read back
# from the committed state when needed (one changed since stays until its batch commits).
CACHED_ENTRIES = 2_000
FRONT_MATTER_RESCAN_S = 10.0  # how often a quiet tail looks again at what the artifact files say
DEFAULT_METRIC_INTERVAL_S = 60.0
FAST_POLL_S = 0.05


class TailError(Exception):
    """The adapter cannot start or go on (state in use, unreadable, from another scope…)."""


# Exit codes, documented in `intent-observe tail --help`.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_STATE = 4  # the state directory is unusable or another tail holds it
EXIT_REJECTED = 5  # the backend refused data for good (bad request, unauthorized…)
EXIT_UNDELIVERED = 75  # stopped with data not yet acknowledged (still in the disk queue or unread)


@dataclass
class TailConfig:
    paths: list[str] = field(default_factory=lambda: [DEFAULT_PATH])
    state_dir: Path | None = None  # default: `.intent/observe/` beside each events file
    once: bool = False
    from_beginning: bool = False
    batch_bytes: int = BATCH_BYTES
    metric_interval_s: float = DEFAULT_METRIC_INTERVAL_S
    poll_interval_s: float = 0.5  # fallback when file-system notifications are missed
    shutdown_timeout_s: float = 10.0


def metric_interval_from_env(env: dict[str, str] | None = None) -> float:
    """OTEL_METRIC_EXPORT_INTERVAL (milliseconds), default 60 s."""
    raw = (env if env is not None else os.environ).get("OTEL_METRIC_EXPORT_INTERVAL", "").strip()
    try:
        value = float(raw) / 1000.0 if raw else DEFAULT_METRIC_INTERVAL_S
    except ValueError:
        log.warning("OTEL_METRIC_EXPORT_INTERVAL=%r is not a number of milliseconds; using 60 s", raw)
        return DEFAULT_METRIC_INTERVAL_S
    return value if value > 0 else DEFAULT_METRIC_INTERVAL_S


def repository_name(path: str) -> str:
    """`…/<repo>/.intent/events/events.jsonl` → `<repo>`; otherwise the file's directory name."""
    absolute = layout.absolute(path)
    return (layout.repository_of(absolute) or absolute.parent).name


@dataclass
class Batch:
    payload: Payload
    source: TailedFile | None = None  # None: metrics only, nothing to commit
    prepared: PreparedWrite | None = None
    mark: FileMark | None = None
    rejected: list[Rejected] = field(default_factory=list)
    lines: int = 0
    size: int = 0  # input bytes
    end_offset: int = 0
    metrics_start_ns: int = 0
    read_at: float = field(default_factory=time.monotonic)


class TailedFile:
    """One followed file with its own identity engine, state store and dead-letter file."""

    def __init__(self, path: str, scope: str, state_dir: Path, from_beginning: bool) -> None:
        self.path = path
        self.scope = scope
        self.repository = repository_name(path)
        stem = layout.tail_stem(path, scope)
        private_dir(state_dir)
        self._lock = _exclusive_lock(layout.tail_lock(state_dir, stem), path)
        self.store = IdentityStore(private_file(layout.tail_state(state_dir, stem)))
        last = checkpoint.load(self.store.conn)
        saved = None if from_beginning else last
        try:
            state = self.store.load(scope) if saved is not None else None
        except StaleState as stale:
            log.warning("%s: reading %s again from its start", stale, path)
            saved, state = None, None
        except RuntimeError as error:
            raise TailError(str(error)) from None
        self.engine = self._engine(state)
        self.fresh = saved is None  # a first run or --from-beginning: state starts empty
        self.metrics_start_ns = saved.metrics_start_ns if saved else time.time_ns()
        # entries of a replayed history are dropped when its first batch commits, not before
        self.dead_letter = DeadLetterFile(
            layout.dead_letter_file(state_dir, stem), last.dead_letter_size if last else 0
        )
        self.follower = FileFollower(path, saved.mark if saved else None)
        self.committed = saved.mark if saved else FileMark(path=path)
        extra = {"intent.repository": self.repository} if self.repository else {}
        self.encoder = otlp_encoder(extra)
        self.lines_read = 0
        self.lines_rejected = 0
        self.records_refused = 0  # by the backend (delivery thread); lines_rejected: the reader's
        self._read_files(fresh=True)
        self._rescan_at = time.monotonic() + FRONT_MATTER_RESCAN_S
        # committed by the delivery thread, confirmed to the engine by the reader's (its owner)
        self._committed: deque[PreparedWrite] = deque()

    def _read_files(self, fresh: bool = False) -> None:
        """What the repository's artifact files say now: derived events, joining the log's events
        in time (fresh: none fed yet), and the titles that name their artifacts."""
        front = derived_events_of(self.path)
        if fresh:
            self.derived = Derived(front.said)
        else:
            self.derived.add(front.said)
        self.engine.title_files(front.titles)

    def _engine(self, state: SavedState | None) -> Engine:
        """An engine keeping a working set in memory, the rest in this file's committed state."""
        return Engine(state, scope=self.scope, limit=CACHED_ENTRIES, store=self.store.reader)

    def next_batch(self, max_bytes: int) -> Batch | None:
        while self._committed:
            self._committed.popleft().confirm()
        chunk = self.follower.poll(max_bytes)
        for note in self.follower.notes:
            log.info(note)
        self.follower.notes.clear()
        if chunk is None:
            return self._front_matter_batch()
        if chunk.reset:
            self.engine = self._engine(None)
            self._read_files(fresh=True)
            self.metrics_start_ns = time.time_ns()
            self.fresh = True
        rejected, lines = self._process(chunk)
        if chunk.mark.offset >= self.follower.size():  # read through: the files' news are due
            self.derived.feed_before(time.time_ns(), self.engine)
        batch = self._batch(chunk.mark, rejected, lines)
        batch.size = len(chunk.data)
        return batch

    def _front_matter_batch(self) -> Batch | None:
        """While the log is quiet, what the artifact files newly say (looked at now and then)."""
        if time.monotonic() < self._rescan_at:
            return None
        self._rescan_at = time.monotonic() + FRONT_MATTER_RESCAN_S
        self._read_files()
        if not self.derived.feed_before(time.time_ns(), self.engine):
            return None
        return self._batch(self.follower_mark(), [], 0)

    def final_batch(self) -> Batch:
        """Everything still waiting for an ancestor, placed with what is known (end of `--once`)."""
        self.derived.feed_before(None, self.engine)
        return self._batch(self.follower_mark(), [], 0, last=True)

    def follower_mark(self) -> FileMark:
        return self.follower.mark

    def _process(self, chunk: Chunk) -> tuple[list[Rejected], int]:
        """The chunk's lines into the engine a block at a time, what each block placed drained."""
        observed_ns = time.time_ns()
        rejected: list[Rejected] = []
        for block in blocks(chunk, BLOCK_BYTES):
            rejected += replay(self.engine, block, self.derived, observed_ns)
            self.engine.drain_joined(self.encoder, payload.REQUEST_BYTES)
        lines = chunk.mark.line - chunk.line  # as the follower counted them, a line skipped unread too
        if chunk.oversized is not None:
            rejected.append(_oversized_rejection(chunk.file, chunk.oversized))
        self.lines_read += lines
        self.lines_rejected += len(rejected)
        return rejected, lines

    def _batch(self, mark: FileMark, rejected: list[Rejected], lines: int, last: bool = False) -> Batch:
        """What the engine drains (`last`: everything still waiting placed too), encoded in the
        core after what the batch's blocks drained, with the state it leaves."""
        self.engine.drain_joined(self.encoder, payload.REQUEST_BYTES, last)
        prepared = self.store.prepare(self.engine)
        if self.fresh:
            prepared = replace(prepared, replace_all=True)
            self.fresh = False
        return Batch(
            payload=Payload.requests(*self.engine.take_requests()),
            source=self,
            prepared=prepared,
            mark=mark,
            rejected=rejected,
            lines=lines,
            end_offset=mark.offset,
            metrics_start_ns=self.metrics_start_ns,
        )

    def refused(self, batch: Batch, records: list[RefusedRecord]) -> None:
        """Records the backend refused while taking the rest of the batch join its dead letters."""
        batch.rejected += [Rejected(Position(r.file, r.line, r.offset), r.reason, b"") for r in records]
        self.records_refused += len(records)

    def commit(self, batch: Batch) -> None:
        """Called once the batch is safe: state, mark and dead letters move together."""
        assert batch.prepared is not None and batch.mark is not None
        if batch.prepared.replace_all:
            self.dead_letter.clear()  # a new history: its bad lines are written again as it is read
        dead_letter_size = self.dead_letter.append(batch.rejected)
        with self.store.transaction() as conn:
            batch.prepared.apply(conn)
            checkpoint.write(conn, Checkpoint(batch.mark, dead_letter_size, batch.metrics_start_ns))
        self._committed.append(batch.prepared)
        self.committed = batch.mark

    def lag_bytes(self) -> int:
        if self.committed.path != self.path:
            return max(0, self.follower.size())  # still finishing a rotated file: the new one waits
        return max(0, self.follower.size() - self.committed.offset)

    def metric_points(self) -> Iterator[Point]:
        return snapshot(self.engine.state)

    def close(self) -> None:
        self.follower.close()
        self.dead_letter.close()
        self.store.close()
        self._lock.close()


def _oversized_rejection(file: str, line: OversizedLine) -> Rejected:
    reason = f"line of {line.length} bytes, over the {LONGEST_LINE}-byte limit: skipped unread"
    log.warning("%s:%d (byte %d): %s", file, line.line, line.offset, reason)
    return Rejected(Position(file, line.line, line.offset), reason, line.head)


def _exclusive_lock(lock_path: Path, events_path: str) -> IO[bytes]:
    handle = os.fdopen(open_regular(lock_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise TailError(
            f"another intent-observe tail is following {events_path} (lock {lock_path})"
        ) from None
    return handle


class _Stop(Exception):
    pass


class TailAdapter:
    """Follows `config.paths` and delivers to `sink` until `stop()` (or, with `once`, until caught up).
    The sink's owner starts it and shuts it down."""

    def __init__(self, config: TailConfig, sink: Stage, wake: threading.Event | None = None) -> None:
        self.config = config
        self.sink = sink
        self._stop = threading.Event()  # stop reading, flush what is read
        self._abort = threading.Event()  # stop delivering too (after the shutdown timeout)
        self.wake = wake or threading.Event()  # set by the file watcher on any change
        self._queue: queue.Queue[Batch | None] = queue.Queue(IN_FLIGHT_BATCHES)
        self._in_flight: list[Batch] = []
        self._in_flight_lock = threading.Condition()  # notified as each batch is committed
        self._fatal: BaseException | None = None
        self.files: list[TailedFile] = []
        self.started_ns = time.time_ns()
        self.on_batch: Callable[[Batch], None] | None = None  # progress display hook
        self._logged_caught_up = False
        self._watcher = FileWatcher([], self.wake)

    # ----------------------------------------------------------------- control
    def stop(self) -> None:
        self._stop.set()
        self.wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def failure(self) -> BaseException | None:
        """What stopped delivery for good (a refusal, a state database that cannot be written)."""
        return self._fatal

    def open(self) -> None:
        paths = self.config.paths
        scopes = _scopes(paths)
        for path, scope in zip(paths, scopes, strict=True):
            state_dir = self.config.state_dir or layout.state_dir(path)
            self.files.append(TailedFile(path, scope, state_dir, self.config.from_beginning))

    # -------------------------------------------------------------------- run
    def run(self) -> int:
        """Follow until stopped; the exit code says how it ended."""
        if not self.files:
            self.open()
        watcher = self._watcher = FileWatcher([t.path for t in self.files], self.wake)
        if not self.config.once:  # a run that stops once caught up waits for no change
            watcher.start()
        delivery = threading.Thread(target=self._deliver_all, name="tail-delivery", daemon=True)
        delivery.start()
        try:
            self._read_loop()
        except _Stop:
            pass
        finally:
            watcher.stop()
            self._finish(delivery)
            for tailed in self.files:
                tailed.close()
        return self._exit_code()

    def _read_loop(self) -> None:
        next_metrics = time.monotonic() + self.config.metric_interval_s
        caught_up = False
        streak_started = time.monotonic()
        while not self._stop.is_set():
            self.wake.clear()
            progressed = False
            for tailed in self.files:
                batch = tailed.next_batch(self.config.batch_bytes)
                if batch is not None:
                    self._enqueue(batch)
                    progressed = True
            if time.monotonic() >= next_metrics:
                self._enqueue(self._metrics_batch())
                next_metrics = time.monotonic() + self.config.metric_interval_s
            if progressed:
                if caught_up:
                    caught_up, streak_started = False, time.monotonic()
                continue
            if not caught_up:
                caught_up = True
                self._log_caught_up(long_streak=time.monotonic() - streak_started > 1.0)
            if self.config.once:
                for tailed in self.files:
                    self._enqueue(tailed.final_batch())
                return
            if not self._watcher.complete:
                self._watcher.refresh()
            # without notifications for every directory, poll often enough to stay under 100 ms
            self.wake.wait(self.config.poll_interval_s if self._watcher.complete else FAST_POLL_S)

    def _log_caught_up(self, long_streak: bool) -> None:
        """At INFO after a backlog (start, outage, rotation); live appends log at DEBUG."""
        level = logging.INFO if long_streak or not self._logged_caught_up else logging.DEBUG
        self._logged_caught_up = True
        for tailed in self.files:
            mark = tailed.follower_mark()
            log.log(
                level,
                "caught up with %s: %d lines read, line %d next",
                tailed.path,
                tailed.lines_read,
                mark.line,
            )

    def _enqueue(self, batch: Batch) -> None:
        if batch.source is not None:
            with self._in_flight_lock:
                self._in_flight.append(batch)
        while True:
            if self._fatal is not None:
                raise _Stop
            try:
                self._queue.put(batch, timeout=0.2)
                return
            except queue.Full:
                if self._abort.is_set():
                    raise _Stop from None

    def _deliver_all(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            try:
                refused = self._deliver(batch.payload)
                if batch.source is not None:
                    batch.source.refused(batch, refused)
                    batch.source.commit(batch)
            except ConsumerAborted:
                return  # shutting down: the lines stay unacknowledged and are read again next run
            except BaseException as error:  # a refusal for good, a full disk: stop and say why
                self._fatal = error
                self._stop.set()
                self.wake.set()
                return
            if batch.source is not None:
                with self._in_flight_lock:
                    self._in_flight.remove(batch)
                    self._in_flight_lock.notify_all()
            if self.on_batch is not None:
                self.on_batch(batch)

    def _deliver(self, payload: Payload) -> list[RefusedRecord]:
        """Each signal's request in turn, each safe when this returns; the log records the backend
        refused while it took the rest (Loki's too-old entries) are dead-lettered with the batch."""
        refused: list[RefusedRecord] = []
        for signal, data in payload.parts:
            refused += self.sink.consume(signal, data, self._abort).refused
        return refused

    def _finish(self, delivery: threading.Thread) -> None:
        """Flush the final metrics and everything read. Waits for the backend as long as it takes,
        or `shutdown_timeout_s` once asked to stop; lines not acknowledged then are read again next run."""
        deadline: float | None = None

        def patient() -> bool:
            nonlocal deadline
            if not delivery.is_alive():
                return False
            if self._stop.is_set():
                deadline = deadline or time.monotonic() + self.config.shutdown_timeout_s
                return time.monotonic() < deadline
            return True

        # The final metrics count the records the backend refused too: taken once it has answered.
        with self._in_flight_lock:
            while self._fatal is None and patient() and self._in_flight:
                self._in_flight_lock.wait(0.05)
        for item in [] if self._fatal is not None else [self._metrics_batch(), None]:
            while patient():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
        while patient():
            delivery.join(0.1)
        if not delivery.is_alive() and self.sink.queue_depth():
            left = deadline - time.monotonic() if deadline else self.config.shutdown_timeout_s
            self.sink.flush(max(0.0, left))
        if delivery.is_alive():
            log.warning(
                "shutdown timeout: %d batches not acknowledged; they are read again next run",
                len(self._in_flight),
            )
            self._abort.set()
            delivery.join(5)

    def _exit_code(self) -> int:
        if isinstance(self._fatal, ConsumerRejected):
            log.error("the backend refused data for good: %s", self._fatal)
            return EXIT_REJECTED
        if self._fatal is not None:
            log.error("stopped: %s", self._fatal, exc_info=self._fatal)
            return EXIT_FAILED
        if self._in_flight:
            return EXIT_UNDELIVERED
        if self.sink.queue_depth():
            log.warning("%d batches wait in the disk queue; the next run sends them", self.sink.queue_depth())
            return EXIT_UNDELIVERED
        return EXIT_OK

    # ---------------------------------------------------------------- metrics
    def _metrics_batch(self) -> Batch:
        now = time.time_ns()
        parts = [t.encoder.metrics(t.metric_points(), t.metrics_start_ns, now) for t in self.files]
        parts.append(otlp_encoder().metrics(self.health_points(), self.started_ns, now))
        return Batch(Payload.metrics(b"".join(parts)))  # one request: each part adds its resource

    def health_points(self) -> list[Point]:
        """The adapter's own `intent.adapter.*` metrics."""
        with self._in_flight_lock:
            oldest = min((b.read_at for b in self._in_flight), default=None)
        points = [
            Point(catalog.ADAPTER_LINES_READ, value=sum(t.lines_read for t in self.files)),
            Point(
                catalog.ADAPTER_LINES_REJECTED,
                value=sum(t.lines_rejected + t.records_refused for t in self.files),
            ),
            Point(catalog.ADAPTER_QUEUE_DEPTH, value=self.sink.queue_depth()),
            Point(catalog.ADAPTER_LAG_BYTES, value=sum(t.lag_bytes() for t in self.files)),
            Point(
                catalog.ADAPTER_LAG_SECONDS, value=time.monotonic() - oldest if oldest is not None else 0.0
            ),
        ]
        failures = self.sink.failures()
        for signal in ("traces", "logs", "metrics"):
            points.append(
                Point(catalog.ADAPTER_EXPORT_FAILURES, (("signal", signal),), failures.get(signal, 0))
            )
        return points


def _scopes(paths: list[str]) -> list[str]:
    """One file: scope "" (as `inspect` reads it). Several: each repository's directory name."""
    if len(paths) == 1:
        return [""]
    scopes: list[str] = []
    for path in paths:
        name = repository_name(path)
        scope, n = name, 1
        while scope in scopes:
            n += 1
            scope = f"{name}-{n}"
        if scope != name:
            log.warning("two repositories named %r: %s gets the identity scope %r", name, path, scope)
        scopes.append(scope)
    return scopes
