"""The compiled core fuzzed through its Python API for minutes: no crash, no panic.

    python -m benchmarks fuzz [--minutes M] [--seed S]

Random bytes are fed, in turn, to every hypothesis test of the core's boundaries
(`fuzz_one_input`: the bytes choose what the test's strategies draw, mutated real lines and
requests included): tests/test_core_fuzz.py (lines, request bodies, records to encode),
tests/test_store_decode.py and tests/test_otlp_encode.py (the same against the official
protobuf classes). A failing input is saved under /tmp and the run goes on; the summary says
how many inputs each test took and what failed. A panic in the core reaches Python as
`pyo3_runtime.PanicException` and counts as a failure; an abort would end this process.
"""

from __future__ import annotations

import argparse
import importlib
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
MODULES = ("test_core_fuzz", "test_store_decode", "test_otlp_encode")
MAX_INPUT = 8192  # bytes of choices: enough for a 600-byte body or an 8-key record


def targets() -> dict[str, Callable[[bytes], object]]:
    """Every hypothesis test of MODULES that takes no pytest parameters → its fuzz entry."""
    sys.path[:0] = [str(TESTS), str(TESTS.parent)]  # as pytest's `pythonpath` setting
    found: dict[str, Callable[[bytes], object]] = {}
    for name in MODULES:
        for attr, test in vars(importlib.import_module(name)).items():
            parametrized = any(m.name == "parametrize" for m in getattr(test, "pytestmark", []))
            if attr.startswith("test_") and hasattr(test, "hypothesis") and not parametrized:
                found[f"{name}::{attr}"] = test.hypothesis.fuzz_one_input
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=None, help="of the random bytes (default: a new one)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    found = targets()
    tried: Counter[str] = Counter()
    failures: dict[tuple[str, str], Path] = {}  # (test, first line of the error) → an input that raised it
    out = Path(tempfile.mkdtemp(prefix="core-fuzz-", dir="/tmp"))
    print(
        f"{len(found)} tests, {args.minutes:g} minutes, seed {seed}; failing inputs go to {out}", flush=True
    )
    deadline = time.monotonic() + args.minutes * 60
    while time.monotonic() < deadline:
        for name, fuzz in found.items():
            buffer = rng.randbytes(rng.randrange(MAX_INPUT))
            tried[name] += 1
            try:
                fuzz(buffer)
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # PanicException is a BaseException
                key = (name, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
                if key not in failures:
                    failures[key] = out / f"{len(failures):03d}.bin"
                    failures[key].write_bytes(buffer)
                    traceback.print_exc()
    for name in found:
        print(f"  {tried[name]:>9,} inputs  {name}")
    print(f"{sum(tried.values()):,} inputs, {len(failures)} distinct failures")
    for (name, what), path in failures.items():
        print(f"  FAIL {name}: {what}  (input: {path}; fuzz_one_input(that file's bytes) again)")
    return 1 if failures else 0
