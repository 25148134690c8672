"""The JSON API, live stream and /metrics of `up`, over real HTTP on 127.0.0.1, fed by the real
tail adapter from an events file whose numbers are known (tests/support/observe.py)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.observe import (
    EXPECTED,
    XSS_TITLE,
    stack_with_history,
    write_lines,
)

from intent_observe.stack.stack import Stack
from intent_observe.store.store import Store
from intent_observe.web.context import AppContext
from intent_observe.web.prometheus import render_tail_health


class Running:
    def __init__(self, stack: Stack, events: Path, docs: list[dict[str, Any]]) -> None:
        self.stack, self.events, self.docs = stack, events, docs
        self.http = httpx.Client(base_url=stack.url, timeout=10)

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with stack_with_history(tmp_path_factory.mktemp("repo")) as (stack, events, docs):
        yield Running(stack, events, docs)


def test_the_summary_shows_what_the_fixture_implies(up: Running) -> None:
    summary = up.get("/api/summary")
    assert {k: summary[k] for k in EXPECTED} == EXPECTED
    assert summary["events_total"] == len(up.docs) == 17
    assert summary["orphans"] == 1  # SIG-004; the three promoted signals are not orphans
    assert summary["trust"] == {"L0": 0, "L1": 0, "L2": 0, "L3": 1, "L4": 0, "unscored": 0}  # SIG-004, 0.7
    newest = max(datetime.fromisoformat(d["timestamp"].replace("Z", "+00:00")) for d in up.docs)
    assert summary["last_event_ns"] == int(newest.timestamp() * 1_000_000) * 1000
    stage = summary["cycle_time"]["intent_to_spec"]
    assert stage["count"] == 1 and 0 < stage["median_s"] <= 4 * 3600  # 2 h, within the 1h–4h bucket
    assert len(summary["events_per_hour"]) == 48


def test_a_time_range_counts_events_by_event_time(up: Running) -> None:
    start = datetime.fromisoformat(up.docs[10]["timestamp"].replace("Z", "+00:00"))  # spec.created
    since = int(start.timestamp() * 1_000_000) * 1000
    summary = up.get("/api/summary", since=since)
    assert summary["events_total"] == len(up.docs) - 10
    assert (summary["signals"], summary["specs"]) == (0, 1)
    assert (summary["contracts_passed"], summary["contracts_failed"]) == (1, 1)


def test_events_filter_by_type_glob_source_and_text(up: Running) -> None:
    contracts = up.get("/api/events", type="contract.*")["events"]
    assert sorted(e["type"] for e in contracts) == sorted(
        d["event_type"] for d in up.docs if d.get("event_type", "").startswith("contract.")
    )
    mcp = up.get("/api/events", source="mcp")["events"]
    assert {e["artifact_id"] for e in mcp} == {"SIG-002", "SIG-004", "INT-001", "SPEC-001"}
    found = up.get("/api/events", q="onerror")["events"]
    assert [e["artifact_id"] for e in found] == ["SIG-004"] and XSS_TITLE in found[0]["detail"]
    literal = up.get("/api/events", q="100%")["events"]
    assert literal == []  # % is matched literally, not as a wildcard


@pytest.mark.parametrize("cursor", ["before", "before_id"])
def test_events_page_backwards_newest_first_by_time(up: Running, cursor: str) -> None:
    seen: list[tuple[int, int]] = []
    page = up.get("/api/events", limit=5)
    while True:
        seen += [(e["time_ns"], e["id"]) for e in page["events"]]
        if page[f"next_{cursor}"] is None:
            break
        page = up.get("/api/events", limit=5, **{cursor: page[f"next_{cursor}"]})
    assert len(seen) == len(set(seen)) == len(up.docs)
    assert seen == sorted(seen, reverse=True)
    assert page["last_id"] == max(rid for _, rid in seen)  # where /api/stream?after_id= goes on
    first = up.get("/api/events", limit=1)["events"][0]
    assert len(first["event_id"]) == 32 and len(first["trace_id"]) == 32 and len(first["span_id"]) == 16
    assert first["time_iso"].endswith("Z")


def test_a_malformed_cursor_is_refused(up: Running) -> None:
    for bad in ("12", "x:1", f"1:{2**63}"):
        response = up.http.get("/api/events", params={"before": bad})
        assert response.status_code == 422 and "time_ns:id" in response.text, bad


def test_list_limits_are_enforced(up: Running) -> None:
    assert up.http.get("/api/events", params={"limit": 1001}).status_code == 422
    assert up.http.get("/api/traces", params={"kind": "bogus"}).status_code == 422


def test_traces_list_intents_and_orphans_apart(up: Running) -> None:
    intents = up.get("/api/traces", kind="intent")["traces"]
    assert [(t["intent_id"], t["root_name"], t["title"]) for t in intents] == [
        ("INT-001", "intent INT-001", "Reliable login")
    ]
    assert intents[0]["error_count"] >= 1 and intents[0]["services"] == ["intent"]
    orphans = up.get("/api/traces", kind="orphan")["traces"]
    assert [t["root_name"] for t in orphans] == ["signal SIG-004"]


def test_a_trace_is_nested_depth_first(up: Running) -> None:
    trace_id = up.get("/api/traces", kind="intent")["traces"][0]["trace_id"]
    doc = up.get(f"/api/traces/{trace_id}")
    by_name = {s["name"]: s for s in doc["spans"]}
    depth = {name: s["depth"] for name, s in by_name.items()}
    assert depth["intent INT-001"] == 0
    assert depth["spec SPEC-001"] == 1 and depth["signal SIG-001"] == 1
    assert depth["contract CON-001"] == depth["contract CON-002"] == 2
    failed_run = by_name["contract CON-002 · run 1"]  # each run a span of its own, under its contract
    assert failed_run["status"] == "error" and failed_run["depth"] == 3
    assert failed_run["parent_span_id"] == by_name["contract CON-002"]["span_id"]
    failed = [s for s in doc["spans"] if s["name"].startswith("assertion") and s["status"] == "error"]
    assert len(failed) == 1 and failed[0]["depth"] == 4
    assert failed[0]["parent_span_id"] == failed_run["span_id"]
    # depth-first: every span comes after its parent
    position = {s["span_id"]: i for i, s in enumerate(doc["spans"])}
    for s in doc["spans"]:
        if s["parent_span_id"] in position:
            assert position[s["parent_span_id"]] < position[s["span_id"]]
    assert {log["attributes"]["event.name"] for log in doc["logs"]} >= {"spec.created", "contract.completed"}
    assert up.get("/api/intents/INT-001")["trace_id"] == trace_id


def _event_ns(doc: dict[str, Any]) -> int:
    moment = datetime.fromisoformat(doc["timestamp"].replace("Z", "+00:00"))
    return int(moment.timestamp() * 1_000_000) * 1000


def test_a_trace_shows_each_artifacts_state_and_its_phases(up: Running) -> None:
    (listed,) = up.get("/api/traces", kind="intent")["traces"]
    assert listed["state"] == "open"  # INT-001 was proposed; nothing completed it
    spans = {s["name"]: s for s in up.get(f"/api/traces/{listed['trace_id']}")["spans"]}
    states = {name: spans[name]["state"] for name in ("intent INT-001", "spec SPEC-001", "signal SIG-001")}
    # the spec lists two contracts and one of them failed: it stays open; a signal is an instant
    assert states == {"intent INT-001": "open", "spec SPEC-001": "open", "signal SIG-001": "closed"}
    for contract, result in (("CON-001", "pass"), ("CON-002", "fail")):
        announced, run = spans[f"contract {contract}"], spans[f"contract {contract} · run 1"]
        started, completed = (
            _event_ns(d)
            for d in up.docs
            if d.get("contract_id") == contract
            and d["event_type"] in ("contract.started", "contract.completed")
        )
        assert (run["start_ns"], run["end_ns"]) == (started, completed)  # the run's real duration
        assert (announced["state"], announced["status"], announced["phases"]) == (
            "closed",
            "unset",
            [run["span_id"]],
        )
        assert (run["phase"], run["state"], run["attributes"]["intent.contract.result"]) == (
            "run",
            "closed",
            result,
        )
        assert run["status"] == ("error" if result == "fail" else "unset")
        assert announced["until_ns"] == run["end_ns"]  # a closed contract lives until its last run ends
    newest = max(_event_ns(d) for d in up.docs if d["timestamp"])
    assert spans["intent INT-001"]["until_ns"] == newest  # open: up to the newest event under it


def test_unknown_and_malformed_ids(up: Running) -> None:
    assert up.http.get("/api/intents/INT-999").status_code == 404
    assert up.http.get("/api/traces/" + "0" * 32).status_code == 404
    assert up.http.get("/api/traces/not-hex").status_code == 400


def test_status_reports_the_store_the_receiver_and_the_file(up: Running) -> None:
    status = up.get("/api/status")
    assert status["logs"] == len(up.docs) and status["spans"] > 0 and status["store_bytes"] > 0
    assert status["receiver"] == {"grpc": up.stack.receiver.grpc_port, "http": up.stack.receiver.http_port}
    (entry,) = status["files"]
    assert entry["path"] == str(up.events) and entry["size"] == up.events.stat().st_size


def test_metrics_endpoint_speaks_prometheus_text(up: Running) -> None:
    response = up.http.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'intent_signals_total{source="mcp"} 2' in text
    assert 'intent_contracts_total{result="fail"} 1' in text
    assert "# TYPE intent_cycle_time_intent_to_spec_seconds histogram" in text
    assert 'intent_cycle_time_intent_to_spec_seconds_bucket{le="+Inf"} 1' in text
    assert "intent_cycle_time_intent_to_spec_seconds_count 1" in text


def test_an_app_with_no_tail_says_so_in_its_metrics(tmp_path: Path) -> None:
    """The store and the app alone (the store benchmark runs them so): the tail is off, never restarted."""
    store = Store(tmp_path / "store.db")
    try:
        health = render_tail_health(AppContext(store=store).tail_status())
    finally:
        store.shutdown()
    assert "intent_observe_tail_up 1\n" in health and "intent_observe_tail_restarts_total 0\n" in health


def test_no_route_reads_files_outside_the_static_folder(up: Running) -> None:
    for path in (
        "/static/../../store.db",
        "/static/%2e%2e/%2e%2e/app.py",
        "/static/..%2f..%2fapp.py",
        "/static/js/../../app.py",
    ):
        response = up.http.get(path)
        assert response.status_code == 404, path


def test_request_bodies_are_capped(up: Running) -> None:
    response = up.http.post("/webhooks/github", content=b"x" * (6 * 1024 * 1024))
    assert response.status_code == 413


def test_the_stream_pushes_an_appended_event(up: Running) -> None:
    received: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{up.stack.url}/api/stream", timeout=15) as response:
            ready.set()
            kind = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "intent-event":
                    received.append(json.loads(line[6:]))
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(10)
    time.sleep(0.3)  # the stream starts after the newest stored event
    now = datetime.now(UTC).isoformat()
    live = {"event_type": "signal.created", "signal_id": "SIG-LIVE", "title": "live one", "timestamp": now}
    write_lines(up.events, [{**live, "source": "cli"}])
    listener.join(10)
    assert [e["artifact_id"] for e in received] == ["SIG-LIVE"]
    assert received[0]["type"] == "signal.created" and received[0]["detail"] == "live one"
