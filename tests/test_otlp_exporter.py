"""The OTLP exporter against the real receiver: both protocols, retries, outages, refusals, secrets."""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tests.support import ThreadReceiver, receiver_in_thread, receiver_process
from tests.support.payloads import encoded, span_id_for, trace_request
from tests.support.ports import refused_address

from intent_observe.otlp.consumer import ACCEPTED, PartialResult
from intent_observe.otlp.receiver import OtlpReceiver, ReceiverConfig
from intent_observe.otlp.signals import Signal
from intent_observe.sinks.otlp_config import ExporterOptions, load_export_config
from intent_observe.sinks.otlp_exporter import (
    ExportAborted,
    ExportRejected,
    OtlpExporter,
    RetryPolicy,
)

PROTOCOLS = ["grpc", "http/protobuf"]
TOKEN = "tok-9f8e7d6c5b4a"
FAST_RETRY = RetryPolicy(initial_backoff_seconds=0.05, max_backoff_seconds=0.3)
LOGGER = "intent_observe.sinks.otlp_exporter"


def _endpoint(receiver: ThreadReceiver, protocol: str) -> str:
    return receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint


def _exporter(endpoint: str, protocol: str, **env: str) -> OtlpExporter:
    variables = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol, **env}
    return OtlpExporter(load_export_config(variables), retry=FAST_RETRY)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ThreadReceiver]:
    with receiver_in_thread(tmp_path) as running:
        yield running


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_signal_is_delivered_and_acknowledged(
    receiver: ThreadReceiver, protocol: str, compression: str
) -> None:
    with _exporter(
        _endpoint(receiver, protocol), protocol, OTEL_EXPORTER_OTLP_COMPRESSION=compression
    ) as exporter:
        for signal in Signal:
            result = exporter.export(signal, encoded(signal, "run", 50))
            assert (result.rejected, result.attempts) == (0, 1)
        assert exporter.stats.batches == {Signal.TRACES: 1, Signal.LOGS: 1, Signal.METRICS: 1}
    received = receiver.received()
    assert received.span_ids == {span_id_for("run", i).hex() for i in range(50)}
    assert len(received.logs) == 50 and all(log["body"].startswith("run contract") for log in received.logs)
    assert [point["value"] for point in received.points] == [50.0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_headers_reach_the_backend_and_the_token_never_shows(
    tmp_path: Path, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = ReceiverConfig(grpc_port=0, http_port=0, token=TOKEN)
    payload = encoded(Signal.TRACES, "auth", 3)
    with receiver_in_thread(tmp_path, config) as receiver, caplog.at_level(logging.DEBUG):
        endpoint = _endpoint(receiver, protocol)
        with _exporter(
            endpoint, protocol, OTEL_EXPORTER_OTLP_HEADERS=f"Authorization=Bearer%20{TOKEN}"
        ) as good:
            assert good.export(Signal.TRACES, payload).rejected == 0
            assert TOKEN not in repr(good.config)
        wrong = f"Authorization=Bearer%20{TOKEN}-wrong"
        with (
            _exporter(endpoint, protocol, OTEL_EXPORTER_OTLP_HEADERS=wrong) as bad,
            pytest.raises(ExportRejected) as refused,
        ):
            bad.export(Signal.TRACES, payload)
        assert len(receiver.received().spans) == 3
    message = str(refused.value)
    assert "401" in message or "UNAUTHENTICATED" in message
    assert TOKEN not in message and TOKEN not in caplog.text


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_retries_while_refused_then_delivers_once_with_one_log_line_per_state(
    receiver: ThreadReceiver, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        _exporter(_endpoint(receiver, protocol), protocol) as exporter,
        caplog.at_level(logging.INFO, LOGGER),
    ):
        exporter.export(Signal.TRACES, trace_request("warmup", 1).SerializeToString())
        receiver.control.refuse_for(0.5)
        started = time.monotonic()
        result = exporter.export(Signal.TRACES, encoded(Signal.TRACES, "refused", 20))
        elapsed = time.monotonic() - started
    assert result.attempts >= 2
    if protocol == "http/protobuf":
        assert elapsed >= 0.95  # the receiver's Retry-After: 1 was honoured
    received = receiver.received()
    assert received.refusals == result.attempts - 1
    assert sorted(
        span["span_id"] for span in received.spans if span["name"] != "contract CON-00000"
    ) == sorted(span_id_for("refused", i).hex() for i in range(1, 20))
    assert len(received.spans) == 21  # each span stored exactly once
    lines = [record.getMessage() for record in caplog.records if record.name == LOGGER]
    assert len(lines) == 3, lines  # however many retries: connected, backing off, recovered
    assert lines[0].startswith("connected") and "backing off" in lines[1] and lines[2].startswith("recovered")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_waits_out_a_receiver_crash_and_restart(tmp_path: Path, protocol: str) -> None:
    with receiver_process(tmp_path) as receiver:
        endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
        with _exporter(endpoint, protocol) as exporter:
            exporter.export(Signal.LOGS, encoded(Signal.LOGS, "before", 5))
            receiver.kill()
            threading.Timer(0.3, receiver.start).start()  # same ports again
            result = exporter.export(
                Signal.LOGS, encoded(Signal.LOGS, "after", 7), deadline=time.monotonic() + 20
            )
        assert result.attempts >= 2
        received = receiver.wait_for(lambda r: len(r.logs) >= 12)
    assert sorted(log["body"].split(" ")[0] for log in received.logs) == ["after"] * 7 + ["before"] * 5


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_stop_and_deadline_abort_an_unacknowledged_export(protocol: str) -> None:
    payload = encoded(Signal.TRACES, "lost", 1)
    with refused_address() as nobody_listens, _exporter(nobody_listens, protocol) as exporter:
        started = time.monotonic()
        with pytest.raises(ExportAborted, match="not acknowledged"):
            exporter.export(Signal.TRACES, payload, deadline=started + 0.4)
        assert 0.4 <= time.monotonic() - started < 3.0
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        with pytest.raises(ExportAborted, match="stopped"):
            exporter.export(Signal.TRACES, payload, stop=stop)
        assert exporter.stats.failed_attempts[Signal.TRACES] >= 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_permanent_refusals_raise_at_once(tmp_path: Path, protocol: str) -> None:
    cap = ReceiverConfig(grpc_port=0, http_port=0, max_body_bytes=10_000)
    with (
        receiver_in_thread(tmp_path, cap) as receiver,
        _exporter(_endpoint(receiver, protocol), protocol) as exporter,
    ):
        with pytest.raises(ExportRejected, match=r"400|INVALID_ARGUMENT"):
            exporter.export(Signal.METRICS, b"\xff\xff not a request")
        with pytest.raises(ExportRejected, match=r"413|RESOURCE_EXHAUSTED"):
            exporter.export(Signal.TRACES, encoded(Signal.TRACES, "huge", 500))
        assert exporter.stats.failed_attempts[Signal.METRICS] == 1
        if protocol == "http/protobuf":
            wrong_path = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.http_endpoint}/v2/spans"}
            with (
                OtlpExporter(load_export_config(wrong_path)) as other,
                pytest.raises(ExportRejected, match="404"),
            ):
                other.export(Signal.TRACES, encoded(Signal.TRACES, "x", 1))
        assert receiver.received().spans == []


class _RejectsEverySecondSpan:
    def consume_traces(self, request: ExportTraceServiceRequest) -> PartialResult:
        count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        return PartialResult(count // 2, "every second span is refused")

    def consume_logs(self, request: ExportLogsServiceRequest) -> PartialResult:
        return ACCEPTED

    def consume_metrics(self, request: ExportMetricsServiceRequest) -> PartialResult:
        return ACCEPTED


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_partial_success_is_returned_counted_and_logged_once(
    protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    with OtlpReceiver(_RejectsEverySecondSpan(), ReceiverConfig(grpc_port=0, http_port=0)) as receiver:
        port = receiver.grpc_port if protocol == "grpc" else receiver.http_port
        options = ExporterOptions(endpoint=f"http://127.0.0.1:{port}", protocol=protocol)
        with (
            OtlpExporter(load_export_config({}, options)) as exporter,
            caplog.at_level(logging.WARNING, LOGGER),
        ):
            results = [exporter.export(Signal.TRACES, encoded(Signal.TRACES, "p", 10)) for _ in range(3)]
    assert [(r.rejected, r.message, r.attempts) for r in results] == [
        (5, "every second span is refused", 1)
    ] * 3
    assert exporter.stats.rejected_items[Signal.TRACES] == 15
    partial_lines = [r for r in caplog.records if "partly" in r.getMessage()]
    assert len(partial_lines) == 1 and "5 rejected" in partial_lines[0].getMessage()


class _ScriptedGrpcBackend:
    """A real gRPC TraceService that fails the first calls in a scripted way, then accepts."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        self.calls = 0
        self.server = grpc.server(ThreadPoolExecutor(2))
        handler = grpc.unary_unary_rpc_method_handler(self._export)  # raw bytes in and out
        service = "opentelemetry.proto.collector.trace.v1.TraceService"
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(service, {"Export": handler})]
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _export(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.calls += 1
        failure = self.failures[self.calls - 1] if self.calls <= len(self.failures) else "ok"
        if failure == "slow":
            time.sleep(0.5)  # longer than the client's timeout: DEADLINE_EXCEEDED on its side
        elif failure == "exhausted-retry-info":
            status = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message="quota")
            status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=Duration(nanos=400_000_000)))
            context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "quota")
        elif failure == "aborted":
            context.abort(grpc.StatusCode.ABORTED, "try again")
        return b""


def test_grpc_retry_info_deadline_and_aborted_are_retried() -> None:
    backend = _ScriptedGrpcBackend(["slow", "aborted", "exhausted-retry-info"])
    env = {"OTEL_EXPORTER_OTLP_TIMEOUT": "250"}
    try:
        with _exporter(f"http://127.0.0.1:{backend.port}", "grpc", **env) as exporter:
            started = time.monotonic()
            result = exporter.export(Signal.TRACES, encoded(Signal.TRACES, "scripted", 1))
            elapsed = time.monotonic() - started
    finally:
        backend.server.stop(0)
    assert (result.attempts, backend.calls) == (4, 4)
    assert elapsed >= 0.25 + 0.4  # the timeout, then the server's RetryInfo delay
    assert exporter.stats.failed_attempts[Signal.TRACES] == 3


class _ScriptedHttpBackend(BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, dict[str, str]]]] = []
    calls: ClassVar[int] = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        type(self).calls += 1
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        self.send_response(status)
        for name, value in {**headers, "content-length": "0"}.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        return


def test_http_429_with_a_date_and_gateway_errors_are_retried() -> None:
    in_two_seconds = email.utils.formatdate(time.time() + 2, usegmt=True)
    _ScriptedHttpBackend.answers = [(429, {"retry-after": in_two_seconds}), (502, {}), (504, {}), (503, {})]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ScriptedHttpBackend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with _exporter(f"http://127.0.0.1:{server.server_port}", "http/protobuf") as exporter:
            started = time.monotonic()
            result = exporter.export(Signal.LOGS, encoded(Signal.LOGS, "scripted", 3))
            elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert (result.attempts, _ScriptedHttpBackend.calls) == (5, 5)
    assert elapsed >= 0.9  # the Retry-After date, at least a second ahead, was waited for
