"""OTLP exporter settings from the standard `OTEL_EXPORTER_OTLP_*` variables and CLI flags.

Follows the OpenTelemetry "OTLP Exporter Configuration" spec:
- precedence: flag > `OTEL_EXPORTER_OTLP_<SIGNAL>_*` > `OTEL_EXPORTER_OTLP_*` > default;
- protocol `grpc` or `http/protobuf` (the spec's default);
- HTTP: a per-signal endpoint is used as-is (root path `/` when it has none), the generic
  one (and the `--endpoint` flag) gets `/v1/<signal>` appended;
- gRPC: `http://` means plaintext, `https://` TLS; without a scheme `_INSECURE` decides;
- headers `k1=v1,k2=v2` in W3C-baggage style, percent-decoded; timeout in milliseconds.

Header values are credentials (Grafana Cloud's `Authorization=Basic …`): they are kept in
`SecretHeaders`, whose repr shows names only, and no error message quotes them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from intent_observe.otlp.signals import WIRES, Signal

log = logging.getLogger(__name__)

GRPC = "grpc"
HTTP_PROTOBUF = "http/protobuf"
PROTOCOLS = (GRPC, HTTP_PROTOBUF)
COMPRESSIONS = ("gzip", "none")
DEFAULT_PROTOCOL = HTTP_PROTOBUF
DEFAULT_TIMEOUT_SECONDS = 10.0
_DEFAULT_ENDPOINTS = {GRPC: "http://localhost:4317", HTTP_PROTOBUF: "http://localhost:4318"}
_PREFIX = "OTEL_EXPORTER_OTLP_"


class ExportConfigError(ValueError):
    """A setting that cannot be used; the message names the variable, never a header value."""


class SecretHeaders(Mapping[str, str]):
    """Request headers whose values never appear in a repr, str or log line."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = {name.lower(): value for name, value in (items or {}).items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return "SecretHeaders(" + ", ".join(f"{name}=***" for name in self._items) + ")"

    __str__ = __repr__


@dataclass(frozen=True)
class ExporterOptions:
    """Values from command-line flags; None means "not given", so the environment decides."""

    endpoint: str | None = None
    protocol: str | None = None
    headers: Mapping[str, str] | None = field(default=None, repr=False)
    compression: str | None = None
    timeout_seconds: float | None = None
    certificate: str | None = None
    client_key: str | None = None
    client_certificate: str | None = None
    insecure: bool | None = None


@dataclass(frozen=True)
class SignalExportConfig:
    signal: Signal
    protocol: str
    endpoint: str  # HTTP: the full URL to POST to; gRPC: the URL or host:port of the server
    headers: SecretHeaders = field(default_factory=SecretHeaders, repr=False)
    compression: str = "none"
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    certificate: Path | None = None
    client_key: Path | None = None
    client_certificate: Path | None = None
    insecure: bool = False  # gRPC without a scheme only

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if f.name not in ("endpoint", "headers")
        )
        return f"SignalExportConfig(endpoint={self.display_endpoint!r}, headers={self.headers!r}, {shown})"

    @property
    def display_endpoint(self) -> str:
        """The endpoint without user-info or query, which may carry credentials."""
        return redact_url(self.endpoint)

    @property
    def grpc_target(self) -> str:
        """host:port for grpc.*_channel."""
        parts = urlsplit(self.endpoint if "://" in self.endpoint else f"//{self.endpoint}")
        if not parts.hostname:
            raise ExportConfigError(f"OTLP gRPC endpoint {self.display_endpoint!r} has no host")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        # a URL without a port means its scheme's port, as in any URL; a bare host means OTLP's
        default_port = {"https": 443, "http": 80}.get(parts.scheme.lower(), 4317)
        return f"{host}:{parts.port or default_port}"

    @property
    def grpc_uses_tls(self) -> bool:
        scheme = urlsplit(self.endpoint).scheme.lower() if "://" in self.endpoint else ""
        if scheme == "https":
            return True
        if scheme == "http":
            return False
        return not self.insecure


@dataclass(frozen=True)
class ExportConfig:
    traces: SignalExportConfig
    logs: SignalExportConfig
    metrics: SignalExportConfig

    def for_signal(self, signal: Signal) -> SignalExportConfig:
        config: SignalExportConfig = getattr(self, signal.value)
        return config


def load_export_config(
    environ: Mapping[str, str] | None = None, options: ExporterOptions | None = None
) -> ExportConfig:
    env = os.environ if environ is None else environ
    opts = options or ExporterOptions()
    return ExportConfig(**{signal.value: _signal_config(signal, env, opts) for signal in Signal})


def redact_url(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"//{url}")
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    redacted = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return redacted if "://" in url else redacted.removeprefix("//")


