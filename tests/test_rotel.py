"""rotel, a third-party Rust OTel collector, between real senders and our receiver.

SDK exporters → rotel → our receiver, and our exporter → rotel → our receiver, over
gRPC and HTTP on both hops: what arrives must be what was sent.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import ThreadReceiver, receiver_in_thread
from tests.support.payloads import encoded, span_id_for
from tests.support.rotel import rotel_binary, rotel_collector
from tests.support.sdk_clients import assert_arrived_intact, send_with_sdk

from intent_observe.otlp.signals import Signal
from intent_observe.sinks.chain import Retry
from intent_observe.sinks.otlp_config import ExporterOptions, load_export_config
from intent_observe.sinks.otlp_exporter import OtlpExporter

# (how the sender speaks to rotel, how rotel speaks to our receiver)
HOPS = [("grpc", "grpc"), ("http", "http")]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ThreadReceiver]:
    with receiver_in_thread(tmp_path / "receiver") as running:
        yield running


def _receiver_endpoint(receiver: ThreadReceiver, protocol: str) -> str:
    return receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint


def test_the_rotel_binary_is_found_and_runs() -> None:
    version = subprocess.run(
        [rotel_binary(), "version"], capture_output=True, text=True, timeout=10, check=True
    )
    assert version.stdout.strip()


@pytest.mark.parametrize(("to_rotel", "from_rotel"), HOPS)
def test_sdk_telemetry_passes_through_rotel_intact(
    receiver: ThreadReceiver, tmp_path: Path, to_rotel: str, from_rotel: str
) -> None:
    with rotel_collector(
        _receiver_endpoint(receiver, from_rotel), tmp_path, export_protocol=from_rotel
    ) as rotel:
        sender_endpoint = rotel.grpc_endpoint if to_rotel == "grpc" else rotel.http_endpoint
        sent = send_with_sdk(to_rotel, sender_endpoint, run=f"sdk-{to_rotel}")
        received = receiver.wait_for(sent.arrived)
    assert_arrived_intact(sent, received)


@pytest.mark.parametrize(("to_rotel", "from_rotel"), HOPS)
def test_our_exporter_passes_through_rotel_intact(
    receiver: ThreadReceiver, tmp_path: Path, to_rotel: str, from_rotel: str
) -> None:
    run, count = f"ours-{to_rotel}", 2000
    with rotel_collector(
        _receiver_endpoint(receiver, from_rotel), tmp_path, export_protocol=from_rotel
    ) as rotel:
        protocol = "grpc" if to_rotel == "grpc" else "http/protobuf"
        endpoint = rotel.grpc_endpoint if to_rotel == "grpc" else rotel.http_endpoint
        options = ExporterOptions(endpoint=endpoint, protocol=protocol, compression="gzip")
        with OtlpExporter(load_export_config({}, options)) as exporter:
            for signal in Signal:
                assert Retry(exporter).consume(signal, encoded(signal, run, count)).rejected == 0
        received = receiver.wait_for(lambda r: len(r.spans) >= count and len(r.logs) >= count and r.points)
    assert received.span_ids == {span_id_for(run, i).hex() for i in range(count)}
    assert len(received.spans) == count  # nothing doubled on the way
    spans = {span["span_id"]: span for span in received.spans}
    first = spans[span_id_for(run, 0).hex()]
    assert first["name"] == "contract CON-00000"
    assert first["attributes"] == {"intent.artifact.id": "CON-00000", "intent.artifact.type": "contract"}
    assert (first["start_ns"], first["end_ns"]) == (1_700_000_000_000_000_000, 1_700_000_000_500_000_000)
    assert first["resource"] == {"service.name": "intent"} and first["scope"] == "intent-observe"
    assert sorted(log["body"] for log in received.logs) == [
        f"{run} contract.completed CON-{i:05d}" for i in range(count)
    ]
    assert [(p["metric"], p["value"], p["is_monotonic"]) for p in received.points] == [
        ("intent.signals.total", float(count), 1)
    ]
