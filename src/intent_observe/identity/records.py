"""What the identity engine hands to sinks: plain span and log records, ids as hex."""

from __future__ import annotations

from dataclasses import dataclass, field

AttrValue = str | int | float | bool


@dataclass(slots=True)
class SpanLink:
    trace_id: str
    span_id: str
    attributes: dict[str, AttrValue] = field(default_factory=dict)


@dataclass(slots=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    error: bool
    status_message: str | None
    attributes: dict[str, AttrValue]
    links: list[SpanLink] = field(default_factory=list)


@dataclass(slots=True)
class LogRecord:
    time_ns: int
    observed_ns: int
    trace_id: str
    span_id: str
    severity_number: int
    severity_text: str
    body: str
    attributes: dict[str, AttrValue]


SEVERITY_INFO = (9, "INFO")
SEVERITY_WARN = (13, "WARN")
SEVERITY_ERROR = (17, "ERROR")
