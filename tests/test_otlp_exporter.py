"""The OTLP exporter against the real receiver: both protocols, retries, outages, refusals, secrets."""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tests.support import ThreadReceiver, receiver_in_thread, receiver_process
from tests.support.payloads import encoded, span_id_for, trace_request
from tests.support.ports import refused_address

from intent_observe.otlp.consumer import (
    ACCEPTED,
    ConsumerAborted,
    ConsumerBusy,
    ConsumerRejected,
    PartialResult,
)
from intent_observe.otlp.receiver import OtlpReceiver, ReceiverConfig
from intent_observe.otlp.signals import Signal
from intent_observe.sinks import otlp_exporter
from intent_observe.sinks.chain import Retry, RetryPolicy
from intent_observe.sinks.otlp_attempt import Transport
from intent_observe.sinks.otlp_config import ExporterOptions, SignalExportConfig, load_export_config
from intent_observe.sinks.otlp_exporter import OtlpExporter

PROTOCOLS = ["grpc", "http/protobuf"]
TOKEN = "tok-9f8e7d6c5b4a"
FAST_RETRY = RetryPolicy(initial_backoff_seconds=0.05, max_backoff_seconds=0.3)
LOGGER = "intent_observe.sinks.otlp_exporter"


def _endpoint(receiver: ThreadReceiver, protocol: str) -> str:
    return receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint


