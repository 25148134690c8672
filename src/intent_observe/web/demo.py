"""`up --demo`: a realistic Intent history, then a live loop that keeps appending to it.

The history is a few weeks of intents (signals → cluster → intent → spec → contracts
with assertions, now and then a failure or a decision) ending shortly before now; the
live loop then plays further stories with each line stamped at the moment it is
written, a line every couple of seconds, so every panel of the app moves.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from intent_observe.safe_files import open_regular
from intent_observe.sources import synthetic

log = logging.getLogger(__name__)

HISTORY_INTENTS = 36
HISTORY_DAYS = 21
LIVE_INTERVAL_S = (1.0, 3.5)


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _restamped(raw: bytes, when: datetime) -> bytes:
    doc = orjson.loads(raw)
    doc["timestamp"] = _stamp(when)
    return orjson.dumps(doc)


def history(now: datetime, seed: int = 42) -> Iterator[bytes]:
    """HISTORY_INTENTS stories spread over the last HISTORY_DAYS days, each line in time order."""
    rng = random.Random(seed)
    start = now - timedelta(days=HISTORY_DAYS)
    spacing = timedelta(days=HISTORY_DAYS) / (HISTORY_INTENTS + 1)
    stretch = [rng.uniform(2.0, 40.0) for _ in range(HISTORY_INTENTS)]  # slower and faster intents
    lines: list[tuple[datetime, bytes]] = []
    for n in range(1, HISTORY_INTENTS + 1):
        begin = start + spacing * (n - 1)
        for when, raw in synthetic.story(n, rng, begin):
            stretched = begin + (when - begin) * stretch[n - 1]
            if stretched < now - timedelta(minutes=5):
                lines.append((stretched, _restamped(raw, stretched)))
    lines.sort(key=lambda item: item[0])
    return (raw for _, raw in lines)


def write_history(path: Path, now: datetime | None = None) -> int:
    """Append the demo history to `path` (created with its directories); returns lines written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for raw in history(now or datetime.now(UTC)):
            os.write(fd, raw + b"\n")
            count += 1
    finally:
        os.close(fd)
    return count


class LiveDemo:
    """Appends one line of a new story every couple of seconds until `stop()`."""

    def __init__(self, path: Path, seed: int = 7, first_intent: int = HISTORY_INTENTS + 1) -> None:
        self.path = path
        self._rng = random.Random(seed)
        self._next_intent = first_intent
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-live", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            n, self._next_intent = self._next_intent, self._next_intent + 1
            for _, raw in synthetic.story(n, self._rng, datetime.now(UTC)):
                if self._stop.wait(self._rng.uniform(*LIVE_INTERVAL_S)):
                    return
                try:
                    self._append(_restamped(raw, datetime.now(UTC)))
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
