"""The tools the deploy tests read artifacts with, installed by the project's own script
(scripts/install-deploy-tools.sh, idempotent, cached under .build/; `make test` runs it first)."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD = REPO_ROOT / ".build"


@functools.cache
def install(tool: str) -> None:
    """`install-deploy-tools.sh TOOL`, once per test session; raises with its output when it fails.
    Generous time: a first build of the Collector takes minutes on a busy machine."""
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "install-deploy-tools.sh"), tool],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"could not install {tool}:\n{done.stdout}\n{done.stderr}")
