"""OTEL_EXPORTER_OTLP_* resolution as the OpenTelemetry spec defines it, and secrets kept out of sight."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from intent_observe.otlp.signals import Signal
from intent_observe.sinks.otlp_config import (
    ExportConfigError,
    ExporterOptions,
    SignalExportConfig,
    load_export_config,
    parse_headers,
    redact_url,
)

GRAFANA_TOKEN = "glc_eyJvIjoiMTIzNDU2Nzg5MCJ9c2VjcmV0"


def test_defaults_follow_the_spec() -> None:
    config = load_export_config({})
    assert config.traces.protocol == "http/protobuf"
    assert config.traces.endpoint == "http://localhost:4318/v1/traces"
    assert config.logs.endpoint == "http://localhost:4318/v1/logs"
    assert config.metrics.endpoint == "http://localhost:4318/v1/metrics"
    assert (config.traces.compression, config.traces.timeout_seconds, len(config.traces.headers)) == (
        "none",
        10.0,
        0,
    )
    grpc = load_export_config({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}).traces
    assert (grpc.endpoint, grpc.grpc_target, grpc.grpc_uses_tls) == (
        "http://localhost:4317",
        "localhost:4317",
        False,
    )


@pytest.mark.parametrize(
    ("generic", "expected"),
    [
        ("http://collector:4318", "http://collector:4318/v1/logs"),
        ("http://collector:4318/", "http://collector:4318/v1/logs"),
        ("https://otlp.grafana.net/otlp", "https://otlp.grafana.net/otlp/v1/logs"),
        ("https://otlp.grafana.net/otlp/", "https://otlp.grafana.net/otlp/v1/logs"),
    ],
)
def test_generic_http_endpoint_gets_the_signal_path(generic: str, expected: str) -> None:
    assert load_export_config({"OTEL_EXPORTER_OTLP_ENDPOINT": generic}).logs.endpoint == expected


def test_per_signal_settings_win_and_per_signal_http_endpoints_are_used_as_is() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://generic:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/custom/path",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://metrics:9090",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "logs-host:4317",
        "OTEL_EXPORTER_OTLP_LOGS_INSECURE": "true",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "none",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "500",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-generic=1",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-traces=2",
    }
    config = load_export_config(env)
    assert config.traces.endpoint == "http://traces:9999/custom/path"
    assert config.metrics.endpoint == "http://metrics:9090/"  # no path: the root path, nothing appended
    assert (config.logs.protocol, config.logs.grpc_target, config.logs.grpc_uses_tls) == (
        "grpc",
        "logs-host:4317",
        False,
    )
    assert (config.traces.compression, config.metrics.compression) == ("gzip", "none")
    assert (config.traces.timeout_seconds, config.logs.timeout_seconds) == (0.5, 2.5)
    assert dict(config.traces.headers) == {"x-traces": "2"}
    assert dict(config.metrics.headers) == {"x-generic": "1"}


def test_grpc_scheme_decides_tls_and_insecure_only_applies_without_one() -> None:
    def target(endpoint: str, insecure: str = "") -> SignalExportConfig:
        env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        return load_export_config({**env, "OTEL_EXPORTER_OTLP_INSECURE": insecure}).traces

    assert target("https://otlp.example:443").grpc_uses_tls
    assert not target("http://collector:4317", insecure="false").grpc_uses_tls
    assert target("https://collector:4317", insecure="true").grpc_uses_tls
    assert target("collector:4317").grpc_uses_tls  # no scheme, INSECURE unset → secure
    assert not target("collector:4317", insecure="TRUE").grpc_uses_tls
    assert target("https://otlp.example").grpc_target == "otlp.example:443"
    assert target("otlp.example").grpc_target == "otlp.example:4317"
    assert target("http://[::1]:5317").grpc_target == "[::1]:5317"


def test_headers_are_baggage_style_and_percent_decoded(caplog: pytest.LogCaptureFixture) -> None:
    raw = f" Authorization = Basic%20{GRAFANA_TOKEN}%3D%3D , x-scope-orgid=tenant%2C1,broken-{GRAFANA_TOKEN},"
    with caplog.at_level(logging.WARNING):
        headers = parse_headers(raw, "OTEL_EXPORTER_OTLP_HEADERS")
    assert dict(headers) == {"authorization": f"Basic {GRAFANA_TOKEN}==", "x-scope-orgid": "tenant,1"}
    assert "entry #3 in OTEL_EXPORTER_OTLP_HEADERS" in caplog.text
    assert GRAFANA_TOKEN not in caplog.text


def test_flags_override_the_environment() -> None:
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://env:1/x", "OTEL_EXPORTER_OTLP_HEADERS": "a=b"}
    options = ExporterOptions(
        endpoint="http://flag:4318", protocol="http/protobuf", headers={"X-Flag": "1"}, compression="gzip",
        timeout_seconds=3.0,
    )  # fmt: skip
    traces = load_export_config(env, options).traces
    assert traces.endpoint == "http://flag:4318/v1/traces"
    assert (dict(traces.headers), traces.compression, traces.timeout_seconds) == (
        {"x-flag": "1"},
        "gzip",
        3.0,
    )
    assert load_export_config(env, ExporterOptions(protocol="grpc")).metrics.protocol == "grpc"


def test_tls_files_must_exist_and_come_in_pairs(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert load_export_config({"OTEL_EXPORTER_OTLP_CERTIFICATE": str(ca)}).logs.certificate == ca
    with pytest.raises(ExportConfigError, match="OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: no such file"):
        load_export_config({"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": str(tmp_path / "missing.pem")})
    with pytest.raises(ExportConfigError, match="must be set together"):
        load_export_config({"OTEL_EXPORTER_OTLP_CLIENT_KEY": str(ca)})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported",
        ),
        ({"OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION='zstd'"),
        (
            {"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"},
            "OTEL_EXPORTER_OTLP_TIMEOUT must be a number of milliseconds",
        ),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "0"}, "must be positive"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "must be an http:// or https:// URL"),
    ],
)
def test_unusable_settings_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ExportConfigError, match=message.replace("(", r"\(")):
        load_export_config(env)


def test_secrets_never_appear_in_reprs_or_errors() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://user:{GRAFANA_TOKEN}@otlp.grafana.net/otlp?api_key={GRAFANA_TOKEN}",
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Basic%20{GRAFANA_TOKEN}",
    }
    config = load_export_config(env)
    assert config.traces.headers["Authorization"] == f"Basic {GRAFANA_TOKEN}"
    for shown in (repr(config), str(config), repr(config.traces.headers), config.traces.display_endpoint):
        assert GRAFANA_TOKEN not in shown
    assert "authorization=***" in repr(config.traces)
    assert config.traces.display_endpoint == "https://otlp.grafana.net/otlp/v1/traces"
    with pytest.raises(ExportConfigError) as error:
        load_export_config({**env, "OTEL_EXPORTER_OTLP_ENDPOINT": f"ftp://u:{GRAFANA_TOKEN}@host"})
    assert GRAFANA_TOKEN not in str(error.value)
    assert redact_url(f"host:{4317}") == "host:4317"
    assert repr(ExporterOptions(headers={"authorization": GRAFANA_TOKEN})).count(GRAFANA_TOKEN) == 0
    assert Signal.TRACES.value in repr(config.traces)
