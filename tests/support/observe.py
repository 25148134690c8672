"""A small Intent history with known numbers, and the `up` stack running on ephemeral ports.

The history (times relative to `now`): four signals from three sources, one of them an
orphan whose title is an HTML injection attempt; three clustered and promoted into
INT-001; one spec SPEC-001 with two contracts, CON-001 passing and CON-002 failing.
What it implies, by the design page: 4 signals, 1 intent, 1 spec, contracts 1 ✓ 1 ✗.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from intent_observe.stack.stack import Stack, StackOptions

XSS_TITLE = "<img src=x onerror=alert(1)>"
EXPECTED = {
    "signals": 4,
    "intents": 1,
    "specs": 1,
    "contracts_passed": 1,
    "contracts_failed": 1,
}


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def history(now: datetime) -> list[dict[str, Any]]:
    t0 = now - timedelta(days=3)

    def at(hours: float) -> str:
        return _stamp(t0 + timedelta(hours=hours))

    def env(
        hours: float, event: str, span: str, data: dict[str, Any], source: str, **extra: str
    ) -> dict[str, Any]:
        doc = {"version": "0.2.0", "event": event, "timestamp": at(hours), "trace_id": None}
        return {**doc, "span_id": span, "source": source, "actor": "dev", "data": data, **extra}

    def flat(hours: float, event: str, **fields: Any) -> dict[str, Any]:
        return {"event_type": event, **fields, "timestamp": at(hours)}

    members = ["SIG-001", "SIG-002", "SIG-003"]
    contract = {"spec_id": "SPEC-001", "agent": "claude-code"}
    return [
        env(0, "signal.created", "SIG-001", {"title": "Login test flaky on CI"}, "cli"),
        flat(0.5, "signal.enriched", signal_id="SIG-001", trust_score=0.3),
        env(1, "signal.created", "SIG-002", {"title": "Login timeouts reported"}, "mcp"),
        env(2, "signal.created", "SIG-003", {"title": "Auth retries exhausted"}, "github"),
        env(3, "signal.created", "SIG-004", {"title": XSS_TITLE}, "mcp"),
        flat(3.5, "signal.enriched", signal_id="SIG-004", trust_score=0.7),
        *(
            flat(4 + i / 10, "signal.clustered", signal_id=sig, cluster_id="CL-001")
            for i, sig in enumerate(members)
        ),
        env(
            6,
            "intent.proposed",
            "INT-001",
            {"cluster_id": "CL-001", "title": "Reliable login", "signals": members},
            "mcp",
        ),
        env(
            8,
            "spec.created",
            "SPEC-001",
            {"title": "Retry budget", "contracts": ["CON-001", "CON-002"]},
            "mcp",
            parent_id="INT-001",
        ),
        flat(9, "contract.started", contract_id="CON-001", **contract),
        flat(
            9.2,
            "contract.assertion.passed",
            contract_id="CON-001",
            assertion_id="assert-1",
            assertion_name="unit_tests_pass",
        ),
        flat(
            9.33,
            "contract.completed",
            contract_id="CON-001",
            duration=1200,
            assertions_passed=1,
            assertions_failed=0,
        ),
        flat(10, "contract.started", contract_id="CON-002", **contract),
        flat(
            10.1,
            "contract.assertion.failed",
            contract_id="CON-002",
            assertion_id="assert-2",
            assertion_name="lint_passes",
            error="eslint: 3 errors",
        ),
        flat(
            10.17,
            "contract.completed",
            contract_id="CON-002",
            duration=600,
            assertions_passed=0,
            assertions_failed=1,
        ),
    ]


def write_lines(path: Path, docs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps(doc) + "\n")


def wait_for(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")


def make_repo(root: Path, docs: list[dict[str, Any]] | None = None) -> Path:
    """A repository directory with `.intent/events/events.jsonl` (written from `docs`)."""
    events = root / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True, exist_ok=True)
    events.touch()
    if docs:
        write_lines(events, docs)
    return events


@contextlib.contextmanager
def running_stack(events: Path, **overrides: Any) -> Iterator[Stack]:
    """`up`'s stack on ephemeral loopback ports, stopped afterwards."""
    options = StackOptions(
        events=[events],
        observe_dir=events.parent.parent / "observe",
        port=0,
        grpc_port=0,
        http_port=0,
    )
    for key, value in overrides.items():
        setattr(options, key, value)
    stack = Stack(options)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@contextlib.contextmanager
def stack_with_history(repo: Path, **overrides: Any) -> Iterator[tuple[Stack, Path, list[dict[str, Any]]]]:
    """`running_stack` over a new repository holding `history()`: (stack, events file, lines),
    once every line is stored."""
    docs = history(datetime.now(UTC))
    events = make_repo(repo, docs)
    with running_stack(events, **overrides) as stack:
        wait_until_stored(stack.url, len(docs))
        yield stack, events, docs


def wait_until_stored(url: str, events: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The summary once the adapter has delivered `events` events and pushed its metrics."""

    def ready() -> dict[str, Any] | None:
        summary = httpx.get(f"{url}/api/summary", headers=headers or {}, timeout=5).json()
        stored = httpx.get(f"{url}/api/events", params={"limit": 1}, headers=headers or {}, timeout=5).json()
        full = summary["events_total"] == events and stored["events"]
        return summary if full and summary["signals"] else None

    result: dict[str, Any] = wait_for(ready, timeout=20)
    return result