def parse_headers(raw: str, variable: str) -> SecretHeaders:
    """`k1=v1,k2=v2` (W3C baggage style), keys and values percent-decoded and trimmed."""
    headers: dict[str, str] = {}
    for position, entry in enumerate(raw.split(","), start=1):
        if not entry.strip():
            continue
        name, sep, value = entry.partition("=")
        name = unquote(name).strip()
        if not sep or not name:
            # quoting the entry could leak a credential; its position is enough to find it
            log.warning("ignoring malformed entry #%d in %s (expected key=value)", position, variable)
            continue
        headers[name] = unquote(value).strip()
    return SecretHeaders(headers)


class _Lookup:
    """Reads one option for one signal: the per-signal variable first, then the generic one."""

    def __init__(self, signal: Signal, env: Mapping[str, str]) -> None:
        self._signal = signal
        self._env = env

    def get(self, option: str) -> tuple[str, str] | None:
        """(variable name, value) of the first non-empty variable for `option`, or None."""
        for name in (f"{_PREFIX}{self._signal.value.upper()}_{option}", f"{_PREFIX}{option}"):
            value = self._env.get(name, "").strip()
            if value:
                return name, value
        return None

    def is_signal_specific(self, variable: str) -> bool:
        return variable.startswith(f"{_PREFIX}{self._signal.value.upper()}_")


def _signal_config(signal: Signal, env: Mapping[str, str], opts: ExporterOptions) -> SignalExportConfig:
    lookup = _Lookup(signal, env)
    protocol = _choice(opts.protocol, lookup, "PROTOCOL", PROTOCOLS, DEFAULT_PROTOCOL)
    config = SignalExportConfig(
        signal=signal,
        protocol=protocol,
        endpoint=_endpoint(signal, protocol, lookup, opts.endpoint),
        headers=_headers(lookup, opts.headers),
        compression=_choice(opts.compression, lookup, "COMPRESSION", COMPRESSIONS, "none"),
        timeout_seconds=_timeout(lookup, opts.timeout_seconds),
        certificate=_file(opts.certificate, lookup, "CERTIFICATE"),
        client_key=_file(opts.client_key, lookup, "CLIENT_KEY"),
        client_certificate=_file(opts.client_certificate, lookup, "CLIENT_CERTIFICATE"),
        insecure=_insecure(lookup, opts.insecure),
    )
    if (config.client_key is None) != (config.client_certificate is None):
        raise ExportConfigError(
            f"{_PREFIX}CLIENT_KEY and {_PREFIX}CLIENT_CERTIFICATE must be set together ({signal.value})"
        )
    return config


def _choice(flag: str | None, lookup: _Lookup, option: str, allowed: tuple[str, ...], default: str) -> str:
    found = ("--" + option.lower(), flag) if flag else lookup.get(option)
    if found is None:
        return default
    source, value = found
    if value.lower() not in allowed:
        raise ExportConfigError(f"{source}={value!r} is not supported; use one of {', '.join(allowed)}")
    return value.lower()


def _endpoint(signal: Signal, protocol: str, lookup: _Lookup, flag: str | None) -> str:
    found = ("--endpoint", flag) if flag else lookup.get("ENDPOINT")
    variable, url = found or ("default", _DEFAULT_ENDPOINTS[protocol])
    if protocol == GRPC:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ExportConfigError(f"{variable} must be an http:// or https:// URL, got {redact_url(url)!r}")
    if lookup.is_signal_specific(variable):
        return url if parts.path else urlunsplit(parts._replace(path="/"))
    path = parts.path.rstrip("/") + WIRES[signal].http_path
    return urlunsplit(parts._replace(path=path))


def _headers(lookup: _Lookup, flag: Mapping[str, str] | None) -> SecretHeaders:
    if flag is not None:
        return SecretHeaders(flag)
    found = lookup.get("HEADERS")
    return parse_headers(found[1], found[0]) if found else SecretHeaders()


def _timeout(lookup: _Lookup, flag: float | None) -> float:
    if flag is not None:
        seconds = flag
    else:
        found = lookup.get("TIMEOUT")
        if found is None:
            return DEFAULT_TIMEOUT_SECONDS
        try:
            seconds = float(found[1]) / 1000.0  # the spec gives it in milliseconds
        except ValueError:
            raise ExportConfigError(
                f"{found[0]} must be a number of milliseconds, got {found[1]!r}"
            ) from None
    if seconds <= 0:
        raise ExportConfigError("the OTLP export timeout must be positive")
    return seconds


def _file(flag: str | None, lookup: _Lookup, option: str) -> Path | None:
    found = ("--" + option.lower().replace("_", "-"), flag) if flag else lookup.get(option)
    if found is None:
        return None
    path = Path(found[1]).expanduser()
    if not path.is_file():
        raise ExportConfigError(f"{found[0]}: no such file {str(path)!r}")
    return path


def _insecure(lookup: _Lookup, flag: bool | None) -> bool:
    if flag is not None:
        return flag
    found = lookup.get("INSECURE")
    return found is not None and found[1].lower() == "true"
