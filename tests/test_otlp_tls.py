"""TLS and mutual TLS between the exporter and the receiver, configured by the standard variables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import ThreadReceiver, receiver_in_thread
from tests.support.payloads import encoded, span_id_for
from tests.support.tls import TlsFiles, make_tls_files

from intent_observe.otlp.consumer import ConsumerBusy
from intent_observe.otlp.receiver import ReceiverConfig, ReceiverStartError
from intent_observe.otlp.signals import Signal
from intent_observe.sinks.chain import Retry, RetryPolicy
from intent_observe.sinks.otlp_config import load_export_config
from intent_observe.sinks.otlp_exporter import OtlpExporter

PROTOCOLS = ["grpc", "http/protobuf"]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_receiver(tmp_path: Path, tls: TlsFiles) -> Iterator[ThreadReceiver]:
    config = ReceiverConfig(
        grpc_port=0, http_port=0, tls_cert_file=tls.server_cert, tls_key_file=tls.server_key
    )
    with receiver_in_thread(tmp_path, config) as receiver:
        yield receiver


@pytest.fixture
def mtls_receiver(tmp_path: Path, tls: TlsFiles) -> Iterator[ThreadReceiver]:
    config = ReceiverConfig(
        grpc_port=0,
        http_port=0,
        tls_cert_file=tls.server_cert,
        tls_key_file=tls.server_key,
        tls_client_ca_file=tls.ca_cert,
    )
    with receiver_in_thread(tmp_path, config) as receiver:
        yield receiver


def _export(receiver: ThreadReceiver, protocol: str, run: str, deadline_s: float = 5.0, **env: str) -> None:
    port = receiver.grpc_port if protocol == "grpc" else receiver.http_port
    variables = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://localhost:{port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
    }
    retry = RetryPolicy(initial_backoff_seconds=0.05, max_backoff_seconds=0.2, max_elapsed_seconds=deadline_s)
    with OtlpExporter(load_export_config({**variables, **env})) as exporter:
        Retry(exporter, retry).consume(Signal.TRACES, encoded(Signal.TRACES, run, 5))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tls_with_the_certificate_variable(
    tls_receiver: ThreadReceiver, tls: TlsFiles, protocol: str
) -> None:
    _export(tls_receiver, protocol, "tls", OTEL_EXPORTER_OTLP_CERTIFICATE=str(tls.ca_cert))
    assert tls_receiver.received().span_ids == {span_id_for("tls", i).hex() for i in range(5)}
    with pytest.raises(ConsumerBusy):  # the system trust store does not know the test CA: retried
        _export(tls_receiver, protocol, "untrusted", deadline_s=0.8)
    assert len(tls_receiver.received().spans) == 5


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_mutual_tls_with_the_client_certificate_variables(
    mtls_receiver: ThreadReceiver, tls: TlsFiles, protocol: str
) -> None:
    trust = {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(tls.ca_cert)}
    client = {
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(tls.client_cert),
        "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(tls.client_key),
    }
    _export(mtls_receiver, protocol, "mtls", **trust, **client)
    with pytest.raises(ConsumerBusy):  # refused handshakes look like an unreachable backend: retried
        _export(mtls_receiver, protocol, "no-client-cert", deadline_s=0.8, **trust)
    assert mtls_receiver.received().span_ids == {span_id_for("mtls", i).hex() for i in range(5)}


def test_tls_settings_must_be_complete(tls: TlsFiles) -> None:
    with pytest.raises(ReceiverStartError, match="together"):
        ReceiverConfig(tls_cert_file=tls.server_cert)
    with pytest.raises(ReceiverStartError, match="own TLS certificate"):
        ReceiverConfig(tls_client_ca_file=tls.ca_cert)
