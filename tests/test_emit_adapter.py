"""An emitted history, shipped by the real adapter (`tail --once`) to the real OTLP receiver."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
from tests.support.receiver import receiver_in_thread
from tests.tailing import expected_from, has_all, run_tail, tail_env
from tests.test_emit import build_loop


@pytest.mark.timeout(180)
def test_the_adapter_places_every_event_where_the_emitter_said(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".intent").mkdir(parents=True)
    build_loop(repo)
    events = repo / ".intent" / "events" / "events.jsonl"
    lines = [orjson.loads(line) for line in events.read_bytes().splitlines()]
    expected = expected_from([events])

    with receiver_in_thread(tmp_path / "receiver") as receiver:
        tail = run_tail("--once", str(events), env=tail_env(receiver.grpc_endpoint))
        assert tail.returncode == 0, tail.stderr
        received = receiver.wait_for(has_all(expected))

    by_line = {record["attributes"]["intent.event.line"]: record for record in received.logs}
    assert sorted(by_line) == list(range(1, len(lines) + 1))
    for number, line in enumerate(lines, start=1):
        record = by_line[number]
        assert record["trace_id"] and record["span_id"], line  # every event sits on a span
        if line["trace_id"] is not None:  # the intent's UUID, or `cluster-{uuid}` for a clustered signal
            assert record["trace_id"] == uuid.UUID(line["trace_id"].removeprefix("cluster-")).hex, line
    intent_trace = uuid.UUID(next(x for x in lines if x["event"] == "intent.proposed")["trace_id"]).hex
    in_intent = {span["name"] for span in received.spans if span["trace_id"] == intent_trace}
    assert {
        "intent INT-001",
        "spec SPEC-001",
        "contract CON-001",
        "contract CON-002",
        "assertion lint",
    } <= in_intent
    assert {"signal SIG-001", "signal SIG-002", "signal SIG-003"} <= in_intent  # backfilled
