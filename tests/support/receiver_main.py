"""`python -m tests.support.receiver_main`: the recording OTLP receiver as a process of its own.

Prints `READY <grpc port> <http port>` once both ports listen, then runs until SIGTERM/SIGINT
(or dies to SIGKILL, which is what fault tests do to it).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from tests.support.recording import ReceiverControl, RecordingConsumer

from intent_observe.otlp.receiver import OtlpReceiver, ReceiverConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--control", type=Path, required=True)
    parser.add_argument("--grpc-port", type=int, default=0)
    parser.add_argument("--http-port", type=int, default=0)
    args = parser.parse_args()

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    consumer = RecordingConsumer(args.db, ReceiverControl(args.control))
    receiver = OtlpReceiver(consumer, ReceiverConfig(grpc_port=args.grpc_port, http_port=args.http_port))
    receiver.start()
    print(f"READY {receiver.grpc_port} {receiver.http_port}", flush=True)
    stop.wait()
    receiver.shutdown()
    consumer.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
