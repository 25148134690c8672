"""The store's span and log rows, read by the compiled core from the request's bytes, against
the same request parsed by the official opentelemetry-proto classes."""

from __future__ import annotations

import gc
import pickle
from typing import Any

import orjson
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2

from intent_observe.store.decode import decode_body
from intent_observe.store.rows import LogRow, SpanRow

COLUMNS = {  # attribute → its column in a row
    "intent.artifact.type": "artifact_type",
    "intent.artifact.id": "artifact_id",
    "intent.id": "intent_id",
    "intent.contract.id": "contract_id",
    "session.id": "session_id",
    "intent.title": "title",
    "intent.phase": "phase",
}
VALUES = st.one_of(
    st.text(max_size=6).map(lambda t: AnyValue(string_value=t)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.integers(-(2**63), 2**63 - 1).map(lambda n: AnyValue(int_value=n)),
    st.floats(allow_nan=False).map(lambda x: AnyValue(double_value=x)),
    st.binary(max_size=3).map(lambda b: AnyValue(bytes_value=b)),
    st.just(AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="a")]))),
    st.just(AnyValue()),
)
KEYS = st.sampled_from([*COLUMNS, "intent.artifact.state", "intent.backfilled", "other"])
SPANS = st.builds(
    lambda trace_id, span_id, parent, name, start, end, attrs, links, error: trace_pb2.Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=[KeyValue(key=k, value=v) for k, v in attrs],
        links=[trace_pb2.Span.Link(trace_id=link, span_id=b"\x01" * 8) for link in links],
        status=trace_pb2.Status(code=2, message="boom") if error else None,
    ),
    st.one_of(st.binary(min_size=16, max_size=16), st.just(bytes(16))),
    st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=9)),
    st.one_of(st.binary(min_size=8, max_size=8), st.just(b"")),
    st.text(max_size=8),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.lists(st.tuples(KEYS, VALUES), max_size=6),
    st.lists(st.binary(min_size=16, max_size=16), max_size=2),
    st.booleans(),
)


def text(value: AnyValue) -> str | None:
    """What the store keeps of a column attribute: its value as text, None when empty."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "bytes_value":
        return value.bytes_value.hex() or None
    if which == "array_value":
        return str([1, "a"])
    return str(getattr(value, which)) or None


def expected_row(span: trace_pb2.Span) -> dict[str, Any] | None:
    if len(span.trace_id) != 16 or span.trace_id == bytes(16) or len(span.span_id) != 8:
        return None
    if span.span_id == bytes(8) or max(span.start_time_unix_nano, span.end_time_unix_nano) >= 2**63:
        return None
    attrs = {kv.key: kv.value for kv in span.attributes}  # the last of a repeated key
    row = {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex() if len(span.parent_span_id) == 8 else None,
        "name": span.name,
        "kind": span.kind,
        "start_ns": span.start_time_unix_nano,
        "end_ns": max(span.start_time_unix_nano, span.end_time_unix_nano),
        "status_code": span.status.code,
        "status_message": span.status.message or None,
        "closed": int(
            "intent.artifact.state" in attrs and attrs["intent.artifact.state"].string_value == "closed"
        ),
    }
    row.update({column: text(attrs[key]) if key in attrs else None for key, column in COLUMNS.items()})
    return row


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(SPANS, max_size=6))
def test_rows_hold_what_the_official_parser_reads(spans: list[trace_pb2.Span]) -> None:
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="svc"))])
    request = ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=resource, scope_spans=[trace_pb2.ScopeSpans(spans=spans)])
        ]
    )
    batch = decode_body("traces", request.SerializeToString(), 42)
    expected = [row for row in map(expected_row, spans) if row is not None]
    assert batch.rejected == len(spans) - len(expected)
    assert len(batch.spans) == len(expected)
    kept = [span for span in spans if expected_row(span) is not None]
    for row, want, span in zip(batch.spans, expected, kept, strict=True):
        assert {column: getattr(row, column) for column in want} == want
        assert row.service == "svc" and row.received_ns == 42
        assert trace_pb2.Span.FromString(row.proto) == span  # the span's own bytes, as they came


def test_a_backfilled_span_promotes_the_traces_it_links_to() -> None:
    span = trace_pb2.Span(
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        attributes=[
            KeyValue(key="intent.backfilled", value=AnyValue(bool_value=True)),
            KeyValue(key="intent.id", value=AnyValue(string_value="INT-1")),
        ],
        links=[trace_pb2.Span.Link(trace_id=b"\x03" * 16, span_id=b"\x04" * 8)],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )
    batch = decode_body("traces", request.SerializeToString(), 1)
    assert batch.promotions == [("03" * 16, "INT-1")]
    assert batch.resources and batch.resources[0][1] == "unknown_service"


@pytest.mark.parametrize("body", [b"\x0a\x05\x12\x03", b"\x0a\x02\x12", b"\xff\xff"])
def test_a_malformed_body_is_protobufs_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_body("traces", body, 1)


# ------------------------------------------------------------------------------- logs
def python_value(value: AnyValue, depth: int = 0) -> Any:
    """An attribute value as the store keeps it: bytes as hex, lists, dicts, None past 8 levels."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "bytes_value":
        return value.bytes_value.hex()
    if which == "array_value":
        return None if depth >= 8 else [python_value(v, depth + 1) for v in value.array_value.values]
    if which == "kvlist_value":
        return (
            None
            if depth >= 8
            else {kv.key: python_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
        )
    return getattr(value, which)


NESTED = st.recursive(
    VALUES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: AnyValue(array_value=ArrayValue(values=items))),
        st.lists(st.tuples(st.sampled_from(["a", "é", ""]), inner), max_size=3).map(
            lambda pairs: AnyValue(
                kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in pairs])
            )
        ),
    ),
    max_leaves=12,
)
LOG_KEYS = st.sampled_from(["intent.event.id", "intent.artifact.id", "session.id", "z", "a", "other"])
RECORDS = st.builds(
    lambda time_ns, attrs, body: logs_pb2.LogRecord(
        time_unix_nano=time_ns,
        attributes=[KeyValue(key=k, value=v) for k, v in attrs],
        body=body,
        trace_id=b"\x01" * 16,
        span_id=bytes(8),
    ),
    st.sampled_from([0, 5, 2**63 - 1, 2**63]),
    st.lists(st.tuples(LOG_KEYS, NESTED), max_size=5),
    st.one_of(st.none(), NESTED),
)


