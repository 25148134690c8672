"""The embedded store behind `intent-observe up`: ingest rate, API latency at scale, start-up, memory.

    .venv/bin/python -m benchmarks store

1. Spans and log records per second the store commits when fed over OTLP/gRPC: the store and
   the real receiver run in a child process (as in `up`, with its own decoding process for
   large requests); this process sends adapter-shaped spans, then the tail's log records of a
   synthetic history (each an Intent event the text search indexes), 2,000 per request, with
   our exporter from two threads. Each export returns only after its commit.
2. Dashboard API latency (p50/p95 over real HTTP) with 1,000,000 Intent events stored
   (plus 200,000 spans, their traces and the intent.* metrics), per endpoint; the text
   search's index built over them as an existing store's upgrade builds it (time and size).
3. Time from starting `intent-observe up` (a process) to its app answering /api/summary,
   in a repository with the demo history.
4. Memory: resident set size of the store process (and of its decoding process) after (1)
   and of `up` after (3).
Targets: ≥ 20,000 spans/s; p95 < 100 ms; ready < 3 s.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import psutil
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from benchmarks.bench_otlp_transport import export_rate, realistic_batch
from intent_observe.otlp.signals import Signal
from intent_observe.store import queries
from intent_observe.store.schema import migrations

ROOT = Path(__file__).resolve().parents[1]
BATCHES = 30
LOGS_PER_BATCH = 2_000
LOG_BATCHES = 10  # 20,000 records: enough to show a rate falling as the table grows (as before migration 12)
EVENTS = 1_000_000
SPANS = 200_000
REQUESTS_PER_ENDPOINT = 40


# ------------------------------------------------------------------------ 1. ingest
def serve(store_dir: str) -> None:
    """Child: the store and the OTLP receiver; prints ports, stops on SIGTERM, prints the spans and
    logs stored and the RSS of this process and of its children (the decoding process)."""
    from intent_observe.otlp.receiver import OtlpReceiver, ReceiverConfig
    from intent_observe.store.store import Store

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    store = Store(Path(store_dir) / "store.db")
    with OtlpReceiver(store, ReceiverConfig(grpc_port=0, http_port=None)) as receiver:
        print(receiver.grpc_port, flush=True)
        stop.wait()
    counts = store.read(queries.counts)
    me = psutil.Process()
    rss = me.memory_info().rss
    children = sum(child.memory_info().rss for child in me.children(recursive=True))
    store.shutdown()
    print(counts["spans"], counts["logs"], rss, children, flush=True)


def log_batches() -> list[bytes]:
    """The log records the tail sends for a synthetic history, LOGS_PER_BATCH a request."""
    from intent_observe.report import read_history
    from intent_observe.sinks.resource import otlp_encoder
    from intent_observe.sources.synthetic import write_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        write_file(str(path), (LOG_BATCHES + 1) * LOGS_PER_BATCH)
        logs = read_history([str(path)]).logs
    encoder = otlp_encoder()
    return [encoder.logs(logs[i : i + LOGS_PER_BATCH]) for i in range(0, len(logs), LOGS_PER_BATCH)]


class Ingest(NamedTuple):
    spans_per_s: float
    logs_per_s: float
    spans: int
    logs: int
    store_rss: int
    decoder_rss: int


def ingest_rate() -> Ingest:
    """Spans, then log records, committed per second; what was stored; the RSS of the store's
    process and of its decoding process."""
    batches = [realistic_batch(b) for b in range(BATCHES + 1)]
    logs = log_batches()
    with tempfile.TemporaryDirectory() as tmp:
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_store", "serve", tmp],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        port = int(child.stdout.readline())
        rate = export_rate(port, "grpc", "none", 2, batches[0], batches[1:])
        log_rate = export_rate(port, "grpc", "none", 2, logs[0], logs[1:], Signal.LOGS, LOGS_PER_BATCH)
        child.send_signal(signal.SIGTERM)
        stored = (int(x) for x in child.stdout.readline().split())
        child.wait(60)
    return Ingest(rate, log_rate, *stored)


# ----------------------------------------------------------------- 2. API at scale
_TYPES = (
    ("signal.created", 0.22), ("signal.enriched", 0.18), ("signal.clustered", 0.12),
    ("intent.proposed", 0.03), ("spec.created", 0.03), ("contract.started", 0.08),
    ("contract.assertion.passed", 0.16),
    ("contract.assertion.failed", 0.02), ("contract.completed", 0.08), ("decision.recorded", 0.04),
    ("system.health", 0.04),
)  # fmt: skip
_SOURCES = ("cli", "mcp", "github", "agent")
SPAN_PROTO = trace_pb2.Span(
    attributes=[KeyValue(key="intent.title", value=AnyValue(string_value="A title"))]
).SerializeToString()


def bulk_insert(path: Path, insert: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Rows inserted with the table's indexes and triggers set aside and rebuilt afterwards: a
    fixture of a million rows loads in a minute instead of half an hour. The schema read by the
    API is the same; the write path's own rate is figure (1)."""
    table = "logs" if "INTO logs" in insert else "spans"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    objects = conn.execute(
        "SELECT name, type, sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL",
        (table,),
    ).fetchall()
    conn.execute("BEGIN")
    for name, kind, _ in objects:
        conn.execute(f"DROP {kind.upper()} {name}")
    conn.executemany(insert, rows)
    for _, _, sql in objects:
        conn.execute(sql)
    if table == "logs":  # what the writer counts per batch (apply.py)
        conn.execute(
            "INSERT INTO event_hours SELECT time_ns / 3600000000000 AS h, count(*) FROM logs "
            "WHERE category = 'intent' GROUP BY h ON CONFLICT (hour) DO UPDATE SET count = excluded.count"
        )
    conn.execute("COMMIT")
    conn.close()


