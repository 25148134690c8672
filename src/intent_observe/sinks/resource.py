"""The OTel resource our telemetry carries, with the standard variables honoured."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import unquote

from intent_observe._core import Encoder
from intent_observe.version import __version__

DEFAULT_SERVICE_NAME = "intent"


def parse_resource_attributes(text: str) -> dict[str, str]:
    """`OTEL_RESOURCE_ATTRIBUTES`: comma-separated key=value pairs, percent-encoded; bad pairs skipped."""
    attrs: dict[str, str] = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        key = unquote(key.strip())
        if sep and key:
            attrs[key] = unquote(value.strip())
    return attrs


def resource_attributes(
    env: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """service.name=intent and service.version, then OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME."""
    env = os.environ if env is None else env
    attrs = {
        "service.name": DEFAULT_SERVICE_NAME,
        "service.version": __version__,
        "telemetry.sdk.name": "intent-observe",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": __version__,
    }
    attrs.update(extra or {})
    attrs.update(parse_resource_attributes(env.get("OTEL_RESOURCE_ATTRIBUTES", "")))
    service = env.get("OTEL_SERVICE_NAME", "").strip()
    if service:
        attrs["service.name"] = service
    return attrs


def otlp_encoder(extra: Mapping[str, str] | None = None) -> Encoder:
    """The core's OTLP encoder for our resource (`extra` attributes added, the environment honoured)."""
    return Encoder(resource_attributes(extra=extra), __version__)
