"""The `intent-observe` group: what it does before a command runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


# What only running a command needs: the HTTP client and rich (up and its client commands), the
# emitter with the identity engine (emit, run), the dashboard and rule generators (export).
_RUN_ONLY = ("httpx", "rich", "yaml", "subprocess", "intent_observe.emitter.emit", "intent_observe.deploy")

_LOADED_AFTER = """
import sys
from intent_observe.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(" ".join(sorted(m for m in sys.modules if m.startswith(RUN_ONLY))), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["emit", "--help"],
        ["run", "--help"],
        ["up", "--help"],
        ["status", "--help"],
        ["export", "--help"],
    ],
)
def test_help_imports_nothing_only_running_needs(args: list[str]) -> None:
    """`--help` lists every command, so each command module is imported: what its commands need
    only to run is imported when they run (per module: up.py ~0.4 G instructions of httpx and rich)."""
    code = f"RUN_ONLY = {_RUN_ONLY!r}\n{_LOADED_AFTER}"
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, check=True, text=True)
    assert "Usage:" in out.stdout
    assert out.stderr.split() == []
