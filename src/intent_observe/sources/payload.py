"""What the tail sends of a batch: its encoded requests, joined while they are small.

The tail reads a batch of lines (sources.tail) and hands them to the engine a block at a time
(`blocks`); each block's drained traces and logs requests are joined (`Requests`) into a few
large ones, the `Payload` the delivery thread sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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
        """One metrics request (traces and logs come joined, from `Requests`)."""
        return cls(((Signal.METRICS, data),) if data else ())


class Requests:
    """A batch's traces and logs as drained block by block, joined into requests of up to
    REQUEST_BYTES: encodings of a protobuf message, concatenated, are one message whose repeated
    fields (`resource_spans`, `resource_logs`) are appended, so a batch goes in a few large
    requests (the traces first) rather than two per block."""

    def __init__(self) -> None:
        self._joined: dict[Signal, list[bytes]] = {Signal.TRACES: [], Signal.LOGS: []}
        self._open: dict[Signal, list[bytes]] = {Signal.TRACES: [], Signal.LOGS: []}

    def add(self, traces: bytes | None, logs: bytes | None) -> None:
        for signal, data in ((Signal.TRACES, traces), (Signal.LOGS, logs)):
            if not data:
                continue
            parts = self._open[signal]
            if parts and sum(map(len, parts)) + len(data) > REQUEST_BYTES:
                self._joined[signal].append(b"".join(parts))
                parts.clear()
            parts.append(data)

    def payload(self) -> Payload:
        for signal, parts in self._open.items():
            if parts:
                self._joined[signal].append(b"".join(parts))
                parts.clear()
        return Payload(tuple((signal, data) for signal, joined in self._joined.items() for data in joined))


def blocks(chunk: Chunk, size: int) -> Iterator[Block]:
    """The chunk's lines in blocks of about `size` bytes (a longer line is a block of its own)."""
    data, start, line = chunk.data, 0, chunk.line
    while start < len(data):
        end = data.rfind(b"\n", start, start + size) + 1
        if end <= start:
            end = data.index(b"\n", start + size) + 1
        block = data if start == 0 and end == len(data) else data[start:end]
        yield Block(block, chunk.file, chunk.offset + start, line)
        line += block.count(b"\n")
        start = end
