"""The ceiling of the tail's benchmark: requests the tail already encoded, sent again as they were.

    python -m benchmarks.replay_requests FILE      (OTEL_EXPORTER_OTLP_* name the receiver)

FILE holds the requests a `tail --once` sent, in order, as the benchmark's receiver recorded
them (`write_request`). This process sends each in turn through the exporter the tail uses
(`sinks.otlp_exporter`, one persistent gRPC channel per signal, each request acknowledged
before the next), and does nothing else: no reading of lines, no engine, no state. What it
takes, start-up included, is what any tail would take in this benchmark for this many bytes.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from intent_observe.otlp.signals import Signal
from intent_observe.sinks.otlp_config import load_export_config
from intent_observe.sinks.otlp_exporter import OtlpExporter

_SIGNALS = list(Signal)
_HEADER = struct.Struct("<BI")  # the signal's index, the body's length


def write_request(out: BinaryIO, signal: Signal, body: bytes) -> None:
    out.write(_HEADER.pack(_SIGNALS.index(signal), len(body)))
    out.write(body)


def read_requests(path: Path) -> Iterator[tuple[Signal, bytes]]:
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        signal, size = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        yield _SIGNALS[signal], data[offset : offset + size]
        offset += size


def main() -> None:
    with OtlpExporter(load_export_config()) as exporter:
        for signal, body in read_requests(Path(sys.argv[1])):
            exporter.consume(signal, body)


if __name__ == "__main__":
    main()
