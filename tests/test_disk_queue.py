"""The on-disk batch queue: FIFO, bounds, persistence, and what survives SIGKILL."""

from __future__ import annotations

import hashlib
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from intent_observe.sinks.disk_queue import DiskQueue, DiskQueueError, QueueCorrupted, QueueDepth, QueueFull


def test_fifo_order_metadata_and_ack(tmp_path: Path) -> None:
    with DiskQueue(tmp_path / "q.sqlite") as queue:
        first = queue.put(b"one", signal="traces", meta={"checkpoint": {"file": "a", "offset": 10}})
        second = queue.put(b"two", signal="logs", meta={"checkpoint": {"file": "a", "offset": 20}})
        assert queue.depth() == QueueDepth(entries=2, bytes=6)

        oldest = queue.peek()
        assert oldest is not None
        assert (oldest.id, oldest.signal, oldest.payload) == (first, "traces", b"one")
        assert oldest.meta == {"checkpoint": {"file": "a", "offset": 10}}
        assert queue.peek(signal="logs").payload == b"two"  # type: ignore[union-attr]

        queue.ack(first)
        queue.ack(first)  # a second ack of the same id changes nothing
        assert queue.peek().id == second  # type: ignore[union-attr]
        assert queue.depth() == QueueDepth(entries=1, bytes=3)
        queue.ack(second)
        assert queue.peek() is None
        assert queue.depth() == QueueDepth(0, 0)


def test_full_by_entries_and_by_bytes_raises_and_keeps_what_it_had(tmp_path: Path) -> None:
    with DiskQueue(tmp_path / "q.sqlite", max_entries=2, max_bytes=100) as queue:
        queue.put(b"a" * 10, signal="traces")
        queue.put(b"b" * 10, signal="traces")
        with pytest.raises(QueueFull, match="full"):
            queue.put(b"c", signal="traces")
        assert queue.depth() == QueueDepth(2, 20)
        queue.ack(queue.peek().id)  # type: ignore[union-attr]
        with pytest.raises(QueueFull):
            queue.put(b"d" * 91, signal="traces")  # 10 + 91 > 100 bytes
        with pytest.raises(QueueFull, match="larger than the queue bound"):
            queue.put(b"e" * 101, signal="traces")
        queue.put(b"f" * 90, signal="traces")
        assert queue.depth() == QueueDepth(2, 100)


def test_contents_and_depth_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    with DiskQueue(path) as queue:
        ids = [queue.put(bytes([i]) * 1000, signal="metrics", meta={"n": i}) for i in range(5)]
        queue.ack(ids[0])
    with DiskQueue(path) as reopened:
        assert reopened.depth() == QueueDepth(4, 4000)
        batch = reopened.peek()
        assert batch is not None and batch.id == ids[1] and batch.meta == {"n": 1}
        assert reopened.put(b"later", signal="traces") > ids[-1]  # ids never go backwards


def test_a_second_user_of_the_same_queue_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    with DiskQueue(path), pytest.raises(DiskQueueError, match="in use"):
        DiskQueue(path)
    DiskQueue(path).close()  # free again once the first one closed


def test_a_corrupted_batch_is_reported_not_returned(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    with DiskQueue(path) as queue:
        batch_id = queue.put(b"precious bytes", signal="traces")
    db = sqlite3.connect(path)
    db.execute("UPDATE batches SET payload = ? WHERE id = ?", (b"precious bytez", batch_id))
    db.commit()
    db.close()
    with DiskQueue(path) as queue, pytest.raises(QueueCorrupted):
        queue.peek()


_WRITER = """
import hashlib, os, sys
from pathlib import Path
from intent_observe.sinks.disk_queue import DiskQueue
queue = DiskQueue(Path(sys.argv[1]))
mode = sys.argv[2]
n = 0
while True:
    if mode == "put":
        body = os.urandom(int.from_bytes(os.urandom(2), "big") * 4)
        payload = hashlib.sha256(body).digest() + body
        print(queue.put(payload, signal="traces", meta={"n": n}), flush=True)
    else:
        batch = queue.peek()
        if batch is None:
            print("EMPTY", flush=True)
            break
        queue.ack(batch.id)
        print(batch.id, flush=True)
    n += 1
"""


def _run_and_kill(path: Path, mode: str, after_s: float) -> list[str]:
    """Run the writer, SIGKILL it `after_s` after its first acknowledged operation, return every line
    it printed (each one acknowledged)."""
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), mode], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert child.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30.0  # until the first line: interpreter start-up on a busy machine
    while time.monotonic() < deadline and child.poll() is None:
        if select.select([child.stdout], [], [], 0.01)[0]:
            if not lines:
                deadline = time.monotonic() + after_s
            lines.append(child.stdout.readline().strip())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    lines.extend(line.strip() for line in child.stdout.read().splitlines())
    return [line for line in lines if line]


def _assert_intact(batch_payload: bytes) -> None:
    digest, body = batch_payload[:32], batch_payload[32:]
    assert hashlib.sha256(body).digest() == digest


def test_sigkill_mid_put_loses_no_acknowledged_batch_and_leaves_no_torn_one(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    rng = random.Random(7)
    acknowledged: list[int] = []
    kills = 3
    for _ in range(kills):
        acknowledged += [int(line) for line in _run_and_kill(path, "put", rng.uniform(0.2, 0.5))]
    assert len(acknowledged) > 20, "the writer should have committed batches before the kills"

    with DiskQueue(path) as queue:
        stored: list[int] = []
        while (batch := queue.peek()) is not None:
            _assert_intact(batch.payload)
            stored.append(batch.id)
            queue.ack(batch.id)
    assert set(acknowledged) <= set(stored)
    assert len(stored) - len(acknowledged) <= kills  # at most the one in flight per kill, and it is whole
    assert stored == sorted(stored)


def test_sigkill_mid_ack_never_resurrects_an_acked_batch(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    with DiskQueue(path, durable=False) as queue:  # quick set-up: no fsync per put
        all_ids = [queue.put(os.urandom(2000), signal="logs") for _ in range(800)]
    acked = [int(line) for line in _run_and_kill(path, "ack", 0.2) if line != "EMPTY"]
    assert acked, "the child should have acked some batches before the kill"
    with DiskQueue(path) as queue:
        remaining: list[int] = []
        while (batch := queue.peek()) is not None:
            remaining.append(batch.id)
            queue.ack(batch.id)
    assert not set(acked) & set(remaining)
    # FIFO: what is left is a suffix of what was queued (the in-flight ack may or may not have landed)
    assert remaining == all_ids[len(all_ids) - len(remaining) :]
    assert len(all_ids) - len(remaining) - len(acked) in (0, 1)
