"""Bytes thrown at the compiled core through its Python API: every line is an Event, a
Rejected or blank; every history the identity engine is given places each span once; every
request body is rows or protobuf's DecodeError; every record the encoder is given is bytes or
a ValueError naming what it cannot write.

A panic in the core would reach Python as `pyo3_runtime.PanicException` (a BaseException)
and fail these tests; nothing may abort the process. The suite runs a few hundred examples;
`python -m benchmarks fuzz --minutes 3` feeds random bytes to these tests (and the core's
other property tests) for minutes (benchmarks/fuzz.py).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from intent_observe._core import Encoder, decode_log_records, decode_spans
from intent_observe.events import (
    Event,
    Position,
    Rejected,
    iter_lines,
    parse_line,
    parse_lines,
    parse_timestamp,
)
from intent_observe.events.parse import TimestampError
from intent_observe.identity.engine import Engine
from intent_observe.records import LogRecord, SpanLink, SpanRecord
from intent_observe.report import read_history
from intent_observe.store.decode import ResourceInfo, decode_body, resource_info
from intent_observe.store.rows import LogRow, SpanRow

EXAMPLES = int(os.environ.get("INTENT_FUZZ_EXAMPLES", "300"))
FIXTURE = Path(__file__).parent / "fixtures" / "history.jsonl"
FIXTURE_LINES = FIXTURE.read_bytes().splitlines()
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


# protobuf framing that steers a decoder into its rarer paths: long and overlong varints, a
# length past the end, each wire type, a group
WIRE_TOKENS = [
    b"\x80",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\x0a\xff\xff\xff\xff\x0f",
    b"\x0a\x00",
    b"\x12\x00",
    b"\x1a\x00",
    b"\x09",
    b"\x0d",
    b"\x0b\x0c",
    b"\x00",
]


def one_of(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed, drawn by its index (a strategy over the seeds themselves would print them all)."""
    return st.integers(0, len(seeds) - 1).map(lambda i: seeds[i])


@st.composite
def mutated(draw: st.DrawFn, seeds: st.SearchStrategy[bytes], tokens: list[bytes]) -> bytes:
    """A seed with a few bytes inserted, deleted, replaced, or its tail cut off."""
    data = bytearray(draw(seeds))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "cut"]))
        if action == "insert":
            data[at:at] = draw(st.one_of(st.sampled_from(tokens), st.binary(max_size=4)))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif action == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        else:
            del data[at:]
    return bytes(data)


LINES = st.one_of(st.binary(max_size=300), mutated(one_of(FIXTURE_LINES), TOKENS))
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


# -------------------------------------------------------------- histories for the engine
ARTIFACT_ID = re.compile(rb"\b(SIG|INT|SPEC|CON|CLU|CL|DEC)-[0-9A-Za-z_-]+")
# ids that name nothing, reuse another's, look like a second artifact's key, span lines, or are long
HOSTILE_IDS = [b"unknown", b"", b"null", b"SIG-1#2", b"SIG-\\n1", b"INT-" + b"9" * 300, b"SPEC-\\u0000"]
HOSTILE_IDS += [b"SIG-1", b"INT-1", b"SPEC-1", b"CON-1", b"CLU-1", b"cluster-x"]


@st.composite
def ids_swapped(draw: st.DrawFn) -> bytes:
    """A fixture line whose artifact ids are replaced by hostile ones (each drawn anew)."""
    return ARTIFACT_ID.sub(lambda _: draw(st.sampled_from(HOSTILE_IDS)), draw(one_of(FIXTURE_LINES)))


HISTORY_LINES = st.one_of(one_of(FIXTURE_LINES), mutated(one_of(FIXTURE_LINES), TOKENS), ids_swapped())


@SETTINGS
@given(st.lists(HISTORY_LINES, max_size=30), st.integers(1, 10))
def test_any_history_places_every_span_once_and_every_log_on_a_span(lines: list[bytes], every: int) -> None:
    """Whatever the lines and however often the engine is drained, nothing raises, no span id comes
    twice, and every log record names a span that was sent. (A parent may not be: an assertion
    points at its run's span, sent when the run ends. A repeated line is one event again: its id is
    the line's hash, its span sent once.) The lines handed to the
    core whole (`process_lines`, as the tail and inspect do) give the very same records."""
    data = b"".join(raw + b"\n" for raw in lines)
    engine = Engine()
    spans: list[SpanRecord] = []
    logs: list[LogRecord] = []
    for n, (raw, position) in enumerate(iter_lines(data, "f")):
        item = parse_line(raw, position)
        if isinstance(item, Event):
            engine.process(item, 5)
        if n % every == 0:
            out = engine.drain()
            spans += out.spans
            logs += out.logs
    out = engine.finalize()
    spans += out.spans
    logs += out.logs
    sent = {span.span_id for span in spans}
    assert len(sent) == len(spans)
    assert all(log.span_id in sent for log in logs)
    in_core = Engine()
    in_core.process_lines(data, "f", 0, 1, 5)
    out = in_core.finalize()
    assert sorted(out.spans, key=_span_key) == sorted(spans, key=_span_key)
    assert sorted(out.logs, key=_log_key) == sorted(logs, key=_log_key)


