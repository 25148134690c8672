"""A synthetic Intent history of any length, for load tests, fault tests and benchmarks.

Each story is one intent's life as the framework writes it: signals created and
enriched, clustered, promoted; a spec with contracts; contract runs with assertions;
the intent completed (nine in ten); now and then a decision or a system event. Both
line shapes are mixed, as real files mix them. Deterministic for a given seed, so a
test can rebuild the file it expects.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import orjson

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SOURCES = ("cli", "mcp", "github", "agent")


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _envelope(t: datetime, event: str, span_id: str, data: Mapping[str, object], source: str) -> bytes:
    doc = {
        "version": "0.2.0",
        "event": event,
        "timestamp": _stamp(t),
        "trace_id": None,
        "span_id": span_id,
        "source": source,
        "actor": "claude-code",
        "ref": span_id,
        "data": data,
    }
    return orjson.dumps(doc)


def _flat(t: datetime, event: str, fields: dict[str, object]) -> bytes:
    return orjson.dumps({"event_type": event, **fields, "timestamp": _stamp(t)})


def story(n: int, rng: random.Random, t: datetime) -> Iterator[tuple[datetime, bytes]]:
    """The lines of intent number `n`, with their times (about 23 lines)."""
    step = timedelta(minutes=7)
    iid, cid, spec = f"INT-{n:06d}", f"CL-{n:06d}", f"SPEC-{n:06d}"
    signals = [f"SIG-{n:06d}-{k}" for k in range(3)]
    for k, sid in enumerate(signals):
        source = SOURCES[(n + k) % len(SOURCES)]
        title = f"Flaky check {n}.{k}: login test times out on CI runner {rng.randrange(1, 64)}"
        yield t, _envelope(t, "signal.created", sid, {"title": title, "tags": ["ci", "auth"]}, source)
        t += step
        trust = round(rng.random(), 3)
        yield t, _flat(t, "signal.enriched", {"signal_id": sid, "trust_score": trust, "source": source})
        t += step
    for sid in signals:
        fields = {"signal_id": sid, "cluster_id": cid, "similarity_score": 0.9, "source": "agent"}
        yield t, _flat(t, "signal.clustered", fields)
        t += step
    data = {"intent_id": iid, "title": f"Make login tests reliable ({n})", "signals": signals}
    yield t, _envelope(t, "intent.proposed", iid, {**data, "cluster_id": cid}, "mcp")
    t += step
    contracts = [f"CON-{n:06d}-{k}" for k in range(2)]
    spec_data = {"intent_id": iid, "title": f"Retry budget for login tests ({n})", "contracts": contracts}
    yield t, _envelope(t, "spec.created", spec, spec_data, "mcp")
    t += step
    yield t, _flat(t, "spec.approved", {"spec_id": spec, "intent_id": iid, "completeness_score": 0.92})
    for con in contracts:
        t += step
        yield t, _flat(t, "contract.started", {"contract_id": con, "spec_id": spec, "agent": "claude-code"})
        failed = 0
        for a in range(3):
            t += timedelta(seconds=rng.randrange(5, 90))
            ok = rng.random() > 0.1
            failed += not ok
            kind = "contract.assertion.passed" if ok else "contract.assertion.failed"
            fields = {"contract_id": con, "assertion_id": f"assert-{a}", "assertion_name": f"check_{a}"}
            if not ok:
                fields["error"] = "expected 0 retries, saw 3"
            yield t, _flat(t, kind, fields)
        t += timedelta(seconds=30)
        done = {"contract_id": con, "duration": 240, "assertions_passed": 3 - failed}
        yield t, _flat(t, "contract.completed", {**done, "assertions_failed": failed})
    if n % 10:  # most intents are done once their contracts ran; some stay open
        t += step
        yield t, _flat(t, "intent.completed", {"intent_id": iid, "source": "mcp"})
    if n % 5 == 0:
        t += step
        yield t, _envelope(t, "decision.recorded", f"DEC-{n:06d}", {"title": "Keep retries at 2"}, "cli")
    if n % 7 == 0:
        t += step
        yield t, _flat(t, "system.health", {"status": "ok", "queue": rng.randrange(0, 9)})


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
