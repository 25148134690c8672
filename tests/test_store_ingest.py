"""The store behind the real OTLP receiver: large requests are decoded in a child process and
still answered only once committed; malformed ones are refused; a decoding process that dies
is replaced; the WAL is checkpointed beside the writer, not by it; a trace's row computed from
the batch that created it equals the row recomputed from its stored spans."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from intent_observe.otlp.receiver import OtlpReceiver, ReceiverConfig
from intent_observe.otlp.signals import Signal
from intent_observe.store.apply import apply_batch, refresh_traces
from intent_observe.store.decode import Batch
from intent_observe.store.decode_pool import DEFAULT_MIN_BYTES, DecodePool
from intent_observe.store.rows import SpanRow
from intent_observe.store.schema import open_store_file
from intent_observe.store.store import Store

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Store, OtlpReceiver]]:
    store = Store(tmp_path / "store.db")
    try:
        with OtlpReceiver(store, ReceiverConfig(grpc_port=0, http_port=0)) as receiver:
            yield store, receiver
    finally:
        store.shutdown()


def large_request(first: int, count: int = 1000, bad_ids: int = 0) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "intent"
    scope = resource_spans.scope_spans.add()
    for n in range(first, first + count):
        span = scope.spans.add(
            trace_id=(n // 10 + 1).to_bytes(16, "big"),
            span_id=(n + 1).to_bytes(8, "big"),
            name=f"contract CON-{n:06d}",
            start_time_unix_nano=1_700_000_000_000_000_000 + n,
            end_time_unix_nano=1_700_000_060_000_000_000 + n,
        )
        for key, value in (("intent.artifact.type", "contract"), ("intent.id", f"INT-{n // 10:05d}")):
            span.attributes.add(key=key).value.string_value = value
    for _ in range(bad_ids):
        scope.spans.add(trace_id=bytes(16), span_id=b"\x01" * 8, name="no trace id")
    body = request.SerializeToString()
    assert len(body) >= DEFAULT_MIN_BYTES  # large enough for the decoding process
    return body


def grpc_export(receiver: OtlpReceiver, body: bytes) -> ExportTraceServiceResponse:
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        call = channel.unary_unary(TRACE_METHOD, request_serializer=None, response_deserializer=None)
        return ExportTraceServiceResponse.FromString(call(body, timeout=30))


def http_export(receiver: OtlpReceiver, body: bytes) -> httpx.Response:
    url = f"http://127.0.0.1:{receiver.http_port}/v1/traces"
    return httpx.post(url, content=body, headers=PROTOBUF, timeout=30)


def stored_spans(store: Store) -> int:
    return int(store.read(lambda c: c.execute("SELECT count(*) FROM spans").fetchone()[0]))


def test_large_requests_are_decoded_in_a_child_process_and_answered_once_stored(
    served: tuple[Store, OtlpReceiver],
) -> None:
    store, receiver = served
    small = ExportTraceServiceRequest.FromString(large_request(0))
    del small.resource_spans[0].scope_spans[0].spans[5:]
    assert grpc_export(receiver, small.SerializeToString()) == ExportTraceServiceResponse()
    assert store.decoder.pids() == []  # a small request is decoded by the receiver's thread

    assert grpc_export(receiver, large_request(0)) == ExportTraceServiceResponse()
    assert stored_spans(store) == 1000  # the answer came after the commit
    children = store.decoder.pids()
    assert len(children) == 1 and children[0] != os.getpid()
    assert psutil.Process(children[0]).ppid() == os.getpid()

    assert http_export(receiver, large_request(1000)).status_code == 200
    assert stored_spans(store) == 2000
    assert grpc_export(receiver, large_request(1000)) == ExportTraceServiceResponse()  # redelivered
    assert stored_spans(store) == 2000
    traces = store.read(lambda c: c.execute("SELECT count(*), sum(span_count) FROM traces").fetchone())
    assert traces == (200, 2000)

    partial = grpc_export(receiver, large_request(2000, bad_ids=2)).partial_success
    assert (partial.rejected_spans, partial.error_message) == (2, "span without a valid 16-byte trace id")
    assert stored_spans(store) == 3000
    assert store.decoder.pids() == children


def test_a_malformed_large_body_is_refused_and_nothing_is_stored(served: tuple[Store, OtlpReceiver]) -> None:
    store, receiver = served
    # field 1 declares ~2 GB but the body ends long before
    garbage = b"\x0a\xff\xff\xff\xff\x07" + b"\x00" * DEFAULT_MIN_BYTES
    with pytest.raises(grpc.RpcError) as refused:
        grpc_export(receiver, garbage)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    response = http_export(receiver, garbage)
    assert response.status_code == 400
    assert store.decoder.pids()  # it was the decoding process that found the body malformed
    assert stored_spans(store) == 0


def test_a_decoding_process_that_dies_is_replaced(served: tuple[Store, OtlpReceiver]) -> None:
    store, receiver = served
    assert grpc_export(receiver, large_request(0)) == ExportTraceServiceResponse()
    (first,) = store.decoder.pids()
    os.kill(first, signal.SIGKILL)
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(first).wait(10)
    # the next large request starts another (one that finds it dying is decoded in the receiver)
    assert grpc_export(receiver, large_request(1000)) == ExportTraceServiceResponse()
    assert grpc_export(receiver, large_request(2000)) == ExportTraceServiceResponse()
    assert stored_spans(store) == 3000
    (second,) = store.decoder.pids()
    assert second != first


def test_a_decoding_process_that_does_not_answer_in_time_is_stopped() -> None:
    pool = DecodePool()
    try:
        with pytest.raises(TimeoutError):
            pool.decode("traces", large_request(0), 0, timeout=0)
        assert pool.pids() == []  # its late answer can never be read for another request
        assert len(pool.decode("traces", large_request(0), 0, timeout=30).spans) == 1000
        assert len(pool.pids()) == 1
    finally:
        pool.close()
    assert pool.pids() == []


def test_the_wal_is_checkpointed_while_the_store_stays_open(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = Store(path, decode_in_child=False)
    try:
        empty = path.stat().st_size
        for first in range(0, 6000, 1000):
            store.consume(Signal.TRACES, large_request(first))
        # the writer only appends to the WAL; the checkpointer copies the pages into the file
        deadline = time.monotonic() + 30
        while path.stat().st_size <= empty and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size > empty
        assert stored_spans(store) == 6000
    finally:
        store.shutdown()


TRACES = [f"{n:032x}" for n in range(1, 4)]
SPAN_IDS = [f"{n:016x}" for n in range(1, 5)]


def _span_row(
    trace: str,
    span: str,
    parent: str | None,
    start: int,
    length: int,
    status: int,
    closed: int,
    art_type: str | None,
    art_id: str | None,
    intent: str | None,
    service: str,
    title: str | None,
    phase: str | None,
) -> SpanRow:
    """A row as decode_traces makes it (the columns a trace's row is computed from vary)."""
    return SpanRow(
        trace_id=trace,
        span_id=span,
        parent_span_id=parent,
        name="a name",
        service=service,
        resource_id=1,
        kind=1,
        start_ns=start,
        end_ns=start + length,
        status_code=status,
        status_message=None,
        closed=closed,
        artifact_type=art_type,
        artifact_id=art_id,
        intent_id=intent,
        contract_id=None,
        session_id=None,
        title=title,
        proto=b"",
        received_ns=0,
        phase=phase,
    )


SPAN_ROWS = st.builds(
    _span_row,
    st.sampled_from(TRACES),
    st.sampled_from(SPAN_IDS),
    st.none() | st.sampled_from([*SPAN_IDS, "ff" * 8]),
    st.integers(0, 4),
    st.integers(0, 3),
    st.sampled_from([0, 1, 2]),
    st.sampled_from([0, 1]),
    st.none() | st.sampled_from(["intent", "signal", "cluster", "contract"]),
    st.none() | st.sampled_from(["A1", "A2"]),
    st.none() | st.sampled_from(["I1", "I2"]),
    st.sampled_from(["intent", "claude-code"]),
    st.none() | st.just("T"),
    st.none() | st.sampled_from(["run", "lifecycle"]),
)
BATCHES = st.lists(
    st.builds(
        lambda spans, promoted: Batch(spans=spans, promotions=[(t, "I1") for t in promoted]),
        st.lists(SPAN_ROWS, max_size=12),
        st.lists(st.sampled_from(TRACES), max_size=1),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=BATCHES)
def test_trace_rows_from_a_batch_equal_rows_recomputed_from_stored_spans(
    tmp_path: Path, batches: list[Batch]
) -> None:
    conn = open_store_file(tmp_path / f"traces-{time.monotonic_ns()}.db")
    try:
        for batch in batches:
            conn.execute("BEGIN")
            apply_batch(conn, batch)
            conn.execute("COMMIT")
        written = conn.execute("SELECT * FROM traces ORDER BY trace_id").fetchall()
        conn.execute("BEGIN")
        refresh_traces(conn, set(TRACES))
        assert conn.execute("SELECT * FROM traces ORDER BY trace_id").fetchall() == written
        stored = {row[0] for row in conn.execute("SELECT DISTINCT trace_id FROM spans")}
        assert {row[0] for row in written} == stored
        conn.execute("ROLLBACK")
    finally:
        conn.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=BATCHES)
def test_a_span_keeps_its_first_copy_and_is_closed_once_a_phase_of_it_is_stored(
    tmp_path: Path, batches: list[Batch]
) -> None:
    first: dict[tuple[str, str], SpanRow] = {}
    for batch in batches:
        for row in batch.spans:
            first.setdefault((row.trace_id, row.span_id), row)
    # by the story: sent closed, or an Intent artifact a phase span of which arrived, before or after it
    phased = {(trace, row.parent_span_id) for (trace, _), row in first.items() if row.phase is not None}
    expected = {
        key: (row.end_ns, int(bool(row.closed) or (key in phased and row.artifact_type is not None)))
        for key, row in first.items()
    }
    conn = open_store_file(tmp_path / f"spans-{time.monotonic_ns()}.db")
    try:
        for batch in batches:
            conn.execute("BEGIN")
            apply_batch(conn, batch)
            conn.execute("COMMIT")
        stored = {(t, s): (end, closed) for t, s, end, closed in conn.execute(
            "SELECT trace_id, span_id, end_ns, closed FROM spans"
        )}  # fmt: skip
        assert stored == expected
    finally:
        conn.close()
