"""Small helpers the identity tests share: write event dicts as lines, run the engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from intent_observe.events import Event, Position, parse_line
from intent_observe.identity.engine import Engine
from intent_observe.records import LogRecord, SpanRecord


def events_of(docs: list[dict[str, Any]], file: str = "events.jsonl") -> list[Event]:
    out = []
    offset = 0
    for n, doc in enumerate(docs, 1):
        raw = json.dumps(doc).encode()
        ev = parse_line(raw, Position(file, n, offset))
        assert isinstance(ev, Event), ev
        out.append(ev)
        offset += len(raw) + 1
    return out


class Result:
    def __init__(self, spans: list[SpanRecord], logs: list[LogRecord]) -> None:
        self.spans: dict[str, SpanRecord] = {}
        for s in spans:
            assert s.span_id not in self.spans, f"span {s.span_id} ({s.name}) sent twice"
            self.spans[s.span_id] = s
        self.logs = logs

    def named(self, name: str) -> list[SpanRecord]:
        return [s for s in self.spans.values() if s.name == name]

    def one(self, name: str, **attrs: Any) -> SpanRecord:
        found = [s for s in self.named(name) if all(s.attributes.get(k) == v for k, v in attrs.items())]
        assert len(found) == 1, (name, attrs, [(s.name, s.attributes) for s in self.named(name)])
        return found[0]

    def parent_of(self, span: SpanRecord) -> SpanRecord:
        assert span.parent_span_id is not None, span.name
        return self.spans[span.parent_span_id]

    def children(self, span: SpanRecord) -> list[SpanRecord]:
        return sorted(
            (s for s in self.spans.values() if s.parent_span_id == span.span_id), key=lambda s: s.start_ns
        )

    def phase(self, span: SpanRecord, phase: str) -> list[SpanRecord]:
        """The phase spans (`run`, `lifecycle`) under an artifact's announced span."""
        return [s for s in self.children(span) if s.attributes.get("intent.phase") == phase]


def run(docs: list[dict[str, Any]], engine: Engine | None = None) -> Result:
    engine = engine or Engine()
    for ev in events_of(docs):
        engine.process(ev)
    out = engine.finalize()
    return Result(out.spans, out.logs)


def write_lines(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
