"""Random and hostile lines thrown at the parser and the identity engine: no crash, no lost event."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intent_observe.events import Event, Position, Rejected, parse_line
from intent_observe.identity.engine import Engine

EVENT_TYPES = [
    "signal.created",
    "signal.enriched",
    "signal.clustered",
    "signal.promoted",
    "signal.dismissed",
    "intent.proposed",
    "intent.completed",
    "spec.created",
    "spec.approved",
    "contract.started",
    "contract.assertion.passed",
    "contract.assertion.failed",
    "contract.completed",
    "contract.failed",
    "contract.verified",
    "decision.recorded",
    "system.error",
    "trace.completed",
    "observation.written",
    "totally.unknown",
]
ODD_IDS = st.one_of(
    st.sampled_from(
        [
            "SIG-006",
            "unknown",
            "",
            "INT-1",
            "SPEC-1",
            "CON-1",
            "CL-1",
            "SIG-0\n99",
            "x#y",
            "assert-1",
            "TRACE-015",
            "ws-hygiene-001",
        ]
    ),
    st.text(max_size=12),
    st.none(),
    st.integers(),
)
TRACE_HINTS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5",
            "ws-hygiene-001",
            "TRACE-015",
            "cluster-5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5",
            "0" * 32,
        ]
    ),
    st.text(max_size=40),
)
STAMPS = st.one_of(
    st.datetimes(timezones=st.none()).map(lambda d: d.isoformat()),
    st.sampled_from(["2026-03-31T02:16:42Z", "2026-03-31T02:16:42.691454", "2026-03-31T04:16:42+02:00"]),
    st.integers(min_value=0, max_value=2**40),
)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
PAYLOAD = st.dictionaries(
    st.sampled_from(
        [
            "title",
            "intent_id",
            "spec_id",
            "contract_id",
            "cluster_id",
            "signal_id",
            "assertion_id",
            "trust_score",
            "autonomy_level",
            "contracts",
            "signals",
            "duration",
            "assertions_failed",
            "error",
            "result",
            "other",
        ]
    ),
    st.one_of(
        JSON_SCALARS,
        ODD_IDS,
        st.lists(ODD_IDS, max_size=4),
        st.dictionaries(st.text(max_size=5), JSON_SCALARS),
    ),
    max_size=8,
)


@st.composite
def plausible_line(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {
            "version": "0.2.0",
            "event": draw(st.sampled_from(EVENT_TYPES)),
            "timestamp": draw(STAMPS),
            "trace_id": draw(TRACE_HINTS),
            "span_id": draw(ODD_IDS),
            "parent_id": draw(ODD_IDS),
            "ref": draw(ODD_IDS),
            "source": draw(st.one_of(st.none(), st.text(max_size=8))),
            "data": draw(PAYLOAD),
        }
    return {"event_type": draw(st.sampled_from(EVENT_TYPES)), "timestamp": draw(STAMPS), **draw(PAYLOAD)}


HOSTILE = st.one_of(
    st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HOSTILE)
def test_parser_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    out = parse_line(raw, Position("f", 1, 0))
    assert out is None or isinstance(out, Event | Rejected)
    if isinstance(out, Rejected):
        assert out.reason and out.raw == raw


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(plausible_line().map(lambda d: json.dumps(d).encode()), HOSTILE), max_size=40),
    st.integers(min_value=0, max_value=40),
)
def test_engine_never_crashes_and_loses_no_good_event(lines: list[bytes], cut: int) -> None:
    engine = Engine()
    good = 0
    spans: dict[str, tuple[str, str | None]] = {}
    logs = []
    for n, raw in enumerate(lines):
        if b"\n" in raw:
            continue  # one line at a time, as a file gives them
        out = parse_line(raw, Position("f", n + 1, 0))
        if isinstance(out, Event):
            good += 1
            engine.process(out)
        if n == cut:
            drained = engine.drain()
            logs += drained.logs
            spans.update({s.span_id: (s.trace_id, s.parent_span_id) for s in drained.spans})
    final = engine.finalize()
    logs += final.logs
    for s in final.spans:
        assert spans.get(s.span_id, (s.trace_id, s.parent_span_id)) == (s.trace_id, s.parent_span_id)
        spans[s.span_id] = (s.trace_id, s.parent_span_id)
    assert len(logs) == good  # every good line: exactly one log record
    assert (
        len(
            {
                str(log.attributes["intent.event.id"]) + str(log.attributes["intent.event.line"])
                for log in logs
            }
        )
        == good
    )
    for trace_id, parent in spans.values():
        assert len(trace_id) == 32 and trace_id != "0" * 32
        if parent is not None:
            assert parent in spans and spans[parent][0] == trace_id  # every named parent is exported
    for log in logs:
        assert log.span_id in spans and spans[log.span_id][0] == log.trace_id
