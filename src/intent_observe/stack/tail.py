"""`up`'s tail adapter, supervised: on a thread of its own, started again after a failure.

    tail = SupervisedTail(new_adapter)   # new_adapter(): an opened TailAdapter into the store
    tail.start()          # the first adapter opens here: a state in use fails `up`'s start
    tail.status(), tail.file_status()    # for /api/status, /metrics and the pages
    tail.shutdown()       # the adapter flushes what it has read; no new one starts after this

When the adapter fails (its state database locked by another process, say) or ends while
`up` runs, the failure is logged and shown (`status()`: state, restarts, error, ok), and a new
adapter starts from the last checkpoint after a pause growing from 1 s to a minute.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from intent_observe.sources.tail import TailAdapter, TailError

log = logging.getLogger("intent_observe.up")

RESTART_FIRST_S = 1.0
RESTART_MAX_S = 60.0
_JOIN_S = 15.0  # how long shutdown waits for the adapter to flush


@dataclass
class TailHealth:
    """Whether the tail adapter's thread runs, how often it was restarted, and its last failure."""

    state: str = "starting"  # running | restarting | stopped
    restarts: int = 0
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def running(self) -> None:
        with self._lock:
            self.state = "running"

    def failed(self, error: str) -> None:
        log.error("the tail adapter stopped: %s; restarting it", error)
        with self._lock:
            self.state, self.error = "restarting", error
            self.restarts += 1

    def stopped(self) -> None:
        with self._lock:
            self.state = "stopped"

    def doc(self) -> dict[str, Any]:
        with self._lock:
            return {"state": self.state, "restarts": self.restarts, "error": self.error}


def _run_until_failure(adapter: TailAdapter) -> str:
    """Run the adapter; what ended it (while `up` was not stopping, any end is a failure)."""
    try:
        code = adapter.run()
    except Exception as exc:
        log.exception("the tail adapter failed")
        return f"{type(exc).__name__}: {exc}"
    failure = adapter.failure
    if failure is not None:
        return f"{type(failure).__name__}: {failure}"
    return f"the tail adapter ended (exit code {code})"


class SupervisedTail:
    def __init__(self, new_adapter: Callable[[], TailAdapter]) -> None:
        self._new_adapter = new_adapter
        self.health = TailHealth()
        self.adapter: TailAdapter | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # no adapter starts once shutdown has begun
        self._thread = threading.Thread(target=self._supervise, name="up-tail", daemon=True)

    def start(self) -> None:
        self.adapter = self._new_adapter()
        self._thread.start()

    def shutdown(self) -> None:
        with self._lock:
            self._stopping.set()
            if self.adapter is not None:
                self.adapter.stop()
        if self._thread.ident is not None:
            self._thread.join(_JOIN_S)

    def file_status(self) -> list[dict[str, Any]]:
        if self.adapter is None:
            return []
        out = []
        for tailed in self.adapter.files:
            size = tailed.follower.size()
            out.append(
                {
                    "path": tailed.path,
                    "offset": tailed.committed.offset,
                    "size": size,
                    "lag_bytes": tailed.lag_bytes(),
                    "problem": tailed.follower.problem,  # e.g. the path is a FIFO: not followed
                }
            )
        return out

    def status(self) -> dict[str, Any]:
        """The tail's health for /api/status, /metrics and the pages: `ok` is false while its
        thread is down or a followed path cannot be read."""
        problems = [f["problem"] for f in self.file_status() if f["problem"]]
        ok = self.health.state == "running" and not problems
        return self.health.doc() | {"ok": ok, "problem": problems[0] if problems else None}

    def _supervise(self) -> None:
        delay = RESTART_FIRST_S
        adapter: TailAdapter | None = self.adapter
        while True:
            if adapter is not None:
                self.health.running()
                began = time.monotonic()
                error = _run_until_failure(adapter)
                if self._stopping.is_set():
                    break
                self.health.failed(error)
                if time.monotonic() - began > RESTART_MAX_S:
                    delay = RESTART_FIRST_S  # it had been running well: a new failure, a short pause
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, RESTART_MAX_S)
            adapter = self._restarted_adapter()
        self.health.stopped()

    def _restarted_adapter(self) -> TailAdapter | None:
        """A new adapter, unless shutting down (under the lock `shutdown` takes, so none starts after it)."""
        with self._lock:
            if self._stopping.is_set():
                return None
            try:
                self.adapter = self._new_adapter()
            except (TailError, OSError, RuntimeError, sqlite3.Error) as exc:
                self.health.failed(f"cannot restart: {exc}")
                return None
            return self.adapter
