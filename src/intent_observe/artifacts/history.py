"""When each artifact file's front matter changed: from git, else from the files' change times.

A status that moves from `open` to `resolved` in a commit happened at that commit's time.
`front_matter_history(repo)` walks the history of `.intent/` once (`git log --first-parent`,
so a merged branch's changes land at the merge, as the branch the repository follows saw
them) and reads each changed file at each commit; a commit that touches only a file's body,
or keys nothing here reads, gives no change. The same clone always gives the same list,
times included (commit times, not clocks). Uncommitted edits, and files outside git,
come last, at the time the front matter says (`ArtifactFile.said_at`: a copied tree's files all
look changed today), else at their modification time.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from intent_observe import layout
from intent_observe.artifacts.files import (
    MAX_READ_BYTES,
    ArtifactFile,
    files_under,
    parse_artifact,
    read_artifact_file,
)

GIT_TIMEOUT_S = 120


@dataclass(frozen=True, slots=True)
class FrontMatterChange:
    """One file's reading from the moment it changed."""

    time_ns: int  # when it happened: its commit's time, else the date the file gives, else its mtime
    path: str  # relative to the repository, POSIX (as `ArtifactFile.path`)
    artifact: ArtifactFile | None  # None: the file was removed, or is no longer an artifact file
    commit: str | None  # the commit that made the change; None: the working tree
    recorded_ns: int  # when the repository recorded it: its commit's time, else the file's mtime


def front_matter_history(repo: Path) -> list[FrontMatterChange]:
    """Every change of what the artifact files under `repo/.intent/` say, oldest first: the
    committed history in the order git made it, then the working tree's differences."""
    changes: list[FrontMatterChange] = []
    latest: dict[str, ArtifactFile | None] = {}
    for change in _committed_changes(repo):
        if _differs(latest.get(change.path), change.artifact):
            latest[change.path] = change.artifact
            changes.append(change)
    uncommitted = []
    for relative, full in files_under(repo):
        reading = read_artifact_file(relative, full)
        artifact = reading if isinstance(reading, ArtifactFile) else None
        if _differs(latest.get(relative), artifact):
            modified = _mtime_ns(full)
            said = artifact.said_at(modified) if artifact is not None else None
            time_ns = said if said is not None else modified
            uncommitted.append(FrontMatterChange(time_ns, relative, artifact, None, modified))
    return changes + sorted(uncommitted, key=lambda change: (change.recorded_ns, change.path))


def _differs(before: ArtifactFile | None, after: ArtifactFile | None) -> bool:
    """What the file says changed (how leniently it was read is no change)."""
    if before is None or after is None:
        return before is not after
    return replace(before, notes=()) != replace(after, notes=())


def _mtime_ns(path: Path) -> int:
    try:
        return path.lstat().st_mtime_ns
    except OSError:
        return 0


# ------------------------------------------------------------------ git
def _committed_changes(repo: Path) -> Iterator[FrontMatterChange]:
    """Each committed change of a file under `.intent/`, read at its commit; nothing outside git."""
    log = _git(
        repo,
        "log",
        "--reverse",
        "--first-parent",
        "--diff-merges=first-parent",
        "--no-renames",
        "--relative",
        "--name-status",
        "-z",
        "--format=%x01%H %ct",
        "--",
        *layout.artifact_directories(),
    )
    if log is None:
        return
    touched = list(_parse_log(log))
    wanted = [
        (commit, path)
        for commit, _, path, status in touched
        if status != "D" and "\n" not in path and path.lower().endswith((".md", ".markdown"))
    ]
    blobs = _read_blobs(repo, wanted)
    for commit, time_ns, path, _ in touched:
        text = blobs.get((commit, path))
        reading = parse_artifact(path, text) if text is not None else None
        artifact = reading if isinstance(reading, ArtifactFile) else None
        yield FrontMatterChange(time_ns, path, artifact, commit, time_ns)


def _parse_log(log: bytes) -> Iterator[tuple[str, int, str, str]]:
    """(commit, commit time in ns, path, status letter) from `git log --name-status -z`."""
    for record in log.split(b"\x01")[1:]:
        header, _, rest = record.partition(b"\x00")
        commit, _, seconds = header.decode().partition(" ")
        fields = rest.lstrip(b"\n").split(b"\x00")
        time_ns = int(seconds) * 1_000_000_000
        for status, path in zip(fields[0::2], fields[1::2], strict=False):
            if status and path:
                yield commit, time_ns, path.decode("utf-8", "replace"), status.decode()[:1]


def _read_blobs(repo: Path, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The text of each (commit, path), all through one `git cat-file --batch`."""
    if not wanted:
        return {}
    request = b"".join(f"{commit}:{path}\n".encode() for commit, path in wanted)
    out = _git(repo, "cat-file", "--batch", stdin=request)
    if out is None:
        return {}
    texts: dict[tuple[str, str], str] = {}
    position = 0
    for key in wanted:
        header_end = out.index(b"\n", position)
        header = out[position:header_end].split()
        position = header_end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # missing (a submodule, a path git would not name), or not a file
        size = int(header[2])
        texts[key] = out[position : position + min(size, MAX_READ_BYTES)].decode("utf-8", "replace")
        position += size + 1  # the content, then a newline
    return texts


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    """git's output, or None where there is no git history to read (not a repository, no commits,
    no git)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), "-c", "core.quotePath=false", *args],
            input=stdin,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None
