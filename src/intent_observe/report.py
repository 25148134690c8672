"""Read event files whole and describe what the identity engine makes of them.

Used by `intent-observe inspect` (terminal tree and `--json`) and by the tests that
check a fixture's expected trace trees. Several files are read as one history, in
the order given (e.g. a rotated `events.jsonl.1` before `events.jsonl`). The report
itself is the core's (`_core.Report`, crates/core/src/report): as the engine drains it
keeps what the report shows of each span, and it writes the JSON document.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import orjson

from intent_observe._core import Report
from intent_observe.artifacts.derive import Derived, FrontMatter, Said, derived_events_of
from intent_observe.events import Rejected, blocks
from intent_observe.identity.engine import Engine
from intent_observe.identity.replay import replay
from intent_observe.metrics.derive import as_json, snapshot

if TYPE_CHECKING:  # made only with `records=True` (the tests): `inspect` never imports them
    from intent_observe.records import LogRecord, SpanRecord

_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
# entries of each engine table kept in memory, the rest as compact rows: memory does not grow
# with every artifact of the history
WORKING_SET = 2000


@dataclass
class Run:
    """Everything one read of a history produced: the report's part of it, rejected lines, and
    (`records`) the span and log records."""

    engine: Engine
    report: Report = field(default_factory=Report)
    spans: dict[str, SpanRecord] = field(default_factory=dict)  # span id → the span (its first copy)
    logs: list[LogRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    lines: int = 0
    records: bool = True

    def drain(self, last: bool = False) -> None:
        out = self.report.take(self.engine, last=last, records=self.records)
        if out is not None:
            for span in out.spans:
                self.spans.setdefault(span.span_id, span)  # a span id is sent once, final
            self.logs.extend(out.logs)


def read_history(
    paths: Iterable[str],
    progress: Callable[[int], None] | None = None,
    scope: str = "",
    records: bool = True,
    derived: FrontMatter | None = None,
) -> Run:
    """Read files whole as one history; `records=False` keeps no span or log record, only what
    the report shows of them.

    What the repository's artifact files say joins (`derived`: what is given, else the
    front-matter history of the repository each file sits in): its derived events, and its
    titles, which name their files' artifacts."""
    engine = Engine(scope=scope, logs_counted=not records, working_set=WORKING_SET)  # logs only counted
    run = Run(engine, records=records)
    files = list(paths)
    front = derived if derived is not None else _front_matter_of(files)
    pending = Derived(front.said)
    engine.title_files(front.titles)
    for path in files:
        for block in blocks(path):
            seen = run.engine.state.events_seen
            rejected = replay(run.engine, block, pending)
            run.drain()  # a block at a time: waiting log records stay few
            run.rejected += rejected
            lines = run.engine.state.events_seen - seen + len(rejected)
            run.lines += lines
            if progress is not None:
                progress(lines)
    pending.feed_before(None, run.engine)
    run.drain(last=True)
    return run


def _front_matter_of(files: list[str]) -> FrontMatter:
    """What the artifact files of the repositories holding `files` say, together."""
    said: list[Said] = []
    titles: dict[str, tuple[str, str]] = {}
    for front in map(derived_events_of, files):
        said += front.said
        titles.update(front.titles)
    return FrontMatter(said, titles)


def write_report(run: Run, out: IO[bytes]) -> None:
    """The stable JSON document of `inspect --json`, written to `out` as it is made: to a
    file's descriptor (what `out` buffered flushed first), else through `out.write`."""
    rejected = [
        {"file": r.position.file, "line": r.position.line, "offset": r.position.offset, "reason": r.reason}
        for r in run.rejected
    ]
    given = {"lines": run.lines, "rejected": rejected, "metrics": as_json(snapshot(run.engine.state))}
    members = [(key, orjson.dumps(value, option=_JSON)) for key, value in given.items()]
    run.report.write(run.engine, _descriptor(out), members)


def _descriptor(out: IO[bytes]) -> int | IO[bytes]:
    """A plain file's descriptor (the core writes there without a bytes object a chunk),
    else `out` itself: a wrapper's `fileno` may name a file it encodes into (gzip)."""
    if type(out) not in (io.BufferedWriter, io.FileIO):  # unbuffered (`-u`): a FileIO
        return out
    out.flush()
    return out.fileno()


def build_report(run: Run) -> dict[str, Any]:
    """The same document as a dict (the terminal's tree, tests)."""
    buffer = io.BytesIO()
    write_report(run, buffer)
    report: dict[str, Any] = orjson.loads(buffer.getvalue())
    return report
