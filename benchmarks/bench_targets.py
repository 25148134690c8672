"""Issue 12's figures side by side in one run, each beside its target: what `make bench` prints.

    python -m benchmarks [--events N] [--memory-mb M] [--runs R]

One generated history of N events (default 100,000) is read by `inspect --json` (beside a
plain `json.loads` pass over its lines, alternately, R times) and exported by `tail --once`
(beside the OpenTelemetry SDK way, `benchmarks/sdk_baseline.py`, alternately, R times) to the
project's OTLP/gRPC receiver in this process; medians are compared. Beside them the ceiling:
the requests one tail run sent, recorded, sent again the same way (in order, each acknowledged
before the next) by a process that does nothing else (`benchmarks/replay_requests.py`) — what
no tail sending those bytes to this receiver can beat. The report of `inspect` says how many
spans and log records the history makes: every run of the tail, and of the ceiling, must
deliver exactly those. Then the tail's identity state on disk, live append → receipt, the
tail's memory over a large generated log (M MiB, default 256; the target is about 1 GiB: it
takes about 7 minutes, `--memory-mb 1024`) and the store's ingest rate.
Every process is measured by the kernel (`os.wait4`): CPU time and peak RSS are its own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench_inspect import JSON_LOADS
from benchmarks.bench_store import ingest_rate
from benchmarks.bench_tail import (
    Delivered,
    live_latency,
    memory,
    percentile,
    replay_once,
    sdk_once,
    tail_once,
)
from benchmarks.child import Measured, measure
from intent_observe.sources.synthetic import write_file

MB = 2**20
INGEST_BEFORE = 41_000  # spans/s, bench_store.ingest_rate on 2026-12-06 (a quiet machine)


@dataclass
class Row:
    what: str
    figure: str
    target: str
    passed: bool | None  # None: a figure shown beside an earlier one, no target


def _median(runs: Sequence[Measured], of: Callable[[Measured], float]) -> float:
    return statistics.median(of(r) for r in runs)


def _inspect(path: Path, tmp: Path, runs: int) -> tuple[list[Row], dict[str, int]]:
    """`inspect --json` and the json.loads floor, alternately; the report's counts."""
    floor: list[Measured] = []
    ours: list[Measured] = []
    report = tmp / "report.json"
    for _ in range(runs):
        loads = [sys.executable, "-c", f"import sys\nPATH = sys.argv[1]\n{JSON_LOADS}", str(path)]
        floor.append(measure(loads, None, tmp / "loads.log"))
        report.unlink(missing_ok=True)
        inspect = [sys.executable, "-m", "intent_observe.cli", "inspect", "--json", str(path)]
        ours.append(measure(inspect, None, tmp / "inspect.log", stdout=report))
    empty = tmp / "empty.jsonl"
    empty.touch()  # what inspect costs before its first event: the interpreter, imports, output
    bare = measure([*inspect[:-1], str(empty)], None, tmp / "inspect.log", stdout=tmp / "empty.json")
    if any(r.code not in (0, 1) for r in [*floor, *ours, bare]):  # inspect: 1 when a line was unusable
        raise RuntimeError((tmp / "inspect.log").read_text(errors="replace")[-2000:])
    doc = json.loads(report.read_bytes())
    cpu, floor_cpu = _median(ours, lambda r: r.cpu_s), _median(floor, lambda r: r.cpu_s)
    wall, floor_wall = _median(ours, lambda r: r.wall_s), _median(floor, lambda r: r.wall_s)
    peak = max(r.peak_rss for r in ours)
    counts = {k: doc[k] for k in ("events", "spans", "logs")}
    return [
        Row(
            f"inspect --json, {doc['events']:,} events, ÷ json.loads pass (CPU)",
            f"{cpu / floor_cpu:.1f}× ({cpu:.2f} s vs {floor_cpu:.2f} s, {bare.cpu_s:.2f} s of it start-up; "
            f"wall {wall:.2f} vs {floor_wall:.2f})",
            "≤ 2×",
            cpu <= 2 * floor_cpu,
        ),
        Row("inspect --json peak RSS", f"{peak / MB:.0f} MB", "< 100 MB", peak < 100 * MB),
    ], counts