def build_large_store(path: Path) -> list[str]:
    """EVENTS Intent log records and SPANS spans in the store's schema; returns some trace ids."""

    from intent_observe._core import Encoder
    from intent_observe.metrics.derive import snapshot
    from intent_observe.report import read_history
    from intent_observe.store.apply import _LOG_INSERT, _SPAN_INSERT, apply_batch, refresh_traces
    from intent_observe.store.decode import Batch
    from intent_observe.store.store import Store

    rng = random.Random(11)
    names = [t for t, _ in _TYPES]
    weights = [w for _, w in _TYPES]
    now = time.time_ns()
    start = now - 180 * 86_400 * 10**9
    step = (now - start) // EVENTS
    Store(path).shutdown()  # the file with its schema
    res_id = 1
    traces = [f"{rng.getrandbits(128):032x}" for _ in range(SPANS // 10)]

    def log_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(EVENTS):
            kind = rng.choices(names, weights)[0]
            trace = traces[n % len(traces)]
            art = f"{kind.split('.')[0].upper()[:3]}-{n // 40:06d}"
            attrs = f'{{"event.name":"{kind}","intent.artifact.id":"{art}","intent.event.id":"{n:032x}"}}'
            late = rng.randrange(30 * 86_400) * 10**9 if n % 50 == 0 else 0  # written down late
            yield (f"{n:032x}", "intent", start + n * step - late, now, trace, f"{n:016x}", 9, "INFO",
                   f"{kind} {art} — a plausible one-line summary of event {n}", kind, "intent", res_id, art,
                   kind.split(".")[0], rng.choice(_SOURCES), "agent", f"INT-{n // 400:05d}",
                   rng.choice(("L0", "L1", "L2", "L3", "L4", None)), None, attrs)  # fmt: skip

    bulk_insert(path, _LOG_INSERT, log_rows())
    spans: list[tuple[Any, ...]] = []
    for n in range(SPANS):
        trace = traces[n // 10]
        first = n % 10 == 0
        kind = "intent" if first else rng.choice(("signal", "spec", "contract", "assertion"))
        parent = None if first else f"{n - n % 10 + 1:016x}"
        begin = start + n * step * 5
        artifact = f"INT-{n // 10:05d}" if first else f"X-{n}"
        spans.append(
            (trace, f"{n + 1:016x}", parent, f"{kind} X-{n}", "intent", res_id, 1, begin,
             begin + 3_600 * 10**9, 2 if n % 17 == 0 else 0, None, 1, kind, artifact,
             f"INT-{n // 10:05d}", None, None, "A title", SPAN_PROTO, now, None)
        )  # fmt: skip
    bulk_insert(path, _SPAN_INSERT, spans)
    store = Store(path)
    store.writer.run(lambda c: refresh_traces(c, set(traces)), timeout=600)
    store.writer.run(
        lambda c: apply_batch(c, Batch(resources=[(res_id, "intent", '{"service.name":"intent"}')]))
    )
    fixture = ROOT / "tests" / "fixtures" / "history.jsonl"
    points = snapshot(read_history([str(fixture)]).engine.state)
    metrics = Encoder({"service.name": "intent"}, "0").metrics(points, start, now)
    store.consume(Signal.METRICS, metrics)
    store.shutdown()
    return traces[:: len(traces) // 20]


def build_text_index(path: Path) -> tuple[float, int]:
    """The text search's index of the store's events, built as an existing store's upgrade builds
    it: its migration run again (the fixture's rows were loaded without it). Returns the CPU
    seconds it took and the bytes it added to the file."""
    sql = next(sql for _, sql in migrations() if "CREATE VIRTUAL TABLE logs_text" in sql)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("DROP TRIGGER logs_text_delete; DROP TABLE logs_text;")
    size = path.stat().st_size
    started = time.process_time()
    conn.executescript(f"BEGIN;\n{sql}\nCOMMIT;")
    took = time.process_time() - started
    conn.close()
    return took, path.stat().st_size - size


def api_latency() -> dict[str, tuple[float, float]]:
    import asyncio

    import uvicorn

    from intent_observe.otlp.receiver import listening_socket
    from intent_observe.store.store import Store
    from intent_observe.web.app import create_app
    from intent_observe.web.context import AppContext

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.db"
        started = time.perf_counter()
        sample_traces = build_large_store(path)
        took = time.perf_counter() - started
        index_cpu, index_size = build_text_index(path)
        size = path.stat().st_size / 1e6
        print(
            f"  built a store of {EVENTS:,} events and {SPANS:,} spans in {took:.0f} s ({size:.0f} MB, the "
            f"text index {index_size / 1e6:.0f} MB of it, built in {index_cpu:.1f} s CPU as an upgrade does)",
            flush=True,
        )
        store = Store(path)
        sock = listening_socket("127.0.0.1", 0, backlog=128)
        server = uvicorn.Server(
            uvicorn.Config(create_app(AppContext(store=store)), log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        endpoints: dict[str, list[tuple[str, dict[str, Any]]]] = {
            "/api/summary": [("/api/summary", {})],
            "/api/summary?since=7d": [("/api/summary", {"since": time.time_ns() - 7 * 86_400 * 10**9})],
            "/api/events": [("/api/events", {})],
            "/api/events?type=contract.*": [("/api/events", {"type": "contract.*"})],
            "/api/events?source=mcp&autonomy_level=L3": [
                ("/api/events", {"source": "mcp", "autonomy_level": "L3"})
            ],
            "/api/events (paging back)": [("/api/events", {"before_id": EVENTS // 2})],
            "/api/events?since=30d": [("/api/events", {"since": time.time_ns() - 30 * 86_400 * 10**9})],
            "/api/events?type=system.* (4 %)": [("/api/events", {"type": "system.*"})],
            # the text index finds a text's candidates; a common text walks the newest events, as
            # does one under three characters, which the index cannot find: the whole log, if absent
            "/api/events?q=<absent text>": [("/api/events", {"q": "no such text anywhere"})],
            "/api/events?q=<an artifact id: 40 events>": [
                ("/api/events", {"q": f"-{n:06d}"}) for n in range(100, EVENTS // 40, 997)
            ],
            "/api/events?q=contract (34 %)": [("/api/events", {"q": "contract"})],
            "/api/events?q=<2 chars, absent: a full walk>": [("/api/events", {"q": "zq"})],
            "/api/traces?kind=intent&limit=500": [("/api/traces", {"kind": "intent", "limit": 500})],
            "/api/traces?kind=all&limit=500": [("/api/traces", {"kind": "all", "limit": 500})],
            "/api/traces?kind=orphan&limit=500": [("/api/traces", {"kind": "orphan", "limit": 500})],
            "/api/traces?kind=all&q=<an intent>": [("/api/traces", {"kind": "all", "q": "INT-01234"})],
            "/api/traces/{id}": [(f"/api/traces/{t}", {}) for t in sample_traces],
            "/api/intents/{id}": [(f"/api/intents/INT-{n:05d}", {}) for n in range(0, SPANS // 10, 997)],
            "/api/intents/{id} (absent: 404)": [("/api/intents/INT-99999", {})],
            "/api/alerts": [("/api/alerts", {})],
            "/api/claude": [("/api/claude", {})],
            "/metrics": [("/metrics", {})],
            "/api/status (counts every row)": [("/api/status", {})],
        }
        results = {}
        with httpx.Client(base_url=base, timeout=30) as client:
            for label, calls in endpoints.items():
                timings = []
                for i in range(REQUESTS_PER_ENDPOINT + 3):
                    path_, params = calls[i % len(calls)]
                    t0 = time.perf_counter()
                    response = client.get(path_, params=params)
                    elapsed = (time.perf_counter() - t0) * 1000
                    if not (response.status_code == 404 and "404" in label):
                        response.raise_for_status()
                    if i >= 3:  # the first requests warm the page cache
                        timings.append(elapsed)
                timings.sort()
                results[label] = (statistics.median(timings), timings[int(len(timings) * 0.95) - 1])
        server.should_exit = True
        thread.join(10)
        store.shutdown()
    return results


# ------------------------------------------------------------------- 3. up → ready
EPHEMERAL_PORTS = ("--port", "0", "--grpc-port", "0", "--http-port", "0")
READY = re.compile(r"ready in ([0-9.]+) s: (http://127\.0\.0\.1:\d+)")


def up_ready(runs: int = 3) -> tuple[list[float], int]:
    from intent_observe.stack.demo import write_history

    times, rss = [], 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp)
            (repo / ".git").mkdir()
            write_history(repo / ".intent" / "events" / "events.jsonl")
            env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
            started = time.perf_counter()
            child = subprocess.Popen(
                [str(Path(sys.executable).parent / "intent-observe"), "up", *EPHEMERAL_PORTS],
                cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            assert child.stdout is not None
            url = None
            while url is None:
                line = child.stdout.readline()
                if not line:
                    raise RuntimeError("up exited before it was ready")
                match = READY.search(line)
                url = match.group(2) if match else None
            httpx.get(f"{url}/api/summary", timeout=10).raise_for_status()
            times.append(time.perf_counter() - started)
            time.sleep(2)  # let the history land, then measure the settled process
            rss = max(rss, psutil.Process(child.pid).memory_info().rss)
            child.send_signal(signal.SIGTERM)
            child.wait(30)
    return times, rss


def main() -> None:
    ingest = ingest_rate()
    print(
        f"store ingest over OTLP/gRPC: {ingest.spans_per_s:,.0f} spans/s committed ({ingest.spans:,} stored; "
        f"target ≥ 20,000), {ingest.logs_per_s:,.0f} log records/s ({ingest.logs:,} stored)"
    )
    print(
        f"  RSS after ingest: store process {ingest.store_rss / 2**20:.0f} MiB, "
        f"its decoding process {ingest.decoder_rss / 2**20:.0f} MiB"
    )
    print(
        f"dashboard API with {EVENTS:,} events stored (p50 / p95 over {REQUESTS_PER_ENDPOINT} requests;",
        end="",
    )
    print(" target p95 < 100 ms):")
    for label, (p50, p95) in api_latency().items():
        print(f"  {label:45s} {p50:7.1f} ms  {p95:7.1f} ms")
    times, up_rss = up_ready()
    print(f"intent-observe up → app answering (demo history): median {statistics.median(times):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)}; target < 3 s)")  # fmt: skip
    print(f"  up process RSS with the demo history loaded: {up_rss / 2**20:.0f} MiB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    else:
        main()
