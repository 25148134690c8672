"""Disk queue throughput: put, then peek + ack, for adapter-sized batches, durable and not.

.venv/bin/python -m benchmarks disk_queue
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from intent_observe.sinks.disk_queue import DiskQueue

CASES = [(1024 * 1024, 60), (64 * 1024, 400)]  # (batch bytes, batches)


def measure(directory: Path, size: int, count: int, durable: bool) -> tuple[float, float]:
    """(puts per second, peek+acks per second)."""
    payload = os.urandom(size)
    path = directory / f"q-{size}-{durable}.sqlite"
    with DiskQueue(path, max_bytes=size * count * 2, durable=durable) as queue:
        started = time.perf_counter()
        for index in range(count):
            queue.put(payload, signal="traces", meta={"offset": index})
        put_rate = count / (time.perf_counter() - started)
        started = time.perf_counter()
        while (batch := queue.peek()) is not None:
            queue.ack(batch.id)
        drain_rate = count / (time.perf_counter() - started)
    return put_rate, drain_rate


def main() -> None:
    print(f"{'batch':>10}{'durable':>9}{'put/s':>10}{'MiB/s':>8}{'drain/s':>10}{'MiB/s':>8}")
    with tempfile.TemporaryDirectory() as directory:
        for size, count in CASES:
            for durable in (True, False):
                put_rate, drain_rate = measure(Path(directory), size, count, durable)
                mib = size / 2**20
                print(
                    f"{size // 1024:>7} KiB{durable!s:>9}{put_rate:>10,.0f}{put_rate * mib:>8,.0f}"
                    f"{drain_rate:>10,.0f}{drain_rate * mib:>8,.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
