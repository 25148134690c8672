"""Alert transitions delivered as JSON to webhook URLs, with retries and exponential backoff.

Body (one POST per evaluation round with changes, to every configured URL):

    {"version": "1", "receiver": "intent-observe", "status": "firing" | "resolved",
     "alerts": [{"name", "severity", "state", "labels", "summary", "value",
                 "since_ns", "at_ns", "at_iso"}]}

`status` is "firing" when any alert in the message fires. A delivery is retried on
connection errors, timeouts, 408, 429 and 5xx (honouring Retry-After), waiting
1 s, 2 s, 4 s … up to 60 s between attempts; other 4xx answers are final. Delivery
runs on its own thread, so a slow receiver never delays evaluation.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import httpx

from intent_observe.alerts.engine import Transition
from intent_observe.store.queries import iso
from intent_observe.version import __version__

log = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 429})
MAX_BACKOFF_S = 60.0
_STOP = None


def message(transitions: list[Transition]) -> dict[str, Any]:
    firing = any(t.state == "firing" for t in transitions)
    return {
        "version": "1",
        "receiver": "intent-observe",
        "status": "firing" if firing else "resolved",
        "alerts": [{**asdict(t), "at_iso": iso(t.at_ns)} for t in transitions],
    }


class WebhookNotifier:
    def __init__(
        self,
        urls: tuple[str, ...],
        timeout_s: float = 5.0,
        retries: int = 5,
        first_backoff_s: float = 1.0,
        on_result: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.urls = urls
        self.retries = retries
        self.first_backoff_s = first_backoff_s
        self.on_result = on_result
        self._client = httpx.Client(
            timeout=timeout_s, headers={"User-Agent": f"intent-observe/{__version__}"}, follow_redirects=False
        )
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(1000)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def __call__(self, transitions: list[Transition]) -> None:
        if not self.urls or not transitions:
            return
        try:
            self._queue.put_nowait(message(transitions))
        except queue.Full:
            log.error("alert webhook queue full; dropping %d transitions", len(transitions))

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (up to `timeout_s`), then stop."""
        self._queue.put(_STOP)
        self._thread.join(timeout_s)
        self._stop.set()  # cut retry waits short if the queue did not drain in time
        self._thread.join(timeout_s)
        self._client.close()

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            if body is _STOP:
                return
            for url in self.urls:
                ok = self.deliver(url, body)
                if self.on_result is not None:
                    self.on_result(url, ok)

    def deliver(self, url: str, body: dict[str, Any]) -> bool:
        """POST `body` to `url` until it is accepted or the retries run out; True when delivered."""
        delay = self.first_backoff_s
        for attempt in range(self.retries + 1):
            wait: float = delay
            try:
                response = self._client.post(url, json=body)
                if response.is_success:
                    return True
                if response.status_code < 500 and response.status_code not in RETRYABLE:
                    log.error(
                        "alert webhook %s refused the message: HTTP %d", _safe(url), response.status_code
                    )
                    return False
                wait = _retry_after(response) or delay
                log.warning(
                    "alert webhook %s answered HTTP %d (attempt %d)",
                    _safe(url),
                    response.status_code,
                    attempt + 1,
                )
            except httpx.HTTPError as exc:
                log.warning(
                    "alert webhook %s failed: %s (attempt %d)", _safe(url), type(exc).__name__, attempt + 1
                )
            if attempt == self.retries or self._stop.wait(min(wait, MAX_BACKOFF_S)):
                break
            delay = min(delay * 2, MAX_BACKOFF_S)
        log.error("alert webhook %s: giving up after %d attempts", _safe(url), self.retries + 1)
        return False


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _safe(url: str) -> str:
    """The URL without credentials or query (tokens often hide there) for the log."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))
