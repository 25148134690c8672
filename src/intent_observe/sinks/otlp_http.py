"""The HTTP/protobuf transport of the OTLP exporter: one connection pool per signal; imported only
when a signal is exported over HTTP (httpx alone imports rich and pygments for its command line)."""

from __future__ import annotations

import email.utils
import ssl
import time
import zlib

import httpx
from google.protobuf.message import DecodeError

from intent_observe.otlp.signals import Signal, SignalWire
from intent_observe.sinks.otlp_attempt import USER_AGENT, Outcome, acknowledged, clip
from intent_observe.sinks.otlp_config import SignalExportConfig

_MAX_LOKI_ANSWER = 64 * 1024  # where a refusal's reason is looked for
_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})


class HttpTransport:
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

    def send(self, payload: bytes, timeout: float) -> Outcome:
        body = _gzip(payload) if self._gzip else payload
        try:
            response = self._client.post(self._url, content=body, timeout=timeout)
        except httpx.TransportError as error:
            return Outcome.retry(f"{type(error).__name__}: {clip(str(error))}")
        if 200 <= response.status_code < 300:
            return acknowledged(self._wire, response.content)
        reason = f"HTTP {response.status_code}: {_http_error_text(response)}"
        if response.status_code in _RETRYABLE_HTTP:
            return Outcome.retry(reason, _retry_after_seconds(response.headers.get("retry-after")))
        if response.status_code == 400 and self._wire.signal is Signal.LOGS:
            from intent_observe.sinks.loki_partial import too_old_records  # protobuf's: on a 400 only

            refused = too_old_records(payload, response.text[:_MAX_LOKI_ANSWER])
            if refused:
                return Outcome.ok(len(refused), reason, refused)
        return Outcome.fatal(reason)

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
        from google.rpc import status_pb2  # protobuf's messages: on a failure only

        try:
            return clip(status_pb2.Status.FromString(response.content).message)
        except DecodeError:
            pass
    return clip(response.text)


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
