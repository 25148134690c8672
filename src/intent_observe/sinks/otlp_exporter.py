"""The send step of the exporter chain (sinks.chain): one attempt to hand a request to a backend.

    exporter = OtlpExporter(load_export_config())
    result = exporter.consume(Signal.TRACES, request_bytes)     # a `Consumer` (otlp.consumer)
    exporter.shutdown()

One persistent gRPC channel or HTTP connection pool per signal. An acknowledged request
returns its partial success (counted, never resent); so does Loki's 400 for log records older
than it accepts (it stored the others): the refused records come back in
`PartialResult.refused` (`sinks.loki_partial`). A retryable answer (gRPC UNAVAILABLE,
DEADLINE_EXCEEDED, ABORTED…, RESOURCE_EXHAUSTED with RetryInfo; HTTP 429/502/503/504, refused
or dropped connections) raises `ConsumerBusy` with the delay it names (RetryInfo, Retry-After),
for a `Retry` step in front; a permanent one raises `ConsumerRejected`. Link changes are logged
once each: connected, failing, recovered.
"""

from __future__ import annotations

import email.utils
import logging
import ssl
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import grpc
import httpx
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from intent_observe.otlp.consumer import ConsumerBusy, ConsumerRejected, PartialResult, RefusedRecord
from intent_observe.otlp.signals import WIRES, Signal, SignalWire
from intent_observe.sinks.loki_partial import too_old_records
from intent_observe.sinks.otlp_config import GRPC, ExportConfig, SignalExportConfig
from intent_observe.version import __version__

log = logging.getLogger(__name__)

USER_AGENT = f"intent-observe/{__version__}"
_MAX_ERROR_TEXT = 300
_MAX_LOKI_ANSWER = 64 * 1024  # where a refusal's reason is looked for
_RETRYABLE_GRPC = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})


@dataclass
class ExporterStats:
    """Counters the adapter turns into its own `intent.adapter.*` health metrics."""

    batches: Counter[Signal] = field(default_factory=Counter)
    rejected_items: Counter[Signal] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Outcome:
    """The result of one attempt: acknowledged (response), retryable (reason + delay hint) or fatal."""

    acknowledged: bool
    rejected: int = 0
    message: str = ""
    retryable: bool = False
    retry_after: float | None = None
    refused: tuple[RefusedRecord, ...] = ()

    @classmethod
    def ok(cls, rejected: int = 0, message: str = "", refused: tuple[RefusedRecord, ...] = ()) -> _Outcome:
        return cls(True, rejected, message, refused=refused)

    @classmethod
    def retry(cls, reason: str, retry_after: float | None = None) -> _Outcome:
        return cls(False, message=reason, retryable=True, retry_after=retry_after)

    @classmethod
    def fatal(cls, reason: str) -> _Outcome:
        return cls(False, message=reason)


class _Transport(Protocol):
    def send(self, payload: bytes, timeout: float) -> _Outcome: ...

    def close(self) -> None: ...


