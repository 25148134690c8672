"""A contract that runs again: the identity engine's spans and log records for a real history, stored
in either order. A run sends its span when it ends, so a `contract.started` later than the newest
run's end says the contract is running again: open, the new run's assertions drawn under it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.requests import consume, logs_request, trace_request

from intent_observe.report import Run, read_history
from intent_observe.store import trace_queries
from intent_observe.store.store import Store


def ev(event: str, at: str, artifact: str, parent: str | None = None, **data: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"event": event, "timestamp": f"2026-03-01T{at}:00Z", "span_id": artifact}
    return line | ({"parent_id": parent} if parent else {}) | ({"data": data} if data else {})


LINES = [
    ev("intent.proposed", "10:00", "INT-1", title="Login"),
    ev("spec.created", "10:05", "SPEC-1", "INT-1", title="Retry", contracts=["CON-1"]),
    ev("contract.started", "11:00", "CON-1", "SPEC-1"),
    ev("contract.assertion.failed", "11:01", "lint", "CON-1", error="3 errors"),
    ev("contract.completed", "11:02", "CON-1", result="fail"),
    # a contract of no spec: a trace of its own, its root the contract
    ev("contract.started", "11:10", "CON-9"),
    ev("contract.completed", "11:20", "CON-9", result="pass"),
    # both run again
    ev("contract.started", "12:00", "CON-1"),
    ev("contract.assertion.passed", "12:01", "lint", "CON-1"),
    ev("contract.started", "12:30", "CON-9"),
]
ENDED = [
    ev("contract.completed", "13:00", "CON-1", result="pass"),
    ev("contract.completed", "13:05", "CON-9"),
]
T12_01 = 1_772_366_460_000_000_000  # 2026-03-01T12:01:00Z


def history(tmp_path: Path, lines: list[dict[str, Any]]) -> Run:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return read_history([str(path)])


def store_run(store: Store, run: Run, logs_first: bool) -> None:
    requests = [trace_request(run.spans.values()), logs_request(run.logs)]
    for request in reversed(requests) if logs_first else requests:
        consume(store, request)


def contract(store: Store, contract_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The contract's span in its trace, the trace, and the trace's row in the list."""
    listed = store.read(lambda c: trace_queries.traces(c, "all", None, 100))["traces"]
    for row in listed:
        shown = store.read(lambda c, tid=row["trace_id"]: trace_queries.trace(c, tid))
        assert shown is not None
        for span in shown["spans"]:
            if span["phase"] is None and span["attributes"].get("intent.artifact.id") == contract_id:
                return span, shown, row
    raise AssertionError(f"no {contract_id}")


@pytest.mark.parametrize("logs_first", [False, True])
def test_a_contract_running_again_is_open_until_its_new_run_ends(tmp_path: Path, logs_first: bool) -> None:
    store = Store(tmp_path / "store.db")
    try:
        store_run(store, history(tmp_path, LINES), logs_first)
        con1, shown, _ = contract(store, "CON-1")
        assert con1["state"] == "open" and len(con1["phases"]) == 1  # run 1 ended, run 2 goes on
        assert con1["until_ns"] == T12_01  # its life so far: to the new run's newest event
        [waiting] = [
            s for s in shown["spans"] if s["status"] != "error" and s["name"].startswith("assertion")
        ]
        assert waiting["tree_parent_span_id"] == con1["span_id"]  # drawn under it: run in progress
        con9, _, row = contract(store, "CON-9")
        assert con9["state"] == row["state"] == "open"  # the list says so where it is the root

        store_run(store, history(tmp_path, LINES + ENDED), logs_first)  # the runs end: their spans
        for contract_id in ("CON-1", "CON-9"):
            span, _, row = contract(store, contract_id)
            assert span["state"] == "closed" and len(span["phases"]) == 2
        assert row["state"] == "closed"
    finally:
        store.shutdown()


def test_a_run_stored_late_does_not_close_a_contract_running_again(tmp_path: Path) -> None:
    """Run 1's span arriving after run 2's `contract.started` record is no end of run 2."""
    store = Store(tmp_path / "store.db")
    try:
        run = history(tmp_path, LINES)
        phases = [s for s in run.spans.values() if s.attributes.get("intent.phase") == "run"]
        consume(store, trace_request([s for s in run.spans.values() if s not in phases]))
        consume(store, logs_request(run.logs))
        consume(store, trace_request(phases))
        assert contract(store, "CON-1")[0]["state"] == contract(store, "CON-9")[0]["state"] == "open"
    finally:
        store.shutdown()
