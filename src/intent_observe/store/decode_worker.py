"""The decoding process: `python -m intent_observe.store.decode_worker`, started by DecodePool.

Reads requests from stdin and writes answers to stdout, each message an 8-byte big-endian
length and its bytes. A request is two messages: a pickle of (signal, received_ns), then the
body as it is (pickling it would copy it); an answer is one pickle: ("ok", Batch) or
("error", exception).
Exits at the end of its input, that is when the parent closes the pipe or dies.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from typing import BinaryIO

from intent_observe.store.decode import decode_body

HEADER = struct.Struct(">Q")


def read_message(stream: BinaryIO) -> bytes | None:
    """One length-prefixed message, or None at the end of the stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    payload = stream.read(size)
    return payload if len(payload) == size else None


def write_message(stream: BinaryIO, payload: bytes) -> None:
    stream.write(HEADER.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def main() -> None:
    # Ctrl-C reaches the whole process group; stopping is the parent's call (it closes the pipe)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the answers get a descriptor of their own: anything printed by mistake goes to stderr
    source, sink = sys.stdin.buffer, os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    while (message := read_message(source)) is not None and (body := read_message(source)) is not None:
        signal_name, received_ns = pickle.loads(message)
        try:
            answer: tuple[str, object] = ("ok", decode_body(signal_name, body, received_ns))
        except Exception as exc:  # DecodeError above all: the parent re-raises it
            answer = ("error", exc)
        write_message(sink, pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    main()