class OtlpExporter:
    def __init__(self, config: ExportConfig) -> None:
        self.config = config
        self.stats = ExporterStats()
        self._transports: dict[Signal, _Transport] = {}
        self._lock = threading.Lock()
        self._link_state: dict[str, str] = {}  # display endpoint → "connected" | "failing"
        self._partial_logged: set[Signal] = set()

    def consume(self, signal: Signal, body: bytes, stop: threading.Event | None = None) -> PartialResult:
        """One attempt to send an encoded Export*ServiceRequest; returns once acknowledged."""
        config = self.config.for_signal(signal)
        outcome = self._transport(signal).send(body, config.timeout_seconds)
        if outcome.acknowledged:
            self._on_acknowledged(signal, config, outcome)
            return PartialResult(outcome.rejected, outcome.message, outcome.refused)
        self._set_link_state(config, "failing", outcome)
        if outcome.retryable:
            raise ConsumerBusy(f"{config.display_endpoint}: {outcome.message}", outcome.retry_after)
        refused = f"{config.display_endpoint} refused the {signal.value} batch: {outcome.message}"
        raise ConsumerRejected(refused)

    def start(self) -> None:
        """Nothing to do: each signal's connection opens with its first request."""

    def shutdown(self) -> None:
        with self._lock:
            for transport in self._transports.values():
                transport.close()
            self._transports.clear()

    def __enter__(self) -> OtlpExporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def _transport(self, signal: Signal) -> _Transport:
        with self._lock:
            transport = self._transports.get(signal)
            if transport is None:
                config = self.config.for_signal(signal)
                wire = WIRES[signal]
                transport = (
                    _GrpcTransport(config, wire) if config.protocol == GRPC else _HttpTransport(config, wire)
                )
                self._transports[signal] = transport
            return transport

    def _count(self, counter: Counter[Signal], signal: Signal, amount: int) -> None:
        with self._lock:  # exports of several signals may run on several threads
            counter[signal] += amount

    def _on_acknowledged(self, signal: Signal, config: SignalExportConfig, outcome: _Outcome) -> None:
        self._count(self.stats.batches, signal, 1)
        self._set_link_state(config, "connected", outcome)
        if outcome.rejected or outcome.message:
            self._count(self.stats.rejected_items, signal, outcome.rejected)
            self._log_partial_success_once(signal, config, outcome)

    def _log_partial_success_once(
        self, signal: Signal, config: SignalExportConfig, outcome: _Outcome
    ) -> None:
        with self._lock:
            first = signal not in self._partial_logged
            self._partial_logged.add(signal)
        if first:
            log.warning(
                "%s accepted a %s batch only partly (%d rejected: %s); further partial answers are counted",
                config.display_endpoint,
                signal.value,
                outcome.rejected,
                outcome.message[:_MAX_ERROR_TEXT],
            )

    def _set_link_state(self, config: SignalExportConfig, state: str, outcome: _Outcome) -> None:
        """Log only transitions: connected, backing off, recovered."""
        endpoint = config.display_endpoint
        with self._lock:
            previous = self._link_state.get(endpoint)
            self._link_state[endpoint] = state
        if previous == state:
            return
        if state == "connected":
            log.info(
                "%s %s",
                "recovered: OTLP export works again to" if previous else "connected: OTLP export to",
                endpoint,
            )
        else:
            then = "backing off and retrying" if outcome.retryable else "not retrying this batch"
            log.warning("export to %s failing (%s); %s", endpoint, outcome.message, then)


class _GrpcTransport:
    def __init__(self, config: SignalExportConfig, wire: SignalWire) -> None:
        self._wire = wire
        self._metadata = tuple(config.headers.items())
        self._compression = (
            grpc.Compression.Gzip if config.compression == "gzip" else grpc.Compression.NoCompression
        )
        options = [
            ("grpc.enable_retries", 0),  # retries are ours, with the spec's backoff and RetryInfo
            ("grpc.max_send_message_length", -1),
            ("grpc.primary_user_agent", USER_AGENT),
            # reconnect soon after a backend comes back instead of grpc's default of up to 120 s
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        if config.grpc_uses_tls:
            self._channel = grpc.secure_channel(config.grpc_target, _grpc_credentials(config), options)
        else:
            self._channel = grpc.insecure_channel(config.grpc_target, options)
        # serializers None: the payload is already an encoded request, sent as-is
        self._call = self._channel.unary_unary(
            wire.grpc_method, request_serializer=None, response_deserializer=None
        )

    def send(self, payload: bytes, timeout: float) -> _Outcome:
        try:
            response = self._call(
                payload, timeout=timeout, metadata=self._metadata, compression=self._compression
            )
        except grpc.RpcError as error:
            return _grpc_failure(error)
        try:
            rejected, message = self._wire.rejected_in(self._wire.response_type.FromString(response))
        except DecodeError:
            return _Outcome.ok()  # acknowledged; an unreadable body only hides partial-success details
        return _Outcome.ok(rejected, message)

    def close(self) -> None:
        self._channel.close()


def _grpc_credentials(config: SignalExportConfig) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=config.certificate.read_bytes() if config.certificate else None,
        private_key=config.client_key.read_bytes() if config.client_key else None,
        certificate_chain=config.client_certificate.read_bytes() if config.client_certificate else None,
    )


