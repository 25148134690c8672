"""Four months of a repository's log (tests/fixtures/history.jsonl): the trace trees its story
implies (history.plan.json, written from the story), and the same answer however it is read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intent_observe.events import Event, parse_file
from intent_observe.identity import ids
from intent_observe.identity.engine import Engine, EngineState, artifact_table, membership_table
from intent_observe.identity.records import SpanRecord
from intent_observe.identity.state_db import IdentityStore
from intent_observe.metrics.derive import as_json, snapshot
from intent_observe.report import Run, build_report, read_history

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


@pytest.mark.parametrize("intent_id", sorted(PLAN["intents"]))
def test_intent_trace_tree_matches_the_story(run: Run, intent_id: str) -> None:
    plan = PLAN["intents"][intent_id]
    expected_trace = plan["trace_uuid"] or ids.uuid_trace_id("", "intent", f"intent:{intent_id}")
    spans = _spans_in(run, expected_trace)
    intent = _one(spans, f"intent {intent_id}")
    assert intent.parent_span_id is None
    assert str(intent.attributes["intent.title"]).startswith(f"Intent {intent_id[-1]}")
    assert (intent.attributes["intent.artifact.state"] == "closed") is plan["closed"]

    backfilled = {s.attributes["intent.artifact.id"] for s in spans if s.attributes.get("intent.backfilled")}
    assert backfilled == set(plan["signals"])
    assert all(s.parent_span_id == intent.span_id for s in spans if s.attributes.get("intent.backfilled"))

    for spec in plan["specs"]:
        spec_span = _one(spans, f"spec {spec['id']}")
        assert spec_span.parent_span_id == intent.span_id
        assert (spec_span.attributes["intent.artifact.state"] == "closed") is spec["complete"]
        for contract in spec["contracts"]:
            c = _one(spans, f"contract {contract['id']}")
            assert c.parent_span_id == spec_span.span_id
            assert c.error is (contract["result"] == "fail")
            runs = len(contract["runs"])
            expected_s = contract["duration_s"] + 3600 * (runs - 1)  # reruns start an hour apart
            assert (c.end_ns - c.start_ns) / 1e9 == expected_s
            assertions = [s for s in spans if s.parent_span_id == c.span_id]
            results = [r for run_ in contract["runs"] for r in run_["results"]]
            assert len(assertions) == len(results)
            assert sum(s.error for s in assertions) == results.count("fail")


def test_orphans_unusable_lines_and_totals(run: Run) -> None:
    report = build_report(run)
    assert len(report["orphans"]) == len(PLAN["orphans"])
    titles = [o["title"] for o in report["orphans"] if o["id"] == "SIG-006"]
    assert sorted(titles) == ["Early signal 5", "Reused id: nightly job OOM"]
    assert sum(1 for o in report["orphans"] if o["id"] is None) == 2  # `unknown` ids stay apart
    assert {"SIG-0\n99", "SIG-#100", "SIG-200", "SIG-201"} <= {o["id"] for o in report["orphans"]}
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
    assert metrics["intent.specs.total"]["points"][0]["value"] == sum(
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


def test_every_span_parent_is_exported_and_ids_unique(run: Run) -> None:
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
    out = engine.drain()
    part.take(out.spans, out.logs)
    store.save(engine)
    return part


def _finish_from_saved(part: Run, store: IdentityStore, events: list[Event]) -> None:
    engine = Engine(store.load())
    for ev in events:
        engine.process(ev)
    out = engine.finalize()
    part.take(out.spans, out.logs)
    part.engine = engine


def test_state_saved_by_version_2_is_upgraded_in_place(run: Run, tmp_path: Path) -> None:
    """Version 2 kept each open intent's newest event time in the core row; a restart from such a
    state moves it to its own table and ends exactly where one whole read ends."""
    events = [e for e in parse_file(HISTORY) if isinstance(e, Event)]
    cut = len(events) // 2
    store = IdentityStore(tmp_path / "identity.db")
    resumed_run = _read_and_save(store, events[:cut])
    activity = dict(store.conn.execute("SELECT key, last_ns FROM intent_activity"))
    assert activity, "the fixture has open intents half-way"
    core = json.loads(store.conn.execute("SELECT doc FROM engine WHERE name='core'").fetchone()[0])
    core["version"], core["metrics"]["intent_last_ns"] = 2, activity  # as version 2 wrote it
    store.conn.execute("UPDATE engine SET doc = ? WHERE name = 'core'", (json.dumps(core),))
    store.conn.execute("DELETE FROM intent_activity")
    store.close()

    store = IdentityStore(tmp_path / "identity.db")
    store.load()  # the upgrade happens here, before anything is processed
    assert dict(store.conn.execute("SELECT key, last_ns FROM intent_activity")) == activity
    upgraded = json.loads(store.conn.execute("SELECT doc FROM engine WHERE name='core'").fetchone()[0])
    assert upgraded["version"] == 3 and "intent_last_ns" not in upgraded["metrics"]
    _finish_from_saved(resumed_run, store, events[cut:])
    assert _fingerprint(resumed_run) == _fingerprint(run)


def test_incremental_drains_give_the_same_metrics_and_spans(run: Run) -> None:
    """Draining after every event (as a live tail does) ends where one whole read ends."""
    engine = Engine()
    live = Run(engine)
    for ev in (e for e in parse_file(HISTORY) if isinstance(e, Event)):
        engine.process(ev)
        out = engine.drain()
        live.take(out.spans, out.logs)
    out = engine.finalize()
    live.take(out.spans, out.logs)
    assert _fingerprint(live) == _fingerprint(run)


def test_state_spilled_to_disk_gives_the_same_answer(run: Run, tmp_path: Path) -> None:
    """With room for only 16 artifacts in memory, most lookups go to the spill file and back."""
    events = [e for e in parse_file(HISTORY) if isinstance(e, Event)]
    store = IdentityStore(tmp_path / "identity.db")
    state = EngineState(artifacts=artifact_table(limit=16), memberships=membership_table(limit=16))
    engine = Engine(state)
    small = Run(engine)
    for n, ev in enumerate(events):
        engine.process(ev)
        if n % 50 == 49:  # save as a tail does, then carry on from a reloaded state
            out = engine.drain()
            small.take(out.spans, out.logs)
            store.save(engine)
            engine = Engine(store.load(cache_limit=16))
            small.engine = engine
    out = engine.finalize()
    small.take(out.spans, out.logs)
    assert _fingerprint(small) == _fingerprint(run)
