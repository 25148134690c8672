"""The compiled core's hot paths in process: OTLP encoding of spans and logs, line parsing, and
the store's decoding of OTLP requests into rows.

Each beside the Python path it replaced (sinks/otlp_wire.py, events/parse.py with orjson),
measured on this 2-core machine on 2026-12-06 on the same generated history (20,000 events,
500 records a request, best of five, CPU time of the process), just before that path was
removed. The machine was shared (load average 6–11; 4–8 for decoding, 2,000 records a
request, store/decode.py's Python decoder): run both paths alternately, as in the report of
that change, for a figure of your own.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.bench_otlp_transport import SPANS_PER_BATCH, realistic_batch
from intent_observe.events import parse_file
from intent_observe.report import read_history
from intent_observe.sinks.resource import otlp_encoder
from intent_observe.sources.synthetic import write_file
from intent_observe.store.decode import decode_body

EVENTS = 20_000
BATCH = 500
DECODED = 2_000  # log records in one request the store decodes

PYTHON_PATH = {  # records (or lines) per second of CPU
    "encode spans": 180_000,
    "encode logs": 122_000,
    "parse lines": 90_000,
    "decode spans": 106_000,
    "decode logs": 64_000,
}


def _best(run: Callable[[], object], times: int = 5) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.process_time()  # CPU time: less at the mercy of a busy machine
        run()
        best = min(best, time.process_time() - started)
    return best


def _batched(items: Sequence[Any], encode: Callable[[Sequence[Any]], bytes]) -> None:
    for start in range(0, len(items), BATCH):
        encode(items[start : start + BATCH])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.jsonl")
        write_file(path, EVENTS)
        run = read_history([path])
        spans, logs = list(run.spans.values()), run.logs
        encoder = otlp_encoder()
        traces, log_records = realistic_batch(0), encoder.logs(logs[:DECODED])  # the store's own bench
        rates = {
            "encode spans": len(spans) / _best(lambda: _batched(spans, encoder.traces)),
            "encode logs": len(logs) / _best(lambda: _batched(logs, encoder.logs)),
            "parse lines": EVENTS / _best(lambda: sum(1 for _ in parse_file(path)), 3),
            "decode spans": SPANS_PER_BATCH / _best(lambda: decode_body("traces", traces, 0)),
            "decode logs": DECODED / _best(lambda: decode_body("logs", log_records, 0)),
        }
    print(f"{EVENTS:,} events ({len(spans):,} spans); load average {os.getloadavg()[0]:.2f}")
    print(f"{'per second':20} {'core':>10} {'Python path':>12} {'speed-up':>9}")
    for name, rate in rates.items():
        before = PYTHON_PATH[name]
        print(f"{name:20} {rate:10,.0f} {before:12,} {rate / before:8.1f}×")
