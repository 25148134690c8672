"""The JSON API (its contract: the OpenAPI document at /openapi.json), the live event stream and /metrics."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from intent_observe.store import metric_queries, queries, trace_queries
from intent_observe.store.queries import EventFilter
from intent_observe.version import __version__
from intent_observe.web.context import AppContext
from intent_observe.web.prometheus import CONTENT_TYPE, render, render_tail_health

router = APIRouter()

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
STREAM_POLL_S = 0.2
STREAM_BATCH = 500
HEARTBEAT_S = 15.0
MAX_TEXT = 200

# SQLite integers are signed 64-bit: a larger number would fail in the query, not be refused here
MAX_INTEGER = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)]
Nanos = Annotated[int | None, Query(ge=0, le=MAX_INTEGER)]
RowId = Annotated[int | None, Query(ge=0, le=MAX_INTEGER)]
Text = Annotated[str | None, Query(max_length=MAX_TEXT)]
Cursor = Annotated[str | None, Query(max_length=40, description="`next_before` of the previous page")]


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


class JSONBytes(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


@router.get("/api/summary", response_class=JSONBytes, tags=["api"])
def summary(request: Request, since: Nanos = None, until: Nanos = None) -> JSONBytes:
    """Loop counts, cycle times, trust levels and events per hour (see the API contract)."""
    ctx = _ctx(request)
    return JSONBytes(ctx.store.read(lambda c: metric_queries.summary(c, ctx.clock_ns(), since, until)))


@router.get("/api/events", response_class=JSONBytes, tags=["api"])
def events(
    request: Request,
    since: Nanos = None,
    until: Nanos = None,
    type: Text = None,
    source: Text = None,
    autonomy_level: Text = None,
    q: Text = None,
    limit: Limit = queries.DEFAULT_LIMIT,
    before: Cursor = None,
    before_id: RowId = None,
) -> JSONBytes:
    """Intent events, newest first by their time; `type` is a glob such as `contract.*`. Page with
    `before` = the previous page's `next_before`; `before_id` = its `next_before_id` (older
    clients) pages the same way while that event is stored, and gives nothing once it is not."""
    try:
        place = queries.parse_cursor(before) if before is not None else None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    f = EventFilter(since, until, type or None, source, autonomy_level, q, limit, place, before_id)
    return JSONBytes(_ctx(request).store.read(lambda c: queries.events(c, f)))


@router.get("/api/traces", response_class=JSONBytes, tags=["api"])
def traces(
    request: Request,
    kind: Annotated[str, Query(pattern="^(intent|orphan|all)$")] = "all",
    q: Text = None,
    limit: Limit = queries.DEFAULT_LIMIT,
) -> JSONBytes:
    """Traces, newest first: intents, orphan signals, or all."""
    return JSONBytes(_ctx(request).store.read(lambda c: trace_queries.traces(c, kind, q, limit)))


@router.get("/api/traces/{trace_id}", response_class=JSONBytes, tags=["api"])
def trace(request: Request, trace_id: str) -> JSONBytes:
    """One trace: spans depth-first with their depth, and the log records of its events."""
    trace_id = trace_id.lower()
    if not TRACE_ID.match(trace_id):
        raise HTTPException(400, "a trace id is 32 hexadecimal characters")
    found = _ctx(request).store.read(lambda c: trace_queries.trace(c, trace_id))
    if found is None:
        raise HTTPException(404, "no such trace")
    return JSONBytes(found)


@router.get("/api/intents/{intent_id}", response_class=JSONBytes, tags=["api"])
def intent(request: Request, intent_id: str) -> JSONBytes:
    """The trace of an intent, by its Intent id (e.g. INT-015)."""
    if len(intent_id) > MAX_TEXT:
        raise HTTPException(400, "intent id too long")

    def find(conn: Any) -> dict[str, Any] | None:
        trace_id = trace_queries.intent_trace_id(conn, intent_id)
        return trace_queries.trace(conn, trace_id) if trace_id else None

    found = _ctx(request).store.read(find)
    if found is None:
        raise HTTPException(404, "no such intent")
    return JSONBytes(found)


@router.get("/api/alerts", response_class=JSONBytes, tags=["api"])
def alerts(request: Request) -> JSONBytes:
    """Every alert rule with its state, and the history of firing/resolved transitions."""
    from intent_observe.alerts.engine import alerts_view

    ctx = _ctx(request)
    return JSONBytes(ctx.store.read(lambda c: alerts_view(c, ctx.alerts)))


@router.get("/api/claude", response_class=JSONBytes, tags=["api"])
def claude(request: Request) -> JSONBytes:
    """Claude Code sessions: tokens, cost, API requests and errors, tool decisions; per contract."""
    return JSONBytes(_ctx(request).store.read(trace_queries.claude))


@router.get("/api/status", response_class=JSONBytes, tags=["api"])
def status(request: Request) -> JSONBytes:
    """What is running: store size and row counts, receiver ports, followed files and their lag."""
    ctx = _ctx(request)
    counts = ctx.store.read(queries.counts)
    return JSONBytes(
        {
            "version": __version__,
            "store_path": str(ctx.store.path),
            "store_bytes": ctx.store.size_bytes(),
            **counts,
            "receiver": ctx.receiver,
            "files": ctx.file_status(),
            "tail": ctx.tail_status(),
            "uptime_s": round(time.monotonic() - ctx.started, 3),
        }
    )


@router.get("/metrics", tags=["metrics"])
def metrics(request: Request) -> Response:
    """The `intent_*` series in the Prometheus text format, for any Prometheus to scrape."""
    ctx = _ctx(request)
    series = ctx.store.read(lambda c: metric_queries.current_series(c, "intent."))
    return Response(render(series) + render_tail_health(ctx.tail_status()), media_type=CONTENT_TYPE)


@router.get("/api/stream", tags=["api"])
async def stream(request: Request, after_id: RowId = None) -> StreamingResponse:
    """Server-Sent Events: `intent-event` for each new event; `summary` and `health` (the tail's,
    as in /api/status) every few seconds."""
    ctx = _ctx(request)
    start = (
        after_id
        if after_id is not None
        else await run_in_threadpool(ctx.store.read, queries.last_event_row_id)
    )
    return StreamingResponse(
        _event_stream(request, ctx, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


def _events_after(after_id: int, conn: Any) -> list[dict[str, Any]]:
    return queries.events_after(conn, after_id, STREAM_BATCH)


async def _event_stream(request: Request, ctx: AppContext, after_id: int) -> AsyncIterator[bytes]:
    seen_version = -1
    next_summary = 0.0
    last_sent = time.monotonic()
    yield b"retry: 2000\n\n"
    while not ctx.stopping.is_set() and not await request.is_disconnected():
        now = time.monotonic()
        if ctx.store.version != seen_version:
            seen_version = ctx.store.version
            rows = await run_in_threadpool(ctx.store.read, partial(_events_after, after_id))
            for row in rows:
                after_id = row["id"]
                yield sse("intent-event", row, row["id"])
            if rows:
                last_sent = now
                if len(rows) == STREAM_BATCH:
                    seen_version = -1  # more are waiting: read again without sleeping
                    continue
        if now >= next_summary:
            next_summary = now + ctx.summary_interval_s
            data = await run_in_threadpool(
                ctx.store.read, lambda c: metric_queries.summary(c, ctx.clock_ns())
            )
            yield sse("summary", data)
            yield sse("health", {"tail": ctx.tail_status()})
            last_sent = now
        elif now - last_sent > HEARTBEAT_S:
            yield b": keep-alive\n\n"
            last_sent = now
        await asyncio.sleep(STREAM_POLL_S)
