"""Where the emitter's trace context comes from: the adapter's committed state, our cache, or a replay."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from tests.support.receiver import receiver_in_thread
from tests.tailing import run_tail, tail_env

from intent_observe import layout
from intent_observe.emitter.draft import Draft
from intent_observe.emitter.emit import Emitter, emit
from intent_observe.identity import view as identity_view
from intent_observe.identity.view import IdentityView
from intent_observe.model import ArtifactKind
from intent_observe.report import read_history


def build(events: Path, intents: int) -> None:
    for n in range(1, intents + 1):
        emit("signal.created", f"SIG-{n:03d}", data={"title": f"signal {n}"}, file=events)
        emit("signal.promoted", f"SIG-{n:03d}", f"INT-{n:03d}", file=events)
        emit("intent.proposed", f"INT-{n:03d}", data={"title": f"intent {n}"}, file=events)
        emit(
            "spec.created", f"SPEC-{n:03d}", f"INT-{n:03d}", data={"contracts": [f"CON-{n:03d}"]}, file=events
        )
        emit("contract.started", f"CON-{n:03d}", file=events)


def fresh_view(events: Path) -> IdentityView:
    view = IdentityView(events)
    view.catch_up(events.stat().st_size)
    return view


def same_contexts(view: IdentityView, events: Path, contracts: list[str]) -> None:
    run = read_history([str(events)])
    for contract in contracts:
        expected = run.engine.context(ArtifactKind.CONTRACT, contract)
        assert expected is not None
        assert view.context(ArtifactKind.CONTRACT, contract) == expected


def adapter_rows(state: Path) -> list[tuple[str, bytes]]:
    db = sqlite3.connect(state)
    try:
        rows = db.execute("SELECT name, doc FROM engine UNION ALL SELECT name, doc FROM tail_checkpoint")
        return sorted(rows.fetchall())
    finally:
        db.close()


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "repo" / ".intent" / "events" / "events.jsonl"
    path.parent.mkdir(parents=True)
    return path


@pytest.mark.timeout(180)
def test_emit_starts_from_the_adapters_checkpoint_and_never_writes_its_state(
    events: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(events, 3)
    with receiver_in_thread(tmp_path / "receiver") as receiver:
        tail = run_tail("--once", str(events), env=tail_env(receiver.grpc_endpoint))
        assert tail.returncode == 0, tail.stderr
    [state] = layout.tail_states(layout.state_dir(events))  # not its disk queue
    before = adapter_rows(state)

    view = fresh_view(events)
    assert (view.started_from, view.replayed) == (state, 0)
    same_contexts(view, events, ["CON-001", "CON-002", "CON-003"])

    emit("contract.assertion.passed", "tests", "CON-002", file=events)
    emit("contract.completed", "CON-002", data={"result": "pass"}, file=events)
    build_more = fresh_view(events)
    assert (build_more.started_from, build_more.replayed) == (state, 2)  # only the lines after the checkpoint
    assert adapter_rows(state) == before

    # The adapter lags (it is not running): a long replay is cached on a copy of its state.
    monkeypatch.setattr(identity_view, "CACHE_AFTER_LINES", 2)  # the two lines above
    build_extra = Emitter(events)
    build_extra.emit([Draft("decision.recorded", "DEC-001", data={"title": "bounded"}, source="cli")])
    cached = fresh_view(events)
    assert (cached.started_from, cached.replayed) == (cached.cache_path, 0)
    assert stat.S_IMODE(cached.cache_path.stat().st_mode) == 0o600  # private, as the tail's state
    same_contexts(cached, events, ["CON-001", "CON-002", "CON-003"])
    assert adapter_rows(state) == before
    for other in layout.state_dir(events).glob("*.sqlite"):  # e.g. its disk queue: left as it was
        if other not in (state, cached.cache_path):
            tables = sqlite3.connect(other).execute("SELECT name FROM sqlite_master WHERE type='table'")
            assert "artifacts" not in {name for (name,) in tables}


def test_a_long_replay_is_cached_for_the_next_process(events: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identity_view, "CACHE_AFTER_LINES", 10)
    build(events, 4)
    cache = IdentityView(events).cache_path
    assert not cache.exists()  # the emitter that wrote every line replayed none
    newcomer = Emitter(events)  # as a new process: it replays the 20 lines, then caches them
    newcomer.emit([Draft("decision.recorded", "DEC-001", data={"title": "keep retries"}, source="cli")])
    assert cache.is_file()

    view = fresh_view(events)
    assert view.started_from == cache
    assert view.replayed < 10
    same_contexts(view, events, ["CON-001", "CON-004"])

    # A different history behind the same path (rewritten, not appended): the cache no longer applies.
    events.write_bytes(events.read_bytes().splitlines(keepends=True)[0])
    replaced = fresh_view(events)
    assert replaced.started_from is None and replaced.replayed == 1


def test_with_no_stored_state_the_file_is_replayed(events: Path) -> None:
    build(events, 2)
    view = fresh_view(events)
    assert view.started_from is None and view.replayed == len(events.read_bytes().splitlines())
    same_contexts(view, events, ["CON-001", "CON-002"])


def test_lines_written_by_others_are_seen_before_the_next_emit(events: Path) -> None:
    build(events, 1)
    emitter = Emitter(events)
    # Another writer (a jq script) appends without our lock, between two emits.
    with events.open("ab") as fh:
        fh.write(b'{"event_type":"spec.created","spec_id":"SPEC-900","intent_id":"INT-001",')
        fh.write(b'"contracts":["CON-900"],"timestamp":"2026-03-30T14:45:00Z"}\n')
    started = emitter.emit([Draft("contract.started", "CON-900", source="cli", actor="dev")])[0]
    assert started.event["parent_id"] == "SPEC-900"
    assert started.context is not None and started.context.intent_id == "INT-001"
