"""The rows the store writes: a span and a log record, named column by column.

The compiled core builds them from a request's bytes (`decode_spans`, `decode_log_records`);
the writer inserts them as they are (a row is a tuple, in its table's column order) and reads
the columns it needs by name. The INSERT statements are spelled from these fields, so a row
and its INSERT cannot drift apart.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from intent_observe._core import named_rows


class SpanRow(NamedTuple):
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    resource_id: int | None  # None (like the other Nones below) in a trace's spans read back
    kind: int | None
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str | None
    closed: int  # 1: the artifact's span says it is closed (a phase span stored later closes it too)
    artifact_type: str | None
    artifact_id: str | None
    intent_id: str | None
    contract_id: str | None
    session_id: str | None
    title: str | None
    proto: bytes | None  # the span's own protobuf, as it came
    received_ns: int | None
    phase: str | None


class LogRow(NamedTuple):
    record_key: str  # intent.event.id, else a hash of the record's content
    category: str  # intent | claude | other
    time_ns: int
    observed_ns: int
    trace_id: str | None
    span_id: str | None
    severity_number: int
    severity_text: str | None
    body: str | None
    event_name: str | None
    service: str
    resource_id: int
    artifact_id: str | None
    artifact_type: str | None
    source: str | None
    actor: str | None
    intent_id: str | None
    autonomy_level: str | None
    session_id: str | None
    attributes: str  # all of them, as sorted JSON


def columns_and_values(row: type[tuple[Any, ...]]) -> str:
    """`(a, b, …) VALUES (?,?,…)`: the part of an INSERT its row type decides."""
    fields: tuple[str, ...] = row._fields  # type: ignore[attr-defined]
    return f"({', '.join(fields)}) VALUES ({','.join('?' * len(fields))})"


def span_rows(values: list[tuple[Any, ...]]) -> list[SpanRow]:
    """Rows pickled as plain tuples, named again (by the core, as it makes them)."""
    return named_rows(SpanRow, values)


def log_rows(values: list[tuple[Any, ...]]) -> list[LogRow]:
    return named_rows(LogRow, values)
