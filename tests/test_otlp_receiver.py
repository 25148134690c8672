"""The OTLP receiver over real gRPC and HTTP sockets: SDK clients, JSON, limits, status codes, auth."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import orjson
import pytest
from google.rpc import error_details_pb2, status_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from tests.support import ThreadReceiver, receiver_in_thread
from tests.support.sdk_clients import assert_arrived_intact, send_with_sdk

from intent_observe.otlp.consumer import ACCEPTED, PartialResult
from intent_observe.otlp.decode import PayloadError, parse_request
from intent_observe.otlp.receiver import (
    OtlpReceiver,
    ReceiverConfig,
    ReceiverStartError,
    listening_socket,
)
from intent_observe.otlp.signals import WIRES, Signal

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SMALL_CAP = 64 * 1024


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ThreadReceiver]:
    config = ReceiverConfig(grpc_port=0, http_port=0, max_body_bytes=SMALL_CAP)
    with receiver_in_thread(tmp_path, config) as running:
        yield running


def _spans_request(count: int, name: str = "intent INT-015") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for index in range(count):
        span = scope.spans.add(name=name, trace_id=bytes([1] * 16), span_id=(index + 1).to_bytes(8, "big"))
        span.attributes.add(key="intent.artifact.id").value.string_value = f"INT-{index}"
    return request


def _grpc_export(endpoint: str, payload: bytes, **call_options: object) -> bytes:
    with grpc.insecure_channel(endpoint.removeprefix("http://")) as channel:
        call = channel.unary_unary(TRACE_METHOD, request_serializer=None, response_deserializer=None)
        return call(payload, timeout=10, **call_options)  # type: ignore[no-any-return]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_exporters_deliver_spans_logs_and_metrics_intact(receiver: ThreadReceiver, protocol: str) -> None:
    endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
    sent = send_with_sdk(protocol, endpoint, run=protocol)
    assert_arrived_intact(sent, receiver.wait_for(sent.arrived))


def test_http_json_with_hex_ids_and_enum_names_or_numbers(receiver: ThreadReceiver) -> None:
    trace_id, span_id, parent = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173"
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": "spec SPEC-042",
        "kind": "SPAN_KIND_SERVER",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": 1700000001000000000,
        "status": {"code": 2},
        "attributes": [{"key": "traceId", "value": {"stringValue": "not-hex-and-left-alone"}}],
        "links": [{"traceId": trace_id, "spanId": parent}],
        "someFutureField": True,
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    response = httpx.post(f"{receiver.http_endpoint}/v1/traces", content=orjson.dumps(body), headers=JSON)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == {}
    [stored] = receiver.received().spans
    assert (stored["trace_id"], stored["span_id"], stored["parent_span_id"]) == (trace_id, span_id, parent)
    assert (stored["kind"], stored["status_code"], stored["end_ns"]) == (2, 2, 1700000001000000000)
    assert stored["attributes"] == {"traceId": "not-hex-and-left-alone"}
    assert stored["links"] == [{"trace_id": trace_id, "span_id": parent}]


def test_http_json_logs_and_metrics(receiver: ThreadReceiver) -> None:
    log = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "severityNumber": 13,
        "body": {"stringValue": "contract.failed CON-091"},
        "timeUnixNano": "1700000000000000000",
    }
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [log]}]}]}
    point = {"asInt": "41", "timeUnixNano": "1700000000000000000"}
    metric = {"name": "intent.signals.total", "sum": {"dataPoints": [point], "isMonotonic": True,
              "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE"}}  # fmt: skip
    metrics = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}
    for path, body in (("/v1/logs", logs), ("/v1/metrics", metrics)):
        response = httpx.post(receiver.http_endpoint + path, content=orjson.dumps(body), headers=JSON)
        assert response.status_code == 200, response.text
    received = receiver.received()
    [stored_log] = received.logs
    assert (stored_log["trace_id"], stored_log["span_id"]) == (log["traceId"], log["spanId"])
    assert (stored_log["body"], stored_log["severity_number"]) == ("contract.failed CON-091", 13)
    [stored_point] = received.points
    assert (stored_point["metric"], stored_point["value"], stored_point["temporality"]) == (
        "intent.signals.total", 41.0, 2,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (b"\xff\x00not protobuf", PROTOBUF, "invalid protobuf"),
        (b"{not json", JSON, "invalid JSON"),
        (b"[]", JSON, "must be an object"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JSON, "hex"),
        (b'{"resourceSpans": "nope"}', JSON, "invalid OTLP/JSON"),
    ],
)
def test_bad_payloads_get_400_with_a_status_body(
    receiver: ThreadReceiver, body: bytes, content_type: dict[str, str], fragment: str
) -> None:
    response = httpx.post(f"{receiver.http_endpoint}/v1/traces", content=body, headers=content_type)
    assert response.status_code == 400
    status = (
        status_pb2.Status.FromString(response.content)
        if content_type is PROTOBUF
        else status_pb2.Status(**response.json())
    )
    assert fragment in status.message
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert receiver.received().spans == []


def test_wrong_path_method_content_type_and_encoding(receiver: ThreadReceiver) -> None:
    base = receiver.http_endpoint
    payload = _spans_request(1).SerializeToString()
    assert httpx.post(f"{base}/v1/profiles", content=payload, headers=PROTOBUF).status_code == 404
    not_allowed = httpx.get(f"{base}/v1/traces")
    assert (not_allowed.status_code, not_allowed.headers["allow"]) == (405, "POST")
    assert (
        httpx.post(f"{base}/v1/traces", content=payload, headers={"content-type": "text/plain"}).status_code
        == 415
    )
    brotli = {**PROTOBUF, "content-encoding": "br"}
    assert httpx.post(f"{base}/v1/traces", content=payload, headers=brotli).status_code == 415
    assert receiver.received().spans == []


def test_gzip_bodies_are_accepted_and_bombs_refused(receiver: ThreadReceiver) -> None:
    url = f"{receiver.http_endpoint}/v1/traces"
    gzip_headers = {**PROTOBUF, "content-encoding": "gzip"}
    good = gzip.compress(_spans_request(10).SerializeToString())
    assert httpx.post(url, content=good, headers=gzip_headers).status_code == 200
    # two gzip members in a row are one valid body
    two_members = gzip.compress(_spans_request(1).SerializeToString()) * 2
    assert httpx.post(url, content=two_members, headers=gzip_headers).status_code == 200

    bomb = gzip.compress(b"\x00" * (SMALL_CAP * 50))  # ~3 MiB of zeros in a few KiB
    assert len(bomb) < SMALL_CAP
    assert httpx.post(url, content=bomb, headers=gzip_headers).status_code == 413
    assert httpx.post(url, content=good[:-10], headers=gzip_headers).status_code == 400
    assert httpx.post(url, content=b"not gzip", headers=gzip_headers).status_code == 400
    assert len(receiver.received().spans) == 12


def test_oversized_bodies_get_413_and_resource_exhausted(receiver: ThreadReceiver) -> None:
    big = _spans_request(2000).SerializeToString()
    assert len(big) > SMALL_CAP
    url = f"{receiver.http_endpoint}/v1/traces"
    assert httpx.post(url, content=big, headers=PROTOBUF).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    assert httpx.post(url, content=chunks(), headers=PROTOBUF).status_code == 413
    with pytest.raises(grpc.RpcError) as too_big:
        _grpc_export(receiver.grpc_endpoint, big)
    assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as bomb:  # small on the wire, large once decompressed
        _grpc_export(
            receiver.grpc_endpoint, b"\x0a" + b"\x00" * (SMALL_CAP * 4), compression=grpc.Compression.Gzip
        )
    assert bomb.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert receiver.received().spans == []


def test_grpc_malformed_message_is_invalid_argument(receiver: ThreadReceiver) -> None:
    with pytest.raises(grpc.RpcError) as error:
        _grpc_export(receiver.grpc_endpoint, b"\xff\xff\xff")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_back_pressure_answers_503_retry_after_and_unavailable_with_retry_info(
    receiver: ThreadReceiver,
) -> None:
    payload = _spans_request(3).SerializeToString()
    receiver.control.refuse_for(30)
    response = httpx.post(f"{receiver.http_endpoint}/v1/traces", content=payload, headers=PROTOBUF)
    assert (response.status_code, response.headers["retry-after"]) == (503, "1")
    with pytest.raises(grpc.RpcError) as error:
        _grpc_export(receiver.grpc_endpoint, payload)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    details = dict(error.value.trailing_metadata())["grpc-status-details-bin"]
    retry_info = error_details_pb2.RetryInfo()
    assert status_pb2.Status.FromString(details).details[0].Unpack(retry_info)
    assert retry_info.retry_delay.ToMilliseconds() == 200
    receiver.control.accept()
    assert _grpc_export(receiver.grpc_endpoint, payload) == b""
    received = receiver.received()
    assert (len(received.spans), received.refusals) == (3, 2)


class _RejectsUnnamedSpans:
    """A consumer that refuses part of a request, as a store does with invalid items."""

    def __init__(self) -> None:
        self.fail = threading.Event()

    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        request = WIRES[signal].request_type.FromString(body)
        if not isinstance(request, ExportTraceServiceRequest):
            return ACCEPTED
        if self.fail.is_set():
            raise RuntimeError("disk on fire")
        spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        unnamed = sum(1 for span in spans if not span.name)
        return PartialResult(unnamed, "spans need a name") if unnamed else ACCEPTED


def test_partial_success_and_consumer_failures_are_answered() -> None:
    consumer = _RejectsUnnamedSpans()
    request = _spans_request(2)
    request.resource_spans[0].scope_spans[0].spans.add(trace_id=b"\x01" * 16, span_id=b"\x09" * 8)
    with OtlpReceiver(consumer, ReceiverConfig(grpc_port=0, http_port=0)) as receiver:
        answer = ExportTraceServiceResponse.FromString(
            _grpc_export(f"http://127.0.0.1:{receiver.grpc_port}", request.SerializeToString())
        )
        assert (answer.partial_success.rejected_spans, answer.partial_success.error_message) == (
            1, "spans need a name",
        )  # fmt: skip
        url = f"http://127.0.0.1:{receiver.http_port}/v1/traces"
        json_answer = httpx.post(
            url, content=b'{"resourceSpans":[{"scopeSpans":[{"spans":[{}]}]}]}', headers=JSON
        )
        assert json_answer.json()["partialSuccess"] == {
            "rejectedSpans": "1",
            "errorMessage": "spans need a name",
        }

        consumer.fail.set()
        assert httpx.post(url, content=request.SerializeToString(), headers=PROTOBUF).status_code == 500
        with pytest.raises(grpc.RpcError) as error:
            _grpc_export(f"http://127.0.0.1:{receiver.grpc_port}", request.SerializeToString())
        assert error.value.code() == grpc.StatusCode.INTERNAL
        assert "disk on fire" not in (error.value.details() or "")


def test_bearer_token_is_required_when_configured(tmp_path: Path) -> None:
    config = ReceiverConfig(grpc_port=0, http_port=0, token="s3cret-token")
    payload = _spans_request(1).SerializeToString()
    with receiver_in_thread(tmp_path, config) as receiver:
        url = f"{receiver.http_endpoint}/v1/traces"
        for authorization in (None, "Bearer wrong", "Basic s3cret-token", "Bearer s3cret-token-and-more"):
            headers = {**PROTOBUF, **({"authorization": authorization} if authorization else {})}
            refused = httpx.post(url, content=payload, headers=headers)
            assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
        assert httpx.post(
            url, content=payload, headers={**PROTOBUF, "authorization": "bearer s3cret-token"}
        ).is_success
        with pytest.raises(grpc.RpcError) as error:
            _grpc_export(receiver.grpc_endpoint, payload, metadata=(("authorization", "Bearer nope"),))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        _grpc_export(receiver.grpc_endpoint, payload, metadata=(("authorization", "Bearer s3cret-token"),))
        assert len(receiver.received().spans) == 2
    assert "s3cret" not in repr(config) and "s3cret" not in repr(receiver.receiver.__dict__)


def test_binding_beyond_loopback_needs_a_token() -> None:
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.org"):
        with pytest.raises(ReceiverStartError, match="without an access token"):
            OtlpReceiver(_RejectsUnnamedSpans(), ReceiverConfig(host=host, grpc_port=0, http_port=0))
    assert OtlpReceiver(_RejectsUnnamedSpans(), ReceiverConfig(host="::1", grpc_port=0, http_port=0))


def test_a_taken_port_is_a_clear_start_error_and_stop_releases_ports() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for config in (
            ReceiverConfig(grpc_port=None, http_port=port),
            ReceiverConfig(grpc_port=port, http_port=None),
        ):
            with pytest.raises(ReceiverStartError, match=str(port)):
                OtlpReceiver(_RejectsUnnamedSpans(), config).start()

    receiver = OtlpReceiver(_RejectsUnnamedSpans(), ReceiverConfig(grpc_port=0, http_port=0))
    receiver.start()
    ports = (receiver.grpc_port, receiver.http_port)
    receiver.shutdown()
    again = OtlpReceiver(_RejectsUnnamedSpans(), ReceiverConfig(grpc_port=ports[0], http_port=ports[1]))
    again.start()  # the same ports are free again right away
    again.shutdown()


_OTLP_KEYS = st.sampled_from(
    ["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "name", "kind", "attributes", "key",
     "value", "stringValue", "intValue", "startTimeUnixNano", "status", "code", "links", "resourceLogs",
     "scopeLogs", "logRecords", "body", "resourceMetrics", "scopeMetrics", "metrics", "sum", "dataPoints"]
)  # fmt: skip
_JSON_DOCUMENTS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_OTLP_KEYS | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None)
@given(document=_JSON_DOCUMENTS, body=st.binary(max_size=200))
def test_any_body_decodes_or_gets_a_payload_error(document: object, body: bytes) -> None:
    """Whatever arrives, the decoder answers with a message or a 400-class PayloadError, never a crash."""
    for wire in WIRES.values():
        for raw, content_type in (
            (orjson.dumps(document), JSON["content-type"]),
            (body, PROTOBUF["content-type"]),
        ):
            try:
                parse_request(raw, content_type, wire.request_type)
            except PayloadError as error:
                assert error.http_status == 400


def test_accepted_http_connections_do_not_wait_for_delayed_acks() -> None:
    listener = listening_socket("127.0.0.1", 0)
    with listener, socket.create_connection(listener.getsockname()[:2]):
        accepted, _ = listener.accept()
        with accepted:  # an answer written as headers, then body, goes out at once
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_a_body_that_stops_arriving_gets_408_and_frees_its_share(tmp_path: Path) -> None:
    config = ReceiverConfig(grpc_port=None, http_port=0, body_idle_timeout_s=0.5, max_requests_in_flight=1)
    with receiver_in_thread(tmp_path, config) as running:
        head = (
            "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
            "Content-Length: 1000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", running.http_port), timeout=10) as stalled:
            stalled.sendall(head.encode() + b"\0" * 10)  # then nothing more
            answer = stalled.recv(4096).decode("latin-1")
        assert answer.startswith("HTTP/1.1 408")
        # the only share of the budget was given back: the next request is taken at once
        sent = httpx.post(
            f"{running.http_endpoint}/v1/traces",
            content=_spans_request(1).SerializeToString(),
            headers=PROTOBUF,
            timeout=2,
        )
        assert sent.status_code == 200


def test_a_grpc_call_whose_message_never_comes_is_cancelled_and_frees_its_share(tmp_path: Path) -> None:
    config = ReceiverConfig(grpc_port=0, http_port=None, body_timeout_s=0.5, max_requests_in_flight=1)
    never = threading.Event()

    def silent() -> Iterator[bytes]:
        never.wait(10)  # the call is open, its message never sent
        yield b""

    with (
        receiver_in_thread(tmp_path, config) as running,
        grpc.insecure_channel(running.grpc_endpoint.removeprefix("http://")) as channel,
    ):
        stalled = channel.stream_unary(TRACE_METHOD, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as cut:
            stalled(silent(), timeout=5)
        never.set()
        assert cut.value.code() == grpc.StatusCode.CANCELLED
        # the only share of the budget was given back: the next call is taken at once
        assert _grpc_export(running.grpc_endpoint, _spans_request(1).SerializeToString()) == b""
