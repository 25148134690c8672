"""`up --demo`: a history like a real Intent repository's, then a live loop that keeps appending to it.

The history is a few weeks of intents (signals → `CLU-` cluster → intent → spec →
contracts with assertions, now and then a failure or a decision), with the ids, line
shapes and writers a real repository mixes (`intent_observe.sources.synthetic`), open
signals at every autonomy level, and ends shortly before now. Beside the events, the
artifact files those events name (`.intent/signals/…`, `intents/`, `specs/`, `clusters/`,
`decisions/`) are written with their front matter, as the framework keeps them — only in
a repository that has none yet. The live loop then plays further stories with each line
stamped at the moment it is written, a line every couple of seconds, so every panel of
the app moves.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from intent_observe import layout
from intent_observe.safe_files import open_regular
from intent_observe.sources import synthetic

log = logging.getLogger(__name__)

HISTORY_INTENTS = 36
HISTORY_DAYS = 21
LIVE_INTERVAL_S = (1.0, 3.5)


def history(now: datetime, seed: int = 42) -> tuple[list[bytes], dict[str, str]]:
    """HISTORY_INTENTS stories spread over the last HISTORY_DAYS days: their lines in time order,
    and the artifact files (path → text) they leave behind."""
    rng = random.Random(seed)
    start = now - timedelta(days=HISTORY_DAYS)
    spacing = timedelta(days=HISTORY_DAYS) / (HISTORY_INTENTS + 1)
    stretch = [rng.uniform(2.0, 40.0) for _ in range(HISTORY_INTENTS)]  # slower and faster intents
    lines: list[tuple[datetime, bytes]] = []
    files: dict[str, str] = {}
    for n in range(1, HISTORY_INTENTS + 1):
        begin = start + spacing * (n - 1)
        story = synthetic.plan(n, rng, begin)
        named: set[str] = set()
        cut = False
        for when, raw in synthetic.story_lines(story, rng):
            stretched = begin + (when - begin) * stretch[n - 1]
            if stretched >= now - timedelta(minutes=5):
                cut = True
                continue
            lines.append((stretched, synthetic.restamped(raw, stretched)))
            named.update(synthetic.named_ids(raw))
        files.update(synthetic.story_files(story, finished=not cut, named=named))
    lines.sort(key=lambda item: item[0])
    return [raw for _, raw in lines], files


def write_history(path: Path, now: datetime | None = None) -> int:
    """Append the demo history to `path` (created with its directories), and write its artifact
    files where `path` is a repository's `.intent/events/events.jsonl`; returns lines written."""
    lines, files = history(now or datetime.now(UTC))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for raw in lines:
            os.write(fd, raw + b"\n")
    finally:
        os.close(fd)
    repo = layout.repository_of(path)
    if repo is not None:
        write_artifact_files(repo, files)
    return len(lines)


def write_artifact_files(repo: Path, files: dict[str, str]) -> int:
    """Write the demo's artifact files under `repo`, unless its `.intent/` already holds artifact
    directories (a real tree is never mixed with demo files). Nothing is written through a
    symbolic link or over an existing file. Returns the files written."""
    intent_dir = repo / layout.INTENT_DIR
    if intent_dir.is_symlink() or any((intent_dir / name).exists() for name in layout.ARTIFACT_DIRECTORIES):
        return 0
    written = 0
    for relative, text in sorted(files.items()):
        target = repo / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            continue
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        written += 1
    return written


class LiveDemo:
    """Appends one line of a new story every couple of seconds until `shutdown()`."""

    def __init__(self, path: Path, seed: int = 7, first_intent: int = HISTORY_INTENTS + 1) -> None:
        self.path = path
        self._rng = random.Random(seed)
        self._next_intent = first_intent
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-live", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            n, self._next_intent = self._next_intent, self._next_intent + 1
            for _, raw in synthetic.story(n, self._rng, datetime.now(UTC)):
                if self._stop.wait(self._rng.uniform(*LIVE_INTERVAL_S)):
                    return
                try:
                    self._append(synthetic.restamped(raw, datetime.now(UTC)))
                except OSError as error:  # the file was replaced by a link or a FIFO, or the disk is full
                    log.warning("the live demo stops: %s", error)
                    return

    def _append(self, raw: bytes) -> None:
        # one write on an O_APPEND descriptor: a line never interleaves with another writer's
        fd = open_regular(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, raw + b"\n")
        finally:
            os.close(fd)


def has_events(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0