def logs_body(records: list[logs_pb2.LogRecord], service: str = "svc") -> bytes:
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])
    scope_logs = logs_pb2.ScopeLogs(log_records=records)
    request = ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(resource=resource, scope_logs=[scope_logs])]
    )
    return request.SerializeToString()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(RECORDS, max_size=5))
def test_log_rows_hold_the_attributes_as_sorted_json(records: list[logs_pb2.LogRecord]) -> None:
    batch = decode_body("logs", logs_body(records), 42)
    kept = [r for r in records if r.time_unix_nano < 2**63]
    assert batch.rejected == len(records) - len(kept) and len(batch.logs) == len(kept)
    for row, record in zip(batch.logs, kept, strict=True):
        attrs = {kv.key: python_value(kv.value) for kv in record.attributes}
        body = python_value(record.body)
        assert row.attributes == orjson.dumps(attrs, default=str, option=orjson.OPT_SORT_KEYS).decode()
        assert row.body == (body if isinstance(body, str) else orjson.dumps(body, default=str).decode())
        assert row.time_ns == (record.time_unix_nano or 42)
        assert (row.trace_id, row.span_id) == ("01" * 16, None)  # an all-zero span id names no span
        assert row.category == ("intent" if "intent.event.id" in attrs else "other")
        event_id = attrs.get("intent.event.id")
        if event_id is not None and str(event_id):
            assert row.record_key == str(event_id)
        else:
            assert len(row.record_key) == 32  # a hash of the record's content


def test_event_names_and_categories() -> None:
    def row(service: str, body: str, event_name: str = "", **attrs: str) -> tuple[str, str | None]:
        record = logs_pb2.LogRecord(
            body=AnyValue(string_value=body),
            event_name=event_name,
            attributes=[
                KeyValue(key=k.replace("_", "."), value=AnyValue(string_value=v)) for k, v in attrs.items()
            ],
        )
        (only,) = decode_body("logs", logs_body([record], service), 1).logs
        return only.category, only.event_name

    assert row("claude-code", "x", event_name="api_request") == ("claude", "claude_code.api_request")
    assert row("svc", "claude_code.tool_result\u2003rest") == ("claude", "claude_code.tool_result")
    assert row("intent", "b", event_type="signal.created") == ("other", None)  # no such attribute key
    assert row("intent", "b", **{"intent_event_type": "signal.created"}) == ("intent", "signal.created")
    assert row("svc", "b", event_name="n") == ("other", "n")


def test_the_same_record_gets_the_same_key_and_another_record_another() -> None:
    record = logs_pb2.LogRecord(time_unix_nano=5, body=AnyValue(string_value="b"))
    other = logs_pb2.LogRecord(time_unix_nano=6, body=AnyValue(string_value="b"))
    keys = [decode_body("logs", logs_body([r]), 1).logs[0].record_key for r in (record, record, other)]
    assert keys[0] == keys[1] != keys[2]


def test_rows_reach_the_writer_from_the_decoding_process_as_they_left_it() -> None:
    """A batch decoded in the child process is pickled to the store's: its rows arrive named."""
    span = trace_pb2.Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="s")
    request = ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )
    record = logs_pb2.LogRecord(time_unix_nano=5, body=AnyValue(string_value="b"))
    for batch in (
        decode_body("traces", request.SerializeToString(), 1),
        decode_body("logs", logs_body([record]), 1),
    ):
        again = pickle.loads(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
        assert again == batch
        assert [type(row) for row in again.spans] == [SpanRow] * len(batch.spans)
        assert [type(row) for row in again.logs] == [LogRow] * len(batch.logs)
        # values that hold no reference: the collector need not traverse the row
        assert not any(gc.is_tracked(row) for row in [*again.spans, *again.logs, *batch.spans, *batch.logs])
