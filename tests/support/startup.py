"""What a CLI command imports: start-up is CPU spent before the first line is read."""

from __future__ import annotations

import json
import subprocess
import sys

_RUN = """
import json, sys
from click.testing import CliRunner
from intent_observe.cli import main
result = CliRunner().invoke(main, sys.argv[2:])
print(json.dumps({"output": result.output, "code": result.exit_code,
                  "loaded": [name for name in json.loads(sys.argv[1]) if name in sys.modules]}))
"""


def modules_loaded(names: list[str], *args: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """(the output of `intent-observe ARGS…` run in a fresh interpreter, which of `names` it imported)."""
    out = subprocess.run(
        [sys.executable, "-c", _RUN, json.dumps(names), *args],
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
        text=True,
    )
    result = json.loads(out.stdout.splitlines()[-1])
    return result["output"], result["loaded"]
