"""Shared test helpers: the real OTLP receiver recording into SQLite, rotel, free ports."""

from tests.support.receiver import ProcessReceiver, ThreadReceiver, receiver_in_thread, receiver_process
from tests.support.recording import Received, ReceiverControl, read_received

__all__ = [
    "ProcessReceiver",
    "Received",
    "ReceiverControl",
    "ThreadReceiver",
    "read_received",
    "receiver_in_thread",
    "receiver_process",
]
