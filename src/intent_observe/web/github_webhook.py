"""POST /webhooks/github: GitHub push and workflow_run deliveries → Intent events.

Configure the webhook (repository → Settings → Webhooks) with content type
`application/json`, the secret in `INTENT_OBSERVE_GITHUB_SECRET` on this machine, and
the events "Pushes" and "Workflow runs". Every delivery must carry a valid
`X-Hub-Signature-256` (HMAC-SHA256 of the body with the secret, compared in constant
time); an unsigned or wrongly signed one gets 401 and changes nothing.

What is appended is `sources/github.py`'s mapping (`drafts_for_delivery`), through the
emitter so trace context follows the identity model: a push → `github.push` in the trace
of the artifact it mentions; a completed workflow run → an assertion of the contract it
names, or for a failed run naming none a `signal.created`; ping → nothing (200); any
other delivery → nothing (202, "ignored").
A delivery whose signed body was already appended appends nothing again: the replay check
is keyed on a hash of the body the signature covers, not on the unsigned
`X-GitHub-Delivery` header (a redelivery from GitHub's settings page sends the same body).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
import time
from pathlib import Path

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from intent_observe.emitter.draft import Draft, EmitError
from intent_observe.emitter.emit import emitter_for
from intent_observe.sources.github import drafts_for_delivery
from intent_observe.web.context import AppContext

SECRET_ENV = "INTENT_OBSERVE_GITHUB_SECRET"
MAX_DELIVERY_ID = 200  # kept in the event's data for reference; GitHub's are 36-character GUIDs

router = APIRouter(tags=["webhooks"])
_append_lock = threading.Lock()


def signature_of(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(signature_of(secret, body).encode(), header.strip().encode())


@router.post("/webhooks/github")
async def github_webhook(request: Request) -> JSONResponse:
    """A GitHub delivery (push, workflow_run, ping), verified by its X-Hub-Signature-256."""
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        raise HTTPException(503, f"the GitHub webhook is off: set {SECRET_ENV} to the webhook's secret")
    body = await request.body()
    if not signature_valid(secret.encode(), body, request.headers.get("x-hub-signature-256")):
        raise HTTPException(401, "missing or wrong X-Hub-Signature-256")
    event = request.headers.get("x-github-event", "")
    delivery = request.headers.get("x-github-delivery", "")
    if event == "ping":
        return JSONResponse({"ok": True, "event": "ping"})
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise HTTPException(
            400, "the body is not JSON (set the webhook's content type to application/json)"
        ) from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "the body is not a JSON object")
    try:
        drafts = drafts_for_delivery(event, payload, delivery[:MAX_DELIVERY_ID] or None)
    except ValueError as exc:
        reason = f"the {event or 'unnamed'} delivery is not shaped as GitHub sends it: {exc}"
        raise HTTPException(422, reason) from None
    if not drafts:
        return JSONResponse({"ok": True, "ignored": event or "unnamed event"}, status_code=202)
    ctx: AppContext = request.app.state.ctx
    if ctx.events_path is None:
        raise HTTPException(503, "this server follows no events file to append to")
    written = await _append_once(ctx, body_key(body), event, drafts)
    return JSONResponse({"ok": True, "appended": written})


def body_key(body: bytes) -> str:
    """What a delivery is remembered by: its signed body, which a replay cannot change."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


async def _append_once(ctx: AppContext, key: str, event: str, drafts: list[Draft]) -> list[str]:
    from fastapi.concurrency import run_in_threadpool

    assert ctx.events_path is not None
    path: Path = ctx.events_path

    def work() -> list[str]:
        with _append_lock:
            if ctx.store.read(lambda c: _seen(c, key)):
                return []
            try:
                results = emitter_for(path).emit(drafts)
            except EmitError as exc:
                raise HTTPException(422, f"cannot append the event: {exc}") from None
            ctx.store.writer.run(lambda c: _record(c, key, event))
            return [str(line.get("event")) for r in results for line in r.lines]

    return await run_in_threadpool(work)


def _seen(conn: sqlite3.Connection, key: str) -> bool:
    row = conn.execute("SELECT 1 FROM webhook_deliveries WHERE delivery_id = ?", (key,)).fetchone()
    return row is not None


def _record(conn: sqlite3.Connection, key: str, event: str) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO webhook_deliveries VALUES (?,?,?)", (key, event[:100], time.time_ns())
    )
