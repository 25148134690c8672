"""What Tempo, Jaeger and our own store show of a history delivered twice.

A crash makes the adapter deliver again what was not acknowledged; `--from-beginning` delivers
everything again. Jaeger keeps every copy of a span id ("duplicate span IDs" when they differ);
Tempo's trace combiner keeps the first copy it reads. The recording receiver keeps every copy,
so both views are read from it: each must hold exactly the trees, durations and statuses our
store (`up`, over its API) shows, and no span id may arrive twice with other content.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.observe import running_stack, wait_for, wait_until_stored
from tests.support.receiver import receiver_process

from intent_observe.report import build_report
from tailing import assert_exactly, expected_from, run_tail, tail_env

HISTORY = Path(__file__).parent / "fixtures" / "history.jsonl"

pytestmark = pytest.mark.timeout(300)

# (span id, parent, name, start, end, error): what a trace view draws of a span
Row = tuple[str, str, str, int, int, bool]


def _rows_received(spans: list[dict[str, Any]]) -> dict[str, set[Row]]:
    by_trace: dict[str, set[Row]] = {}
    for s in spans:
        row = (
            s["span_id"],
            s["parent_span_id"],
            s["name"],
            s["start_ns"],
            s["end_ns"],
            s["status_code"] == 2,
        )
        by_trace.setdefault(s["trace_id"], set()).add(row)
    return by_trace


def _first_copies(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tempo's rule: the first copy of each span id read wins."""
    first: dict[str, dict[str, Any]] = {}
    for s in spans:
        first.setdefault(s["span_id"], s)
    return list(first.values())


def _rows_in_store(url: str, trace_id: str) -> set[Row]:
    doc = httpx.get(f"{url}/api/traces/{trace_id}", timeout=10).json()
    return {
        (
            s["span_id"],
            s["parent_span_id"] or "",
            s["name"],
            s["start_ns"],
            s["end_ns"],
            s["status"] == "error",
        )
        for s in doc["spans"]
    }


def test_tempo_jaeger_and_our_store_show_the_same_traces(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    events = repo / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True)
    shutil.copyfile(HISTORY, events)
    expected = expected_from([events])
    assert build_report(expected.run)["spans_resent"] == 0
    state = ["--state-dir", str(tmp_path / "state")]
    with receiver_process(tmp_path / "rx") as receiver:
        env = tail_env(receiver.grpc_endpoint)
        for again in ([], ["--from-beginning"]):  # the second run delivers every span a second time
            done = run_tail("--once", *state, *again, str(events), env=env)
            assert done.returncode in (0, 1), done.stderr  # 1: the fixture's unusable lines
        received = receiver.wait_for(lambda r: len(r.spans) >= 2 * len(expected.span_ids))
    assert len(received.spans) == 2 * len(expected.span_ids)  # every span id twice …
    assert_exactly(received, expected)  # … each copy exactly the span a clean read makes

    jaeger = _rows_received(received.spans)
    tempo = _rows_received(_first_copies(received.spans))
    assert jaeger == tempo  # identical copies: Jaeger shows no duplicates, Tempo no stale version

    with running_stack(events) as stack:
        wait_until_stored(stack.url, expected.run.engine.state.events_seen)
        for trace_id, rows in tempo.items():
            stored = wait_for(lambda t=trace_id, r=rows: _rows_in_store(stack.url, t) == r and r, timeout=20)
            assert stored == rows, trace_id
    runs = [r for rows in tempo.values() for r in rows if " · run " in r[2]]
    assert runs and all(r[4] - r[3] == 600 * 10**9 for r in runs)  # the story's runs: ten minutes each
    assert any(r[5] for r in runs) and not all(r[5] for r in runs)  # failed and passed runs alike
