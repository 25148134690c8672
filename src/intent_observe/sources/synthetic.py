"""A synthetic Intent history of any length, shaped like a real repository's.

Each story is one intent's life as the framework's writers record it: signals captured
(by its GitHub Action, its CLI, MCP servers, agents), enriched, clustered into a `CLU-`
cluster and promoted; a spec with contracts; contract runs with assertions; the intent
completed (nine in ten). Beside them, signals nobody has clustered yet, at every trust
level, some resolved later; now and then a decision, a re-announcement of a signal by
the Action, a signal whose file was gone (`unknown`), a health event.

What real files mix is mixed here: both line shapes (the envelope and the flat catalog
shape), naive MCP timestamps beside `Z` ones, ids numbered (`SIG-042`), dated
(`SIG-2026-01-05-…`) and ULIDs (`SIG-01KN…`), `data.file` naming each artifact's Markdown
file. `story_files` gives those files, with the front matter the story leaves them in.
Deterministic for a given seed, so a test can rebuild the file it expects.
"""

from __future__ import annotations

import random
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from intent_observe import layout
from intent_observe.artifacts.ids import new_ulid
from intent_observe.metrics.catalog import autonomy_level

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SOURCES = ("github-action", "cli", "mcp", "agent")
CLUSTERED = 3  # signals per story that are clustered and promoted
TRUST_OF_LEVEL = ((0.05, 0.19), (0.2, 0.39), (0.4, 0.59), (0.6, 0.84), (0.85, 1.0))  # L0–L4
_TOPICS = (
    ("login", "login test times out on a CI runner"),
    ("deploys", "deploys wait on a manual approval nobody owns"),
    ("search", "search results are stale after a reindex"),
    ("billing", "invoices render the wrong currency for EU accounts"),
    ("onboarding", "new engineers cannot run the stack on day one"),
    ("alerts", "paging alerts fire for a healthy queue"),
)


# ------------------------------------------------------------------ a story's plan
@dataclass(slots=True)
class Signal:
    id: str | None  # None: written as `unknown`, its file deleted since
    file: str
    title: str
    source: str
    trust: float | None
    resolved: bool = False


@dataclass(slots=True)
class Story:
    """Everything one story writes, decided up front (so lines and files agree)."""

    n: int
    start: datetime
    topic: str
    intent: str
    cluster: str
    spec: str
    contracts: list[str]
    signals: list[Signal]  # clustered, then promoted into the intent
    strays: list[Signal] = field(default_factory=list)  # never clustered: open, or resolved later
    assertions: list[list[bool]] = field(default_factory=list)  # per contract, pass/fail per assertion
    completed: bool = True
    decision: str | None = None


def plan(n: int, rng: random.Random, t: datetime) -> Story:
    slug, problem = _TOPICS[n % len(_TOPICS)]
    signals = [
        _signal(n, k, slug, problem, rng, t, SOURCES[(n + k) % len(SOURCES)]) for k in range(CLUSTERED)
    ]
    level = TRUST_OF_LEVEL[n % len(TRUST_OF_LEVEL)]  # every level has open signals
    stray = _signal(n, CLUSTERED, slug, f"{problem} (again, elsewhere)", rng, t, "mcp")
    stray.trust, stray.resolved = round(rng.uniform(*level), 3), n % 4 == 0
    strays = [stray]
    if n % 11 == 0:  # the Action announced a file that was deleted before it ran: `unknown`
        strays.append(
            Signal(
                None,
                layout.artifact_file("signals", f"{_date(t)}-{slug}-scratch.md"),
                "scratch note",
                SOURCES[0],
                None,
            )
        )
    return Story(
        n=n,
        start=t,
        topic=slug,
        intent=f"INT-{n:03d}",
        cluster=f"CLU-{n:03d}",
        spec=f"SPEC-{n:03d}",
        contracts=[f"CON-{(n - 1) * 2 + k + 1:03d}" for k in range(2)],
        signals=signals,
        strays=strays,
        assertions=[[rng.random() > 0.1 for _ in range(3)] for _ in range(2)],
        completed=n % 10 != 0,  # most intents are done once their contracts ran; some stay open
        decision=f"DEC-{n:03d}" if n % 5 == 0 else None,
    )


