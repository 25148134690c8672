"""The gRPC transport of the OTLP exporter: one persistent channel per signal, the request bytes
sent as they are; imported only when a signal is exported over gRPC."""

from __future__ import annotations

import grpc
from google.protobuf.message import DecodeError

from intent_observe.otlp.signals import SignalWire
from intent_observe.sinks.otlp_attempt import USER_AGENT, Outcome, acknowledged, clip
from intent_observe.sinks.otlp_config import SignalExportConfig

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


class GrpcTransport:
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

    def send(self, payload: bytes, timeout: float) -> Outcome:
        try:
            response = self._call(
                payload, timeout=timeout, metadata=self._metadata, compression=self._compression
            )
        except grpc.RpcError as error:
            return _grpc_failure(error)
        return acknowledged(self._wire, response)

    def close(self) -> None:
        self._channel.close()


def _grpc_credentials(config: SignalExportConfig) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=config.certificate.read_bytes() if config.certificate else None,
        private_key=config.client_key.read_bytes() if config.client_key else None,
        certificate_chain=config.client_certificate.read_bytes() if config.client_certificate else None,
    )


def _grpc_failure(error: grpc.RpcError) -> Outcome:
    code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
    reason = f"gRPC {code.name}: {clip(error.details() or '')}"  # type: ignore[attr-defined]
    retry_after = _grpc_retry_delay(error)
    if code in _RETRYABLE_GRPC or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and retry_after is not None):
        return Outcome.retry(reason, retry_after)
    return Outcome.fatal(reason)


def _grpc_retry_delay(error: grpc.RpcError) -> float | None:
    """The RetryInfo delay from the `grpc-status-details-bin` trailer, if the server sent one."""
    from google.rpc import error_details_pb2, status_pb2  # protobuf's messages: on a failure only

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
