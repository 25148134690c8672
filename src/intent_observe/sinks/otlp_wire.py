"""Span and log records → OTLP protobuf bytes, written directly (no message objects).

The same requests as `otlp_encode.trace_request(...).SerializeToString()` (a test decodes
both and compares them), about four times faster: building one protobuf object per
attribute is most of the cost of the object route, and most attributes repeat (event
type, artifact type, source, actor…), so each distinct key=value pair is encoded once and
reused. Only the fields our records use are written; proto3 defaults are left out.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from intent_observe.identity.records import AttrValue, LogRecord, SpanRecord
from intent_observe.sinks.otlp_encode import SCOPE

_MAX_VALUES_PER_KEY = 2_000
_CACHEABLE_CHARS = 96  # longer strings (titles, bodies) rarely repeat
_VARINTS = [bytes((n,)) if n < 0x80 else bytes((n & 0x7F | 0x80, n >> 7)) for n in range(1 << 14)]
_pack_fixed64 = struct.Struct("<Q").pack
_pack_double = struct.Struct("<d").pack


def varint(n: int) -> bytes:
    if 0 <= n < 0x4000:
        return _VARINTS[n]
    if n < 0:
        n += 1 << 64  # int64: two's complement in ten bytes
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, bytes."""
    return tag + varint(len(payload)) + payload


def _any_value(value: AttrValue) -> bytes:
    if value.__class__ is str:
        return _field(b"\x0a", value.encode("utf-8", "surrogatepass"))  # type: ignore[union-attr]
    if value.__class__ is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if value.__class__ is int:
        return b"\x18" + varint(value)  # type: ignore[arg-type]
    if value.__class__ is float:
        return b"\x21" + _pack_double(value)
    return _field(b"\x0a", str(value).encode("utf-8", "surrogatepass"))


class _Attributes:
    """Encoded attribute fields (tag, length, KeyValue) for one field tag.

    Cached per key and value; a key whose values keep changing (event ids, offsets) stops
    being cached once it has `_MAX_VALUES_PER_KEY` of them, so unique values cost no cache churn.
    """

    def __init__(self, tag: bytes) -> None:
        self._tag = tag
        self._by_key: dict[str, dict[AttrValue, bytes] | None] = {}
        self._key_bytes: dict[str, bytes] = {}

    def fields(self, attrs: Mapping[str, AttrValue]) -> list[bytes]:
        by_key = self._by_key
        out: list[bytes] = []
        append = out.append
        for key, value in attrs.items():
            values = by_key.get(key)
            if values is not None and value.__class__ is not bool:
                encoded = values.get(value)
                if encoded is not None:
                    append(encoded)
                    continue
            append(self._miss(key, value, values))
        return out

    def _miss(self, key: str, value: AttrValue, values: dict[AttrValue, bytes] | None) -> bytes:
        key_bytes = self._key_bytes.get(key)
        if key_bytes is None:
            key_bytes = self._key_bytes[key] = _field(b"\x0a", key.encode("utf-8", "surrogatepass"))
            values = self._by_key[key] = {}
        if value.__class__ is str:  # the common case, inlined
            raw = value.encode("utf-8", "surrogatepass")  # type: ignore[union-attr]
            size = len(raw)
            any_value = b"\x0a" + (_VARINTS[size] if size < 0x4000 else varint(size)) + raw
        else:
            any_value = _any_value(value)
        size = len(any_value)
        key_value = key_bytes + b"\x12" + (_VARINTS[size] if size < 0x4000 else varint(size)) + any_value
        size = len(key_value)
        encoded = self._tag + (_VARINTS[size] if size < 0x4000 else varint(size)) + key_value
        if values is not None and value.__class__ is not bool:
            if len(values) >= _MAX_VALUES_PER_KEY:
                self._by_key[key] = None  # too many distinct values: not worth caching
            elif value.__class__ is not str or len(value) <= _CACHEABLE_CHARS:  # type: ignore[arg-type]
                values[value] = encoded
        return encoded


