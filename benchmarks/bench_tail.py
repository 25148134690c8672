"""The tail adapter: throughput against the OTel SDK baseline, live latency, memory on 1 GB.

    python -m benchmarks tail          (or `make bench`, which runs every benchmark)

Everything is real: `intent-observe tail` and the SDK baseline run as processes, the
receiver is the project's OTLP gRPC receiver on 127.0.0.1 (a consumer that only counts,
so the receiver is not what is measured). Files are generated under /tmp and deleted.
Environment: BENCH_TAIL_EVENTS (default 50000), BENCH_TAIL_MEMORY_MB (default 1024).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmarks.child import REPO_ROOT, Measured, checked, measure
from benchmarks.replay_requests import write_request
from intent_observe.events.parse import event_id_of
from intent_observe.otlp.consumer import ACCEPTED, PartialResult
from intent_observe.otlp.receiver import OtlpReceiver, ReceiverConfig
from intent_observe.otlp.signals import WIRES, Signal
from intent_observe.sources import synthetic

EVENTS = int(os.environ.get("BENCH_TAIL_EVENTS", "50000"))
MEMORY_MB = int(os.environ.get("BENCH_TAIL_MEMORY_MB", "1024"))
LIVE_LINES, LIVE_RATE = 300, 30.0  # appended one at a time, per second


class CountingConsumer:
    """Counts what arrives; with `track` also when each event's log record arrived, with `record`
    every request too, in the order they arrived (benchmarks.replay_requests)."""

    def __init__(self, track: bool = False, record: BinaryIO | None = None) -> None:
        self.track = track
        self.record = record
        self.spans = 0
        self.logs = 0
        self.arrived: dict[str, float] = {}
        self._lock = threading.Lock()

    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        if self.record is not None:
            with self._lock:
                write_request(self.record, signal, body)
        request = WIRES[signal].request_type.FromString(body)
        return getattr(self, f"consume_{signal.value}")(request)  # type: ignore[no-any-return]

    def consume_traces(self, request: ExportTraceServiceRequest) -> PartialResult:
        n = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        with self._lock:
            self.spans += n
        return ACCEPTED

    def consume_logs(self, request: ExportLogsServiceRequest) -> PartialResult:
        now = time.monotonic()
        records = [rec for r in request.resource_logs for s in r.scope_logs for rec in s.log_records]
        with self._lock:
            self.logs += len(records)
            if self.track:
                for rec in records:
                    for kv in rec.attributes:
                        if kv.key == "intent.event.id":
                            self.arrived.setdefault(kv.value.string_value, now)
        return ACCEPTED

    def consume_metrics(self, request: ExportMetricsServiceRequest) -> PartialResult:
        return ACCEPTED


@contextmanager
def receiving(
    track: bool = False, record: BinaryIO | None = None
) -> Iterator[tuple[CountingConsumer, dict[str, str]]]:
    """A receiver on a free port, and the environment that points an OTLP exporter at it."""
    consumer = CountingConsumer(track, record)
    config = ReceiverConfig(grpc_port=0, http_port=None, max_body_bytes=64 * 1024 * 1024)
    receiver = OtlpReceiver(consumer, config)
    receiver.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.grpc_port}",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
    )
    try:
        yield consumer, env
    finally:
        receiver.shutdown()


def _tail(*args: str) -> list[str]:
    return [sys.executable, "-m", "intent_observe.cli", "tail", *args]


@dataclass
class Delivered:
    """A process that exported a file, and what the receiver counted once it had exited (each
    request is answered only after it was counted, so nothing is still on its way)."""

    run: Measured
    logs: int
    spans: int
    receiver_cpu_s: float  # this process's CPU while the other ran: the receiver's, decoding


def delivered(what: str, command: list[str], log: Path, record: BinaryIO | None = None) -> Delivered:
    """`command` run against a counting receiver; "@ENDPOINT@" in it becomes the receiver's URL."""
    with receiving(record=record) as (consumer, env):
        endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
        started = time.process_time()
        run = checked(measure([a.replace("@ENDPOINT@", endpoint) for a in command], env, log), what, log)
        receiver_cpu = time.process_time() - started
    return Delivered(run, consumer.logs, consumer.spans, receiver_cpu)


def tail_once(
    events: Path, log: Path, state_dir: Path | None = None, record: BinaryIO | None = None
) -> Delivered:
    """`tail --once`; its state in `state_dir`, else where the tail keeps it beside the file;
    what it sent written to `record`."""
    command = _tail("--once", *(["--state-dir", str(state_dir)] if state_dir else []), str(events))
    return delivered("tail", command, log, record)


def sdk_once(events: Path, log: Path) -> Delivered:
    command = [sys.executable, "-m", "benchmarks.sdk_baseline", str(events), "@ENDPOINT@"]
    return delivered("baseline", command, log)


