"""`intent-observe emit` latency on a long history, by where its trace context comes from.

    python -m benchmarks emit

A synthetic history of BENCH_EMIT_EVENTS lines (default 100000) in a repository under
/tmp. Each figure is the wall time of a real `intent-observe emit` process (Python
start-up included) and its peak RSS:
- cold: no stored identity state at all, the whole file is replayed (and then cached);
- cached: the emitter's own cache from the cold run;
- adapter: `intent-observe tail --once` has read the file (real receiver on 127.0.0.1),
  our cache removed: the view starts from the adapter's committed state;
- adapter lagging: 10,000 more lines appended after the adapter's checkpoint;
- in-process: the Python API, one emitter, 1,000 emits in a row (per-emit latency).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_tail import tail_once
from benchmarks.child import checked, measure
from intent_observe.emitter.draft import Draft
from intent_observe.emitter.emit import Emitter
from intent_observe.identity.view import IdentityView
from intent_observe.sources import synthetic

EVENTS = int(os.environ.get("BENCH_EMIT_EVENTS", "100000"))
REPEATS = 5
LAG_LINES = 10_000
IN_PROCESS = 1_000


def _emit_once(repo: Path, log: Path, title: str) -> tuple[float, int]:
    command = [sys.executable, "-m", "intent_observe.cli", "emit", "signal.created", "--id", "auto"]
    command += ["--data", f"title={title}", "--file", str(repo / ".intent/events/events.jsonl")]
    run = checked(measure(command, None, log), "emit", log)
    return run.wall_s, run.peak_rss


def _median_emit(repo: Path, log: Path, label: str) -> None:
    runs = [_emit_once(repo, log, f"{label} {n}") for n in range(REPEATS)]
    seconds = statistics.median(s for s, _ in runs)
    peak = max(r for _, r in runs)
    print(f"  {label:<28} median {seconds:6.2f} s over {REPEATS}   peak RSS {peak / 2**20:6.0f} MiB")


def _single_emit(repo: Path, log: Path, label: str) -> None:
    seconds, rss = _emit_once(repo, log, label)
    print(f"  {label:<28} {seconds:13.2f} s          peak RSS {rss / 2**20:6.0f} MiB")


def _tail_once(events: Path, log: Path) -> None:
    print(f"  (tail --once read the file in {tail_once(events, log).run.wall_s:.1f} s)")


def _in_process(events: Path) -> None:
    emitter = Emitter(events)
    emitter.emit([Draft("signal.created", "auto", data={"title": "warm-up"}, source="bench")])
    latencies = []
    for n in range(IN_PROCESS):
        draft = Draft("signal.created", "auto", data={"title": f"in-process {n}"}, source="bench")
        started = time.perf_counter()
        emitter.emit([draft])
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    label = "in-process (Python API)"
    print(f"  {label:<28} p50 {p50 * 1e3:6.2f} ms  p99 {p99 * 1e3:6.2f} ms, {IN_PROCESS} emits")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-emit-") as tmp:
        repo = Path(tmp) / "repo"
        events = repo / ".intent" / "events" / "events.jsonl"
        events.parent.mkdir(parents=True)
        size = synthetic.write_file(str(events), EVENTS)
        log = Path(tmp) / "bench.log"
        print(f"history: {EVENTS} lines, {size / 2**20:.1f} MiB")
        _single_emit(repo, log, "cold (replay + cache)")
        _median_emit(repo, log, "cached")
        _tail_once(events, log)
        IdentityView(events).cache_path.unlink()
        _median_emit(repo, log, "adapter state")
        with events.open("ab") as fh:
            for raw in synthetic.lines(LAG_LINES, seed=11, first_intent=900_000):
                fh.write(raw + b"\n")
        _single_emit(repo, log, f"adapter lagging {LAG_LINES} lines")
        _median_emit(repo, log, "then cached")
        _in_process(events)


if __name__ == "__main__":
    main()