def _throughput(path: Path, tmp: Path, runs: int, expected: dict[str, int]) -> tuple[list[Row], Path]:
    """`tail --once`, the SDK way and the ceiling (the tail's requests sent again by a process
    that does nothing else), alternately, each to a receiver that counts."""
    requests = tmp / "requests.bin"
    with requests.open("wb") as record:  # what the tail sends, recorded by one run not measured
        tail_once(path, tmp / "tail.log", tmp / "state-recorded", record)
    ours: list[Delivered] = []
    sdk: list[Delivered] = []
    ceiling: list[Delivered] = []
    for n in range(runs):
        ours.append(tail_once(path, tmp / "tail.log", tmp / f"state-{n}"))
        sdk.append(sdk_once(path, tmp / "sdk.log"))
        ceiling.append(replay_once(requests, tmp / "replay.log"))
    events = expected["events"]
    rate, sdk_rate, ceiling_rate = (
        events / _median([d.run for d in x], lambda r: r.wall_s) for x in (ours, sdk, ceiling)
    )
    cpu, sdk_cpu, ceiling_cpu = (_median([d.run for d in x], lambda r: r.cpu_s) for x in (ours, sdk, ceiling))
    receiver, sdk_receiver, ceiling_receiver = (
        statistics.median(d.receiver_cpu_s for d in x) for x in (ours, sdk, ceiling)
    )
    complete = all(d.logs == expected["logs"] and d.spans == expected["spans"] for d in ours + ceiling)
    delivered = ", ".join(f"{d.logs:,} logs + {d.spans:,} spans" for d in ours)
    sdk_delivered = ", ".join(f"{d.spans:,}" for d in sdk)
    return [
        Row(
            "tail --once file → acknowledged, ÷ the SDK way",
            f"{rate / sdk_rate:.2f}× ({rate:,.0f} vs {sdk_rate:,.0f} events/s, medians of {runs}; "
            f"CPU {cpu:.1f} s vs {sdk_cpu:.1f} s, the receiver's {receiver:.1f} s vs {sdk_receiver:.1f} s; "
            f"the SDK delivered {sdk_delivered} spans)",
            "≥ 10× (moonshot 20×)",
            rate >= 10 * sdk_rate,
        ),
        Row(
            "the ceiling: the tail's requests, pre-encoded, → acknowledged, ÷ the SDK way",
            f"{ceiling_rate / sdk_rate:.2f}× ({ceiling_rate:,.0f} events/s; CPU {ceiling_cpu:.1f} s, "
            f"the receiver's {ceiling_receiver:.1f} s decoding {requests.stat().st_size / MB:.0f} MB)",
            "— (no tail beats it here)",
            None,
        ),
        Row(
            "tail --once and the ceiling delivered every event's log record and every span",
            f"{delivered} (the report: {expected['logs']:,} + {expected['spans']:,})",
            "all, each run",
            complete,
        ),
    ], tmp / "state-0"


def _state(state_dir: Path, events: int) -> Row:
    size = sum(f.stat().st_size for f in state_dir.iterdir() if f.is_file())
    return Row(
        "identity state on disk after the tail, per event",
        f"{size / events:,.0f} B ({size / MB:.1f} MB, every file of --state-dir)",
        "≤ 200 B",
        size / events <= 200,
    )


def _memory(tmp: Path, megabytes: int) -> Row:
    size, lines, big = memory(tmp, megabytes)
    quarters = [big.run.peak_in(q / 4, (q + 1) / 4) for q in range(4)]
    flat = quarters[3] <= 1.1 * quarters[1]  # the second half grows no more than 10 % past the first
    return Row(
        f"tail --once memory on a {size / 2**30:.2f} GB log ({lines:,} events)",
        f"peak {big.run.peak_rss / MB:.0f} MB; peak by quarter of the run "
        f"{' / '.join(f'{q / MB:.0f}' for q in quarters)} MB; {lines / big.run.wall_s:,.0f} events/s",
        "< 100 MB, flat (on 1 GB)",
        big.run.peak_rss < 100 * MB and flat,
    )


def _live(tmp: Path) -> Row:
    latencies = live_latency(tmp)
    if not latencies:
        return Row("live append → receipt", "no line arrived", "p99 < 20 ms", False)
    p50, p99 = statistics.median(latencies) * 1000, percentile(latencies, 0.99) * 1000
    return Row(
        f"live append → receipt ({len(latencies)} lines)",
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        "p99 < 20 ms",
        p99 < 20,
    )


def _ingest() -> Row:
    ingest = ingest_rate()
    return Row(
        "receiver ingest over OTLP/gRPC (store committed)",
        f"{ingest.spans_per_s:,.0f} spans/s ({ingest.spans:,} stored), {ingest.logs_per_s:,.0f} logs/s",
        f"{INGEST_BEFORE:,} on 2026-12-06",
        None,
    )


def _print(rows: list[Row]) -> None:
    verdict = {True: "pass", False: "FAIL", None: "—"}
    width = max(len(r.what) for r in rows)
    print(f"\n{'':{width}}  {'target':26} {'':5} figure")
    for r in rows:
        print(f"{r.what:{width}}  {r.target:26} {verdict[r.passed]:5} {r.figure}", flush=True)


def _stage(name: str, started: float) -> None:
    print(f"  [{time.monotonic() - started:4.0f} s] {name}", flush=True)


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events of the generated history")
    parser.add_argument("--memory-mb", type=int, default=256, help="size of the large log (target: 1024)")
    parser.add_argument("--runs", type=int, default=3, help="runs of inspect and of the tail, medians")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(
        f"{args.events:,} events, {args.runs} runs each, large log {args.memory_mb} MiB; "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-targets-", dir="/tmp") as name:
        tmp = Path(name)
        path = tmp / "events.jsonl"
        write_file(str(path), args.events)
        _stage("inspect --json and json.loads", started)
        rows, expected = _inspect(path, tmp, args.runs)
        _stage("tail --once and the SDK way", started)
        throughput, state_dir = _throughput(path, tmp, args.runs, expected)
        rows = throughput + rows + [_state(state_dir, expected["events"])]
        _stage(f"tail --once over {args.memory_mb} MiB", started)
        rows.append(_memory(tmp, args.memory_mb))
        _stage("live append → receipt", started)
        rows.append(_live(tmp))
        _stage("receiver ingest", started)
        rows.append(_ingest())
    _print(rows)
    print(f"({time.monotonic() - started:.0f} s; load average now {os.getloadavg()[0]:.2f})")