@contextmanager
def _exporter(endpoint: str, protocol: str, **env: str) -> Iterator[tuple[Retry, OtlpExporter]]:
    """retry → send, as the tail's chain has them (without its queue)."""
    variables = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol, **env}
    with OtlpExporter(load_export_config(variables)) as send:
        yield Retry(send, FAST_RETRY), send


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ThreadReceiver]:
    with receiver_in_thread(tmp_path) as running:
        yield running


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_signal_is_delivered_and_acknowledged(
    receiver: ThreadReceiver, protocol: str, compression: str
) -> None:
    with _exporter(_endpoint(receiver, protocol), protocol, OTEL_EXPORTER_OTLP_COMPRESSION=compression) as (
        exporter,
        send,
    ):
        for signal in Signal:
            result = exporter.consume(signal, encoded(signal, "run", 50))
            assert (result.rejected, exporter.failures()[signal]) == (0, 0)
        assert send.stats.batches == {Signal.TRACES: 1, Signal.LOGS: 1, Signal.METRICS: 1}
    received = receiver.received()
    assert received.span_ids == {span_id_for("run", i).hex() for i in range(50)}
    assert len(received.logs) == 50 and all(log["body"].startswith("run contract") for log in received.logs)
    assert [point["value"] for point in received.points] == [50.0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_start_makes_the_transports_beside_the_first_work(
    receiver: ThreadReceiver, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`start` returns while the transports are made (grpc's import is 60 ms of CPU the tail spends
    reading its first lines meanwhile); a request sent before its transport is made waits for it."""
    release, made = threading.Event(), []
    make = otlp_exporter._open

    def slow(config: SignalExportConfig, signal: Signal) -> Transport:
        release.wait(5)
        made.append(signal)
        return make(config, signal)

    monkeypatch.setattr(otlp_exporter, "_open", slow)
    with _exporter(_endpoint(receiver, protocol), protocol) as (exporter, send):
        send.start()
        assert made == []
        threading.Timer(0.2, release.set).start()
        assert exporter.consume(Signal.TRACES, encoded(Signal.TRACES, "run", 5)).rejected == 0
    assert sorted(made) == sorted(Signal)  # every transport made once
    assert len(receiver.received().span_ids) == 5


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_headers_reach_the_backend_and_the_token_never_shows(
    tmp_path: Path, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = ReceiverConfig(grpc_port=0, http_port=0, token=TOKEN)
    payload = encoded(Signal.TRACES, "auth", 3)
    with receiver_in_thread(tmp_path, config) as receiver, caplog.at_level(logging.DEBUG):
        endpoint = _endpoint(receiver, protocol)
        header = f"Authorization=Bearer%20{TOKEN}"
        with _exporter(endpoint, protocol, OTEL_EXPORTER_OTLP_HEADERS=header) as (good, good_send):
            assert good.consume(Signal.TRACES, payload).rejected == 0
            assert TOKEN not in repr(good_send.config)
        wrong = f"Authorization=Bearer%20{TOKEN}-wrong"
        with (
            _exporter(endpoint, protocol, OTEL_EXPORTER_OTLP_HEADERS=wrong) as (bad, _),
            pytest.raises(ConsumerRejected) as refused,
        ):
            bad.consume(Signal.TRACES, payload)
        assert len(receiver.received().spans) == 3
    message = str(refused.value)
    assert "401" in message or "UNAUTHENTICATED" in message
    assert TOKEN not in message and TOKEN not in caplog.text


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_retries_while_refused_then_delivers_once_with_one_log_line_per_state(
    receiver: ThreadReceiver, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        _exporter(_endpoint(receiver, protocol), protocol) as (exporter, _send),
        caplog.at_level(logging.INFO, LOGGER),
    ):
        exporter.consume(Signal.TRACES, trace_request("warmup", 1).SerializeToString())
        receiver.control.refuse_for(0.5)
        started = time.monotonic()
        result = exporter.consume(Signal.TRACES, encoded(Signal.TRACES, "refused", 20))
        elapsed = time.monotonic() - started
    retries = exporter.failures()[Signal.TRACES]
    assert retries >= 1 and result.rejected == 0
    if protocol == "http/protobuf":
        assert elapsed >= 0.95  # the receiver's Retry-After: 1 was honoured
    received = receiver.received()
    assert received.refusals == retries
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
        with _exporter(endpoint, protocol) as (exporter, _send):
            exporter.consume(Signal.LOGS, encoded(Signal.LOGS, "before", 5))
            receiver.kill()
            threading.Timer(0.3, receiver.start).start()  # same ports again
            exporter.consume(Signal.LOGS, encoded(Signal.LOGS, "after", 7))
        assert exporter.failures()[Signal.LOGS] >= 1
        received = receiver.wait_for(lambda r: len(r.logs) >= 12)
    assert sorted(log["body"].split(" ")[0] for log in received.logs) == ["after"] * 7 + ["before"] * 5


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_stop_and_deadline_abort_an_unacknowledged_export(protocol: str) -> None:
    payload = encoded(Signal.TRACES, "lost", 1)
    with refused_address() as nobody_listens, _exporter(nobody_listens, protocol) as (exporter, send):
        started = time.monotonic()
        with pytest.raises(ConsumerBusy, match=r"not taken within 0\.4 s"):
            Retry(send, replace(FAST_RETRY, max_elapsed_seconds=0.4)).consume(Signal.TRACES, payload)
        assert 0.4 <= time.monotonic() - started < 3.0
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        with pytest.raises(ConsumerAborted, match="stopped"):
            exporter.consume(Signal.TRACES, payload, stop)
        assert exporter.failures()[Signal.TRACES] >= 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_permanent_refusals_raise_at_once(tmp_path: Path, protocol: str) -> None:
    cap = ReceiverConfig(grpc_port=0, http_port=0, max_body_bytes=10_000)
    with (
        receiver_in_thread(tmp_path, cap) as receiver,
        _exporter(_endpoint(receiver, protocol), protocol) as (exporter, _send),
    ):
        with pytest.raises(ConsumerRejected, match=r"400|INVALID_ARGUMENT"):
            exporter.consume(Signal.METRICS, b"\xff\xff not a request")
        with pytest.raises(ConsumerRejected, match=r"413|RESOURCE_EXHAUSTED"):
            exporter.consume(Signal.TRACES, encoded(Signal.TRACES, "huge", 500))
        assert exporter.failures()[Signal.METRICS] == 0  # not retried
        if protocol == "http/protobuf":
            wrong_path = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.http_endpoint}/v2/spans"}
            with (
                OtlpExporter(load_export_config(wrong_path)) as other,
                pytest.raises(ConsumerRejected, match="404"),
            ):
                other.consume(Signal.TRACES, encoded(Signal.TRACES, "x", 1))
        assert receiver.received().spans == []


class _RejectsEverySecondSpan:
    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        if signal is not Signal.TRACES:
            return ACCEPTED
        request = ExportTraceServiceRequest.FromString(body)
        count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        return PartialResult(count // 2, "every second span is refused")


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
            results = [exporter.consume(Signal.TRACES, encoded(Signal.TRACES, "p", 10)) for _ in range(3)]
    assert [(r.rejected, r.message) for r in results] == [(5, "every second span is refused")] * 3
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
        with _exporter(f"http://127.0.0.1:{backend.port}", "grpc", **env) as (exporter, _send):
            started = time.monotonic()
            result = exporter.consume(Signal.TRACES, encoded(Signal.TRACES, "scripted", 1))
            elapsed = time.monotonic() - started
    finally:
        backend.server.stop(0)
    assert (result.rejected, exporter.failures()[Signal.TRACES], backend.calls) == (0, 3, 4)
    assert elapsed >= 0.25 + 0.4  # the timeout, then the server's RetryInfo delay


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
        with _exporter(f"http://127.0.0.1:{server.server_port}", "http/protobuf") as (exporter, _send):
            started = time.monotonic()
            result = exporter.consume(Signal.LOGS, encoded(Signal.LOGS, "scripted", 3))
            elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert (result.rejected, exporter.failures()[Signal.LOGS], _ScriptedHttpBackend.calls) == (0, 4, 5)
    assert elapsed >= 0.9  # the Retry-After date, at least a second ahead, was waited for
