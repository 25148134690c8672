"""The benchmarks.

    python -m benchmarks [--events N] [--memory-mb M] [--runs R]   issue 12's figures and targets, one table
    python -m benchmarks tail store                                the named `benchmarks/bench_*.py` only
    python -m benchmarks all                                       every `benchmarks/bench_*.py`
    python -m benchmarks fuzz [--minutes M]                        the core's fuzz run (benchmarks/fuzz.py)

New benchmark modules are found by their name, so adding one needs no edit here.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path


def discover() -> list[str]:
    here = Path(__file__).parent
    return sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))


def run_modules(names: list[str]) -> int:
    failed = []
    for name in names:
        print(f"\n=== benchmarks/bench_{name}.py ===", flush=True)
        started = time.monotonic()
        try:
            importlib.import_module(f"benchmarks.bench_{name}").main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"--- {name}: {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        from benchmarks.bench_targets import main as targets

        targets(argv)
        return 0
    if argv[0] == "fuzz":
        from benchmarks.fuzz import main as fuzz

        return fuzz(argv[1:])
    return run_modules(discover() if argv == ["all"] else argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
