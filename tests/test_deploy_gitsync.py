"""The phase-3 agent's adapter under git-sync: the chart points it at `/repo/current/…`, a symlink
that git-sync moves to a fresh worktree (`.worktrees/<commit>`) on every commit and whose old target
it deletes. The adapter must keep one state across commits and send only what each commit added.

git-sync itself cannot be built here (its module path, k8s.io/git-sync, is not served by the Go
module proxy this machine reaches), so the test lays out its directories as git-sync v4 does:
a new worktree, a relative symlink swapped in by rename, the old worktree removed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.support import receiver_in_thread
from tests.tailing import assert_exactly, expected_from, has_all, log_keys, run_tail, tail_env

HISTORY = Path(__file__).parent / "fixtures" / "history.jsonl"
EVENTS = Path(".intent") / "events" / "events.jsonl"


def _sync(root: Path, commit: str, lines: list[bytes]) -> None:
    """What git-sync does for a new commit: check it out beside the old one, then move `current`."""
    worktree = root / ".worktrees" / commit
    (worktree / EVENTS).parent.mkdir(parents=True)
    (worktree / EVENTS).write_bytes(b"".join(lines))
    previous = os.readlink(root / "current") if (root / "current").is_symlink() else None
    (root / "current.new").symlink_to(Path(".worktrees") / commit)
    (root / "current.new").replace(root / "current")
    if previous is not None:
        shutil.rmtree(root / previous)


def test_each_commit_sends_only_what_it_added_and_keeps_one_state(tmp_path: Path) -> None:
    lines = HISTORY.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    root, state = tmp_path / "repo", tmp_path / "state"
    root.mkdir()
    followed = str(root / "current" / EVENTS)
    first = tmp_path / "first.jsonl"
    first.write_bytes(b"".join(lines[:half]))

    with receiver_in_thread(tmp_path / "receiver") as receiver:
        env = tail_env(receiver.grpc_endpoint, OTEL_RESOURCE_ATTRIBUTES="intent.repository=web")
        _sync(root, "1a2b3c", lines[:half])
        done = run_tail("--once", "--state-dir", str(state), followed, env=env)
        assert done.returncode == 0, done.stderr
        after_first = receiver.wait_for(has_all(expected_from([first])))

        _sync(root, "4d5e6f", lines)
        done = run_tail("--once", "--state-dir", str(state), followed, env=env)
        assert done.returncode == 0, done.stderr
        expected = expected_from([HISTORY])
        received = receiver.wait_for(has_all(expected))

    assert len(log_keys(after_first)) == len(expected_from([first]).logs) < len(expected.logs)
    assert_exactly(received, expected)
    assert len(received.logs) == len(expected.logs)  # the second commit replayed nothing
    assert len(list(state.glob("tail-events-*.sqlite"))) == len(list(state.glob("tail-queue-*.sqlite"))) == 1
    assert {r["resource"]["intent.repository"] for r in received.logs} == {"web"}
