"""A measured child process: wall time, CPU time, peak RSS and RSS over time.

The kernel's own accounting (`os.wait4`) gives the CPU time and the peak resident set of
the child (and of any process it waited for), so a short peak between two samples is not
missed; the samples, every 50 ms, show how the resident set moved during the run.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Measured:
    wall_s: float
    cpu_s: float  # user + system
    peak_rss: int  # bytes
    code: int
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, RSS bytes)

    def peak_in(self, start: float, end: float) -> int:
        """The highest sampled RSS between two fractions of the run (0.0–1.0)."""
        return max(
            (rss for t, rss in self.samples if start * self.wall_s <= t <= end * self.wall_s), default=0
        )


def measure(
    command: Sequence[str], env: dict[str, str] | None, log: Path, stdout: Path | None = None
) -> Measured:
    """Runs `command` to its end (stderr, and stdout unless `stdout` names a file, to `log`)."""
    started = time.monotonic()
    with log.open("ab") as err, (stdout or log).open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, cwd=REPO_ROOT)
    watched = psutil.Process(process.pid)
    samples = []
    while True:
        # a zombie's RSS reads 0 before wait4 reaps it: stop sampling once it has exited
        try:
            if watched.status() == psutil.STATUS_ZOMBIE:
                break
            samples.append((time.monotonic() - started, watched.memory_info().rss))
        except psutil.Error:
            break
        time.sleep(0.05)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    return Measured(
        wall_s=time.monotonic() - started,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss=usage.ru_maxrss * 1024,  # Linux reports KiB
        code=process.returncode,
        samples=samples,
    )


def checked(measured: Measured, what: str, log: Path) -> Measured:
    if measured.code != 0:
        raise RuntimeError(f"{what} exited {measured.code}: {log.read_text(errors='replace')[-2000:]}")
    return measured
