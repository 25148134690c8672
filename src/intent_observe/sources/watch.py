"""Wake the tail reader as soon as an event file (or a rotation of it) changes.

File-system notifications (inotify through watchdog) on each file's directory; the
reader also polls on a timer, so a missed notification (a network file system, a
directory that does not exist yet) costs latency, never data.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)


class FileWatcher:
    """Sets `wake` whenever one of `paths` (or a sibling named like a rotation of it) changes.

    A directory that does not exist yet is watched as soon as it appears (`refresh`);
    until then `complete` is False and the reader polls often. Nothing is watched before `start`.
    """

    def __init__(self, paths: list[str], wake: threading.Event) -> None:
        self._observer: BaseObserver | None = None
        self._wake = wake
        self._pending: dict[Path, set[str]] = {}
        for path in paths:
            target = Path(path).resolve()
            self._pending.setdefault(target.parent, set()).add(target.name)

    @property
    def complete(self) -> bool:
        return not self._pending

    def start(self) -> None:
        # imported here: watchdog (its events, its inotify bindings) is ~10 ms of CPU that
        # `tail --once` never spends
        from watchdog.observers import Observer

        self._observer = Observer()
        self._observer.start()
        self.refresh()

    def refresh(self) -> None:
        """Watch the directories that exist by now."""
        assert self._observer is not None, "start() first"
        from intent_observe.sources.watch_handler import ChangeHandler

        for directory, names in list(self._pending.items()):
            if not directory.is_dir():
                continue
            try:
                self._observer.schedule(ChangeHandler(names, self._wake), str(directory), recursive=False)
            except OSError as error:  # inotify watch limit, permissions: polling still works
                log.warning("cannot watch %s (%s): polling it instead", directory, error)
            del self._pending[directory]
            self._wake.set()  # the file may have appeared with its directory

    def stop(self) -> None:
        if self._observer is not None and self._observer.is_alive():
            self._observer.stop()
            self._observer.join(2)