def _signal(n: int, k: int, slug: str, problem: str, rng: random.Random, t: datetime, source: str) -> Signal:
    """Ids as a repository accumulates them: numbered, then dated slugs, then ULIDs (1 in 3 each)."""
    style = n % 3
    if style == 1:
        signal_id = f"SIG-{(n - 1) * (CLUSTERED + 1) + k + 1:03d}"
        file = layout.artifact_file("signals", f"{signal_id}-{slug}.md")
    elif style == 2:
        signal_id = f"SIG-{_date(t)}-{slug}-{n}{'abcd'[k]}"
        file = layout.artifact_file("signals", f"{signal_id.removeprefix('SIG-')}.md")
    else:
        ms = int(t.timestamp() * 1000) + k
        signal_id = f"SIG-{new_ulid(ms, rng.randbytes(10))}"
        file = layout.artifact_file("signals", f"{signal_id}.md")
    title = f"{slug.capitalize()}: {problem} ({n}.{k})"
    return Signal(signal_id, file, title, source, round(rng.random(), 3))


def _date(t: datetime) -> str:
    return t.strftime("%Y-%m-%d")


# ------------------------------------------------------------------ its lines
def stamp(t: datetime, naive: bool = False) -> str:
    """`Z` as most writers put it; naive (meant as UTC) as Python MCP servers' `utcnow()` does."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f" if naive else "%Y-%m-%dT%H:%M:%S.%fZ")


def restamped(raw: bytes, when: datetime) -> bytes:
    """The line with its time moved to `when`, in the same form (naive stays naive)."""
    doc = orjson.loads(raw)
    doc["timestamp"] = stamp(when, naive=not str(doc["timestamp"]).endswith("Z"))
    return orjson.dumps(doc)


def named_ids(raw: bytes) -> set[str]:
    """The artifact ids one of these lines names (its own, and the typed `*_id` fields)."""
    doc = orjson.loads(raw)
    fields = {**doc, **(doc.get("data") or {})}
    values = [doc.get("span_id"), *(value for key, value in fields.items() if key.endswith("_id"))]
    return {value for value in values if isinstance(value, str) and value != "unknown"}


def _envelope(t: datetime, event: str, span_id: str | None, data: Mapping[str, object], source: str) -> bytes:
    doc = {
        "version": "0.1.0" if source == "github-action" else "0.2.0",
        "event": event,
        "timestamp": stamp(t, naive=source == "mcp"),
        "trace_id": None,
        "span_id": span_id if span_id is not None else "unknown",
        "parent_id": None,
        "source": source,
        "actor": "github-actions[bot]" if source == "github-action" else "claude-code",
        "ref": span_id,
        "data": data,
    }
    return orjson.dumps(doc)


def _flat(t: datetime, event: str, fields: Mapping[str, object]) -> bytes:
    return orjson.dumps({"event_type": event, **fields, "timestamp": stamp(t)})


def story(n: int, rng: random.Random, t: datetime) -> Iterator[tuple[datetime, bytes]]:
    """The lines of intent number `n`, with their times (about 25 lines)."""
    return story_lines(plan(n, rng, t), rng)


def story_lines(s: Story, rng: random.Random) -> Iterator[tuple[datetime, bytes]]:
    step = timedelta(minutes=7)
    t = s.start
    for sig in s.signals:
        yield t, _envelope(t, "signal.created", sig.id, {"title": sig.title, "file": sig.file}, sig.source)
        t += step
    for sig in s.strays:  # scored as they are captured, as MCP servers do
        scored = {} if sig.trust is None else {"trust": sig.trust, "tags": [s.topic]}
        data = {"title": sig.title, "file": sig.file, **scored}
        yield t, _envelope(t, "signal.created", sig.id, data, sig.source)
        t += step
    for sig in s.signals:
        enriched = {"signal_id": sig.id, "trust_score": sig.trust, "source": sig.source}
        yield t, _flat(t, "signal.enriched", enriched)
        t += step
    if s.n % 6 == 0:  # the Action runs again on a later push and announces the same file again
        first = s.signals[0]
        again = {"title": first.title, "file": first.file}
        yield t, _envelope(t, "signal.created", first.id, again, SOURCES[0])
        t += step
    for sig in s.signals:
        fields = {"signal_id": sig.id, "cluster_id": s.cluster, "similarity_score": 0.9, "source": "agent"}
        yield t, _flat(t, "signal.clustered", fields)
        t += step
    ids = [sig.id for sig in s.signals]
    data = {"intent_id": s.intent, "title": f"Fix {s.topic} for good ({s.n})", "signals": ids}
    yield t, _envelope(t, "intent.proposed", s.intent, {**data, "cluster_id": s.cluster}, "mcp")
    t += step
    spec_data = {"intent_id": s.intent, "title": f"{s.topic.capitalize()} retry budget ({s.n})"}
    yield t, _envelope(t, "spec.created", s.spec, {**spec_data, "contracts": s.contracts}, "mcp")
    t += step
    yield t, _flat(t, "spec.approved", {"spec_id": s.spec, "intent_id": s.intent, "completeness_score": 0.92})
    for con, results in zip(s.contracts, s.assertions, strict=True):
        t += step
        yield t, _flat(t, "contract.started", {"contract_id": con, "spec_id": s.spec, "agent": "claude-code"})
        for a, ok in enumerate(results):
            t += timedelta(seconds=rng.randrange(5, 90))
            kind = "contract.assertion.passed" if ok else "contract.assertion.failed"
            fields = {"contract_id": con, "assertion_id": f"assert-{a}", "assertion_name": f"check_{a}"}
            if not ok:
                fields["error"] = "expected 0 retries, saw 3"
            yield t, _flat(t, kind, fields)
        t += timedelta(seconds=30)
        failed = results.count(False)
        done = {"contract_id": con, "duration": 240, "assertions_passed": 3 - failed}
        yield t, _flat(t, "contract.completed", {**done, "assertions_failed": failed})
    if s.completed:
        t += step
        yield t, _flat(t, "intent.completed", {"intent_id": s.intent, "source": "mcp"})
    for sig in s.strays:
        if sig.resolved:
            t += step
            resolved = {"signal_id": sig.id, "source": "cli", "reason": "fixed upstream"}
            yield t, _flat(t, "signal.resolved", resolved)
    if s.decision is not None:
        t += step
        yield t, _envelope(t, "decision.recorded", s.decision, {"title": "Keep retries at 2"}, "cli")
    if s.n % 7 == 0:
        t += step
        yield t, _flat(t, "system.health", {"status": "ok", "queue": rng.randrange(0, 9)})


# ------------------------------------------------------------------ its files
def story_files(s: Story, finished: bool = True, named: Container[str] | None = None) -> dict[str, str]:
    """The artifact files of the story (path → text), front matter as the story leaves them.

    `finished=False`: as they stand while its contracts still run; `named`: only the
    artifacts whose ids the lines written so far name (a story cut short has no files for
    what it has not announced). Signals written as `unknown` have none."""
    known = (lambda _: True) if named is None else named.__contains__
    when = _date(s.start)
    promoted = "promoted" if known(s.intent) else "clustered" if known(s.cluster) else "captured"
    files = [(sig.id, sig.file, _signal_file(sig, promoted, s.intent, s.cluster)) for sig in s.signals]
    for sig in s.strays:
        status = "resolved" if finished and sig.resolved else "open"
        files.append((sig.id, sig.file, _signal_file(sig, status, None, None)))
    cluster: dict[str, object] = {"id": s.cluster, "name": f"{s.topic}-{s.n}", "status": "promoted"}
    cluster |= {"signals": _ids(s.signals), "promoted_to": s.intent, "formed_date": when}
    files.append(
        (
            s.cluster,
            layout.artifact_file("clusters", f"{s.topic}-{s.n}.md"),
            _front_matter(cluster, "Signals"),
        )
    )
    done = finished and s.completed
    intent: dict[str, object] = {"id": s.intent, "title": f"Fix {s.topic} for good ({s.n})"}
    intent |= {"status": "shipped" if done else "accepted", "signals": _ids(s.signals), "specs": [s.spec]}
    intent |= {"proposed_date": when}
    files.append(
        (s.intent, layout.artifact_file("intents", f"{s.intent}-{s.topic}.md"), _front_matter(intent, "Why"))
    )
    spec: dict[str, object] = {"id": s.spec, "title": f"{s.topic.capitalize()} retry budget ({s.n})"}
    spec |= {"status": "shipped" if done else "executing", "intent": s.intent, "contracts": s.contracts}
    spec |= {"trust_score": 0.8, "autonomy_level": "L3", "created": when}
    files.append(
        (
            s.spec,
            layout.artifact_file("specs", f"{s.spec}-{s.topic}-retry-budget.md"),
            _front_matter(spec, "Acceptance"),
        )
    )
    if s.decision is not None:
        decision = {"id": s.decision, "title": "Keep retries at 2", "status": "ratified"}
        files.append(
            (
                s.decision,
                layout.artifact_file("decisions", f"{s.decision}.md"),
                _front_matter(decision, "Decision"),
            )
        )
    return {path: text for artifact_id, path, text in files if artifact_id is not None and known(artifact_id)}


def _signal_file(sig: Signal, status: str, intent: str | None, cluster: str | None) -> str:
    meta: dict[str, object] = {"id": sig.id, "status": status, "source": sig.source, "trust": sig.trust}
    if sig.trust is not None:
        meta["autonomy_level"] = autonomy_level(sig.trust)
    meta |= {"cluster": cluster, "related_intents": [intent] if intent else []}
    return _front_matter(meta, sig.title)


def _ids(signals: list[Signal]) -> list[str]:
    return [sig.id for sig in signals if sig.id is not None]


def _front_matter(meta: Mapping[str, object], heading: str) -> str:
    """YAML front matter as the framework's tools write it: flat keys, flow lists, blank for none."""
    lines = ["---"]
    for key, value in meta.items():
        if isinstance(value, list):
            text = "[" + ", ".join(str(v) for v in value) + "]"
        elif value is None:
            text = ""
        elif isinstance(value, str) and (":" in value or "#" in value):
            text = '"' + value.replace('"', "'") + '"'
        else:
            text = str(value)
        lines.append(f"{key}: {text}".rstrip())
    return "\n".join([*lines, "---", "", f"# {heading}", ""])


# ------------------------------------------------------------------ many stories
def lines(count: int, seed: int = 7, first_intent: int = 1) -> Iterator[bytes]:
    """`count` event lines (each without its newline), stories following one another in time."""
    rng = random.Random(seed)
    produced, n = 0, first_intent
    start = START
    while True:
        last = start
        for when, raw in story(n, rng, start):
            if produced == count:
                return
            yield raw
            produced += 1
            last = when
        n += 1
        start = last + timedelta(hours=1)


def write_file(path: str, count: int, seed: int = 7) -> int:
    """Write `count` lines to `path`; returns the bytes written."""
    size = 0
    with open(path, "wb") as fh:
        for raw in lines(count, seed):
            fh.write(raw + b"\n")
            size += len(raw) + 1
    return size
