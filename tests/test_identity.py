"""The trace identity model of the seed, row by row, plus the real-world messiness."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from helpers import events_of, run
from intent_observe.identity import ids
from intent_observe.identity.engine import Engine
from intent_observe.model import DERIVED_SHAPE, Event, Position
from intent_observe.sinks.resource import resource_attributes

UUID = "5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5"
T = "2026-03-0{}T10:00:00Z"


def sig(n: int, sid: str, title: str = "t", **data: Any) -> dict[str, Any]:
    return {
        "event": "signal.created",
        "timestamp": T.format(n),
        "span_id": sid,
        "source": "cli",
        "data": {"title": title, **data},
    }


def clustered(n: int, sid: str, cid: str) -> dict[str, Any]:
    return {"event_type": "signal.clustered", "signal_id": sid, "cluster_id": cid, "timestamp": T.format(n)}


def promoted(n: int, sid: str, iid: str, cid: str | None = None, trace: str | None = None) -> dict[str, Any]:
    return {
        "event": "signal.promoted",
        "timestamp": T.format(n),
        "trace_id": trace,
        "span_id": sid,
        "ref": iid,
        "parent_id": sid,
        "data": {"cluster_id": cid, "intent_id": iid},
    }


def spec(n: int, spec_id: str, iid: str, contracts: list[str]) -> dict[str, Any]:
    return {
        "event": "spec.created",
        "timestamp": T.format(n),
        "span_id": spec_id,
        "parent_id": iid,
        "data": {"intent_id": iid, "title": "s", "contracts": contracts},
    }


def started(stamp: str, cid: str, spec_id: str | None = None) -> dict[str, Any]:
    return {"event_type": "contract.started", "contract_id": cid, "spec_id": spec_id, "timestamp": stamp}


def completed(stamp: str, cid: str, failed: int = 0) -> dict[str, Any]:
    return {
        "event_type": "contract.completed",
        "contract_id": cid,
        "duration": 60,
        "assertions_passed": 2 - failed,
        "assertions_failed": failed,
        "timestamp": stamp,
    }


def assertion(stamp: str, cid: str, aid: str, ok: bool) -> dict[str, Any]:
    return {
        "event_type": f"contract.assertion.{'passed' if ok else 'failed'}",
        "contract_id": cid,
        "assertion_id": aid,
        "assertion_name": aid,
        "error": None if ok else "boom",
        "timestamp": stamp,
    }


LOOP = [
    sig(1, "SIG-1", "first"),
    sig(1, "SIG-2", "second"),
    clustered(2, "SIG-1", "CL-1"),
    clustered(2, "SIG-2", "CL-1"),
    promoted(3, "SIG-1", "INT-1", "CL-1", trace=UUID),
    spec(4, "SPEC-1", "INT-1", ["CON-1"]),
    started("2026-03-05T10:00:00Z", "CON-1", "SPEC-1"),
    assertion("2026-03-05T10:01:00Z", "CON-1", "assert-1", True),
    assertion("2026-03-05T10:02:00Z", "CON-1", "assert-2", False),
    completed("2026-03-05T10:05:00Z", "CON-1", failed=1),
]


def test_signal_created_is_an_orphan_with_a_trace_of_its_own() -> None:
    r = run([sig(1, "SIG-1"), sig(1, "SIG-2")])
    a, b = r.one("signal SIG-1"), r.one("signal SIG-2")
    assert a.parent_span_id is None and b.parent_span_id is None
    assert a.trace_id != b.trace_id
    assert a.start_ns == a.end_ns  # an observation is an instant


def test_clustered_signals_share_a_provisional_cluster_trace() -> None:
    r = run([sig(1, "SIG-1"), sig(1, "SIG-2"), clustered(2, "SIG-1", "CL-1"), clustered(2, "SIG-2", "CL-1")])
    cluster = r.one("cluster CL-1")
    expected = ids.uuid_trace_id("", "cluster", "cluster:CL-1")
    assert cluster.trace_id == expected
    assert cluster.attributes["intent.cluster.trace"] == f"cluster-{uuid.UUID(hex=expected)}"
    members = [s for s in r.named("signal SIG-1") + r.named("signal SIG-2") if s.trace_id == expected]
    assert len(members) == 2
    for m in members:
        assert m.parent_span_id == cluster.span_id
        orphan = next(s for s in r.named(m.name) if s.trace_id != expected)
        assert [(link.trace_id, link.span_id) for link in m.links] == [(orphan.trace_id, orphan.span_id)]


def test_promotion_uses_the_intent_uuid_and_backfills_every_member() -> None:
    r = run(LOOP)
    intent = r.one("intent INT-1")
    assert intent.trace_id == uuid.UUID(UUID).hex
    assert intent.parent_span_id is None
    cluster = r.one("cluster CL-1")
    [formed_to_promoted] = r.phase(cluster, "lifecycle")
    assert formed_to_promoted.end_ns - formed_to_promoted.start_ns == 86400 * 10**9  # clustered → promoted
    for sid in ("SIG-1", "SIG-2"):  # SIG-2 was never named by the promotion: the cluster brings it
        backfilled = r.one(f"signal {sid}", **{"intent.backfilled": True})
        assert backfilled.trace_id == intent.trace_id
        assert backfilled.parent_span_id == intent.span_id
        assert backfilled.attributes["intent.id"] == "INT-1"
        kinds = {link.attributes["intent.link"] for link in backfilled.links}
        assert kinds == {"orphan", "cluster"}
        linked = {link.span_id for link in backfilled.links}
        assert all(span_id in r.spans for span_id in linked)


def test_intent_without_uuid_gets_a_deterministic_uuid_trace() -> None:
    docs = [sig(1, "SIG-1"), promoted(2, "SIG-1", "INT-7")]
    first, second = run(docs).one("intent INT-7"), run(docs).one("intent INT-7")
    assert first.trace_id == second.trace_id == ids.uuid_trace_id("", "intent", "intent:INT-7")
    assert uuid.UUID(hex=first.trace_id).version == 5
    assert (
        run([sig(1, "SIG-1"), promoted(2, "SIG-1", "INT-8")]).one("intent INT-8").trace_id != first.trace_id
    )


def test_spec_contract_assertion_nesting_durations_and_status() -> None:
    r = run(LOOP)
    intent, spec_span, contract = r.one("intent INT-1"), r.one("spec SPEC-1"), r.one("contract CON-1")
    assert spec_span.trace_id == contract.trace_id == intent.trace_id
    assert r.parent_of(spec_span) is intent
    assert r.parent_of(contract) is spec_span
    [run_1] = r.phase(contract, "run")  # the run is a span of its own, sent when it ended
    assert run_1.name == "contract CON-1 · run 1"
    assert run_1.end_ns - run_1.start_ns == 5 * 60 * 10**9  # started → completed
    assert run_1.error and run_1.attributes["intent.artifact.state"] == "closed"
    assert not contract.error and "intent.artifact.state" not in contract.attributes  # announced only
    ok, bad = r.one("assertion assert-1"), r.one("assertion assert-2")
    assert r.parent_of(ok) is run_1 and r.parent_of(bad) is run_1
    assert not ok.error and bad.error and bad.status_message == "boom"
    assert bad.attributes["intent.contract.id"] == "CON-1"
    assert bad.attributes["intent.spec.id"] == "SPEC-1"
    assert bad.attributes["intent.id"] == "INT-1"
    assert r.phase(spec_span, "lifecycle") == []  # its contract failed: still open


def test_each_run_of_a_contract_is_its_own_span_with_its_assertions() -> None:
    docs = [*LOOP, started("2026-03-06T10:00:00Z", "CON-1", "SPEC-1")]
    docs += [assertion("2026-03-06T10:01:00Z", "CON-1", "assert-2", True)]
    docs += [completed("2026-03-06T10:03:00Z", "CON-1")]
    r = run(docs)
    first, second = r.phase(r.one("contract CON-1"), "run")
    assert (first.error, second.error) == (True, False)
    assert second.end_ns - second.start_ns == 3 * 60 * 10**9
    assert [s.name for s in r.children(second)] == ["assertion assert-2"]
    assert r.phase(r.one("spec SPEC-1"), "lifecycle")  # its one contract passed on the rerun


def test_spec_closes_when_all_contracts_pass_with_a_real_duration() -> None:
    docs = [*LOOP[:5], spec(4, "SPEC-1", "INT-1", ["CON-1", "CON-2"])]
    docs += [started("2026-03-05T10:00:00Z", "CON-1", "SPEC-1"), completed("2026-03-05T11:00:00Z", "CON-1")]
    passed_one = run(docs)
    assert passed_one.phase(passed_one.one("spec SPEC-1"), "lifecycle") == []  # one of two passed
    docs += [started("2026-03-06T10:00:00Z", "CON-2", "SPEC-1"), completed("2026-03-06T12:00:00Z", "CON-2")]
    r = run(docs)
    [done] = r.phase(r.one("spec SPEC-1"), "lifecycle")
    assert done.end_ns - done.start_ns == (2 * 86400 + 2 * 3600) * 10**9
    assert done.attributes["intent.phase.end_event"] == "contract.completed"


def test_a_verified_contract_does_not_close_a_spec_whose_other_contracts_have_not_passed() -> None:
    docs = [*LOOP[:5], spec(4, "SPEC-1", "INT-1", ["CON-1", "CON-2", "CON-3"])]
    verified = [
        {
            "event_type": "contract.verified",
            "contract_id": c,
            "spec_id": "SPEC-1",
            "timestamp": T.format(5 + k),
        }
        for k, c in enumerate(["CON-1", "CON-2", "CON-3"])
    ]
    for k in (1, 2):
        r = run(docs + verified[:k])
        assert r.phase(r.one("spec SPEC-1"), "lifecycle") == [], k
    r = run(docs + verified)
    [done] = r.phase(r.one("spec SPEC-1"), "lifecycle")
    assert done.end_ns == run(docs + verified).spans[done.span_id].end_ns


def test_spec_completed_and_intent_completed_close_them() -> None:
    docs = [*LOOP[:6]]
    docs += [{"event_type": "spec.completed", "spec_id": "SPEC-1", "timestamp": T.format(6)}]
    docs += [{"event_type": "intent.completed", "intent_id": "INT-1", "timestamp": T.format(7)}]
    r = run(docs)
    [spec_done] = r.phase(r.one("spec SPEC-1"), "lifecycle")
    [intent_done] = r.phase(r.one("intent INT-1"), "lifecycle")
    assert spec_done.end_ns - spec_done.start_ns == 2 * 86400 * 10**9
    assert intent_done.end_ns - intent_done.start_ns == 4 * 86400 * 10**9  # promoted → completed


def test_execution_events_and_system_error() -> None:
    docs = [
        *LOOP[:7],
        {"event_type": "execution.paused", "contract_id": "CON-1", "timestamp": T.format(6)},
        {"event_type": "system.error", "error": "disk full", "timestamp": T.format(6)},
    ]
    r = run(docs)
    paused = r.one("execution.paused")
    assert r.parent_of(paused) is r.one("contract CON-1")
    error = r.one("system.error")
    assert error.error and error.status_message == "disk full" and error.parent_span_id is None


def test_a_repeated_line_is_one_event_whose_span_is_sent_once() -> None:
    """A writer that appends the same line twice (a retried append) makes no second span: the
    standalone event's id is the line's hash, and `run` fails on a span id sent twice."""
    line = {"event_type": "system.error", "error": "disk full", "timestamp": T.format(6)}
    r = run([*LOOP[:7], line, line])
    error = r.one("system.error")
    copies = [log for log in r.logs if log.attributes["event.name"] == "system.error"]
    assert len(copies) == 2 and {log.span_id for log in copies} == {error.span_id}


def test_a_file_that_says_what_the_log_already_said_adds_no_record() -> None:
    """What an artifact file's front matter says joins the history only where it changes something:
    a promoted signal's file saying `promoted` tells nothing; an active one's saying `resolved` does."""
    engine = Engine()
    for ev in events_of([*LOOP[:5], sig(5, "SIG-3", "third")]):
        engine.process(ev)
    engine.drain()

    def said(event_type: str, signal_id: str) -> Event:
        line = {"event_type": event_type, "signal_id": signal_id, "timestamp": T.format(6)}
        ev = events_of([line])[0]
        return replace(ev, shape=DERIVED_SHAPE, event_id=f"{signal_id}.md", position=Position("S.md", 0, 0))

    engine.process(said("signal.promoted", "SIG-1"))
    engine.process(said("signal.resolved", "SIG-3"))
    told = engine.finalize().logs
    assert [(log.attributes["event.name"], log.attributes["intent.artifact.id"]) for log in told] == [
        ("signal.resolved", "SIG-3")
    ]


def test_signal_raised_by_an_observation_is_a_new_orphan() -> None:
    docs = [
        *LOOP,
        {"event_type": "observation.written", "intent_id": "INT-1", "timestamp": T.format(7)},
        sig(8, "SIG-9", "regression seen"),
    ]
    r = run(docs)
    new = r.one("signal SIG-9")
    assert new.parent_span_id is None and new.trace_id != r.one("intent INT-1").trace_id
    assert r.parent_of(r.one("observation.written")) is r.one("intent INT-1")


def test_out_of_order_contract_before_spec_before_intent() -> None:
    in_order = run(LOOP)
    shuffled = [LOOP[6], LOOP[7], LOOP[5], *LOOP[:5], *LOOP[8:]]
    engine = Engine()
    evs = events_of(shuffled)
    engine.process(evs[0])
    early = engine.drain()
    assert early.spans == [] and early.logs == []  # the contract waits for its spec
    for ev in evs[1:]:
        engine.process(ev)
    out = engine.drain()
    later = out.spans + engine.finalize().spans
    key = lambda s: (s.trace_id, s.span_id, s.parent_span_id)  # noqa: E731
    assert {key(s) for s in later} == {key(s) for s in in_order.spans.values()}
    assert len(out.logs) == len(LOOP)


def test_parent_never_seen_gets_a_placeholder_that_is_exported() -> None:
    r = run([spec(1, "SPEC-9", "INT-404", ["CON-9"]), started("2026-03-02T00:00:00Z", "CON-9", "SPEC-9")])
    placeholder = r.one("intent INT-404")
    assert placeholder.attributes["intent.artifact.placeholder"] is True
    assert r.parent_of(r.one("spec SPEC-9")) is placeholder


def test_the_file_is_the_identity_a_title_never_splits() -> None:
    docs = [
        sig(1, "SIG-006", "nightly OOM", file=".intent/signals/a.md"),
        sig(2, "SIG-006", "Nightly “OOM” (edited)", file=".intent/signals/a.md"),  # renamed
        sig(3, "SIG-006", "login flake", file=".intent/signals/b.md"),  # another file: another signal
        sig(4, "SIG-006", "nightly OOM", file="./.intent/signals/a.md"),  # back to the first
        sig(5, "SIG-006", "a CLI line naming no file"),  # joins the newest
    ]
    r = run(docs)
    first, second = sorted(r.named("signal SIG-006"), key=lambda s: s.start_ns)
    assert first.trace_id != second.trace_id
    assert first.attributes["intent.title"] == "nightly OOM"  # announced once, as it first was
    assert first.attributes["intent.artifact.file"] == ".intent/signals/a.md"
    assert second.attributes["intent.artifact.file"] == ".intent/signals/b.md"
    homes = [log.span_id for log in r.logs]
    assert homes == [first.span_id, first.span_id, second.span_id, first.span_id, second.span_id]


def test_a_line_without_a_file_then_with_one_is_one_artifact() -> None:
    docs = [sig(1, "SIG-031", "from the CLI"), sig(2, "SIG-031", "from the Action", file="s/SIG-031.md")]
    docs += [sig(3, "SIG-031", "another signal, same id", file="s/other.md")]
    r = run(docs)
    assert len(r.named("signal SIG-031")) == 2
    assert [log.span_id for log in r.logs][:2] == [r.named("signal SIG-031")[0].span_id] * 2


def test_unknown_ids_never_merge() -> None:
    r = run([sig(1, "unknown", "a"), sig(1, "unknown", "b"), sig(2, "", "c")])
    spans = r.named("signal (no id)")
    assert len(spans) == 3 and len({s.trace_id for s in spans}) == 3


def test_an_artifact_file_with_no_id_is_named_by_its_file() -> None:
    r = run([sig(1, "", "a", file=".intent/signals/2026-04-08-gtm.md"), sig(2, "", "b", file="s/notes.md")])
    assert [len(r.named(name)) for name in ("signal 2026-04-08-gtm.md", "signal notes.md")] == [1, 1]
    assert not r.named("signal (no id)")  # what names it is known: its file


def test_slug_trace_ids_and_contested_uuids_never_merge_intents() -> None:
    docs = [sig(1, "SIG-1"), sig(1, "SIG-2"), sig(1, "SIG-3"), sig(1, "SIG-4")]
    docs += [
        promoted(2, "SIG-1", "INT-1", trace="TRACE-015"),
        promoted(2, "SIG-2", "INT-2", trace="TRACE-015"),
    ]
    docs += [promoted(3, "SIG-3", "INT-3", trace=UUID), promoted(3, "SIG-4", "INT-4", trace=UUID)]
    r = run(docs)
    traces = [r.one(f"intent INT-{n}").trace_id for n in (1, 2, 3, 4)]
    assert len(set(traces)) == 4
    assert traces[2] == uuid.UUID(UUID).hex  # first claim wins; the second intent keeps its own


def test_span_ids_unique_and_every_parent_exported() -> None:
    r = run([*LOOP, sig(9, "SIG-1", "different content, same id")])  # `run` fails on a span sent twice
    for s in r.spans.values():
        if s.parent_span_id is not None:
            assert r.spans[s.parent_span_id].trace_id == s.trace_id


def test_one_log_record_per_event_on_its_span() -> None:
    r = run(LOOP)
    assert len(r.logs) == len(LOOP)
    for log in r.logs:
        assert log.span_id in r.spans and r.spans[log.span_id].trace_id == log.trace_id
        assert log.attributes["event.name"] == log.attributes["intent.event.type"]
        assert len(str(log.attributes["intent.event.id"])) == 32
    failed = next(log for log in r.logs if log.attributes["event.name"] == "contract.assertion.failed")
    assert failed.severity_text == "WARN"
    completed_failed = next(log for log in r.logs if log.attributes["event.name"] == "contract.completed")
    assert completed_failed.severity_text == "ERROR"  # it reported a failed assertion
    assert failed.attributes["intent.contract.id"] == "CON-1" and failed.attributes["intent.id"] == "INT-1"
    promo = next(log for log in r.logs if log.attributes["event.name"] == "signal.promoted")
    assert r.spans[promo.span_id].attributes.get("intent.backfilled") is True


def test_ids_do_not_depend_on_where_the_file_lives() -> None:
    a, b = Engine(), Engine()
    for ev in events_of(LOOP, file="/home/a/repo/.intent/events/events.jsonl"):
        a.process(ev)
    for ev in events_of(LOOP, file="/srv/b/events.jsonl"):
        b.process(ev)
    sa = {(s.trace_id, s.span_id) for s in a.finalize().spans}
    sb = {(s.trace_id, s.span_id) for s in b.finalize().spans}
    assert sa == sb


def test_scope_keeps_two_repositories_apart() -> None:
    a, b = Engine(scope="repo-a"), Engine(scope="repo-b")
    for engine in (a, b):
        for ev in events_of([sig(1, "SIG-1"), promoted(2, "SIG-1", "INT-1")]):
            engine.process(ev)
    ta = {s.trace_id for s in a.finalize().spans}
    tb = {s.trace_id for s in b.finalize().spans}
    assert not ta & tb


def test_attributes_bounded_and_flattened() -> None:
    doc = sig(1, "SIG-1", "x", body="é" * 5000, nested={"a": {"b": 1}}, tags=["p", "q"], big=2**70)
    attrs = run([doc]).one("signal SIG-1").attributes
    assert len(str(attrs["intent.data.body"])) == 1024 and str(attrs["intent.data.body"]).endswith("…")
    assert attrs["intent.data.nested.a.b"] == 1
    assert attrs["intent.data.tags"] == '["p","q"]'
    assert attrs["intent.data.big"] == float(2**70)  # orjson reads integers beyond 64 bits as floats
    assert attrs["intent.source"] == "cli"


def test_resource_defaults_and_env_overrides() -> None:
    assert resource_attributes({})["service.name"] == "intent"
    env = {"OTEL_RESOURCE_ATTRIBUTES": "service.name=x,team=a%2Cb,broken", "OTEL_SERVICE_NAME": "intent-prod"}
    attrs = resource_attributes(env)
    assert attrs["service.name"] == "intent-prod"  # OTEL_SERVICE_NAME wins
    assert attrs["team"] == "a,b"
    assert "service.version" in attrs


CATALOG_TYPES = [
    "signal.created",
    "signal.captured",
    "signal.enriched",
    "signal.scored",
    "signal.clustered",
    "signal.promoted",
    "signal.dismissed",
    "signal.resolved",
    "signal.updated",
    "intent.proposed",
    "intent.accepted",
    "intent.approved",
    "spec.created",
    "spec.written",
    "spec.approved",
    "spec.staged",
    "contract.started",
    "contract.assertion.passed",
    "contract.assertion.failed",
    "contract.completed",
    "contract.verified",
    "contract.failed",
    "execution.paused",
    "execution.resumed",
    "execution.error_retry",
    "execution.escalated",
    "human_input.requested",
    "human_input.received",
    "approval.requested",
    "approval.decided",
    "approval.expired",
    "intent.approval.requested",
    "intent.approval.decided",
    "intent.approval.expired",
    "intent.approval.elevated",
    "observation.written",
    "observation.evaluated",
    "trace.completed",
    "decision.recorded",
    "capability.released",
    "feature.released",
    "knowledge.ingested",
    "knowledge.queried",
    "knowledge.linted",
    "system.health",
    "system.error",
    "brand.new.type",
]


def test_every_event_type_of_the_catalog_flows_through() -> None:
    ids_by_kind = {
        "signal_id": "SIG-1",
        "cluster_id": "CL-1",
        "intent_id": "INT-1",
        "spec_id": "SPEC-1",
        "contract_id": "CON-1",
        "assertion_id": "assert-1",
        "decision_id": "DEC-1",
    }
    docs = [
        {
            "event_type": t,
            "timestamp": f"2026-03-01T00:{n // 60:02d}:{n % 60:02d}Z",
            **ids_by_kind,
            "trust_score": 0.5,
            "error": "boom",
        }
        for n, t in enumerate(CATALOG_TYPES)
    ]
    r = run(docs)
    assert len(r.logs) == len(CATALOG_TYPES)
    assert [log.attributes["event.name"] for log in r.logs] == CATALOG_TYPES
    for log in r.logs:
        assert r.spans[log.span_id].trace_id == log.trace_id
    intent = r.one("intent INT-1")
    for s in r.spans.values():
        if s.parent_span_id is not None:
            assert r.spans[s.parent_span_id].trace_id == s.trace_id
    for name in (
        "spec SPEC-1",
        "contract CON-1",
        "execution.paused",
        "observation.written",
        "decision DEC-1",
    ):
        span = r.one(name)
        assert span.trace_id == intent.trace_id, name
    assert r.one("system.error").error
    first, again = sorted(r.named("assertion assert-1"), key=lambda s: s.start_ns)  # each evaluation
    assert (first.error, again.error) == (False, True)
    assert r.one("brand.new.type").attributes["intent.event.type"] == "brand.new.type"


def test_a_signal_event_naming_no_signal_creates_none() -> None:
    docs = [
        sig(1, "SIG-1"),
        clustered(2, "SIG-1", "CL-1"),
        {
            "event": "signal.promoted",
            "timestamp": T.format(3),
            "ref": "INT-1",
            "data": {"cluster_id": "CL-1"},
        },
        {
            "event_type": "signal.enriched",
            "signal_id": "unknown",
            "trust_score": 0.5,
            "timestamp": T.format(4),
        },
    ]
    engine = Engine()
    for ev in events_of(docs):
        engine.process(ev)
    out = engine.finalize()
    assert sum(engine.state.metrics.signals.values()) == 1
    r = run(docs)
    assert (
        r.one("signal SIG-1", **{"intent.backfilled": True}).parent_span_id == r.one("intent INT-1").span_id
    )
    assert not r.named("signal (no id)")
    assert len(out.logs) == 4
