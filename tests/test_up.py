"""`intent-observe up` as a real process, and `status` / `trace` / `events` against it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.observe import EXPECTED, history, make_repo, wait_for, wait_until_stored
from tests.support.up import BIN, UpProcess, up_env


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], env=up_env(), capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UpProcess, list[dict[str, Any]]]]:
    repo = tmp_path_factory.mktemp("repo")
    (repo / ".git").mkdir()
    docs = history(datetime.now(UTC))
    make_repo(repo, docs)
    up = UpProcess(repo)
    try:
        wait_until_stored(up.url, len(docs))
        yield up, docs
    finally:
        assert up.stop() == 0


def test_status_reports_the_loop(running: tuple[UpProcess, list[dict[str, Any]]]) -> None:
    up, docs = running
    result = cli("status", "--url", up.url, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {k: doc["summary"][k] for k in EXPECTED} == EXPECTED
    assert doc["status"]["logs"] == len(docs)
    human = cli("status", "--url", up.url)
    assert "signals 4 · intents 1 · specs 1 · contracts 1 ✓ 1 ✗" in human.stdout


def test_trace_prints_the_intent_tree(running: tuple[UpProcess, list[dict[str, Any]]]) -> None:
    up, _ = running
    result = cli("trace", "INT-001", "--url", up.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    intent = next(i for i, line in enumerate(lines) if "intent INT-001" in line)
    spec = next(i for i, line in enumerate(lines) if "spec SPEC-001" in line)
    failed = next(line for line in lines if "lint_passes" in line)
    assert intent < spec and "✗" in failed and "eslint: 3 errors" in failed
    # INT-001 and SPEC-001 are still open (CON-002 failed); each contract's run passed or failed
    assert "open" in lines[intent] and "open" in lines[spec]
    runs = {
        run: next(line for line in lines if f"contract {run} · run 1" in line)
        for run in ("CON-001", "CON-002")
    }
    assert "✓" in runs["CON-001"] and "✗" in runs["CON-002"]
    as_json = json.loads(cli("trace", "INT-001", "--url", up.url, "--json").stdout)
    by_trace_id = json.loads(cli("trace", as_json["trace_id"], "--url", up.url, "--json").stdout)
    assert by_trace_id == as_json
    missing = cli("trace", "INT-404", "--url", up.url)
    assert missing.returncode != 0 and "no trace for 'INT-404'" in missing.stderr


def test_events_filters_by_type_and_age(running: tuple[UpProcess, list[dict[str, Any]]]) -> None:
    up, docs = running
    result = cli("events", "--type", "contract.*", "--since", "7d", "--url", up.url, "--json")
    assert result.returncode == 0, result.stderr
    types = sorted(e["type"] for e in json.loads(result.stdout)["events"])
    assert types == sorted(d["event_type"] for d in docs if d.get("event_type", "").startswith("contract."))
    recent = json.loads(cli("events", "--since", "1h", "--url", up.url, "--json").stdout)
    assert recent["events"] == []  # the fixture's events are days old
    table = cli("events", "--type", "spec.*", "--url", up.url)
    assert "SPEC-001" in table.stdout and "Retry budget" in table.stdout


def test_the_clients_say_clearly_when_nothing_runs() -> None:
    result = cli("status", "--url", "http://127.0.0.1:9")
    assert result.returncode == 1 and "no intent-observe up answers at http://127.0.0.1:9" in result.stderr


def test_auto_demo_in_an_empty_repository_writes_history_and_keeps_appending(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    up = UpProcess(tmp_path, "--auto-demo")
    try:
        events = tmp_path / ".intent" / "events" / "events.jsonl"
        written = len(events.read_text().splitlines())

        def history_stored() -> dict[str, Any] | None:
            # The live loop keeps appending: the history is in once the count reaches it.
            summary: dict[str, Any] = httpx.get(f"{up.url}/api/summary", timeout=5).json()
            return summary if summary["events_total"] >= written and summary["signals"] else None

        summary = wait_for(history_stored, timeout=20)
        assert summary["intents"] > 10 and summary["contracts_failed"] > 0

        def grew() -> bool:
            return len(events.read_text().splitlines()) > written

        deadline = time.monotonic() + 15
        while not grew() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert grew()
    finally:
        assert up.stop() == 0


def test_beyond_loopback_without_a_token_up_exits_with_a_reason(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN), "up", "--host", "0.0.0.0", "--port", "0", "--grpc-port", "0", "--http-port", "0"],
        cwd=tmp_path, env=up_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "INTENT_OBSERVE_TOKEN" in result.stderr
