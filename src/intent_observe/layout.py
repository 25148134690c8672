"""Where things live: a repository's `.intent/` tree and the state intent-observe keeps.

    repo/.intent/events/events.jsonl        the event log (and its writers' lock, `events.jsonl.lock`)
    repo/.intent/signals/… intents/ specs/ contracts/ clusters/ decisions/   the artifact files
    repo/.intent/observe/                   our state (`.intent-observe/` beside a log elsewhere):
        tail-<scope>-<hash>.sqlite           a followed file's identity state and checkpoint
        tail-<scope>-<hash>.lock             held by the one tail following it
        tail-<scope>-<hash>.deadletter.jsonl its unusable lines
        tail-queue-<hash>.sqlite             a tail's disk queue (one per set of followed files)
        emit-<hash>.sqlite                   `emit`'s cache of the identity state
        store.db  config.toml                `up`: the embedded store and its settings
        up-tail/  up-forward-queue.sqlite    `up`: its tail's state, its forwarding queue

Every such path is built here, so a reader finds them in one place and two commands that
must agree on a name (the tail writes a state file that `emit` reads) cannot drift apart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

# pathlib and hashlib are imported where a path is built or a name hashed: `inspect` of a
# history outside a repository needs neither (together about a tenth of its start-up)
if TYPE_CHECKING:
    from pathlib import Path

INTENT_DIR = ".intent"
EVENTS_DIR = "events"
OBSERVE_DIR = "observe"
EVENTS_FILE = "events.jsonl"
LOOSE_STATE_DIR = ".intent-observe"  # the state beside an events file outside `.intent/events/`
LOCK_SUFFIX = ".lock"  # the framework's writers: `flock -x 200` on 200>events.jsonl.lock

# `.intent/<directory>/…` → the kind of artifact its files are (subdirectories included), as
# `ArtifactKind` values: this module imports nothing of ours, so client commands stay light.
ARTIFACT_DIRECTORIES: dict[str, str] = {
    "signals": "signal",
    "intents": "intent",
    "specs": "spec",
    "contracts": "contract",
    "clusters": "cluster",
    "decisions": "decision",
}
# Not artifact files, and not worth listing one by one: the event log and our own state.
NOT_ARTIFACT_DIRECTORIES = frozenset({EVENTS_DIR, OBSERVE_DIR})

# A tail's state, not its disk queue (`tail-queue-<hash>.sqlite`, which the loose pattern matched)
_TAIL_STATE = re.compile(r"tail-(?!queue-[0-9a-f]{8}\.sqlite$).+-[0-9a-f]{8}\.sqlite")


# ------------------------------------------------------------------ the repository
def events_file(repo: Path) -> Path:
    return repo / INTENT_DIR / EVENTS_DIR / EVENTS_FILE


def observe_dir(repo: Path) -> Path:
    return repo / INTENT_DIR / OBSERVE_DIR


def repository_of(events: str | Path) -> Path | None:
    """The repository whose `.intent/events/` holds this file, if it sits there (the path is
    taken as given, normalised: the caller decides whether symlinks are resolved)."""
    parent = os.path.dirname(events)
    intent = os.path.dirname(parent)
    if os.path.basename(parent) == EVENTS_DIR and os.path.basename(intent) == INTENT_DIR:
        from pathlib import Path

        return Path(os.path.dirname(intent))
    return None


def in_intent_dir(relative: str) -> bool:
    """A repository-relative POSIX path inside `.intent/`."""
    return relative.startswith(INTENT_DIR + "/")


def in_events_dir(relative: str) -> bool:
    return relative.startswith(f"{INTENT_DIR}/{EVENTS_DIR}/")


def artifact_file(directory: str, name: str) -> str:
    """The repository-relative POSIX path of an artifact file, as events name it in `data.file`."""
    return f"{INTENT_DIR}/{directory}/{name}"


def artifact_directories() -> list[str]:
    """The artifact directories, repository-relative POSIX paths (`.intent/signals`, …)."""
    return [f"{INTENT_DIR}/{name}" for name in ARTIFACT_DIRECTORIES]


def writers_lock(events: Path) -> Path:
    """The lock the Intent framework's own writers take on an events file."""
    return events.with_name(events.name + LOCK_SUFFIX)


# ------------------------------------------------------------------ our state
def absolute(path: str | Path) -> Path:
    """The path made absolute without resolving symlinks: names derived from it (state files,
    repository) stay the same when a symlink in it moves, as git-sync's `current` link does on
    every commit."""
    from pathlib import Path

    return Path(os.path.abspath(path))


def state_dir(events: str | Path) -> Path:
    """Where the tail (and `emit`'s cache) keep an events file's state by default."""
    path = absolute(events)
    repo = repository_of(path)
    return observe_dir(repo) if repo is not None else path.parent / LOOSE_STATE_DIR


def _digest(text: str) -> str:
    import hashlib

    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def tail_stem(events: str, scope: str) -> str:
    """The name shared by a followed file's state, lock and dead-letter files."""
    from pathlib import Path

    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", scope or Path(events).stem)[:40]
    return f"tail-{slug}-{_digest(str(absolute(events)))}"


def tail_state(directory: Path, stem: str) -> Path:
    return directory / f"{stem}.sqlite"


def tail_lock(directory: Path, stem: str) -> Path:
    return directory / f"{stem}.lock"


def dead_letter_file(directory: Path, stem: str) -> Path:
    return directory / f"{stem}.deadletter.jsonl"


def tail_states(directory: Path) -> list[Path]:
    """The tail state files in a state directory, sorted (not the disk queues beside them)."""
    return sorted(p for p in directory.glob("tail-*.sqlite") if _TAIL_STATE.fullmatch(p.name))


def tail_queue(directory: Path, events: Iterable[str]) -> Path:
    """One disk queue per set of followed files, so two tails sharing a --state-dir do not collide."""
    key = "\x00".join(sorted(str(absolute(f)) for f in events))
    return directory / f"tail-queue-{_digest(key)}.sqlite"


def emit_cache(events: Path) -> Path:
    """`emit`'s own copy of the identity state, beside the tail's."""
    return state_dir(events) / f"emit-{_digest(str(events.resolve()))}.sqlite"


def store_file(observe: Path) -> Path:
    return observe / "store.db"


def config_file(observe: Path) -> Path:
    return observe / "config.toml"


def up_tail_dir(observe: Path) -> Path:
    """`up`'s tail state, apart from `intent-observe tail`'s, so both can run at once."""
    return observe / "up-tail"


def up_forward_queue(observe: Path) -> Path:
    return observe / "up-forward-queue.sqlite"
