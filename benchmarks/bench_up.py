"""The `up` path: the tail adapter reading an events file straight into the embedded store.

    python -m benchmarks up        (BENCH_UP_EVENTS, default 50000; BENCH_UP_RUNS, default 3)

In one process, as `intent-observe up` runs it: a `tail --once` of a generated history into a
fresh store (its writer thread, its decoding process for large requests), until every batch is
committed. Prints events/s and spans/s (stored spans over the wall time, start-up excluded) and
the CPU seconds of this process and its children (the decoding process), median of the runs.
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from intent_observe.sinks.chain import Retry
from intent_observe.sources import synthetic
from intent_observe.sources.tail import EXIT_OK, TailAdapter, TailConfig
from intent_observe.store.store import Store

EVENTS = int(os.environ.get("BENCH_UP_EVENTS", "50000"))
RUNS = int(os.environ.get("BENCH_UP_RUNS", "3"))


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float
    spans: int
    logs: int


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the decoding process, once reaped
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def ingest(events: Path, work: Path) -> Run:
    """One `tail --once` of `events` into a new store under `work`."""
    store = Store(work / "store.db")
    adapter = TailAdapter(TailConfig(paths=[str(events)], state_dir=work / "state", once=True), Retry(store))
    adapter.open()
    cpu, started = _cpu_seconds(), time.monotonic()
    code = adapter.run()
    seconds = time.monotonic() - started
    spans, logs = store.read(
        lambda c: c.execute("SELECT (SELECT count(*) FROM spans), (SELECT count(*) FROM logs)").fetchone()
    )
    store.shutdown()  # stops the decoding process: its CPU is counted from here
    if code != EXIT_OK:
        raise RuntimeError(f"the tail ended with exit code {code}")
    return Run(seconds, _cpu_seconds() - cpu, spans, logs)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-up-", dir="/tmp") as name:
        tmp = Path(name)
        events = tmp / "events.jsonl"
        synthetic.write_file(str(events), EVENTS)
        runs = [ingest(events, tmp / f"run-{n}") for n in range(RUNS)]
    seconds = statistics.median(r.seconds for r in runs)
    cpu = statistics.median(r.cpu_seconds for r in runs)
    last = runs[-1]
    print(f"up path, tail --once of {EVENTS:,} events into the embedded store (median of {RUNS} runs):")
    print(f"  stored {last.spans:,} spans, {last.logs:,} log records")
    print(
        f"  {EVENTS / seconds:,.0f} events/s, {last.spans / seconds:,.0f} spans/s "
        f"({seconds:.2f} s wall, {cpu:.2f} s CPU incl. the decoding process)"
    )


if __name__ == "__main__":
    main()
