"""`intent-observe inspect` on 100,000 generated events: events per second and peak memory.

Side by side, in the same run and on the same file: the baseline of reading every
line with `json.loads` and doing nothing else (the floor any Python reader pays), and
our parser alone. Each runs in a fresh process so peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.child import checked, measure
from intent_observe.sources.synthetic import write_file

EVENTS = int(os.environ.get("BENCH_INSPECT_EVENTS", "100000"))
# the floor: every line read with json.loads, nothing else (PATH: the file)
JSON_LOADS = "import json\nn=0\nfor line in open(PATH, 'rb'):\n    json.loads(line); n+=1\n"

_CHILD = {
    "json.loads only (baseline)": JSON_LOADS,
    "parse only (our parser)": (
        "from intent_observe.events import parse_file\nn=sum(1 for _ in parse_file(PATH))\n"
    ),
    "inspect --json (parse + identity + report)": (
        "import os\nfrom intent_observe.report import read_history, write_report\n"
        "run = read_history([PATH], records=False)\n"
        "with open(os.devnull, 'wb') as out:\n    write_report(run, out)\n"
        "n = run.engine.state.events_seen\n"
    ),
}


def _measure(code: str, path: str) -> tuple[float, int, float]:
    """(seconds the child timed itself, events it counted, its peak RSS in MB)."""
    script = (
        "import json, sys, time\nPATH = sys.argv[1]\nt = time.perf_counter()\n"
        + code
        + "print(json.dumps([time.perf_counter() - t, n]))\n"
    )
    log, out = Path(path).with_suffix(".log"), Path(path).with_suffix(".out")
    out.unlink(missing_ok=True)
    run = checked(measure([sys.executable, "-c", script, path], None, log, stdout=out), "child", log)
    seconds, count = json.loads(out.read_text().strip().splitlines()[-1])
    return seconds, count, run.peak_rss / 2**20


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.jsonl")
        write_file(path, EVENTS)
        size_mb = os.path.getsize(path) / 1e6
        print(f"file: {EVENTS:,} events, {size_mb:.1f} MB; load average {os.getloadavg()[0]:.2f}")
        results = {name: _measure(code, path) for name, code in _CHILD.items()}
    base_rate = None
    print(f"{'':45} {'events/s':>10} {'seconds':>8} {'peak RSS':>9} {'vs baseline':>12}")
    for name, (seconds, count, rss) in results.items():
        rate = count / seconds
        base_rate = base_rate or rate
        print(f"{name:45} {rate:10,.0f} {seconds:8.2f} {rss:7.0f}MB {rate / base_rate:11.2f}×")


if __name__ == "__main__":
    main()
