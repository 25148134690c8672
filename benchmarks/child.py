"""A measured child process: wall time, CPU time, peak RSS and RSS over time.

The CPU time is the kernel's (`os.wait4`). The peak resident set is the child's own
high-water mark, `VmHWM` of /proc/PID/status, read every 50 ms: it is monotonic, so a short
peak between two reads is still seen (only one in the last 50 ms before exit could be
missed). Not `ru_maxrss`: exec carries the high-water mark of the memory it replaces into
it, and a child is forked from this process, so `ru_maxrss` is never below this process's
own peak (a benchmark that has read a large report makes every later child look as large).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

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


def _memory(pid: int) -> tuple[int, int] | None:
    """(RSS, its high-water mark) in bytes; None once the process has exited (a zombie has no
    memory left to show)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmHWM" not in fields:
        return None
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def measure(
    command: Sequence[str], env: dict[str, str] | None, log: Path, stdout: Path | None = None
) -> Measured:
    """Runs `command` to its end (stderr, and stdout unless `stdout` names a file, to `log`)."""
    started = time.monotonic()
    with log.open("ab") as err, (stdout or log).open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, cwd=REPO_ROOT)
    samples, peak = [], 0
    while (memory := _memory(process.pid)) is not None:
        rss, high_water = memory
        samples.append((time.monotonic() - started, rss))
        peak = max(peak, high_water)
        time.sleep(0.05)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    return Measured(
        wall_s=time.monotonic() - started,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss=peak,
        code=process.returncode,
        samples=samples,
    )


def checked(measured: Measured, what: str, log: Path) -> Measured:
    if measured.code != 0:
        raise RuntimeError(f"{what} exited {measured.code}: {log.read_text(errors='replace')[-2000:]}")
    return measured
