"""Fault tests: the adapter as a real process, the receiver as a real process, real faults.

Each ends by asserting that the receiver holds exactly the span ids and log records that
`read_history` reads from the same bytes: nothing lost, nothing that should not be there.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from tests.support.receiver import ProcessReceiver, receiver_process
from tests.support.rotel import rotel_collector

from intent_observe.sources import synthetic
from intent_observe.sources.tail import EXIT_OK
from tailing import (
    TailProcess,
    assert_exactly,
    expected_from,
    has_all,
    latest_metrics,
    log_keys,
    metrics_of,
    run_tail,
    tail_env,
    write_lines,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ProcessReceiver]:
    with receiver_process(tmp_path / "rx") as rx:
        yield rx


def follow(tmp_path: Path, endpoint: str, *paths: Path) -> TailProcess:
    args = ["--state-dir", str(tmp_path / "state"), "--spill-after", "1", *map(str, paths)]
    return TailProcess(*args, env=tail_env(endpoint), log_path=tmp_path / "tail.log")


class Writer(threading.Thread):
    """Appends synthetic lines at a steady pace, as an agent or CLI would, until it has written `count`."""

    def __init__(self, path: Path, count: int, per_second: float, first: int = 0) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.lines = list(synthetic.lines(count + first))[first:]
        self.pause = 1.0 / per_second
        self.written = 0
        self.hold = threading.Lock()  # held by a test to rotate the file between two lines

    def run(self) -> None:
        for raw in self.lines:
            with self.hold, self.path.open("ab") as fh:
                fh.write(raw + b"\n")
            self.written += 1
            time.sleep(self.pause)


@pytest.mark.timeout(900)
def test_sigkill_again_and_again_while_replaying_100k_events(
    tmp_path: Path, receiver: ProcessReceiver
) -> None:
    events = tmp_path / "events.jsonl"
    synthetic.write_file(str(events), 100_000)  # large enough for twelve kills at today's speed
    expected = expected_from([events])
    env = tail_env(receiver.grpc_endpoint)
    args = ["--once", "--state-dir", str(tmp_path / "state"), str(events)]
    rng = random.Random(50_000)
    kills = 0
    while kills < 12:
        process = TailProcess(*args, env=env, log_path=tmp_path / "tail.log")
        # ~0.5 s of each run is start-up; kills must come often enough that twelve of them land
        # before the 100,000 events are through (64 KiB batches keep most of each run's progress)
        time.sleep(rng.uniform(0.3, 1.2))
        if process.process.poll() is not None:
            break  # it finished before this kill
        process.process.send_signal(signal.SIGKILL)
        process.process.wait(10)
        kills += 1
    assert kills >= 5, "the replay finished before five kills: make the file larger"
    done = run_tail(*args, env=env, timeout=240)
    assert done.returncode == EXIT_OK, done.stderr
    received = receiver.received()
    assert_exactly(received, expected)
    assert latest_metrics(received) == metrics_of(expected.run)
    # each kill costs at most the batches in flight: progress was made between kills
    assert len(received.logs) < 2 * len(expected.logs)


def test_receiver_down_for_a_while_during_live_appends(tmp_path: Path, receiver: ProcessReceiver) -> None:
    events = tmp_path / "events.jsonl"
    writer = Writer(events, 600, per_second=150)
    tail = follow(tmp_path, receiver.grpc_endpoint, events)
    try:
        writer.start()
        time.sleep(1.0)
        receiver.kill()  # down: connections refused, batches go to the disk queue after 1 s
        time.sleep(2.5)
        receiver.start()  # back on the same ports
        writer.join(30)
        expected = expected_from([events])
        received = receiver.wait_for(has_all(expected), timeout_s=60)
    finally:
        assert tail.stop() == EXIT_OK, tail.log()
    assert_exactly(received, expected)
    assert "disk queue" in tail.log()


def test_receiver_refusing_for_a_while_then_accepting(tmp_path: Path, receiver: ProcessReceiver) -> None:
    events = tmp_path / "events.jsonl"
    writer = Writer(events, 400, per_second=200)
    tail = follow(tmp_path, receiver.grpc_endpoint, events)
    try:
        receiver.control.refuse_for(2.0)  # UNAVAILABLE with RetryInfo: backing off, then retried
        writer.start()
        writer.join(30)
        expected = expected_from([events])
        received = receiver.wait_for(has_all(expected), timeout_s=60)
    finally:
        assert tail.stop() == EXIT_OK, tail.log()
    assert received.refusals > 0
    assert_exactly(received, expected)


@pytest.mark.parametrize("how", ["rename", "copytruncate"])
def test_rotation_during_writes(tmp_path: Path, receiver: ProcessReceiver, how: str) -> None:
    events = tmp_path / "events.jsonl"
    rotated = tmp_path / "events.jsonl.1"
    writer = Writer(events, 900, per_second=300)
    tail = follow(tmp_path, receiver.grpc_endpoint, events)
    try:
        writer.start()
        while writer.written < 400:
            time.sleep(0.01)
        with writer.hold:  # between two lines, as logrotate does it
            if how == "rename":
                events.rename(rotated)
            else:
                shutil.copyfile(events, rotated)
                os.truncate(events, 0)
        writer.join(30)
        expected = expected_from([rotated, events])
        received = receiver.wait_for(has_all(expected), timeout_s=60)
    finally:
        assert tail.stop() == EXIT_OK, tail.log()
    assert_exactly(received, expected)
    assert "rotated" in tail.log() or "truncated" in tail.log()


def test_truncation(tmp_path: Path, receiver: ProcessReceiver) -> None:
    events = tmp_path / "events.jsonl"
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    write_lines(before, synthetic.lines(300))
    write_lines(after, list(synthetic.lines(500))[300:])
    shutil.copyfile(before, events)
    tail = follow(tmp_path, receiver.grpc_endpoint, events)
    try:
        receiver.wait_for(has_all(expected_from([before])), timeout_s=30)
        os.truncate(events, 0)  # emptied (no copy kept), then written again
        time.sleep(0.3)
        with events.open("ab") as fh:
            fh.write(after.read_bytes())
        expected = expected_from([before, after])  # the history goes on in the emptied file
        received = receiver.wait_for(has_all(expected), timeout_s=30)
    finally:
        assert tail.stop() == EXIT_OK, tail.log()
    assert_exactly(received, expected)
    assert "truncated" in tail.log()


def test_a_checkout_of_another_history(tmp_path: Path, receiver: ProcessReceiver) -> None:
    """git replaces the file: same first line, another history after it. Replayed with a fresh
    identity state; lines both histories share keep their ids."""
    events = tmp_path / "events.jsonl"
    lines = list(synthetic.lines(400))
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    write_lines(old, lines[:300])
    write_lines(new, lines[:150] + list(synthetic.lines(200, seed=99, first_intent=5000)))
    shutil.copyfile(old, events)
    tail = follow(tmp_path, receiver.grpc_endpoint, events)
    try:
        receiver.wait_for(has_all(expected_from([old])), timeout_s=30)
        checkout = tmp_path / "checkout.tmp"
        shutil.copyfile(new, checkout)
        checkout.replace(events)
        before, after = expected_from([old]), expected_from([new])
        received = receiver.wait_for(has_all(after), timeout_s=30)
    finally:
        assert tail.stop() == EXIT_OK, tail.log()
    assert "replaced by another history" in tail.log()
    assert received.span_ids == before.span_ids | after.span_ids
    assert log_keys(received) == before.logs | after.logs
    assert len(before.logs & after.logs) >= 100  # the shared lines: sent twice, with the same ids


def test_a_writer_appending_in_many_small_partial_writes(tmp_path: Path, receiver: ProcessReceiver) -> None:
    events = tmp_path / "events.jsonl"
    events.touch()
    data = b"".join(raw + b"\n" for raw in synthetic.lines(150))
    rng = random.Random(3)
    tail = follow(tmp_path, receiver.grpc_endpoint, events)
    try:
        with events.open("ab", buffering=0) as fh:
            at = 0
            while at < len(data):
                size = rng.randint(1, 40)
                fh.write(data[at : at + size])
                at += size
                time.sleep(0.0005)
        expected = expected_from([events])
        received = receiver.wait_for(has_all(expected), timeout_s=30)
    finally:
        assert tail.stop() == EXIT_OK, tail.log()
    assert_exactly(received, expected)
    assert not next(iter((tmp_path / "state").glob("*.deadletter.jsonl"))).read_bytes()  # no half line parsed


def test_five_percent_garbage_lines(tmp_path: Path, receiver: ProcessReceiver) -> None:
    events = tmp_path / "events.jsonl"
    rng = random.Random(5)
    garbage = [
        b"{not json",
        b"[1, 2, 3]",
        b'{"event": "signal.created"}',
        b"\xff\xfe binary",
        b'"just a string"',
    ]
    lines, bad_lines = [], []
    for raw in synthetic.lines(2_000):
        if rng.random() < 0.05:
            bad_lines.append(len(lines) + 1)
            lines.append(rng.choice(garbage))
        lines.append(raw)
    write_lines(events, lines)
    tail = follow(tmp_path, receiver.grpc_endpoint, events)
    try:
        expected = expected_from([events])
        received = receiver.wait_for(has_all(expected), timeout_s=60)
    finally:
        assert tail.stop() == EXIT_OK, tail.log()
    assert_exactly(received, expected)
    assert len(bad_lines) > 50
    received = receiver.received()  # with the metrics flushed at shutdown
    dead = [
        orjson.loads(x)
        for x in next((tmp_path / "state").glob("*.deadletter.jsonl")).read_bytes().splitlines()
    ]
    assert [d["line"] for d in dead] == bad_lines

    def newest(metric: str) -> float:
        return max(p["value"] for p in received.points if p["metric"] == metric)

    assert newest("intent.adapter.lines_rejected") == len(bad_lines)
    assert newest("intent.adapter.lines_read") == len(lines)


def test_through_rotel(tmp_path: Path, receiver: ProcessReceiver) -> None:
    events = tmp_path / "events.jsonl"
    synthetic.write_file(str(events), 1_500)
    expected = expected_from([events])
    with rotel_collector(export_to=receiver.grpc_endpoint, workdir=tmp_path) as rotel:
        done = run_tail(
            "--once", "--state-dir", str(tmp_path / "state"), str(events), env=tail_env(rotel.grpc_endpoint)
        )
        assert done.returncode == EXIT_OK, done.stderr
        received = receiver.wait_for(has_all(expected), timeout_s=30)
    assert_exactly(received, expected)


def test_sigterm_flushes_what_was_read(tmp_path: Path, receiver: ProcessReceiver) -> None:
    events = tmp_path / "events.jsonl"
    synthetic.write_file(str(events), 3_000)
    tail = follow(tmp_path, receiver.grpc_endpoint, events)
    assert tail.wait_for_log("caught up", timeout=60)
    assert tail.stop(signal.SIGINT) == EXIT_OK, tail.log()
    # everything read was acknowledged before exit: the receiver already has all of it
    assert_exactly(receiver.received(), expected_from([events]))
