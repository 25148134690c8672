"""What the identity engine (compiled core) hands out: span and log records, an artifact's place
(`TraceContext`), read-only copies of its artifacts (`ArtifactView`); ids as hex."""

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


@dataclass(slots=True)
class Output:
    """What the engine hands over at a `drain`: spans built so far, logs whose place is known."""

    spans: list[SpanRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TraceContext:
    """An artifact's place: what a writer needs for `trace_id`/`parent_id` and a `TRACEPARENT`."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    intent_id: str | None
    spec_id: str | None
    contract_id: str | None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"


@dataclass(frozen=True, slots=True)
class ArtifactView:
    """A copy of one artifact of the engine's state. `key` is unique: kind, id and occurrence."""

    key: str
    kind: str
    id: str | None
    span_id: str
    first_ns: int
    last_ns: int
    name: str
    title: str | None  # the newest title: a new title renames, never splits
    file: str | None
    files: dict[str, str] | None  # first occurrence: file → occurrence key
    latest: str | None  # first occurrence: key of the newest occurrence
    occurrences: int
    intent: str | None  # owning intent key (specs, standalone events)
    spec: str | None  # contracts
    contract: str | None  # assertions, execution events
    cluster: str | None
    defined: bool  # intents: an event of their own (or a promotion) has been seen
    defined_ns: int | None
    claimed_trace: str | None  # intents and clusters: a UUID from the events
    trace_id: str | None  # set once placed; never changes after
    parent_span: str | None
    announced: bool
    closed: bool
    end_ns: int | None
    error: bool
    status_message: str | None
    runs: int  # contracts: runs begun
    running: bool
    run_start_ns: int | None
    approved: bool
    contracts: list[str]  # specs: contracts attached
    listed: list[str]  # specs: contracts the spec itself lists
    passed: list[str]  # specs: contracts passed
    members: list[str]  # intents and clusters: signal keys
    inactive: str | None  # signals: why no longer active
    trust: float | None
    level: str | None
    first_spec_ns: int | None
    placeholder: bool
    in_progress: bool
    counted: bool
    observed: bool
    bare: bool  # known only because another artifact's event named it
    evaluations: int
    run: int  # assertions: the contract run they were evaluated in
