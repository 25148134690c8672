"""`sources/watch`'s watchdog handler, in a module of its own: watchdog is imported only once
files are watched, never by `tail --once`."""

from __future__ import annotations

import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler


class ChangeHandler(FileSystemEventHandler):
    """Sets `wake` when a file named like one of `names` (or a rotation of it) changes."""

    def __init__(self, names: set[str], wake: threading.Event) -> None:
        self._names = tuple(names)
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            name = Path(str(raw)).name if raw else ""
            if name and name.startswith(self._names):  # the file and its rotations, not our state files
                self._wake.set()
                return
