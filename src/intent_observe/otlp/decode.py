"""Turning OTLP/HTTP bodies into protobuf messages and answers back into bodies.

Bodies are capped twice: on the wire and after decompression, so a small gzip
bomb cannot expand into memory. OTLP/JSON differs from protobuf's canonical JSON
in one way that matters: trace and span ids are hex strings, not base64.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SUPPORTED_CONTENT_TYPES = (PROTOBUF, JSON)

# Deeper JSON is refused before it is parsed into messages: a request with attribute values
# nested ten levels deep is about 50 levels deep, and the store keeps 8 levels of them.
MAX_JSON_DEPTH = 64

# Field names (both spellings the OTLP/JSON spec allows) whose values are hex-encoded bytes.
_HEX_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


class PayloadError(Exception):
    """A request the receiver refuses; `http_status` says how (400, 413, 415)."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message


def media_type(content_type_header: str) -> str:
    """'application/json; charset=utf-8' → 'application/json'."""
    return content_type_header.split(";", 1)[0].strip().lower()


def decompress(body: bytes, content_encoding: str, max_bytes: int) -> bytes:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gunzip_capped(body, max_bytes)
    raise PayloadError(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")


def gunzip_capped(body: bytes, max_bytes: int) -> bytes:
    """Decompress every gzip member of `body`, refusing output beyond `max_bytes`."""
    out = bytearray()
    remaining = body
    while remaining:
        inflater = zlib.decompressobj(wbits=31)
        try:
            # max_length is ≥ 1 here (len(out) ≤ max_bytes), so it never means "unlimited"
            out += inflater.decompress(remaining, max_bytes + 1 - len(out))
        except zlib.error as exc:
            raise PayloadError(400, f"invalid gzip body: {exc}") from None
        if len(out) > max_bytes or inflater.unconsumed_tail:
            raise PayloadError(413, f"decompressed body exceeds {max_bytes} bytes")
        if not inflater.eof:
            raise PayloadError(400, "truncated gzip body")
        remaining = inflater.unused_data
    return bytes(out)


def parse_request(body: bytes, content_type: str, request_type: type[Message]) -> Message:
    if content_type == PROTOBUF:
        try:
            return request_type.FromString(body)
        except DecodeError as exc:
            raise PayloadError(400, f"invalid protobuf body: {exc}") from None
    return parse_otlp_json(body, request_type)


def parse_otlp_json(body: bytes, request_type: type[Message]) -> Message:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(400, f"invalid JSON body: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError(400, "JSON body must be an object")
    message = request_type()
    try:
        # the spec tells receivers to ignore unknown fields; enums parse from names or numbers
        json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise PayloadError(400, f"invalid OTLP/JSON body: {exc}") from None
    return message


def _hex_ids_to_base64(node: Any, depth: int = 0) -> Any:
    """Rewrite OTLP/JSON hex ids into the base64 that protobuf's JSON parser expects, refusing
    JSON nested deeper than MAX_JSON_DEPTH (the parsers after this one recurse per level).

    OTLP messages have no map fields, so user data never becomes a JSON object key:
    matching on key names cannot touch attribute values.
    """
    if not isinstance(node, list | dict):
        return node
    if depth >= MAX_JSON_DEPTH:
        raise PayloadError(400, f"OTLP/JSON body nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(node, list):
        return [_hex_ids_to_base64(item, depth + 1) for item in node]
    return {
        key: _hex_to_base64(key, value) if key in _HEX_ID_FIELDS else _hex_ids_to_base64(value, depth + 1)
        for key, value in node.items()
    }


def _hex_to_base64(field: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value  # let the protobuf parser report the wrong type
    try:
        raw = binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        raise PayloadError(400, f"{field} must be a hex string, got {value[:64]!r}") from None
    return base64.b64encode(raw).decode("ascii")


def encode_message(message: Message, content_type: str) -> bytes:
    if content_type == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


def status_body(grpc_code: int, message: str, content_type: str) -> bytes:
    """The google.rpc.Status body OTLP/HTTP sends with every error response."""
    return encode_message(status_pb2.Status(code=grpc_code, message=message), content_type)