_SPAN_ATTRS = _Attributes(b"\x4a")
_LINK_ATTRS = _Attributes(b"\x22")
_LOG_ATTRS = _Attributes(b"\x32")
_SCOPE_FIELD = _field(b"\x0a", SCOPE.SerializeToString())
_KIND_INTERNAL = b"\x30\x01"  # Span.kind = SPAN_KIND_INTERNAL
_STATUS_ERROR_CODE = b"\x18\x02"  # Status.code = STATUS_CODE_ERROR


def _span(span: SpanRecord) -> bytes:
    parts = [
        b"\x0a\x10" + bytes.fromhex(span.trace_id),
        b"\x12\x08" + bytes.fromhex(span.span_id),
    ]
    if span.parent_span_id:
        parts.append(b"\x22\x08" + bytes.fromhex(span.parent_span_id))
    parts.append(_field(b"\x2a", span.name.encode("utf-8", "surrogatepass")))
    parts.append(_KIND_INTERNAL)
    parts.append(b"\x39" + _pack_fixed64(span.start_ns))
    parts.append(b"\x41" + _pack_fixed64(span.end_ns))
    parts += _SPAN_ATTRS.fields(span.attributes)
    for link in span.links:
        body = b"\x0a\x10" + bytes.fromhex(link.trace_id) + b"\x12\x08" + bytes.fromhex(link.span_id)
        body += b"".join(_LINK_ATTRS.fields(link.attributes))
        parts.append(_field(b"\x6a", body))
    if span.error:
        message = span.status_message or ""
        status = _field(b"\x12", message.encode("utf-8", "surrogatepass")) if message else b""
        parts.append(_field(b"\x7a", status + _STATUS_ERROR_CODE))
    else:
        parts.append(b"\x7a\x00")  # an unset status, present as otlp_encode writes it
    return b"".join(parts)


def _log(log: LogRecord) -> bytes:
    parts = [b"\x09" + _pack_fixed64(log.time_ns)]
    if log.severity_number:
        parts.append(b"\x10" + varint(log.severity_number))
    if log.severity_text:
        parts.append(_field(b"\x1a", log.severity_text.encode()))
    parts.append(_field(b"\x2a", _field(b"\x0a", log.body.encode("utf-8", "surrogatepass"))))
    parts += _LOG_ATTRS.fields(log.attributes)
    parts.append(b"\x45\x01\x00\x00\x00")  # flags = 1 (sampled)
    parts.append(b"\x4a\x10" + bytes.fromhex(log.trace_id))
    parts.append(b"\x52\x08" + bytes.fromhex(log.span_id))
    parts.append(b"\x59" + _pack_fixed64(log.observed_ns))
    event_name = log.attributes.get("event.name")
    if event_name:
        parts.append(_field(b"\x62", str(event_name).encode("utf-8", "surrogatepass")))
    return b"".join(parts)


def resource_field(res: Resource) -> bytes:
    """The `resource` field of a Resource{Spans,Logs}, encoded once per file."""
    return _field(b"\x0a", res.SerializeToString())


def trace_request(spans: Iterable[SpanRecord], resource: bytes) -> bytes:
    """ExportTraceServiceRequest bytes; `resource` from `resource_field`."""
    items = [_field(b"\x12", _span(s)) for s in spans]
    scope_spans = _field(b"\x12", _SCOPE_FIELD + b"".join(items))
    return _field(b"\x0a", resource + scope_spans)


def logs_request(logs: Iterable[LogRecord], resource: bytes) -> bytes:
    """ExportLogsServiceRequest bytes; `resource` from `resource_field`."""
    items = [_field(b"\x12", _log(r)) for r in logs]
    scope_logs = _field(b"\x12", _SCOPE_FIELD + b"".join(items))
    return _field(b"\x0a", resource + scope_logs)
