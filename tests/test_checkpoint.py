"""Checkpoints, identity state and dead letters move together, or not at all."""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from intent_observe import sqlite
from intent_observe.events import Position, Rejected
from intent_observe.identity import checkpoint
from intent_observe.identity.checkpoint import Checkpoint, FileMark
from intent_observe.identity.state_db import StateReader
from intent_observe.otlp.signals import WIRES, Signal
from intent_observe.sources import synthetic, tail
from intent_observe.sources.deadletter import DeadLetterFile
from intent_observe.sources.payload import Payload
from intent_observe.sources.tail import TailedFile
from intent_observe.sqlite import Mode


def write(path: Path, count: int) -> None:
    with path.open("ab") as fh:
        for raw in synthetic.lines(count):
            fh.write(raw + b"\n")


def test_a_failed_transaction_moves_neither_state_nor_mark(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write(events, 200)
    tailed = TailedFile(str(events), "", tmp_path / "state", from_beginning=False)
    first = tailed.next_batch(4096)
    assert first is not None
    tailed.commit(first)
    second = tailed.next_batch(4096)
    assert second is not None and second.mark is not None and second.prepared is not None
    with pytest.raises(RuntimeError), tailed.store.transaction() as conn:
        second.prepared.apply(conn)
        checkpoint.write(conn, Checkpoint(second.mark))
        raise RuntimeError("killed between the two writes")
    tailed.close()
    reopened = TailedFile(str(events), "", tmp_path / "state", from_beginning=False)
    assert reopened.committed == first.mark
    assert reopened.engine.state.events_seen == first.lines
    reopened.close()


def test_a_restart_continues_with_the_same_records(tmp_path: Path) -> None:
    """Killed after any commit, the next run yields what one uninterrupted run yields."""
    events = tmp_path / "events.jsonl"
    write(events, 600)
    whole = TailedFile(str(events), "", tmp_path / "whole", from_beginning=False)
    expected = []
    while (batch := whole.next_batch(8192)) is not None:
        whole.commit(batch)
        expected.append(batch.payload)
    whole.close()
    got = []
    for _ in range(40):  # one batch per run, as if killed right after each commit
        tailed = TailedFile(str(events), "", tmp_path / "pieces", from_beginning=False)
        batch = tailed.next_batch(8192)
        if batch is not None:
            tailed.commit(batch)
            got.append(batch.payload)
        tailed.close()
        if batch is None:
            break
    assert records(got) == records(expected)


def records(payloads: list[Payload]) -> list[bytes]:
    """Every span and log record sent, in order, without the log's observed (read) time."""
    out = []
    for payload in payloads:
        for signal, data in payload.parts:
            request = WIRES[signal].request_type.FromString(data)
            if signal is Signal.TRACES:
                out += [
                    s.SerializeToString()
                    for r in request.resource_spans
                    for x in r.scope_spans
                    for s in x.spans
                ]
            else:
                for log in (
                    rec for r in request.resource_logs for x in r.scope_logs for rec in x.log_records
                ):
                    log.observed_time_unix_nano = 0
                    out.append(log.SerializeToString())
    return out


def test_dead_letters_beyond_the_committed_size_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    bad = Rejected(Position("events.jsonl", 3, 99), "invalid JSON", b"{oops")
    dead = DeadLetterFile(path, 0)
    committed = dead.append([bad])
    dead.append([bad])  # written, but its batch was never committed
    dead.close()
    assert path.read_bytes().count(b"\n") == 2
    DeadLetterFile(path, committed).close()
    assert path.read_bytes().count(b"\n") == 1


def test_marks_survive_the_round_trip(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "s.sqlite", Mode.DURABLE)
    mark = FileMark("events.jsonl", 1, 2, 30, 4).advanced(b"x\n", b"abc", 1)
    assert checkpoint.load(conn) is None
    checkpoint.write(conn, Checkpoint(mark, 12, 34))
    assert checkpoint.load(conn) == Checkpoint(mark, 12, 34)


def _tail_bytes(events: Path, state: Path, commit_after: int) -> list[bytes]:
    """Every batch's payload bytes of a read through, each batch committed `commit_after` later."""
    tailed = TailedFile(str(events), "", state, from_beginning=False)
    sent: list[bytes] = []
    waiting = []
    while (batch := tailed.next_batch(4096)) is not None:
        sent += [data for _, data in batch.payload.parts]
        waiting.append(batch)
        if len(waiting) > commit_after:  # in flight meanwhile, as batches are in the tail
            tailed.commit(waiting.pop(0))
    sent += [data for _, data in tailed.final_batch().payload.parts]
    tailed.close()
    return sent


class Key(str):
    """A key a weak reference can watch."""


def test_a_restart_notes_the_committed_keys_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1 GB log's state holds five million keys: a restart reads them as SQLite steps through
    them, never as one list (that took hundreds of megabytes)."""
    events, state = tmp_path / "events.jsonl", tmp_path / "state"
    write(events, 300)
    first = TailedFile(str(events), "", state, from_beginning=False)
    while (batch := first.next_batch(1 << 16)) is not None:
        first.commit(batch)
    first.close()
    (database,) = state.glob("*.sqlite")
    with sqlite3.connect(database) as conn:
        tables = ("artifacts", "memberships", "files", "derived")
        committed = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)
    watched: list[weakref.ref[Key]] = []
    kept: list[bool] = []  # after each key: was the one before it still held?
    listed = StateReader.keys

    def one_at_a_time(reader: StateReader, table: str) -> Iterator[str]:
        for key in listed(reader, table):
            watched.append(weakref.ref(noted := Key(key)))
            yield noted
            del noted
            kept.append(watched[-1]() is not None)

    monkeypatch.setattr(StateReader, "keys", one_at_a_time)
    TailedFile(str(events), "", state, from_beginning=False).close()
    assert committed > 0 and len(watched) == committed
    assert not any(kept)


def test_a_small_working_set_sends_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With 16 entries of each table in memory, the rest are read back from the committed state
    (or kept until their batch commits, two batches later): not a byte of what is sent changes."""
    events = tmp_path / "events.jsonl"
    write(events, 600)
    monkeypatch.setattr(tail.time, "time_ns", lambda: 1_800_000_000_000_000_000)  # observed times
    everything = _tail_bytes(events, tmp_path / "state-all", commit_after=2)
    monkeypatch.setattr(tail, "CACHED_ENTRIES", 16)
    assert _tail_bytes(events, tmp_path / "state-16", commit_after=2) == everything


def test_a_batch_read_in_blocks_sends_the_same_records_in_fewer_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines go into the engine a block at a time and each block's requests are joined up to
    REQUEST_BYTES: each signal's records the same, in the same order, as with one block a batch."""
    events = tmp_path / "events.jsonl"
    write(events, 600)
    long_line = b'{"event_type": "signal.created", "signal_id": "SIG-LONG", "title": "' + b"x" * 5000
    with events.open("ab") as fh:
        fh.write(long_line + b'"}\n')
    write(events, 100)

    def read_through(state: Path, batch_bytes: int) -> list[Payload]:
        tailed = TailedFile(str(events), "", state, from_beginning=False)
        payloads = []
        while (batch := tailed.next_batch(batch_bytes)) is not None:
            tailed.commit(batch)
            payloads.append(batch.payload)
        payloads.append(tailed.final_batch().payload)
        tailed.close()
        return payloads

    monkeypatch.setattr(tail, "BLOCK_BYTES", 2048)  # the long line is a block of its own
    one_block_each = read_through(tmp_path / "small", 2048)
    monkeypatch.setattr("intent_observe.sources.payload.REQUEST_BYTES", 40_000)
    joined = read_through(tmp_path / "large", 64 * 1024)
    for signal in (Signal.TRACES, Signal.LOGS):  # a batch's traces go first now, then its logs
        assert records(only(joined, signal)) == records(only(one_block_each, signal))
    requests = [data for payload in joined for _, data in payload.parts]
    assert len(requests) < len([data for payload in one_block_each for _, data in payload.parts]) / 4
    assert max(map(len, requests)) <= 40_000 < sum(map(len, requests)) / len(joined)  # several a batch


def only(payloads: list[Payload], signal: Signal) -> list[Payload]:
    return [Payload(tuple(part for part in payload.parts if part[0] is signal)) for payload in payloads]
