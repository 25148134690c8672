"""The `intent-observe` group: what it does before a command runs."""

from __future__ import annotations

import subprocess
import sys

_FETCH_INSPECT = """
import gc
from intent_observe.cli import main
before = gc.get_freeze_count()
main.get_command(None, "inspect")
print(before, gc.get_freeze_count())
"""


def test_start_up_objects_are_frozen_out_of_the_collector() -> None:
    """Modules, classes and functions imported for a command live as long as the process: no
    cyclic collection scans them again (the last one, at exit, was ~8% of `inspect`'s start-up)."""
    out = subprocess.run([sys.executable, "-c", _FETCH_INSPECT], capture_output=True, check=True, text=True)
    before, after = map(int, out.stdout.split())
    assert before == 0 and after > 0
