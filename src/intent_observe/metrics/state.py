"""Counters and histograms of the `intent.*` metrics, accumulated as events are processed.

The identity engine calls each method once per artifact (its flags say what was
already counted), so reading a history in one go or in pieces, or again after a
restart from a checkpoint, gives the same numbers. Gauges are not kept here: they are read off
the identity state when a snapshot is taken (`metrics.derive`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from intent_observe.metrics import catalog
from intent_observe.model import Event

# Label cardinality bounds: a hostile file must not mint unbounded series.
MAX_EVENT_TYPES = 200
MAX_SOURCES = 50
OVERFLOW = "_other"
UNKNOWN = "unknown"
UNSCORED = "unscored"
TRUST_UNITS = 10**9  # trust summed as integers: exact, whatever the order


@dataclass
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # one per bucket, plus +Inf
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1


def _cycle_histogram() -> Histogram:
    return Histogram(catalog.CYCLE_TIME_BUCKETS)


@dataclass
class MetricState:
    signals: dict[str, int] = field(default_factory=dict)  # source → count
    specs: int = 0
    intents: int = 0
    contracts: dict[str, int] = field(default_factory=dict)  # result → count
    assertions: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)  # "type\x00source" → count
    first_event_ns: int = 0
    last_event_ns: int = 0
    intent_last_ns: dict[str, int] = field(default_factory=dict)  # intent key → newest event
    signal_to_intent: Histogram = field(default_factory=_cycle_histogram)
    intent_to_spec: Histogram = field(default_factory=_cycle_histogram)
    spec_to_complete: Histogram = field(default_factory=_cycle_histogram)
    trust: Histogram = field(default_factory=lambda: Histogram(catalog.TRUST_BUCKETS))
    # Gauges, kept up to date at each transition so a snapshot never scans the state.
    active_levels: dict[str, int] = field(default_factory=dict)  # autonomy level → active signals
    active_trust_units: int = 0
    active_trusted: int = 0
    open_specs: int = 0
    specs_in_progress: int = 0
    running_contracts: int = 0
    intents_active: int = 0
    event_types: set[str] = field(default_factory=set)  # label values in use
    sources: set[str] = field(default_factory=set)

    def count_event(self, ev: Event) -> None:
        event_type = _bounded_label(ev.type, self.event_types, MAX_EVENT_TYPES)
        source = _bounded_label(ev.source or UNKNOWN, self.sources, MAX_SOURCES)
        key = f"{event_type}\x00{source}"
        self.events[key] = self.events.get(key, 0) + 1
        self.last_event_ns = max(self.last_event_ns, ev.time_ns)
        self.first_event_ns = min(self.first_event_ns or ev.time_ns, ev.time_ns)

    def signal_created(self, source: str | None) -> None:
        label = _bounded_label(source or UNKNOWN, self.sources, MAX_SOURCES)
        self.signals[label] = self.signals.get(label, 0) + 1

    def spec_created(self) -> None:
        self.specs += 1

    def intent_defined(self) -> None:
        self.intents += 1

    def contract_result(self, result: str) -> None:
        self.contracts[result] = self.contracts.get(result, 0) + 1

    def assertion_result(self, result: str) -> None:
        self.assertions[result] = self.assertions.get(result, 0) + 1

    def intent_activity(self, intent_key: str, time_ns: int) -> None:
        if time_ns > self.intent_last_ns.get(intent_key, 0):
            self.intent_last_ns[intent_key] = time_ns

    def active_signal(self, level: str, trust: float | None, sign: int) -> None:
        """Add (+1) or remove (-1) one active signal from the gauges."""
        self.active_levels[level] = self.active_levels.get(level, 0) + sign
        if trust is not None:
            self.active_trust_units += sign * round(trust * TRUST_UNITS)
            self.active_trusted += sign

    def signal_scored(self, trust: float) -> None:
        self.trust.observe(trust)

    def observe_signal_to_intent(self, delta_ns: int) -> None:
        self.signal_to_intent.observe(max(delta_ns, 0) / 1e9)

    def observe_intent_to_spec(self, delta_ns: int) -> None:
        self.intent_to_spec.observe(max(delta_ns, 0) / 1e9)

    def observe_spec_to_complete(self, delta_ns: int) -> None:
        self.spec_to_complete.observe(max(delta_ns, 0) / 1e9)


def _bounded_label(value: str, known: set[str], limit: int) -> str:
    """The value itself while fewer than `limit` values are in use, else the overflow label."""
    if value in known:
        return value
    if len(known) < limit:
        known.add(value)
        return value
    return OVERFLOW
