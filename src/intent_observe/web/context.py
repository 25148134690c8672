"""What the web app's routes read: the store and the state of the rest of the running stack."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intent_observe.store.store import Store


@dataclass
class AppContext:
    """What the routes read: the store and the state of the rest of the running stack."""

    store: Store
    token: str | None = field(default=None, repr=False)
    loopback_only: bool = False  # listening on loopback: requests must name it in Host (DNS rebinding)
    receiver: dict[str, int | None] = field(default_factory=lambda: {"grpc": None, "http": None})
    events_path: Path | None = None  # where webhook deliveries are appended
    file_status: Callable[[], list[dict[str, Any]]] = list  # the tail adapter's files and lag
    tail_status: Callable[[], dict[str, Any]] = lambda: {"state": "off", "ok": True, "restarts": 0}
    alerts: Any = None  # the AlertEngine, when running
    started: float = field(default_factory=time.monotonic)
    stopping: threading.Event = field(default_factory=threading.Event)
    summary_interval_s: float = 5.0
    clock_ns: Callable[[], int] = time.time_ns
