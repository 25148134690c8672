"""Four months of a repository's log (tests/fixtures/history.jsonl): the trace trees its story
implies (history.plan.json, written from the story), and the same answer however it is read."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import gzip
import io
import json
import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from intent_observe import report
from intent_observe.events import Event, parse, parse_file
from intent_observe.identity import ids
from intent_observe.identity.engine import Engine
from intent_observe.identity.state_db import IdentityStore
from intent_observe.metrics.derive import as_json, snapshot
from intent_observe.records import ArtifactView, SpanRecord
from intent_observe.report import Run, build_report, read_history, write_report

FIXTURES = Path(__file__).parent / "fixtures"
HISTORY = str(FIXTURES / "history.jsonl")
PLAN: dict[str, Any] = json.loads((FIXTURES / "history.plan.json").read_text())


@pytest.fixture(scope="module")
def run() -> Run:
    return read_history([HISTORY])


def _spans_in(run: Run, trace_id: str) -> list[SpanRecord]:
    return [s for s in run.spans.values() if s.trace_id == trace_id]


def _one(spans: list[SpanRecord], name: str) -> SpanRecord:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _phases(spans: list[SpanRecord], owner: SpanRecord, phase: str) -> list[SpanRecord]:
    found = [
        s for s in spans if s.parent_span_id == owner.span_id and s.attributes.get("intent.phase") == phase
    ]
    return sorted(found, key=lambda s: s.start_ns)


def _ns(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp()) * 10**9


@pytest.mark.parametrize("intent_id", sorted(PLAN["intents"]))
def test_intent_trace_tree_matches_the_story(run: Run, intent_id: str) -> None:
    plan = PLAN["intents"][intent_id]
    expected_trace = plan["trace_uuid"] or ids.uuid_trace_id("", "intent", f"intent:{intent_id}")
    spans = _spans_in(run, expected_trace)
    intent = _one(spans, f"intent {intent_id}")
    assert intent.parent_span_id is None
    report = build_report(run)["intents"][intent_id]
    assert report["title"] == plan["title"]  # the newest title: an edited heading renames it
    assert report["trace_id"] == expected_trace
    assert bool(_phases(spans, intent, "lifecycle")) is plan["closed"]  # proposed → completed

    backfilled = {s.attributes["intent.artifact.id"] for s in spans if s.attributes.get("intent.backfilled")}
    assert backfilled == set(plan["signals"])
    assert all(s.parent_span_id == intent.span_id for s in spans if s.attributes.get("intent.backfilled"))

    for spec in plan["specs"]:
        spec_span = _one(spans, f"spec {spec['id']}")
        assert spec_span.parent_span_id == intent.span_id
        lifecycle = _phases(spans, spec_span, "lifecycle")
        assert bool(lifecycle) is spec["complete"]
        if spec["complete"]:  # it closes when its last contract passed, not at the first pass
            assert lifecycle[0].end_ns == _ns(spec["closes_at"])
        for contract in spec["contracts"]:
            c = _one(spans, f"contract {contract['id']}")
            assert c.parent_span_id == spec_span.span_id
            runs = _phases(spans, c, "run")
            assert len(runs) == len(contract["runs"])
            assert runs[-1].error is (contract["result"] == "fail")
            for run_span, planned in zip(runs, contract["runs"], strict=True):
                assert (run_span.end_ns - run_span.start_ns) / 1e9 == contract["duration_s"]
                assertions = [s for s in spans if s.parent_span_id == run_span.span_id]
                assert len(assertions) == len(planned["results"])
                assert sum(s.error for s in assertions) == planned["results"].count("fail")
                assert run_span.error is ("fail" in planned["results"])


def test_orphans_unusable_lines_and_totals(run: Run) -> None:
    report = build_report(run)
    assert len(report["orphans"]) == len(PLAN["orphans"])
    titles = [o["title"] for o in report["orphans"] if o["id"] == "SIG-006"]
    # two files declare SIG-006: two signals; the first file re-announced renames its signal
    assert sorted(titles) == ["Early signal 5 “retyped”", "Reused id: nightly job OOM"]
    assert sum(1 for o in report["orphans"] if o["id"] is None) == 2  # `unknown` ids stay apart
    assert {"SIG-0", "SIG-#100", "SIG-200", "SIG-201"} <= {o["id"] for o in report["orphans"]}
    assert len(report["rejected"]) == PLAN["rejected_lines"]
    lines = Path(HISTORY).read_bytes().split(b"\n")
    for r in report["rejected"]:
        raw = lines[r["line"] - 1]
        assert sum(len(x) + 1 for x in lines[: r["line"] - 1]) == r["offset"]
        assert raw and r["reason"]

    metrics = report["metrics"]
    signals = sum(p["value"] for p in metrics["intent.signals.total"]["points"])
    expected_signals = len(PLAN["orphans"]) + sum(len(i["signals"]) for i in PLAN["intents"].values())
    assert signals == expected_signals
    assert metrics["intent.specs.total"]["points"][0]["value"] == len(PLAN["specs_without_intent"]) + sum(
        len(i["specs"]) for i in PLAN["intents"].values()
    )
    contracts = [c for i in PLAN["intents"].values() for s in i["specs"] for c in s["contracts"]]
    outcomes = {p["labels"]["result"]: p["value"] for p in metrics["intent.contracts.total"]["points"]}
    run_results = ["fail" if "fail" in r["results"] else "pass" for c in contracts for r in c["runs"]]
    assert outcomes == {"pass": run_results.count("pass"), "fail": run_results.count("fail")}
    assert metrics["intent.intents.total"]["points"][0]["value"] == len(PLAN["intents"])
    active = sum(p["value"] for p in metrics["intent.intents.active"]["points"])
    assert active == sum(not i["closed"] for i in PLAN["intents"].values())
    assert (
        metrics["intent.events.total"]["points"]
        and sum(p["value"] for p in metrics["intent.events.total"]["points"]) == report["events"]
    )


def test_every_trace_is_reported_under_its_kind(run: Run) -> None:
    report = build_report(run)
    assert sorted(report["intents"]) == sorted(PLAN["intents"])
    assert sorted(report["specs"]) == PLAN["specs_without_intent"]
    unpromoted = report["clusters"]["CLU-900"]
    members = {a["id"] for a in unpromoted["artifacts"] if a["type"] == "signal"}
    assert members == set(PLAN["clusters"]["CLU-900"]) and unpromoted["state"] == "open"
    promoted = {i["cluster"] for i in PLAN["intents"].values()}
    assert promoted <= set(report["clusters"])  # each promoted cluster keeps its provisional trace
    assert all(report["clusters"][c]["state"] == "closed" for c in promoted)
    assert "DEC-001" not in report["decisions"]  # it names INT-002: it sits in that trace
    events = {e["title"] for e in report["other_events"].values()}
    assert {"system.error", "knowledge.ingested", "widget.frobnicated"} <= events
    assert "knowledge.queried" in events  # the question about SPEC-999 created no spec


def test_events_about_an_intent_neither_redefine_it_nor_refresh_it(run: Run) -> None:
    int2 = run.engine.state.artifacts["intent:INT-002"]
    spans = _spans_in(run, int2.trace_id or "")
    denied = _one(spans, "intent.approval.decided")
    assert denied.error and denied.status_message == "too risky" and denied.parent_span_id == int2.span_id
    asked = _one(spans, "knowledge.queried")  # a log record in the intent's trace …
    titles = {a["name"]: a["title"] for a in build_report(run)["intents"]["INT-002"]["artifacts"]}
    assert titles["knowledge.queried"] == "why is INT-002 slow?"  # titled by its question …
    assert titles["intent INT-002"] == int2.title and "slow" not in (int2.title or "")  # … not the intent
    stale = {p["labels"]["intent_id"]: p["value"] for p in _metric(run, "intent.intent.last_event_timestamp")}
    assert stale["INT-002"] * 1e9 < asked.start_ns  # … that does not count as its activity
    assert "intent.autonomy_level" not in _one(spans, "intent INT-002").attributes
    assert not any(a.kind == "spec" and a.id == "SPEC-999" for a in run.engine.state.artifacts.values())
    failing = _one(
        _spans_in(run, run.engine.state.artifacts["intent:INT-001"].trace_id or ""), "observation.evaluated"
    )
    assert failing.error


def test_every_artifact_view_has_every_field_its_class_declares(run: Run) -> None:
    # the core sets a view's fields one by one (not through __init__): none may be missing
    names = [f.name for f in dataclasses.fields(ArtifactView)]
    for view in run.engine.state.artifacts.values():
        assert type(view) is ArtifactView
        assert ArtifactView(**{name: getattr(view, name) for name in names}) == view


def _metric(run: Run, name: str) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = as_json(snapshot(run.engine.state))[name]["points"]
    return points


def test_every_span_parent_is_exported_and_ids_unique(run: Run) -> None:
    assert build_report(run)["spans_resent"] == 0  # a span id is sent once
    for span in run.spans.values():
        if span.parent_span_id:
            parent = run.spans[span.parent_span_id]
            assert parent.trace_id == span.trace_id
    assert len(run.logs) == run.engine.state.events_seen
    assert len({log.attributes["intent.event.id"] for log in run.logs}) == len(run.logs)


def _fingerprint(run: Run) -> tuple[Any, ...]:
    spans = sorted(
        (
            s.trace_id,
            s.span_id,
            s.parent_span_id or "",
            s.name,
            s.start_ns,
            s.end_ns,
            s.error,
            json.dumps(s.attributes, sort_keys=True),
        )
        for s in run.spans.values()
    )
    logs = sorted((str(x.attributes["intent.event.id"]), x.trace_id, x.span_id) for x in run.logs)
    return tuple(spans), tuple(logs), json.dumps(as_json(snapshot(run.engine.state)), sort_keys=True)


def test_same_file_same_everything_every_run(run: Run) -> None:
    assert _fingerprint(read_history([HISTORY])) == _fingerprint(run)


def test_the_report_is_the_same_whether_the_records_are_kept_or_not(run: Run) -> None:
    summary = read_history([HISTORY], records=False)  # as inspect reads: no span or log record kept
    assert not summary.spans and not summary.logs
    assert build_report(summary) == build_report(run)


def test_the_report_is_the_same_with_most_entries_kept_as_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """inspect's engine keeps a working set of each table in memory, the rest as rows: with 4
    entries and a drain every 2 KB of the file, most are let go and read back, and the document
    reads them as rows."""
    monkeypatch.setattr(parse, "READ_BLOCK_BYTES", 2048)
    whole: dict[int | None, dict[str, Any]] = {}
    for working_set in (None, 4):
        monkeypatch.setattr(report, "WORKING_SET", working_set)
        whole[working_set] = build_report(read_history([HISTORY], records=False))
    assert whole[4] == whole[None]


@pytest.mark.parametrize("cut", range(0, 260, 13))
def test_restart_half_way_changes_nothing(run: Run, cut: int, tmp_path: Path) -> None:
    """Process part of the file, save, start a new engine from the saved state, finish."""
    events = [e for e in parse_file(HISTORY) if isinstance(e, Event)]
    store = IdentityStore(tmp_path / "identity.db")
    resumed_run = _read_and_save(store, events[:cut])
    store.close()
    _finish_from_saved(resumed_run, IdentityStore(tmp_path / "identity.db"), events[cut:])
    assert _fingerprint(resumed_run) == _fingerprint(run)


def _read_and_save(store: IdentityStore, events: list[Event]) -> Run:
    engine = Engine(store.load())
    part = Run(engine)
    for ev in events:
        engine.process(ev)
    part.drain()
    store.save(engine)
    return part


def _finish_from_saved(part: Run, store: IdentityStore, events: list[Event]) -> None:
    engine = Engine(store.load())
    for ev in events:
        engine.process(ev)
    part.engine = engine
    part.drain(last=True)


def test_incremental_drains_give_the_same_metrics_and_spans(run: Run) -> None:
    """Draining after every event (as a live tail does) ends where one whole read ends."""
    engine = Engine()
    live = Run(engine)
    for ev in (e for e in parse_file(HISTORY) if isinstance(e, Event)):
        engine.process(ev)
        live.drain()
    live.drain(last=True)
    assert _fingerprint(live) == _fingerprint(run)


def test_state_saved_and_reloaded_every_fifty_events_gives_the_same_answer(run: Run, tmp_path: Path) -> None:
    """Every row of the durable state reads back as it was: a restart every 50 events, keeping 16
    entries of each table in memory, changes nothing."""
    events = [e for e in parse_file(HISTORY) if isinstance(e, Event)]
    store = IdentityStore(tmp_path / "identity.db")
    engine = Engine()
    small = Run(engine)
    for n, ev in enumerate(events):
        engine.process(ev)
        if n % 50 == 49:  # save as a tail does, then carry on from a reloaded state
            small.drain()
            store.save(engine)
            engine = Engine(store.load(), limit=16)  # most entries read back from the saved rows
            small.engine = engine
    small.drain(last=True)
    assert _fingerprint(small) == _fingerprint(run)


def test_a_working_set_of_sixteen_entries_gives_the_same_answer(run: Run, tmp_path: Path) -> None:
    """With 16 entries of each table in memory, the rest go after each drain once their save is
    committed, read back from the saved state (drained every 10 events, saved every 50)."""
    events = [e for e in parse_file(HISTORY) if isinstance(e, Event)]
    store = IdentityStore(tmp_path / "identity.db")
    engine = Engine(limit=16, store=store.reader)
    small = Run(engine)
    for n, ev in enumerate(events):
        engine.process(ev)
        if n % 10 == 9:
            small.drain()
        if n % 50 == 49:
            store.save(engine)
    small.drain(last=True)
    assert _fingerprint(small) == _fingerprint(run)


def test_a_report_whose_output_fails_raises_what_the_output_raised(run: Run) -> None:
    class Full:
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "no space left on device")

    with pytest.raises(OSError, match="no space"):
        write_report(run, Full())


def test_a_report_written_to_a_file_follows_what_the_file_held(run: Run, tmp_path: Path) -> None:
    expected = io.BytesIO()
    write_report(run, expected)
    for buffering in (-1, 0):  # a BufferedWriter (its buffer flushed first), a FileIO: their descriptor
        path = tmp_path / f"report{buffering}.json"
        with open(path, "wb", buffering=buffering) as out:
            out.write(b"before ")
            write_report(run, out)
            out.write(b" after")
        assert path.read_bytes() == b"before " + expected.getvalue() + b" after"
    with gzip.open(tmp_path / "report.json.gz", "wb") as zipped:  # its fileno is the file it compresses into
        write_report(run, zipped)
    assert gzip.decompress((tmp_path / "report.json.gz").read_bytes()) == expected.getvalue()


class _Stopped(Exception):
    """What the test's signal handler raises."""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads a thread's wait channel in /proc")
