"""POST /webhooks/github on the running app: HMAC-verified deliveries become events; anything
unsigned or wrongly signed gets 401 and changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.observe import make_repo, running_stack, wait_for

from intent_observe.emitter.emit import emit
from intent_observe.stack.stack import Stack

SECRET = "webhook-secret-for-tests"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stack, Path]]:
    monkeypatch.setenv("INTENT_OBSERVE_GITHUB_SECRET", SECRET)
    events = make_repo(tmp_path)
    emit("intent.proposed", "INT-015", data={"title": "Reliable login"}, file=events)
    emit("spec.created", "SPEC-042", "INT-015", data={"contracts": ["CON-091"]}, file=events)
    emit("contract.started", "CON-091", file=events)
    with running_stack(events, grpc_port=None, http_port=None) as stack:
        yield stack, events


def push(message: str) -> dict[str, Any]:
    commit = {
        "id": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "message": message,
        "added": [],
        "modified": ["a.py"],
    }
    return {
        "ref": "refs/heads/main",
        "before": "a" * 40,
        "after": commit["id"],
        "repository": {"full_name": "acme/app"},
        "pusher": {"name": "dev"},
        "commits": [commit],
        "head_commit": commit,
    }


def deliver(
    stack: Stack, event: str, payload: dict[str, Any], delivery: str, signature: str | None
) -> httpx.Response:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return httpx.post(
        f"{stack.url}/webhooks/github", content=json.dumps(payload).encode(), headers=headers, timeout=10
    )


def sign(payload: dict[str, Any], secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), json.dumps(payload).encode(), hashlib.sha256).hexdigest()


def test_unsigned_or_wrongly_signed_deliveries_get_401_and_change_nothing(repo: tuple[Stack, Path]) -> None:
    stack, events = repo
    before = events.read_bytes()
    payload = push("fix CON-091 retries")
    tampered = {**payload, "ref": "refs/heads/evil"}
    for signature in (
        None,
        "",
        "sha256=" + "0" * 64,
        sign(payload, "other-secret"),
        sign(payload)[:-2],
        sign(tampered),
    ):
        response = deliver(stack, "push", payload, "d-bad", signature)
        assert response.status_code == 401, signature
    assert events.read_bytes() == before
    assert stack.store.read(lambda c: c.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0]) == 0  # type: ignore[union-attr]


def test_a_signed_push_is_appended_once_and_lands_in_the_contract_trace(repo: tuple[Stack, Path]) -> None:
    stack, events = repo
    payload = push("make retries configurable (CON-091)")
    first = deliver(stack, "push", payload, "d-1", sign(payload))
    assert first.status_code == 200 and first.json()["appended"] == ["github.push"]
    again = deliver(stack, "push", payload, "d-1", sign(payload))  # GitHub's redelivery
    assert again.status_code == 200 and again.json()["appended"] == []
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    pushes = [line for line in lines if line["event"] == "github.push"]
    assert len(pushes) == 1 and pushes[0]["source"] == "github"

    def stored() -> list[dict[str, Any]]:
        response = httpx.get(f"{stack.url}/api/events", params={"type": "github.*"}, timeout=5)
        return response.json()["events"]

    (event,) = wait_for(stored)
    intent_trace = httpx.get(f"{stack.url}/api/intents/INT-015", timeout=5).json()["trace_id"]
    assert event["trace_id"] == intent_trace


def test_ping_and_unrelated_events_append_nothing(repo: tuple[Stack, Path]) -> None:
    stack, events = repo
    before = events.read_bytes()
    ping = {"zen": "Keep it logically awesome."}
    assert deliver(stack, "ping", ping, "d-ping", sign(ping)).status_code == 200
    issue = {"action": "opened", "issue": {"number": 1}}
    assert deliver(stack, "issues", issue, "d-issue", sign(issue)).status_code == 202
    assert events.read_bytes() == before


def test_without_a_configured_secret_the_webhook_is_off(
    repo: tuple[Stack, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, events = repo
    monkeypatch.delenv("INTENT_OBSERVE_GITHUB_SECRET")
    before = events.read_bytes()
    payload = push("x")
    assert deliver(stack, "push", payload, "d-off", sign(payload)).status_code == 503
    assert events.read_bytes() == before