def _grpc_failure(error: grpc.RpcError) -> _Outcome:
    code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
    reason = f"gRPC {code.name}: {_clip(error.details() or '')}"  # type: ignore[attr-defined]
    retry_after = _grpc_retry_delay(error)
    if code in _RETRYABLE_GRPC or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and retry_after is not None):
        return _Outcome.retry(reason, retry_after)
    return _Outcome.fatal(reason)


def _grpc_retry_delay(error: grpc.RpcError) -> float | None:
    """The RetryInfo delay from the `grpc-status-details-bin` trailer, if the server sent one."""
    trailers = error.trailing_metadata() or ()  # type: ignore[attr-defined]
    for key, value in trailers:
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except DecodeError:
            return None
        for detail in status.details:
            info = error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                return info.retry_delay.ToNanoseconds() / 1e9
    return None


class _HttpTransport:
    def __init__(self, config: SignalExportConfig, wire: SignalWire) -> None:
        self._wire = wire
        self._url = config.endpoint
        self._gzip = config.compression == "gzip"
        headers = {"user-agent": USER_AGENT, **config.headers, "content-type": "application/x-protobuf"}
        if self._gzip:
            headers["content-encoding"] = "gzip"
        self._client = httpx.Client(
            headers=headers,
            verify=_ssl_context(config),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
        )

    def send(self, payload: bytes, timeout: float) -> _Outcome:
        body = _gzip(payload) if self._gzip else payload
        try:
            response = self._client.post(self._url, content=body, timeout=timeout)
        except httpx.TransportError as error:
            return _Outcome.retry(f"{type(error).__name__}: {_clip(str(error))}")
        if 200 <= response.status_code < 300:
            return self._acknowledged(response.content)
        reason = f"HTTP {response.status_code}: {_http_error_text(response)}"
        if response.status_code in _RETRYABLE_HTTP:
            return _Outcome.retry(reason, _retry_after_seconds(response.headers.get("retry-after")))
        if response.status_code == 400 and self._wire.signal is Signal.LOGS:
            refused = too_old_records(payload, response.text[:_MAX_LOKI_ANSWER])
            if refused:
                return _Outcome.ok(len(refused), reason, refused)
        return _Outcome.fatal(reason)

    def _acknowledged(self, body: bytes) -> _Outcome:
        try:
            rejected, message = self._wire.rejected_in(self._wire.response_type.FromString(body))
        except DecodeError:
            return _Outcome.ok()
        return _Outcome.ok(rejected, message)

    def close(self) -> None:
        self._client.close()


def _ssl_context(config: SignalExportConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(config.certificate) if config.certificate else None)
    if config.client_certificate and config.client_key:
        context.load_cert_chain(str(config.client_certificate), str(config.client_key))
    return context


def _gzip(payload: bytes) -> bytes:
    # level 1: a fraction of the CPU of the default level for most of the size reduction on OTLP
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    return compressor.compress(payload) + compressor.flush()


def _http_error_text(response: httpx.Response) -> str:
    """The google.rpc.Status message OTLP servers send with errors, else the start of the body."""
    if "protobuf" in response.headers.get("content-type", ""):
        try:
            return _clip(status_pb2.Status.FromString(response.content).message)
        except DecodeError:
            pass
    return _clip(response.text)


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_TEXT else text[:_MAX_ERROR_TEXT] + "…"