def _span_key(span: SpanRecord) -> str:
    return span.span_id


def _log_key(log: LogRecord) -> tuple[int, str, str]:
    return (log.time_ns, log.span_id, str(log.attributes.get("intent.event.id")))


# ------------------------------------------------------------------ OTLP request bodies
def _requests() -> dict[str, list[bytes]]:
    """Real requests to mutate: the fixture history's spans and logs, as our own service and as
    Claude Code (whose telemetry the store reads apart)."""
    run = read_history([str(FIXTURE)])
    spans, logs = list(run.spans.values()), run.logs
    out: dict[str, list[bytes]] = {"traces": [], "logs": []}
    for service in ("intent", "claude-code"):
        encoder = Encoder({"service.name": service, "session.id": "s-1"}, "0")
        out["traces"] += [encoder.traces(spans[i : i + 3]) for i in range(0, 30, 3)]
        out["logs"] += [encoder.logs(logs[i : i + 3]) for i in range(0, 30, 3)]
    return out


REQUESTS = _requests()
OFFICIAL = {"traces": ExportTraceServiceRequest, "logs": ExportLogsServiceRequest}


@SETTINGS
@given(data=st.data())
def test_any_request_body_is_rows_or_a_decode_error(data: st.DataObject) -> None:
    """What the official parser accepts, the core decodes into rows; what it refuses is refused
    before the core reads it; and the core alone, given any bytes, decodes or raises DecodeError."""
    signal = data.draw(st.sampled_from(sorted(OFFICIAL)))
    body = data.draw(st.one_of(st.binary(max_size=600), mutated(one_of(REQUESTS[signal]), WIRE_TOKENS)))
    try:
        OFFICIAL[signal].FromString(body)
    except DecodeError:
        with pytest.raises(DecodeError):
            decode_body(signal, body, 1)
    else:
        decode_body(signal, body, 1)
    with contextlib.suppress(DecodeError):
        if signal == "traces":
            decode_spans(body, 1, _resource_of, SpanRow)
        else:
            decode_log_records(body, 1, _resource_of, LogRow)


def _resource_of(raw: bytes) -> ResourceInfo:
    return resource_info(Resource.FromString(raw))


# -------------------------------------------------------------- records to encode
HOSTILE_VALUES = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None, categories=["Cs"]), max_size=3),  # lone surrogates
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
HOSTILE_ATTRS = st.dictionaries(st.text(max_size=8), HOSTILE_VALUES, max_size=8)
HEX_ID = st.one_of(st.text("0123456789abcdefABCDEF", min_size=16, max_size=32), st.text(max_size=33))


@SETTINGS
@given(
    ids=st.tuples(HEX_ID, HEX_ID, st.one_of(st.none(), HEX_ID)),
    name=st.text(),
    attrs=HOSTILE_ATTRS,
    times=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
    severity=st.integers(-(2**31), 2**31 - 1),
)
def test_any_record_encodes_or_is_a_value_error(
    ids: tuple[str, str, str | None], name: str, attrs: dict[str, Any], times: tuple[int, int], severity: int
) -> None:
    """Ids that are not hex of the right length and ints past 64 bits are refused by name;
    anything else is written (a value that is no str, int, float or bool as its str())."""
    trace_id, span_id, parent = ids
    span = SpanRecord(trace_id, span_id, parent, name, *times, bool(attrs), name, attrs)
    span.links = [SpanLink(trace_id, span_id, attrs)]
    log = LogRecord(*times, trace_id, span_id, severity, name, name, attrs)
    encoder = Encoder({"service.name": name}, "0")
    for encode, record in ((encoder.traces, span), (encoder.logs, log)):
        try:
            assert isinstance(encode([record]), bytes)
        except ValueError as error:
            assert "hex" in str(error) or "64 bits" in str(error), error