def test_a_signal_stops_a_report_its_reader_has_stopped_reading(run: Run) -> None:
    """Ctrl-C stops `inspect --json | less` once the pager stops reading: a signal's handler
    runs while the write to the descriptor waits, as in Python's own writes (an interrupted
    write is not only retried)."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    with contextlib.suppress(BlockingIOError):
        while True:  # the pipe full but a page: the report's first write goes part way and waits
            os.write(write_end, b"x" * 4096)
    os.read(read_end, 4096)
    os.set_blocking(write_end, True)
    writer = threading.get_native_id()
    drained = threading.Event()

    def interrupt() -> None:
        wchan = Path(f"/proc/self/task/{writer}/wchan")
        for _ in range(1000):  # until the writer waits in the pipe's write (at most 10 s)
            if "pipe_write" in wchan.read_text():
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)
                return
            time.sleep(0.01)

    def drain() -> None:  # a guard: the write never stopped, so let it end
        drained.set()
        while os.read(read_end, 1 << 16):
            pass

    def stop(signum: int, frame: object) -> None:
        raise _Stopped

    previous = signal.signal(signal.SIGUSR1, stop)
    guard = threading.Timer(20, drain)
    threads = [threading.Thread(target=interrupt), guard]
    try:
        for thread in threads:
            thread.start()
        with pytest.raises(_Stopped), open(write_end, "wb") as out:
            write_report(run, out)
    finally:
        guard.cancel()
        for thread in threads:
            thread.join()
        signal.signal(signal.SIGUSR1, previous)
        os.close(read_end)
    assert not drained.is_set()
