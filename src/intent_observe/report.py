"""Read event files whole and describe what the identity engine makes of them.

Used by `intent-observe inspect` (terminal tree and `--json`) and by the tests that
check a fixture's expected trace trees. Several files are read as one history, in
the order given (e.g. a rotated `events.jsonl.1` before `events.jsonl`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from intent_observe.artifacts.derive import Derived, Said, derived_events_of
from intent_observe.events import Rejected, blocks
from intent_observe.identity.engine import ArtifactView, Engine
from intent_observe.identity.replay import replay
from intent_observe.metrics.derive import as_json, snapshot
from intent_observe.records import AttrValue, LogRecord, SpanRecord

_REPORTED = frozenset(
    {
        "intent.artifact.id",
        "intent.artifact.type",
        "intent.artifact.state",
        "intent.backfilled",
        "intent.phase",
        "intent.title",
    }
)


@dataclass
class Run:
    """Everything one read of a history produced: spans, logs, rejected lines."""

    engine: Engine
    spans: dict[str, SpanRecord] = field(default_factory=dict)  # span id → the span (its first copy)
    logs: list[LogRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    lines: int = 0
    keep_logs: bool = True
    log_count: int = 0
    resent: int = 0  # span ids that arrived a second time (kept: the first, as Tempo keeps it)

    def take(self, spans: Iterable[SpanRecord], logs: list[LogRecord]) -> None:
        for span in spans:
            if not self.keep_logs:  # a summary run: keep only what the report shows
                span.attributes = {k: v for k, v in span.attributes.items() if k in _REPORTED}
            if span.span_id in self.spans:  # never expected: a span id is sent once, final
                self.resent += 1
                continue
            self.spans[span.span_id] = span
        self.log_count += len(logs)
        if self.keep_logs:
            self.logs.extend(logs)

    def by_trace(self) -> dict[str, list[SpanRecord]]:
        traces: dict[str, list[SpanRecord]] = {}
        for span in self.spans.values():
            traces.setdefault(span.trace_id, []).append(span)
        return traces


def read_history(
    paths: Iterable[str],
    progress: Callable[[int], None] | None = None,
    scope: str = "",
    keep_logs: bool = True,
    derived: list[Said] | None = None,
) -> Run:
    """Read files whole as one history; `keep_logs=False` counts log records without keeping them.

    What the repository's artifact files say joins as derived events (`derived`: those given,
    else the front-matter history of the repository each file sits in)."""
    run = Run(Engine(scope=scope), keep_logs=keep_logs)
    files = list(paths)
    pending = Derived(derived if derived is not None else [e for p in files for e in derived_events_of(p)])
    for path in files:
        for block in blocks(path):
            seen = run.engine.state.events_seen
            rejected = replay(run.engine, block, pending)
            out = run.engine.drain()  # a block at a time: waiting log records stay few
            run.take(out.spans, out.logs)
            run.rejected += rejected
            lines = run.engine.state.events_seen - seen + len(rejected)
            run.lines += lines
            if progress is not None:
                progress(lines)
    pending.feed_before(None, run.engine)
    out = run.engine.finalize()
    run.take(out.spans, out.logs)
    return run


def _duration_s(span: SpanRecord) -> float:
    return round((span.end_ns - span.start_ns) / 1e9, 6)


def _artifact_entry(span: SpanRecord, depth: int, arts: dict[str, ArtifactView]) -> dict[str, Any]:
    attrs = span.attributes
    art = arts.get(span.span_id)
    return {
        "id": attrs.get("intent.artifact.id"),
        "type": attrs.get("intent.artifact.type"),
        "name": span.name,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "depth": depth,
        "start_ns": span.start_ns,
        "duration_s": _duration_s(span),
        "phase": attrs.get("intent.phase"),
        "state": _state(art) if art is not None else attrs.get("intent.artifact.state"),
        "status": "error" if span.error else "ok",
        "status_message": span.status_message,
        "backfilled": bool(attrs.get("intent.backfilled", False)),
        "title": art.title if art is not None and art.title is not None else attrs.get("intent.title"),
    }


def _state(art: ArtifactView) -> str:
    return "closed" if art.closed else "open"


def trace_tree(spans: list[SpanRecord]) -> list[tuple[SpanRecord, int]]:
    """A trace's spans depth-first (root first, children by start time), with their depth."""
    children: dict[str | None, list[SpanRecord]] = {}
    ids = {s.span_id for s in spans}
    for s in spans:
        parent = s.parent_span_id if s.parent_span_id in ids else None
        children.setdefault(parent, []).append(s)
    for group in children.values():
        group.sort(key=lambda s: (s.start_ns, s.name, s.span_id))
    ordered: list[tuple[SpanRecord, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in children.get(parent, []):
            ordered.append((s, depth))
            walk(s.span_id, depth + 1)

    walk(None, 0)
    return ordered


# Every trace is listed under the kind of its root artifact, each under a stable key.
_TRACE_KEYS = {
    "intent": "intents",
    "cluster": "clusters",
    "spec": "specs",
    "contract": "contracts",
    "assertion": "assertions",
    "decision": "decisions",
    "other": "other_events",
}


def build_report(run: Run) -> dict[str, Any]:
    """The stable JSON document of `inspect --json`."""
    groups: dict[str, dict[str, Any]] = {key: {} for key in _TRACE_KEYS.values()}
    orphans: list[dict[str, Any]] = []
    traces = run.by_trace()
    placed = sorted(
        (a for a in run.engine.state.artifacts.values() if a.trace_id is not None), key=lambda a: a.key
    )  # one scan, no re-caching
    arts = {a.span_id: a for a in placed}
    for art in placed:
        if art.parent_span is not None:  # not the root of a trace
            continue
        if art.kind == "signal":
            if art.intent is None:
                orphans.append(_orphan(art))
            continue
        assert art.trace_id is not None
        groups[_TRACE_KEYS[art.kind]][_trace_key(art)] = {
            "trace_id": art.trace_id,
            "type": art.kind,
            "title": _title(art),
            "file": art.file,
            "state": _state(art),
            "placeholder": art.placeholder,
            "artifacts": [_artifact_entry(s, d, arts) for s, d in trace_tree(traces[art.trace_id])],
        }
    return {
        "lines": run.lines,
        "events": run.engine.state.events_seen,
        "spans": len(run.spans),
        "spans_resent": run.resent,
        "logs": run.log_count,
        **groups,
        "orphans": orphans,
        "rejected": [
            {
                "file": r.position.file,
                "line": r.position.line,
                "offset": r.position.offset,
                "reason": r.reason,
            }
            for r in run.rejected
        ],
        "metrics": as_json(snapshot(run.engine.state)),
    }


def _title(art: ArtifactView) -> AttrValue | None:
    """The newest title; a standalone event is known by its type."""
    return art.title or (art.name if art.kind == "other" else None)


def _trace_key(art: ArtifactView) -> str:
    """An intent, spec, … by its id (`#2` for another artifact of a reused id); an event by its own."""
    return art.key.split(":", 1)[1]


def _orphan(art: ArtifactView) -> dict[str, Any]:
    return {
        "id": art.id,
        "key": art.key,
        "trace_id": art.trace_id,
        "span_id": art.span_id,
        "title": _title(art),
        "file": art.file,
        "status": art.inactive or "active",
        "cluster": art.cluster.removeprefix("cluster:") if art.cluster else None,
    }
