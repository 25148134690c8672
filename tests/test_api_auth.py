"""With INTENT_OBSERVE_TOKEN set, every route of `up` (pages, API, stream, /metrics, OTLP) needs it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tests.support.observe import make_repo, running_stack

from intent_observe.stack.stack import Stack, StackOptions, UpError

TOKEN = "s3cret-token-for-tests"
GUARDED = (
    "/",
    "/traces",
    "/api/summary",
    "/api/events",
    "/api/status",
    "/api/stream",
    "/metrics",
    "/openapi.json",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    events = make_repo(tmp_path_factory.mktemp("repo"))
    with running_stack(events, token=TOKEN) as running:
        yield running


@pytest.mark.parametrize("path", GUARDED)
def test_every_route_refuses_a_request_without_the_token(stack: Stack, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = httpx.get(f"{stack.url}{path}", headers=headers, timeout=5)
        assert response.status_code == 401, (path, headers)
        assert TOKEN not in response.text


@pytest.mark.parametrize("path", [p for p in GUARDED if p != "/api/stream"])
def test_the_bearer_token_opens_every_route(stack: Stack, path: str) -> None:
    response = httpx.get(f"{stack.url}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert response.status_code == 200, path


def test_token_in_the_address_sets_a_cookie_and_leaves_the_address(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=5) as browser:
        first = browser.get("/events", params={"token": TOKEN, "type": "contract.*"})
        assert first.status_code == 303
        assert first.headers["location"] == "/events?type=contract.%2A"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert browser.get("/api/summary").status_code == 200  # the cookie rides along
    assert httpx.get(f"{stack.url}/?token=wrong", timeout=5).status_code == 401


def test_the_otlp_receiver_needs_the_token_too(stack: Stack) -> None:
    assert stack.receiver is not None
    url = f"http://127.0.0.1:{stack.receiver.http_port}/v1/traces"
    body = ExportTraceServiceRequest().SerializeToString()
    headers = {"Content-Type": "application/x-protobuf"}
    assert httpx.post(url, content=body, headers=headers, timeout=5).status_code == 401
    authorized = {**headers, "Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(url, content=body, headers=authorized, timeout=5).status_code == 200


def test_beyond_loopback_without_a_token_up_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTENT_OBSERVE_TOKEN", raising=False)
    events = make_repo(tmp_path)
    options = StackOptions(
        events=[events], observe_dir=tmp_path / "observe", host="0.0.0.0", port=0, grpc_port=0, http_port=0
    )
    with pytest.raises(UpError, match="INTENT_OBSERVE_TOKEN"):
        Stack(options).start()
    assert not (tmp_path / "observe").exists()  # refused before creating anything
