"""Types of `intent_observe._core`, the compiled core (crates/core)."""

from collections.abc import Iterable, Mapping

from intent_observe.identity.records import LogRecord, SpanRecord
from intent_observe.metrics.derive import Point

class Encoder:
    """OTLP protobuf requests for one resource; the same records always give the same bytes."""

    def __init__(self, resource: Mapping[str, str], scope_version: str) -> None: ...
    def traces(self, spans: Iterable[SpanRecord]) -> bytes: ...
    def logs(self, logs: Iterable[LogRecord]) -> bytes: ...
    def metrics(self, points: Iterable[Point], start_ns: int, time_ns: int) -> bytes: ...
