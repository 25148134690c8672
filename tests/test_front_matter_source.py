"""The artifact files as a second source: a repository made with real `git` commits, each status
and link change of a file's front matter a derived event at its commit's time — in `inspect`
and in the tail, the same on every run and after a restart."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.receiver import receiver_process

from intent_observe.artifacts.derive import Derived, derived_events_of
from intent_observe.events import Event
from intent_observe.report import Run, build_report, read_history
from tailing import assert_exactly, expected_from, run_tail, tail_env

pytestmark = pytest.mark.timeout(180)

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z: the events; the commits come a day and more later
DAY = 86_400


def _stamp(seconds: int) -> str:
    return f"2026-01-01T{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:00Z"


EVENTS = [
    {
        "event": "signal.created",
        "timestamp": _stamp(0),
        "span_id": "SIG-1",
        "source": "github-action",
        "data": {"title": "Flaky login", "file": ".intent/signals/SIG-1-flaky-login.md"},
    },
    {
        "event": "signal.created",
        "timestamp": _stamp(60),
        "span_id": "SIG-2",
        "source": "github-action",
        "data": {"title": "Slow builds", "file": ".intent/signals/SIG-2-slow-builds.md"},
    },
    {
        "event": "intent.proposed",
        "timestamp": _stamp(3600),
        "span_id": "INT-1",
        "source": "github-action",
        "data": {"title": "Reliable login", "file": ".intent/intents/INT-1-reliable-login.md"},
    },
    {
        "event": "spec.written",
        "timestamp": _stamp(7200),
        "span_id": "SPEC-1",
        "source": "github-action",
        "data": {"title": "Retry login", "file": ".intent/specs/SPEC-1-retry-login.md"},
    },
]


def _file(repo: Path, relative: str, front: dict[str, str]) -> None:
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{key}: {value}\n" for key, value in front.items())
    path.write_text(f"---\n{lines}---\n\n# {front['id']}\n", encoding="utf-8")


def _commit(repo: Path, when: int, message: str) -> None:
    stamp = f"@{when} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    for args in (["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "config", "user.email", "dev@example.com"], cwd=repo, check=True)
    subprocess.run(["git", "config", "user.name", "dev"], cwd=repo, check=True)
    events = repo / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True)
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS), encoding="utf-8")
    _file(repo, ".intent/signals/SIG-1-flaky-login.md", {"id": "SIG-1", "status": "open"})
    _file(repo, ".intent/signals/SIG-2-slow-builds.md", {"id": "SIG-2", "status": "active"})
    _file(repo, ".intent/intents/INT-1-reliable-login.md", {"id": "INT-1", "status": "proposed"})
    _file(repo, ".intent/specs/SPEC-1-retry-login.md", {"id": "SPEC-1", "status": "draft"})
    _commit(repo, T0 + DAY, "the artifacts as first written")
    _file(repo, ".intent/signals/SIG-1-flaky-login.md", {"id": "SIG-1", "status": "resolved  # fixed in #12"})
    _commit(repo, T0 + 2 * DAY, "SIG-1 resolved")
    return repo


def _ship(repo: Path) -> None:
    _file(repo, ".intent/intents/INT-1-reliable-login.md", {"id": "INT-1", "status": "v1.0-shipped"})
    _file(repo, ".intent/specs/SPEC-1-retry-login.md", {"id": "SPEC-1", "status": "draft", "intent": "INT-1"})
    _commit(repo, T0 + 3 * DAY, "INT-1 shipped; SPEC-1 belongs to it")


def _events_file(repo: Path) -> Path:
    return repo / ".intent" / "events" / "events.jsonl"


def _derived_logs(run: Run) -> list[tuple[str, str, int]]:
    return sorted(
        (str(r.attributes["event.name"]), str(r.attributes["intent.artifact.id"]), r.time_ns)
        for r in run.logs
        if r.attributes.get("intent.source") == "front-matter"
    )


def test_each_change_is_an_event_at_its_commits_time(repo: Path) -> None:
    _ship(repo)
    run = read_history([str(_events_file(repo))])
    ns = 10**9
    assert _derived_logs(run) == [
        ("intent.completed", "INT-1", (T0 + 3 * DAY) * ns),
        ("signal.resolved", "SIG-1", (T0 + 2 * DAY) * ns),
        ("spec.linked", "SPEC-1", (T0 + 3 * DAY) * ns),
    ]
    metrics = build_report(run)["metrics"]
    assert sum(p["value"] for p in metrics["intent.signals.active"]["points"]) == 1  # SIG-2 only
    assert metrics["intent.intents.active"]["points"][0]["value"] == 0
    assert "intent.intent.last_event_timestamp" not in metrics  # the stale alert spares it
    intent = build_report(run)["intents"]["INT-1"]
    [lifecycle] = [a for a in intent["artifacts"] if a["phase"] == "lifecycle"]
    assert lifecycle["duration_s"] == 3 * DAY - 3600  # proposed → the commit that shipped it
    assert [a["id"] for a in intent["artifacts"] if a["type"] == "spec"] == ["SPEC-1"]  # it joined
    again = read_history([str(_events_file(repo))])  # a second read: the same, byte for byte
    assert _derived_logs(again) == _derived_logs(run)
    assert {k: (s.name, s.end_ns) for k, s in again.spans.items()} == {
        k: (s.name, s.end_ns) for k, s in run.spans.items()
    }


def test_inspect_counts_the_events_the_front_matter_adds_beside_the_lines(repo: Path) -> None:
    _ship(repo)
    out = subprocess.run(
        [sys.executable, "-m", "intent_observe.cli", "inspect", str(_events_file(repo))],
        capture_output=True,
        env={**os.environ, "COLUMNS": "200"},
        check=True,
    )
    # what the Events page lists (7), not only the lines (4): each said where it comes from
    headline = "4 events from 4 lines, 3 more from the artifact files' front matter · "
    assert out.stdout.decode().startswith(headline)


def test_the_tail_says_each_change_once_across_a_restart(repo: Path, tmp_path: Path) -> None:
    events = _events_file(repo)
    state = ["--state-dir", str(tmp_path / "state")]
    with receiver_process(tmp_path / "rx") as receiver:
        env = tail_env(receiver.grpc_endpoint)
        first = run_tail("--once", *state, str(events), env=env)
        assert first.returncode == 0, first.stderr
        _ship(repo)  # committed while the tail was not running
        second = run_tail("--once", *state, str(events), env=env)
        assert second.returncode == 0, second.stderr
        received = receiver.received()
    expected = expected_from([events])
    assert_exactly(received, expected)  # every span and log record once, as one whole read makes them
    derived = [r for r in received.logs if r["attributes"].get("intent.source") == "front-matter"]
    assert sorted(r["attributes"]["event.name"] for r in derived) == [
        "intent.completed",
        "signal.resolved",
        "spec.linked",
    ]


def test_a_state_written_under_earlier_rules_is_rebuilt_from_the_log(repo: Path, tmp_path: Path) -> None:
    """An identity state of an earlier version is not carried over: the tail says so and reads the
    history again from its start, ending with exactly what a whole read makes."""
    events = _events_file(repo)
    state_dir = tmp_path / "state"
    with receiver_process(tmp_path / "rx") as receiver:
        env = tail_env(receiver.grpc_endpoint)
        assert run_tail("--once", "--state-dir", str(state_dir), str(events), env=env).returncode == 0
        [state_file] = state_dir.glob("tail-events-*.sqlite")  # the identity state (beside the queue)
        db = sqlite3.connect(state_file)
        # as the builds before the compiled engine wrote it: JSON, version 5
        old = json.dumps({"version": 5, "scope": ""}).encode()
        db.execute("UPDATE engine SET doc = ? WHERE name = 'core'", (old,))
        db.commit()
        db.close()
        again = run_tail("--once", "--state-dir", str(state_dir), str(events), env=env)
        assert again.returncode == 0, again.stderr
        assert "again from its start" in again.stderr
        received = receiver.received()
    expected = expected_from([events])
    assert_exactly(received, expected)  # the same spans and records, each copy identical
    assert len(received.logs) == 2 * len(expected.logs)  # everything read twice


def test_a_rescan_of_the_files_brings_only_what_is_new(repo: Path) -> None:
    """A quiet tail looks at the files again and again: what it has seen is not fed a second time
    (it would make a batch and a state write at every look)."""
    first = derived_events_of(str(_events_file(repo)))
    waiting = Derived(first.said)
    fed: list[str] = []

    class Recorder:
        def process(self, ev: Event, observed_ns: int | None = None) -> None:
            fed.append(ev.type)

    assert waiting.feed_before(None, Recorder()) == len(first.said) == 1  # SIG-1 resolved
    waiting.add(derived_events_of(str(_events_file(repo))).said)
    assert waiting.feed_before(None, Recorder()) == 0
    _ship(repo)
    waiting.add(derived_events_of(str(_events_file(repo))).said)
    assert waiting.feed_before(None, Recorder()) == 2
    assert sorted(fed) == ["intent.completed", "signal.resolved", "spec.linked"]
