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
from pathlib import Path

import psutil
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from intent_observe.events.parse import event_id_of
from intent_observe.otlp.consumer import ACCEPTED, PartialResult
from intent_observe.otlp.receiver import OtlpReceiver, ReceiverConfig
from intent_observe.sources import synthetic

EVENTS = int(os.environ.get("BENCH_TAIL_EVENTS", "50000"))
MEMORY_MB = int(os.environ.get("BENCH_TAIL_MEMORY_MB", "1024"))
LIVE_LINES, LIVE_RATE = 300, 30.0  # appended one at a time, per second
REPO_ROOT = Path(__file__).resolve().parents[1]


class CountingConsumer:
    """Counts what arrives; with `track` also when each event's log record arrived."""

    def __init__(self, track: bool = False) -> None:
        self.track = track
        self.spans = 0
        self.logs = 0
        self.arrived: dict[str, float] = {}
        self._lock = threading.Lock()

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


def _receiver(consumer: CountingConsumer) -> OtlpReceiver:
    config = ReceiverConfig(grpc_port=0, http_port=None, max_body_bytes=64 * 1024 * 1024)
    receiver = OtlpReceiver(consumer, config)
    receiver.start()
    return receiver


def _env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    return env


def _tail(*args: str) -> list[str]:
    return [sys.executable, "-m", "intent_observe.cli", "tail", *args]


def _run_measuring_rss(command: list[str], env: dict[str, str], log: Path) -> tuple[float, int, int]:
    """Wall time, exit code and peak RSS (bytes, sampled every 50 ms) of a process."""
    started = time.monotonic()
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=REPO_ROOT)
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.05)
    return time.monotonic() - started, process.wait(), peak


def throughput(tmp: Path, events: Path) -> dict[str, float]:
    consumer = CountingConsumer()
    receiver = _receiver(consumer)
    endpoint = f"http://127.0.0.1:{receiver.grpc_port}"
    try:
        args = ["--once", "--state-dir", str(tmp / "state-throughput"), str(events)]
        ours_s, code, ours_rss = _run_measuring_rss(_tail(*args), _env(endpoint), tmp / "tail.log")
        if code != 0:
            raise RuntimeError(f"tail exited {code}: {(tmp / 'tail.log').read_text()[-2000:]}")
        ours_logs, ours_spans = consumer.logs, consumer.spans
        consumer.spans = consumer.logs = 0
        baseline = [sys.executable, "-m", "benchmarks.sdk_baseline", str(events), endpoint]
        base_s, code, base_rss = _run_measuring_rss(baseline, _env(endpoint), tmp / "baseline.log")
        if code != 0:
            raise RuntimeError(f"baseline exited {code}: {(tmp / 'baseline.log').read_text()[-2000:]}")
        base_spans = consumer.spans
    finally:
        receiver.stop()
    return {
        "ours_s": ours_s,
        "ours_logs": ours_logs,
        "ours_spans": ours_spans,
        "ours_rss": ours_rss,
        "base_s": base_s,
        "base_spans": base_spans,
        "base_rss": base_rss,
    }


def live_latency(tmp: Path) -> list[float]:
    """Seconds from the write() of a line to its log record reaching the receiver."""
    consumer = CountingConsumer(track=True)
    receiver = _receiver(consumer)
    events = tmp / "live.jsonl"
    events.touch()
    log = tmp / "live.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            _tail("--state-dir", str(tmp / "state-live"), str(events)),
            env=_env(f"http://127.0.0.1:{receiver.grpc_port}"),
            stdout=out,
            stderr=out,
            cwd=REPO_ROOT,
        )
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
        receiver.stop()
    return [consumer.arrived[i] - t for i, t in written.items() if i in consumer.arrived]


def big_file(path: Path, megabytes: int) -> int:
    """Unique artifacts all the way: each 50,000-line block renumbers every id, in the ids'
    fields and in the artifact files' paths (`.intent/signals/SIG-…`) alike."""
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
            fh.write(data)
            size += len(data)
            lines += 50_000
    return lines


def memory(tmp: Path) -> tuple[int, int, float, int]:
    """(file bytes, lines, seconds, peak RSS) of `tail --once` over a generated file."""
    path = tmp / "big.jsonl"
    lines = big_file(path, MEMORY_MB)
    consumer = CountingConsumer()
    receiver = _receiver(consumer)
    try:
        args = ["--once", "--state-dir", str(tmp / "state-memory"), str(path)]
        seconds, code, peak = _run_measuring_rss(
            _tail(*args), _env(f"http://127.0.0.1:{receiver.grpc_port}"), tmp / "memory.log"
        )
        if code != 0:
            raise RuntimeError(f"tail exited {code}: {(tmp / 'memory.log').read_text()[-2000:]}")
    finally:
        receiver.stop()
        size = path.stat().st_size
        path.unlink()
    return size, lines, seconds, peak


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-tail-", dir="/tmp") as name:
        tmp = Path(name)
        events = tmp / "events.jsonl"
        synthetic.write_file(str(events), EVENTS)
        t = throughput(tmp, events)
        ours_rate = EVENTS / t["ours_s"]
        base_rate = EVENTS / t["base_s"]
        delivered_rate = t["base_spans"] / t["base_s"]
        ours_delivered = f"{t['ours_logs']:,} logs + {t['ours_spans']:,} spans"
        base_delivered = f"{t['base_spans']:,} of {EVENTS:,} spans"
        ours_mb, base_mb = t["ours_rss"] / 2**20, t["base_rss"] / 2**20
        print(
            f"throughput, {EVENTS:,} events, file → acknowledged by the receiver (wall time incl. start-up):"
        )
        print(f"  {'':34}{'events/s':>10}{'delivered':>30}{'peak RSS':>10}")
        print(f"  {'intent-observe tail --once':34}{ours_rate:>10,.0f}{ours_delivered:>30}{ours_mb:>8.0f}MB")
        print(f"  {'OTel SDK, span per event':34}{base_rate:>10,.0f}{base_delivered:>30}{base_mb:>8.0f}MB")
        print(f"  ratio ours / SDK, events read: {ours_rate / base_rate:.2f}×")
        print(f"  ratio ours / SDK, events delivered: {ours_rate / max(delivered_rate, 1e-9):.1f}×")
        latencies = live_latency(tmp)
        if latencies:
            p50, p99 = statistics.median(latencies) * 1000, _percentile(latencies, 0.99) * 1000
            print(
                f"live append → receipt, {len(latencies)} of {LIVE_LINES} lines at {LIVE_RATE:.0f}/s: "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
        else:
            print("live append → receipt: no line arrived")
        size, lines, seconds, peak = memory(tmp)
        print(
            f"memory, tail --once over {size / 2**30:.2f} GB ({lines:,} events, unique ids): "
            f"peak RSS {peak / 2**20:.0f} MB, {seconds:.0f} s ({lines / seconds:,.0f} events/s)"
        )


if __name__ == "__main__":
    main()
