"""Run every `benchmarks/bench_*.py` module's `main()` in turn; each prints its own figures.

New benchmark modules are found by their name, so adding one needs no edit here.
`python -m benchmarks tail store` runs only the named ones.
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


def main(argv: list[str]) -> int:
    names = argv or discover()
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
