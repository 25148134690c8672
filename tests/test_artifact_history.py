"""When front matter changed: commit times from a real git history, file times outside git."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from intent_observe.artifacts.history import FrontMatterChange, front_matter_history


def at(moment: str) -> int:
    return int(datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


def git(repo: Path, *args: str, when: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="dev", GIT_AUTHOR_EMAIL="dev@example.com", GIT_COMMITTER_NAME="dev")
    env["GIT_COMMITTER_EMAIL"] = "dev@example.com"
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{when}+00:00"
    result = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return result.stdout.strip()


def commit(repo: Path, when: str, files: dict[str, str | None], message: str = "change") -> str:
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, when=when)
    return git(repo, "rev-parse", "HEAD")


def signal(status: str, body: str = "") -> str:
    return f"---\nid: SIG-001\nstatus: {status}\ntrust: 0.5\n---\n{body}"


INTENT = "---\nid: INT-001\nstatus: {status}\nsignals: [SIG-001]\n---\n{body}"
SPEC = "---\nid: SPEC-001\nstatus: draft\n{link}---\n"


def summary(changes: list[FrontMatterChange]) -> list[tuple[int, str, str | None, tuple[str, ...]]]:
    """(time, file, status, the spec's intent link) of each change."""
    return [
        (
            c.time_ns,
            c.path.rpartition("/")[2],
            c.artifact.status if c.artifact else None,
            c.artifact.links.intent if c.artifact else (),
        )
        for c in changes
    ]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(
        root,
        "2026-03-01T10:00:00",
        {
            ".intent/signals/SIG-001.md": signal("open"),
            ".intent/intents/INT-001.md": INTENT.format(status="proposed", body=""),
            ".intent/specs/SPEC-001.md": SPEC.format(link=""),
            ".intent/signals/README.md": "# Signals live here\n",
            "src/app.py": "print('hi')\n",
        },
    )
    commit(
        root,
        "2026-03-05T09:30:00",
        {
            ".intent/signals/SIG-001.md": signal("resolved"),
            ".intent/intents/INT-001.md": INTENT.format(status="proposed", body="More notes.\n"),  # body only
            "src/app.py": "print('hello')\n",
        },
    )
    commit(
        root,
        "2026-03-09T16:00:00",
        {
            ".intent/specs/SPEC-001.md": SPEC.format(link="intent: INT-001\n"),
            ".intent/intents/INT-001.md": INTENT.format(status="shipped", body="More notes.\n"),
        },
    )
    # A branch adds a signal on the 10th; main merges it on the 12th.
    git(root, "checkout", "-q", "-b", "side")
    commit(
        root, "2026-03-10T08:00:00", {".intent/signals/SIG-002.md": "---\nid: SIG-002\nstatus: open\n---\n"}
    )
    git(root, "checkout", "-q", "main")
    commit(root, "2026-03-11T08:00:00", {"src/other.py": "x = 1\n"})
    git(root, "merge", "-q", "--no-ff", "-m", "merge side", "side", when="2026-03-12T12:00:00")
    commit(root, "2026-03-14T12:00:00", {".intent/signals/SIG-002.md": None})
    return root


COMMITTED = [
    (at("2026-03-01T10:00:00"), "INT-001.md", "proposed", ()),
    (at("2026-03-01T10:00:00"), "SIG-001.md", "open", ()),
    (at("2026-03-01T10:00:00"), "SPEC-001.md", "draft", ()),
    (at("2026-03-05T09:30:00"), "SIG-001.md", "resolved", ()),
    (at("2026-03-09T16:00:00"), "INT-001.md", "shipped", ()),
    (at("2026-03-09T16:00:00"), "SPEC-001.md", "draft", ("INT-001",)),
    (at("2026-03-12T12:00:00"), "SIG-002.md", "open", ()),  # at the merge, as main saw it
    (at("2026-03-14T12:00:00"), "SIG-002.md", None, ()),  # removed
]


def test_changes_are_placed_at_the_commits_that_made_them(repo: Path) -> None:
    changes = front_matter_history(repo)
    assert summary(changes) == COMMITTED
    assert all(c.commit is not None for c in changes)
    merge = git(repo, "rev-parse", "HEAD~1")
    assert changes[6].commit == merge


def test_the_same_history_every_run_and_in_a_clone(repo: Path, tmp_path: Path) -> None:
    first = front_matter_history(repo)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    os.utime(clone / ".intent/signals/SIG-001.md", ns=(1, 1))  # a checkout's file times say nothing
    in_clone = front_matter_history(clone)
    assert front_matter_history(repo) == first
    assert [(c.time_ns, c.path, c.artifact, c.commit) for c in in_clone] == [
        (c.time_ns, c.path, c.artifact, c.commit) for c in first
    ]


def test_uncommitted_edits_come_last_at_their_file_times(repo: Path) -> None:
    edited = repo / ".intent/signals/SIG-001.md"
    edited.write_text(signal("reopened"))
    os.utime(edited, ns=(at("2026-03-20T07:00:00"), at("2026-03-20T07:00:00")))
    body_only = repo / ".intent/intents/INT-001.md"
    body_only.write_text(INTENT.format(status="shipped", body="Edited notes only.\n"))
    new = repo / ".intent/signals/SIG-003.md"
    new.write_text("---\nid: SIG-003\nstatus: captured\n---\n")
    os.utime(new, ns=(at("2026-03-21T07:00:00"), at("2026-03-21T07:00:00")))
    changes = front_matter_history(repo)
    assert summary(changes) == [
        *COMMITTED,
        (at("2026-03-20T07:00:00"), "SIG-001.md", "reopened", ()),
        (at("2026-03-21T07:00:00"), "SIG-003.md", "captured", ()),
    ]
    assert [c.commit for c in changes[-2:]] == [None, None]


def test_outside_git_each_file_at_its_modification_time(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    for name, text, moment in (
        ("signals/SIG-007.md", "---\nid: SIG-007\nstatus: open\n---\n", "2026-02-01T00:00:00"),
        ("specs/SPEC-002.md", "---\nid: SPEC-002\nintent: INT-004\n---\n", "2026-02-02T00:00:00"),
        ("signals/templates/signal.md", "---\nid: SIG-XXX\n---\n", "2026-02-03T00:00:00"),
    ):
        path = plain / ".intent" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.utime(path, ns=(at(moment), at(moment)))
    changes = front_matter_history(plain)
    assert summary(changes) == [
        (at("2026-02-01T00:00:00"), "SIG-007.md", "open", ()),
        (at("2026-02-02T00:00:00"), "SPEC-002.md", None, ("INT-004",)),
    ]
    assert [c.commit for c in changes] == [None, None]


def test_outside_git_a_change_is_dated_by_what_its_front_matter_says(tmp_path: Path) -> None:
    """A copied tree's files were all modified when it was copied: the dates in their front matter
    say when they came to say what they say (a close's own date first), and their modification
    time only places them after the log."""
    copied = at("2026-12-06T04:00:00")
    plain = tmp_path / "plain"
    for name, text in (
        # closed: the date under a key naming the close, not the later triage nor the creation
        ("signals/SIG-001.md", "---\nid: SIG-001\nstatus: resolved\ncreated: 2026-03-01\n"
         "resolved_date: 2026-03-05T09:30:00Z\nlast_triaged: 2026-03-20\n---\n"),
        # v1.0-shipped closes; `v1_shipped_date` names the close; a date starting prose is a date
        ("intents/INT-001.md", "---\nid: INT-001\nstatus: v1.0-shipped\nproposed_date: 2026-03-02T08:00:00Z\n"
         "v1_shipped_date: 2026-03-09 (late evening)\n---\n"),
        # open: its newest date; a date later than the file was written is a plan
        ("specs/SPEC-001.md", "---\nid: SPEC-001\nintent: INT-001\ncreated: 2026-03-03\n"
         "updated: 2026-03-04T12:00:00+02:00\ntarget: 2027-01-01\n---\n"),
        # no date, or only what is not one (a file name, a month out of range): its modification time
        ("signals/SIG-002.md", "---\nid: SIG-002\nstatus: resolved\nparent_signal: 2026-03-01-other.md\n"
         "resolved: 2026-13-40\n---\n"),
    ):  # fmt: skip
        path = plain / ".intent" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.utime(path, ns=(copied, copied))
    changes = {c.path.rpartition("/")[2]: c for c in front_matter_history(plain)}
    assert {name: c.time_ns for name, c in changes.items()} == {
        "SIG-001.md": at("2026-03-05T09:30:00"),
        "INT-001.md": at("2026-03-09T23:59:59"),  # a day: by its end
        "SPEC-001.md": at("2026-03-04T10:00:00"),
        "SIG-002.md": copied,
    }
    assert {c.recorded_ns for c in changes.values()} == {copied}


def test_a_day_is_read_as_its_end_or_when_the_file_was_written_that_day(tmp_path: Path) -> None:
    """`created: 2026-03-03` says the file said so by that day's end; a file written at 10:00 that
    day said so by 10:00. Its midnight came before whatever the log recorded that day."""
    plain = tmp_path / "plain"
    for name, written in (("SPEC-001", "2026-03-03T10:00:00"), ("SPEC-002", "2026-03-04T10:00:00")):
        path = plain / ".intent" / "specs" / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"---\nid: {name}\nintent: INT-001\ncreated: 2026-03-03\n---\n")
        os.utime(path, ns=(at(written), at(written)))
    changes = {c.path.rpartition("/")[2]: c.time_ns for c in front_matter_history(plain)}
    assert changes == {"SPEC-001.md": at("2026-03-03T10:00:00"), "SPEC-002.md": at("2026-03-03T23:59:59")}
