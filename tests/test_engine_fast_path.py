"""The engine's batch entry points: lines parsed and processed in the core (`process_lines`), records
encoded there (`drain_joined`, `take_requests`), byte for byte what the Event → process → drain →
Encoder path makes."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

from intent_observe._core import Encoder
from intent_observe.artifacts.derive import Said
from intent_observe.events import Event, parse_lines
from intent_observe.identity.engine import Engine
from intent_observe.model import DERIVED_SHAPE, ArtifactKind, Position
from intent_observe.sinks.resource import otlp_encoder
from intent_observe.sources import synthetic

HISTORY = Path(__file__).parent / "fixtures" / "history.jsonl"
CHUNK = 4096


def _drained(engine: Engine, encoder: Encoder, last: bool = False) -> tuple[bytes | None, bytes | None]:
    """What one drain placed, as the tail takes it: each signal's one request (no size limit), or None."""
    engine.drain_joined(encoder, sys.maxsize, last)
    traces, logs = engine.take_requests()
    assert len(traces) <= 1 and len(logs) <= 1  # no limit: one request a signal at most
    return (traces[0] if traces else None, logs[0] if logs else None)


def _chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """Whole lines, about CHUNK bytes at a time, with their offset and first line number."""
    out, start, line = [], 0, 1
    while start < len(data):
        end = data.rfind(b"\n", start, start + CHUNK) + 1 or data.index(b"\n", start) + 1
        out.append((data[start:end], start, line))
        line += data.count(b"\n", start, end)
        start = end
    return out


def _derived() -> list[Said]:
    """What two artifact files' front matter said, oldest turn first (each said to have closed
    long before its turn, as a copied tree's files do: the turn places it, not its time)."""

    def said(event_type: str, kind: ArtifactKind, artifact_id: str, turn_ns: int) -> Said:
        event = Event(
            event_type,
            turn_ns - 10**18,
            kind,
            artifact_id,
            f"d-{artifact_id}",
            Position(f"{artifact_id}.md", 1, 0),
            DERIVED_SHAPE,
        )
        return Said(turn_ns, event)

    return [
        said("signal.resolved", ArtifactKind.SIGNAL, "SIG-001", 1_767_700_000_000_000_000),
        said("spec.completed", ArtifactKind.SPEC, "SPEC-001", 1_769_000_000_000_000_000),
    ]


def test_lines_processed_in_the_core_give_the_same_bytes() -> None:
    encoder = otlp_encoder({"intent.repository": "r"})
    slow, fast = Engine(), Engine()
    slow_out, fast_out = [], []
    slow_waiting, fast_waiting = _derived(), _derived()
    for chunk, offset, line in _chunks(HISTORY.read_bytes()):
        for item in parse_lines(chunk, "events.jsonl", offset, line):
            if isinstance(item, Event):
                while slow_waiting and slow_waiting[0].turn_ns < item.time_ns:
                    slow.process(slow_waiting.pop(0).event)
                slow.process(item, 5)
        out = slow.drain()
        slow_out.append(
            (encoder.traces(out.spans) if out.spans else None, encoder.logs(out.logs) if out.logs else None)
        )
        _rejected, fed = fast.process_lines(chunk, "events.jsonl", offset, line, 5, fast_waiting)
        del fast_waiting[:fed]
        fast_out.append(_drained(fast, encoder))
    assert fast_out == slow_out
    assert not fast_waiting and not slow_waiting  # both derived events joined the history
    assert fast.state.events_seen == slow.state.events_seen


def test_unusable_lines_come_back_rejected_with_their_place() -> None:
    engine = Engine()
    data = (
        b'{"event_type":"signal.created","signal_id":"SIG-1","timestamp":"2026-01-01"}\n\nnot json\n{"x":1}\n'
    )
    rejected, fed = engine.process_lines(data, "e.jsonl", 100, 7)
    assert fed == 0
    assert [(r.position.line, r.position.offset, r.raw) for r in rejected] == [
        (9, 100 + data.index(b"not json"), b"not json"),
        (10, 100 + data.index(b'{"x"'), b'{"x":1}'),
    ]
    assert all(r.reason for r in rejected)
    assert engine.state.events_seen == 1
    assert _drained(engine, otlp_encoder({}))[1] is not None  # the signal's log record


def _wake_ups_during(call: Callable[[], object]) -> int:
    """How often another Python thread woke up (each time needing the GIL) while `call` ran."""
    woken, stop = 0, threading.Event()

    def wake() -> None:
        nonlocal woken
        while not stop.wait(0.001):
            woken += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(60)  # no forced hand-over: this thread gives up the GIL only by waiting
    thread = threading.Thread(target=wake)
    thread.start()
    try:
        before = woken
        call()
        return woken - before
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)


def test_the_core_works_without_the_gil() -> None:
    """The tail's delivery thread (a gRPC send, a SQLite commit) runs while the reader's engine
    processes lines, drains them and encodes the state they leave: each call lets go of the GIL
    for its work."""
    data = b"".join(raw + b"\n" for raw in synthetic.lines(30_000))
    engine, encoder = Engine(), otlp_encoder({})
    assert _wake_ups_during(lambda: engine.process_lines(data, "e.jsonl")) > 0
    assert _wake_ups_during(lambda: engine.drain_joined(encoder, sys.maxsize, True)) > 0
    assert _wake_ups_during(engine.take_rows) > 0
    assert engine.state.events_seen == 30_000
