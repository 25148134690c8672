"""The Intent Observe web app: JSON API, live stream, /metrics, GitHub webhook and the pages.

    app = create_app(AppContext(store=store, token=os.environ.get("INTENT_OBSERVE_TOKEN")))

Everything is guarded by one access token when one is configured (mandatory beyond
loopback): `Authorization: Bearer <token>`, or the `token` cookie set by opening
`/?token=<token>` once. The GitHub webhook authenticates with its own HMAC signature.
Request bodies are capped; no route reads a file outside the store and the static folder.
"""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import FastAPI

from intent_observe.otlp.auth import BearerToken, host_header_is_loopback
from intent_observe.version import __version__
from intent_observe.web import api, github_webhook, pages
from intent_observe.web.context import AppContext

MAX_BODY_BYTES = 5 * 1024 * 1024
TOKEN_COOKIE = "token"
# Authenticated by its own HMAC signature: GitHub cannot send our bearer token.
UNGUARDED_PATHS = frozenset({"/webhooks/github"})

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        title="Intent Observe",
        version=__version__,
        description="The embedded Intent Observe store as a JSON API: summary, events, traces, "
        "alerts, Claude Code sessions, a live event stream and Prometheus metrics.",
        # FastAPI's Swagger UI and ReDoc load from a CDN: /docs is the app's own page instead
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.include_router(api.router)
    app.include_router(github_webhook.router)
    app.include_router(pages.router)  # the HTML pages and static assets
    # added last = outermost: the token is checked before anything reads the body
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    if ctx.token:
        app.add_middleware(TokenGuard, token=BearerToken(ctx.token))
    if ctx.loopback_only:
        app.add_middleware(LoopbackHostGuard)
    return app


class LoopbackHostGuard:
    """421 for a request whose Host header does not name loopback: a web page of another
    domain resolving to 127.0.0.1 (DNS rebinding) must not read the API or post webhooks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not host_header_is_loopback(
            dict(scope.get("headers") or []).get(b"host")
        ):
            detail = "this server listens on loopback: open it as http://127.0.0.1:<port> or localhost"
            await _json_response(send, 421, {"detail": detail})
            return
        await self.app(scope, receive, send)


class TokenGuard:
    """Every request needs the token, as a Bearer header or the `token` cookie."""

    def __init__(self, app: ASGIApp, token: BearerToken) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNGUARDED_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        offered = [v for k, v in query if k == TOKEN_COOKIE]
        if offered and scope["method"] == "GET" and self.token.accepts(f"Bearer {offered[0]}"):
            await _redirect_setting_cookie(scope, query, offered[0], send)
            return
        if self.token.accepts(headers.get(b"authorization")) or self.token.accepts(
            _cookie_bearer(headers.get(b"cookie"))
        ):
            await self.app(scope, receive, send)
            return
        await _json_response(
            send,
            401,
            {"detail": "an access token is required: Authorization: Bearer <token>, or open /?token=<token>"},
            [(b"www-authenticate", b'Bearer realm="intent-observe"')],
        )


def _cookie_bearer(cookie_header: bytes | None) -> str | None:
    if not cookie_header:
        return None
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(cookie_header.decode("latin-1"))
    except Exception:  # a malformed Cookie header is simply no token
        return None
    morsel = cookie.get(TOKEN_COOKIE)
    return f"Bearer {morsel.value}" if morsel is not None else None


async def _redirect_setting_cookie(
    scope: Scope, query: list[tuple[str, str]], token: str, send: Send
) -> None:
    """`/?token=…` once: the cookie is set and the token leaves the address bar (and history)."""
    rest = urlencode([(k, v) for k, v in query if k != TOKEN_COOKIE])
    location = scope["path"] + (f"?{rest}" if rest else "")
    cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", location.encode("latin-1")),
                (b"set-cookie", cookie.encode("latin-1")),
                (b"cache-control", b"no-store"),
                (b"referrer-policy", b"no-referrer"),
                (b"content-length", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


class BodyLimit:
    """Refuses request bodies over `max_bytes` (413), by Content-Length and while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _json_response(send, 413, {"detail": f"request body over {self.max_bytes} bytes"})
            return
        seen = 0

        async def capped_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, capped_receive, send)
        except BodyTooLarge:
            await _json_response(send, 413, {"detail": f"request body over {self.max_bytes} bytes"})


class BodyTooLarge(Exception):
    pass


async def _json_response(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": data})