def replay_once(requests: Path, log: Path) -> Delivered:
    """The requests a tail recorded, sent again by a process that does nothing else."""
    return delivered("replay", [sys.executable, "-m", "benchmarks.replay_requests", str(requests)], log)


def live_latency(tmp: Path) -> list[float]:
    """Seconds from the write() of a line to its log record reaching the receiver."""
    events = tmp / "live.jsonl"
    events.touch()
    log = tmp / "live.log"
    with receiving(track=True) as (consumer, env), log.open("ab") as out:
        command = _tail("--state-dir", str(tmp / "state-live"), str(events))
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=REPO_ROOT)
        try:
            deadline = time.monotonic() + 30
            while "caught up" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            written: dict[str, float] = {}
            with events.open("ab", buffering=0) as fh:
                for raw in synthetic.lines(LIVE_LINES, seed=11):
                    written[event_id_of(raw)] = time.monotonic()
                    fh.write(raw + b"\n")
                    time.sleep(1 / LIVE_RATE)
            deadline = time.monotonic() + 20
            while len(consumer.arrived) < len(written) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            process.terminate()
            process.wait(30)
    return [consumer.arrived[i] - t for i, t in written.items() if i in consumer.arrived]


def big_file(path: Path, megabytes: int) -> int:
    """Unique artifacts all the way: each 50,000-line block renumbers every id, in the ids'
    fields and in the artifact files' paths (`.intent/signals/SIG-…`) alike, and every file
    (a third are named by date, `2026-01-05-alerts-5a.md`: the same path in every block would
    be one file announcing a new id per block, whose artifacts the engine keeps a list of)."""
    block = b"".join(raw + b"\n" for raw in synthetic.lines(50_000))
    size = lines = 0
    with path.open("wb") as fh:
        k = 0
        while size < megabytes * 1024 * 1024:
            k += 1
            data = block
            for prefix in (b"SIG-", b"CLU-", b"CL-", b"INT-", b"SPEC-", b"CON-", b"DEC-"):
                for before in (b'"', b"/"):
                    data = data.replace(before + prefix, before + prefix + b"%04d" % k)
            data = data.replace(b".intent/signals/", b".intent/signals/%04d-" % k)
            fh.write(data)
            size += len(data)
            lines += 50_000
    return lines


def memory(tmp: Path, megabytes: int = MEMORY_MB) -> tuple[int, int, Delivered]:
    """(file bytes, lines, the run) of `tail --once` over a generated file of `megabytes`."""
    path = tmp / "big.jsonl"
    lines = big_file(path, megabytes)
    try:
        return path.stat().st_size, lines, tail_once(path, tmp / "memory.log", tmp / "state-memory")
    finally:
        path.unlink()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-tail-", dir="/tmp") as name:
        tmp = Path(name)
        events = tmp / "events.jsonl"
        synthetic.write_file(str(events), EVENTS)
        ours = tail_once(events, tmp / "tail.log", tmp / "state-throughput")
        base = sdk_once(events, tmp / "baseline.log")
        ours_rate, base_rate = EVENTS / ours.run.wall_s, EVENTS / base.run.wall_s
        print(
            f"throughput, {EVENTS:,} events, file → acknowledged by the receiver (wall time incl. start-up):"
        )
        print(f"  {'':34}{'events/s':>10}{'CPU s':>7}{'delivered':>30}{'peak RSS':>10}")
        for label, d, rate, delivered in (
            ("intent-observe tail --once", ours, ours_rate, f"{ours.logs:,} logs + {ours.spans:,} spans"),
            ("OTel SDK, span per event", base, base_rate, f"{base.spans:,} of {EVENTS:,} spans"),
        ):
            rss = d.run.peak_rss / 2**20
            print(f"  {label:34}{rate:>10,.0f}{d.run.cpu_s:>7.1f}{delivered:>30}{rss:>8.0f}MB")
        print(f"  ratio ours / SDK, events read: {ours_rate / base_rate:.2f}×")
        delivered_rate = max(base.spans / base.run.wall_s, 1e-9)
        print(f"  ratio ours / SDK, events delivered: {ours_rate / delivered_rate:.1f}×")
        latencies = live_latency(tmp)
        if latencies:
            p50, p99 = statistics.median(latencies) * 1000, percentile(latencies, 0.99) * 1000
            print(
                f"live append → receipt, {len(latencies)} of {LIVE_LINES} lines at {LIVE_RATE:.0f}/s: "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
        else:
            print("live append → receipt: no line arrived")
        size, lines, big = memory(tmp)
        print(
            f"memory, tail --once over {size / 2**30:.2f} GB ({lines:,} events, unique ids): "
            f"peak RSS {big.run.peak_rss / 2**20:.0f} MB, {big.run.wall_s:.0f} s "
            f"({lines / big.run.wall_s:,.0f} events/s)"
        )


if __name__ == "__main__":
    main()
