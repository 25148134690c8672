"""OTLP/HTTP as a plain ASGI app: POST /v1/{traces,logs,metrics}, protobuf or JSON, optional gzip.

Plain ASGI (no framework) keeps the per-request cost low; decoding and the consumer
run in a worker thread so a large body never stalls the event loop.

Before a byte of the body is read: the path, method, token and Content-Length are
checked and the request's share of the admission budget is taken (429 + Retry-After
when none comes free). The body must then arrive without pausing longer than
`body_idle_timeout_s` and within `body_timeout_s` (408), so a slow sender cannot hold
its share for ever.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Executor
from typing import Any

from google.protobuf.message import DecodeError
from grpc import StatusCode

from intent_observe.otlp.admission import Admission, AdmissionRefused, Share
from intent_observe.otlp.auth import BearerToken, host_header_is_loopback
from intent_observe.otlp.consumer import Consumer, ConsumerBusy
from intent_observe.otlp.decode import (
    JSON,
    PROTOBUF,
    SUPPORTED_CONTENT_TYPES,
    PayloadError,
    decompress,
    encode_message,
    media_type,
    parse_request,
    status_body,
)
from intent_observe.otlp.signals import WIRE_BY_HTTP_PATH, SignalWire

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# HTTP status → the gRPC code the OTLP spec pairs with it in the Status body
_GRPC_CODE_FOR_HTTP = {
    400: StatusCode.INVALID_ARGUMENT,
    401: StatusCode.UNAUTHENTICATED,
    404: StatusCode.NOT_FOUND,
    405: StatusCode.UNIMPLEMENTED,
    408: StatusCode.DEADLINE_EXCEEDED,
    411: StatusCode.INVALID_ARGUMENT,
    413: StatusCode.RESOURCE_EXHAUSTED,
    415: StatusCode.INVALID_ARGUMENT,
    421: StatusCode.PERMISSION_DENIED,
    429: StatusCode.RESOURCE_EXHAUSTED,
    500: StatusCode.INTERNAL,
    503: StatusCode.UNAVAILABLE,
}


class _Answer(Exception):
    """An error response decided while handling a request."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


DEFAULT_BODY_IDLE_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 60.0


class OtlpHttpApp:
    def __init__(
        self,
        consumer: Consumer,
        executor: Executor,
        *,
        max_body_bytes: int,
        token: BearerToken | None = None,
        admission: Admission | None = None,
        loopback_only: bool = False,
        body_idle_timeout_s: float = DEFAULT_BODY_IDLE_TIMEOUT_S,
        body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    ) -> None:
        self._consumer = consumer
        self._executor = executor
        self._max_body_bytes = max_body_bytes
        self._token = token
        self._admission = admission or Admission()
        self._loopback_only = loopback_only  # then Host must name loopback (no DNS rebinding)
        self._body_idle_timeout_s = body_idle_timeout_s
        self._body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _run_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = _header_map(scope)
        content_type = media_type(headers.get(b"content-type", b"").decode("latin-1"))
        answer_type = content_type if content_type in SUPPORTED_CONTENT_TYPES else JSON
        encoding = headers.get(b"content-encoding", b"").decode("latin-1")
        try:
            wire = self._check_request(scope, headers, content_type)
            share = await self._admit(self._share_size(headers, encoding))
            try:
                body = await self._read_body(receive)
                loop = asyncio.get_running_loop()
                response = await loop.run_in_executor(
                    self._executor, self._handle, wire, body, encoding, content_type
                )
            finally:
                self._admission.release(share)
        except _Answer as answer:
            await _respond_error(send, answer, answer_type)
            return
        await _respond(send, 200, response, answer_type, [])

    def _share_size(self, headers: dict[bytes, bytes], encoding: str) -> int:
        """What the body may cost in memory: its declared length (the cap when undeclared),
        plus the cap again when it arrives compressed (it is inflated beside itself)."""
        declared = headers.get(b"content-length")
        if declared is not None and not declared.isdigit():
            raise _Answer(400, "Content-Length must be a number of bytes")
        size = int(declared) if declared is not None else self._max_body_bytes
        if size > self._max_body_bytes:
            raise _Answer(413, f"body exceeds {self._max_body_bytes} bytes")
        compressed = encoding.strip().lower() not in ("", "identity")
        return size + (self._max_body_bytes if compressed else 0)

    async def _admit(self, nbytes: int) -> Share:
        try:
            return await self._admission.admit_async(nbytes)
        except AdmissionRefused as refused:
            retry_after = [(b"retry-after", str(refused.retry_after_s).encode())]
            raise _Answer(429, refused.reason, retry_after) from None

    def _check_request(self, scope: Scope, headers: dict[bytes, bytes], content_type: str) -> SignalWire:
        wire = WIRE_BY_HTTP_PATH.get(scope["path"])
        if wire is None:
            raise _Answer(404, f"no OTLP endpoint at {scope['path'][:200]!r}")
        if scope["method"] != "POST":
            raise _Answer(405, "use POST", [(b"allow", b"POST")])
        if self._loopback_only and not host_header_is_loopback(headers.get(b"host")):
            raise _Answer(421, "this receiver listens on loopback: the Host header must name it so")
        if self._token is not None and not self._token.accepts(headers.get(b"authorization")):
            raise _Answer(401, "missing or wrong bearer token", [(b"www-authenticate", b"Bearer")])
        if content_type not in SUPPORTED_CONTENT_TYPES:
            raise _Answer(415, "Content-Type must be application/x-protobuf or application/json")
        return wire

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        deadline = asyncio.get_running_loop().time() + self._body_timeout_s
        while True:
            message = await self._next_part(receive, deadline)
            if message["type"] == "http.disconnect":
                raise _Answer(400, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body_bytes:
                raise _Answer(413, f"body exceeds {self._max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _next_part(self, receive: Receive, deadline: float) -> MutableMapping[str, Any]:
        left = deadline - asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(min(self._body_idle_timeout_s, max(0.0, left))):
                return await receive()
        except TimeoutError:
            raise _Answer(408, "the request body arrived too slowly", [(b"connection", b"close")]) from None

    def _handle(self, wire: SignalWire, body: bytes, encoding: str, content_type: str) -> bytes:
        """Runs in a worker thread: decode, hand to the consumer, encode the answer."""
        try:
            raw = decompress(body, encoding, self._max_body_bytes)
            if content_type != PROTOBUF:  # OTLP/JSON: the consumers take the protobuf form
                raw = parse_request(raw, content_type, wire.request_type).SerializeToString()
            result = self._consumer.consume(wire.signal, raw)
        except DecodeError as exc:
            raise _Answer(400, f"invalid protobuf body: {exc}") from None
        except PayloadError as exc:
            raise _Answer(exc.http_status, exc.message) from None
        except ConsumerBusy as busy:
            retry_after = str(max(1, math.ceil(busy.retry_after_seconds or 1.0))).encode()
            raise _Answer(503, busy.reason, [(b"retry-after", retry_after)]) from None
        except Exception:
            log.exception("OTLP consumer failed on a %s request", wire.signal.value)
            raise _Answer(500, "internal error while storing the data") from None
        return encode_message(wire.response(result.rejected, result.message), content_type)


def _header_map(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope["headers"]}


async def _respond_error(send: Send, answer: _Answer, content_type: str) -> None:
    grpc_code = _GRPC_CODE_FOR_HTTP.get(answer.status, StatusCode.UNKNOWN).value[0]
    body = status_body(grpc_code, answer.message, content_type)
    await _respond(send, answer.status, body, content_type, answer.headers)


async def _respond(
    send: Send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _run_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
