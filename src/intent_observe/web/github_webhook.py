"""POST /webhooks/github: GitHub push and workflow_run deliveries → Intent events.

Configure the webhook (repository → Settings → Webhooks) with content type
`application/json`, the secret in `INTENT_OBSERVE_GITHUB_SECRET` on this machine, and
the events "Pushes" and "Workflow runs". Every delivery must carry a valid
`X-Hub-Signature-256` (HMAC-SHA256 of the body with the secret, compared in constant
time); an unsigned or wrongly signed one gets 401 and changes nothing.

What is appended (through the emitter, so trace context follows the identity model):
- push → `github.push` (repository, ref, commits, head commit, the `.intent/` paths changed);
- workflow_run completed → `github.workflow_run.completed` (workflow, conclusion, branch,
  sha, url); a failed run (failure, timed_out, startup_failure) is also an observation:
  `signal.created` with source `github`, so it can be clustered and promoted like any other.
- ping → nothing (200). Any other event → nothing (202, "ignored").
A redelivery (same `X-GitHub-Delivery`) appends nothing again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from intent_observe.sources.emit import Draft, EmitError, emitter_for
from intent_observe.web.app import AppContext

SECRET_ENV = "INTENT_OBSERVE_GITHUB_SECRET"
FAILED_CONCLUSIONS = frozenset({"failure", "timed_out", "startup_failure"})
MAX_COMMITS = 20
MAX_PATHS = 50
SOURCE = "github"

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
    drafts = drafts_for(event, payload, delivery)
    if not drafts:
        return JSONResponse({"ok": True, "ignored": event or "unnamed event"}, status_code=202)
    ctx: AppContext = request.app.state.ctx
    if ctx.events_path is None:
        raise HTTPException(503, "this server follows no events file to append to")
    written = await _append_once(ctx, delivery, event, drafts)
    return JSONResponse({"ok": True, "appended": written})


async def _append_once(ctx: AppContext, delivery: str, event: str, drafts: list[Draft]) -> list[str]:
    from fastapi.concurrency import run_in_threadpool

    assert ctx.events_path is not None
    path: Path = ctx.events_path

    def work() -> list[str]:
        with _append_lock:
            if delivery and ctx.store.read(lambda c: _seen(c, delivery)):
                return []
            try:
                results = emitter_for(path).emit(drafts)
            except EmitError as exc:
                raise HTTPException(422, f"cannot append the event: {exc}") from None
            if delivery:
                ctx.store.writer.run(lambda c: _record(c, delivery, event))
            return [str(line.get("event")) for r in results for line in r.lines]

    return await run_in_threadpool(work)


def _seen(conn: sqlite3.Connection, delivery: str) -> bool:
    row = conn.execute("SELECT 1 FROM webhook_deliveries WHERE delivery_id = ?", (delivery,)).fetchone()
    return row is not None


def _record(conn: sqlite3.Connection, delivery: str, event: str) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO webhook_deliveries VALUES (?,?,?)", (delivery[:200], event, time.time_ns())
    )


# ---------------------------------------------------------------------- mapping
def drafts_for(event: str, payload: dict[str, Any], delivery: str) -> list[Draft]:
    if event == "push":
        return [_push(payload, delivery)]
    if event == "workflow_run" and payload.get("action") == "completed":
        return _workflow_run(payload, delivery)
    return []


def _text(value: Any, limit: int = 500) -> str:
    return str(value)[:limit] if value is not None else ""


def _intent_paths(commits: list[dict[str, Any]]) -> list[str]:
    paths: set[str] = set()
    for commit in commits:
        for key in ("added", "modified", "removed"):
            paths.update(p for p in commit.get(key) or [] if isinstance(p, str) and p.startswith(".intent/"))
    return sorted(paths)[:MAX_PATHS]


def _push(payload: dict[str, Any], delivery: str) -> Draft:
    commits = [c for c in payload.get("commits") or [] if isinstance(c, dict)]
    head = payload.get("head_commit") if isinstance(payload.get("head_commit"), dict) else {}
    repo = _text((payload.get("repository") or {}).get("full_name"))
    ref = _text(payload.get("ref"))
    message = _text((head or {}).get("message")).split("\n", 1)[0]
    data = {
        "title": f"push to {repo} {ref}: {message}".strip(),
        "repository": repo,
        "ref": ref,
        "before": _text(payload.get("before")),
        "after": _text(payload.get("after")),
        "commits": len(commits),
        "commit_ids": [_text(c.get("id")) for c in commits[:MAX_COMMITS]],
        "intent_paths": _intent_paths(commits),
        "compare": _text(payload.get("compare")),
        "delivery_id": delivery,
    }
    pusher = _text((payload.get("pusher") or {}).get("name")) or None
    return Draft(type="github.push", data=data, source=SOURCE, actor=pusher)


def _workflow_run(payload: dict[str, Any], delivery: str) -> list[Draft]:
    run = payload.get("workflow_run") if isinstance(payload.get("workflow_run"), dict) else {}
    assert isinstance(run, dict)
    repo = _text((payload.get("repository") or {}).get("full_name"))
    name, conclusion = _text(run.get("name")), _text(run.get("conclusion"))
    branch = _text(run.get("head_branch"))
    actor = _text((run.get("actor") or {}).get("login")) or None
    data = {
        "title": f"workflow {name} {conclusion or 'completed'} on {branch}",
        "repository": repo,
        "workflow": name,
        "conclusion": conclusion,
        "branch": branch,
        "sha": _text(run.get("head_sha")),
        "run_number": run.get("run_number") if isinstance(run.get("run_number"), int) else None,
        "url": _text(run.get("html_url")),
        "delivery_id": delivery,
    }
    drafts = [Draft(type="github.workflow_run.completed", data=data, source=SOURCE, actor=actor)]
    if conclusion in FAILED_CONCLUSIONS:
        signal = {
            "title": f"CI workflow {name} {conclusion} on {branch} ({repo})",
            "workflow": name,
            "url": data["url"],
            "sha": data["sha"],
            "delivery_id": delivery,
        }
        drafts.append(Draft(type="signal.created", id="auto", data=signal, source=SOURCE, actor=actor))
    return drafts
