"""What hostile traffic costs `intent-observe up` in resident memory (issue 11's probe).

    python -m benchmarks hostile

`up` starts in a fresh repository (ports chosen by the system); each case sends 40
concurrent requests and prints the process's RSS before and at its peak (sampled every
20 ms) and how the requests were answered:
- 16 MiB gRPC calls without the token, to `up --host 0.0.0.0` guarded by one;
- 16 MiB gRPC calls with the token (bytes that are no protobuf message);
- 15 MiB OTLP/HTTP bodies sent slowly (1 MiB/s) to `up` on loopback.
The bounds the tests hold these to are in tests/test_hardening.py.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.support.hostile import MIB, TRACE_METHOD, PeakRss, grpc_export, in_parallel, slow_body
from tests.support.up import UpProcess, up_env

TOKEN = "bench-hostile-token-0123456789"
CALLS = 40


def _case(label: str, up: UpProcess, call: Callable[[], str]) -> None:
    with PeakRss(up.pid) as rss:
        answers = [answer.split("\r\n")[0] for answer in in_parallel(CALLS, call)]  # HTTP: the status line
    counted = ", ".join(f"{n} {answer}" for answer, n in Counter(answers).most_common())
    print(f"{label:<44}{rss.before:>8.0f}{rss.peak:>8.0f}{rss.growth:>+8.0f}   {counted}", flush=True)


def _up(workdir: Path, *args: str, **env: str) -> UpProcess:
    repo = Path(tempfile.mkdtemp(dir=workdir))
    (repo / ".git").mkdir()
    return UpProcess(repo, *args, env=up_env(**env))


def main() -> None:
    body = os.urandom(16 * MIB - 1024)
    print(f"{'40 concurrent requests':<44}{'before':>8}{'peak':>8}{'growth':>8}   answers (MiB RSS)")
    with tempfile.TemporaryDirectory() as workdir:
        guarded = _up(Path(workdir), "--host", "0.0.0.0", INTENT_OBSERVE_TOKEN=TOKEN)
        try:
            port = guarded.grpc_port
            assert port is not None
            _case("16 MiB gRPC calls, no token", guarded, lambda: grpc_export(port, TRACE_METHOD, body)[0])
            _case(
                "16 MiB gRPC calls, with the token",
                guarded,
                lambda: grpc_export(port, TRACE_METHOD, body, TOKEN)[0],
            )
        finally:
            guarded.stop()
        loopback = _up(Path(workdir))
        try:
            http_port = loopback.http_port
            assert http_port is not None
            _case("15 MiB OTLP/HTTP bodies at 1 MiB/s", loopback, lambda: slow_body(http_port, 20.0))
        finally:
            loopback.stop()


if __name__ == "__main__":
    main()
