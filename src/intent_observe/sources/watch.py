"""Wake the tail reader as soon as an event file (or a rotation of it) changes.

File-system notifications (inotify through watchdog) on each file's directory; the
reader also polls on a timer, so a missed notification (a network file system, a
directory that does not exist yet) costs latency, never data.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger(__name__)


class _Handler(FileSystemEventHandler):
    def __init__(self, names: set[str], wake: threading.Event) -> None:
        self._names = tuple(names)
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            name = Path(str(raw)).name if raw else ""
            if name and name.startswith(self._names):  # the file and its rotations, not our state files
                self._wake.set()
                return


class FileWatcher:
    """Sets `wake` whenever one of `paths` (or a sibling named like a rotation of it) changes."""

    def __init__(self, paths: list[str], wake: threading.Event) -> None:
        self._observer = Observer()
        self.watching: list[str] = []
        by_dir: dict[Path, set[str]] = {}
        for path in paths:
            target = Path(path).resolve()
            by_dir.setdefault(target.parent, set()).add(target.name)
        for directory, names in by_dir.items():
            if not directory.is_dir():
                log.info("%s does not exist yet: polling for it", directory)
                continue
            try:
                self._observer.schedule(_Handler(names, wake), str(directory), recursive=False)
                self.watching.append(str(directory))
            except OSError as error:  # inotify watch limit, permissions: polling still works
                log.warning("cannot watch %s (%s): polling it instead", directory, error)

    def start(self) -> None:
        if self.watching:
            self._observer.start()

    def stop(self) -> None:
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(2)
