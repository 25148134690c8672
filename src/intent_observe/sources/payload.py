"""What the tail sends of a batch: its encoded requests, joined while they are small.

The tail reads a batch of lines (sources.tail) and hands them to the engine a block at a time
(`blocks`); the core appends each block's drained traces and logs to the batch's requests
(`Engine.drain_joined`: the encodings of a protobuf message, concatenated, are one message whose
repeated fields `resource_spans`, `resource_logs` are appended), a few large ones per batch
rather than two per block: the `Payload` the delivery thread sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from intent_observe._core import count_lines
from intent_observe.events import Block
from intent_observe.otlp.signals import Signal
from intent_observe.sources.follow import Chunk

REQUEST_BYTES = 3 << 20  # a batch's requests are joined up to this: a gRPC server takes 4 MiB


@dataclass(frozen=True, slots=True)
class Payload:
    """Encoded Export*ServiceRequest bytes per signal; a signal with nothing to send is left out."""

    parts: tuple[tuple[Signal, bytes], ...]

    @classmethod
    def metrics(cls, data: bytes) -> Payload:
        """One metrics request (traces and logs come joined, from `requests`)."""
        return cls(((Signal.METRICS, data),) if data else ())

    @classmethod
    def requests(cls, traces: list[bytes], logs: list[bytes]) -> Payload:
        """A batch's traces requests, then its logs requests (`Engine.take_requests`)."""
        return cls((*((Signal.TRACES, data) for data in traces), *((Signal.LOGS, data) for data in logs)))


def blocks(chunk: Chunk, size: int) -> Iterator[Block]:
    """The chunk's lines in blocks of about `size` bytes (a longer line is a block of its own)."""
    data, start, line = chunk.data, 0, chunk.line
    while start < len(data):
        end = data.rfind(b"\n", start, start + size) + 1
        if end <= start:
            end = data.index(b"\n", start + size) + 1
        block = data if start == 0 and end == len(data) else data[start:end]
        yield Block(block, chunk.file, chunk.offset + start, line)
        line += count_lines(block)
        start = end
