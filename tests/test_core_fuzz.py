"""Bytes thrown at the compiled core's parser: every line is an Event, a Rejected or blank.

A panic in the core would reach Python as `pyo3_runtime.PanicException` and fail these
tests; nothing may abort the process. `INTENT_FUZZ_EXAMPLES=100000 pytest tests/test_core_fuzz.py`
runs it for minutes (the suite runs a few hundred examples).
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intent_observe.events import Event, Position, Rejected, parse_line, parse_lines, parse_timestamp
from intent_observe.events.parse import TimestampError

EXAMPLES = int(os.environ.get("INTENT_FUZZ_EXAMPLES", "300"))
FIXTURE_LINES = (Path(__file__).parent / "fixtures" / "history.jsonl").read_bytes().splitlines()
# bytes that steer a JSON reader into its rarer paths
TOKENS = [
    b'"',
    b"\\",
    b"\\u",
    b"\\ud800",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"-",
    b"0",
    b"1e999",
    b"\xff",
    b"\x00",
]


@st.composite
def mutated_line(draw: st.DrawFn) -> bytes:
    line = bytearray(draw(st.sampled_from(FIXTURE_LINES)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(line)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "cut"]))
        if action == "insert":
            line[at:at] = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=4)))
        elif action == "delete":
            del line[at : at + draw(st.integers(1, 8))]
        elif action == "replace" and at < len(line):
            line[at] = draw(st.integers(0, 255))
        else:
            del line[at:]
    return bytes(line)


LINES = st.one_of(st.binary(max_size=300), mutated_line())
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(LINES)
def test_any_line_is_an_event_a_rejection_or_blank(raw: bytes) -> None:
    out = parse_line(raw, Position("f", 1, 0))
    assert out is None or isinstance(out, Event | Rejected)
    if isinstance(out, Rejected):
        assert out.reason and out.raw == raw


@SETTINGS
@given(st.lists(LINES, max_size=20))
def test_a_batch_gives_one_item_per_non_blank_complete_line(lines: list[bytes]) -> None:
    data = b"\n".join(lines) + b"\n"
    complete = data.split(b"\n")[:-1]
    items = parse_lines(data, "f")
    assert len(items) == sum(1 for line in complete if line.strip())
    assert all(isinstance(item, Event | Rejected) for item in items)


@SETTINGS
@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.booleans(), st.none()))
def test_a_timestamp_is_read_or_refused_with_a_reason(value: object) -> None:
    try:
        assert 0 <= parse_timestamp(value) < 2**63
    except TimestampError as error:
        assert str(error)
