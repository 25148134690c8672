"""Types of `intent_observe._core`, the compiled core (crates/core)."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from intent_observe.identity.records import LogRecord, SpanRecord
from intent_observe.metrics.derive import Point
from intent_observe.model import ArtifactKind, Event, Position, Rejected
from intent_observe.store.decode import ResourceInfo

class Encoder:
    """OTLP protobuf requests for one resource; the same records always give the same bytes."""

    def __init__(self, resource: Mapping[str, str], scope_version: str) -> None: ...
    def traces(self, spans: Iterable[SpanRecord]) -> bytes: ...
    def logs(self, logs: Iterable[LogRecord]) -> bytes: ...
    def metrics(self, points: Iterable[Point], start_ns: int, time_ns: int) -> bytes: ...

# parse.rs, timestamps.rs: lines → events

MAX_LINE_BYTES: int
TYPED_ID_FIELDS: list[tuple[str, str]]

class TimestampError(ValueError):
    """A timestamp that cannot be read, and why."""

def parse_line(raw: bytes, position: Position) -> Event | Rejected | None: ...
def parse_lines(
    data: bytes, file: str, start_offset: int = 0, start_line: int = 1
) -> list[Event | Rejected]: ...
def iter_lines(
    data: bytes, file: str, start_offset: int = 0, start_line: int = 1
) -> list[tuple[bytes, Position]]: ...
def event_id_of(raw: bytes) -> str: ...
def parse_timestamp(value: object) -> int: ...
def kind_of_type(event_type: str) -> ArtifactKind: ...
def kind_of_id(artifact_id: str) -> ArtifactKind | None: ...
def clean_id(value: object) -> str | None: ...
def artifact_file(value: object) -> str | None: ...

# decode.rs: OTLP traces and logs requests → the store's rows

_Row = TypeVar("_Row", bound=tuple[Any, ...])

def decode_spans(
    body: bytes, received_ns: int, resource_info: Callable[[bytes], ResourceInfo], row_type: type[_Row]
) -> tuple[list[tuple[ResourceInfo, list[_Row]]], list[tuple[str, str | None]], int, list[str]]: ...
def decode_log_records(
    body: bytes, received_ns: int, resource_info: Callable[[bytes], ResourceInfo], row_type: type[_Row]
) -> tuple[list[tuple[ResourceInfo, list[_Row]]], int, list[str]]: ...
