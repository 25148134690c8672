"""OTLP/gRPC: the TraceService, LogsService and MetricsService `Export` methods.

Registered as generic handlers under the official service names (one handler per
row of the signal table instead of three servicer classes). Requests arrive as raw
bytes and go to the consumer as they are (the store decodes them, large ones in another
process); a malformed message gets INVALID_ARGUMENT rather than grpcio's generic
deserialization error.

Each method is registered as request-streaming although clients call it unary (the wire
is the same): grpcio receives a unary request before calling its handler, a streaming
one only when the handler asks for it. So the token is checked, and the request's share
of the admission budget taken, before a byte of the message is received.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2

from intent_observe.otlp.admission import Admission, AdmissionRefused
from intent_observe.otlp.auth import BearerToken
from intent_observe.otlp.consumer import Consumer, ConsumerBusy
from intent_observe.otlp.signals import WIRES, SignalWire

log = logging.getLogger(__name__)


def otlp_grpc_handlers(
    consumer: Consumer,
    token: BearerToken | None,
    admission: Admission,
    max_message_bytes: int,
    receive_timeout_s: float,
) -> list[grpc.GenericRpcHandler]:
    return [
        grpc.method_handlers_generic_handler(
            wire.grpc_service,
            {
                "Export": grpc.stream_unary_rpc_method_handler(
                    _export_handler(consumer, wire, token, admission, max_message_bytes, receive_timeout_s),
                    request_deserializer=None,  # raw bytes, for the consumer
                    response_serializer=wire.response_type.SerializeToString,
                )
            },
        )
        for wire in WIRES.values()
    ]


def _export_handler(
    consumer: Consumer,
    wire: SignalWire,
    token: BearerToken | None,
    admission: Admission,
    max_message_bytes: int,
    receive_timeout_s: float,
) -> Callable[[Iterator[bytes], grpc.ServicerContext], Message]:
    # context.abort raises, so no path below returns without a response or a status
    def export(messages: Iterator[bytes], context: grpc.ServicerContext) -> Message:
        if token is not None and not token.accepts(_metadata_value(context, "authorization")):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            share = admission.admit(max_message_bytes)
        except AdmissionRefused as refused:
            _abort_retry_later(
                context, grpc.StatusCode.RESOURCE_EXHAUSTED, refused.reason, refused.retry_after_s
            )
        try:
            body = _receive(messages, context, receive_timeout_s)
            return _deliver(consumer, wire, body, context)
        finally:
            admission.release(share)

    return export


def _receive(messages: Iterator[bytes], context: grpc.ServicerContext, timeout_s: float) -> bytes:
    """The request message. A client that has not sent all of it within `timeout_s` has its call
    cancelled, so that a slow sender cannot hold its share of the admission budget for ever."""
    timer = threading.Timer(timeout_s, context.cancel)
    timer.daemon = True
    timer.start()
    try:
        return next(messages, b"")  # a unary client sends one message; none reads as an empty request
    finally:
        timer.cancel()


def _deliver(consumer: Consumer, wire: SignalWire, body: bytes, context: grpc.ServicerContext) -> Message:
    try:
        result = consumer.consume(wire.signal, body)
    except DecodeError as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid protobuf message: {exc}")
    except ConsumerBusy as busy:
        _abort_retry_later(context, grpc.StatusCode.UNAVAILABLE, busy.reason, busy.retry_after_seconds or 1.0)
    except Exception:
        log.exception("OTLP consumer failed on a %s request", wire.signal.value)
        context.abort(grpc.StatusCode.INTERNAL, "internal error while storing the data")
    return wire.response(result.rejected, result.message)


def _metadata_value(context: grpc.ServicerContext, key: str) -> str | None:
    for name, value in context.invocation_metadata():
        if name == key:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


def _abort_retry_later(
    context: grpc.ServicerContext, code: grpc.StatusCode, reason: str, retry_after_s: float
) -> None:
    """`code` with a RetryInfo detail, the form OTLP clients read their backoff from."""
    delay = Duration()
    delay.FromNanoseconds(int(retry_after_s * 1e9))
    status = status_pb2.Status(code=code.value[0], message=reason)
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
    context.abort(code, reason)
