"""The `intent.*` metric values at one moment, as the identity engine (compiled core,
crates/core/src/identity/metrics.rs) has accumulated them: counters, histograms, and gauges
kept up to date at each transition."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from intent_observe.metrics import catalog
from intent_observe.metrics.catalog import MetricDef

TRUST_UNITS = 10**9  # trust summed as integers: exact, whatever the order


@dataclass(frozen=True, slots=True)
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int]  # one per bucket, plus +Inf
    total: float
    count: int


@dataclass(frozen=True, slots=True)
class MetricValues:
    """The engine's metric state at one moment (`engine.state.metrics`)."""

    signals: dict[str, int]  # source → count
    specs: int
    intents: int
    contracts: dict[str, int]  # result → count
    assertions: dict[str, int]
    events: dict[str, int]  # "type\x00source" → count
    first_event_ns: int
    last_event_ns: int
    intent_last_ns: dict[str, int]  # open intent key → its newest event, in key order
    signal_to_intent: Histogram
    intent_to_spec: Histogram
    spec_to_complete: Histogram
    trust: Histogram
    active_levels: dict[str, int]  # autonomy level → active signals
    active_trust_units: int
    active_trusted: int
    open_specs: int
    specs_in_progress: int
    running_contracts: int
    intents_active: int


class HasMetrics(Protocol):
    @property
    def metrics(self) -> MetricValues: ...


@dataclass(frozen=True, slots=True)
class Point:
    metric: MetricDef
    labels: tuple[tuple[str, str], ...] = ()
    value: float = 0.0
    histogram: Histogram | None = None


def snapshot(state: HasMetrics) -> Iterator[Point]:
    """The points one at a time: an encoder that takes each as it comes keeps none of them (one
    per open intent adds up)."""
    m = state.metrics
    yield from _labelled(catalog.SIGNALS_TOTAL, "source", m.signals)
    yield Point(catalog.SPECS_TOTAL, value=m.specs)
    yield Point(catalog.INTENTS_TOTAL, value=m.intents)
    yield from _labelled(catalog.CONTRACTS_TOTAL, "result", {"pass": 0, "fail": 0} | m.contracts)
    yield from _labelled(catalog.ASSERTIONS_TOTAL, "result", {"pass": 0, "fail": 0} | m.assertions)
    for key, count in sorted(m.events.items()):
        event_type, source = key.split("\x00")
        yield Point(catalog.EVENTS_TOTAL, (("event_type", event_type), ("source", source)), count)
    yield from _gauges(m)
    yield Point(catalog.CYCLE_SIGNAL_TO_INTENT, histogram=m.signal_to_intent)
    yield Point(catalog.CYCLE_INTENT_TO_SPEC, histogram=m.intent_to_spec)
    yield Point(catalog.CYCLE_SPEC_TO_COMPLETE, histogram=m.spec_to_complete)
    yield Point(catalog.SIGNAL_TRUST, histogram=m.trust)
    if m.last_event_ns:
        yield Point(catalog.LAST_EVENT_TIMESTAMP, value=m.last_event_ns / 1e9)


def _labelled(metric: MetricDef, label: str, values: dict[str, int]) -> list[Point]:
    return [Point(metric, ((label, name),), count) for name, count in sorted(values.items())]


def _gauges(m: MetricValues) -> Iterator[Point]:
    levels = dict.fromkeys((*catalog.AUTONOMY_LEVELS, catalog.UNSCORED), 0) | m.active_levels
    for level, n in levels.items():
        yield Point(catalog.SIGNALS_ACTIVE, (("autonomy_level", level),), n)
    trust_avg = m.active_trust_units / TRUST_UNITS / m.active_trusted if m.active_trusted else 0.0
    yield Point(catalog.SIGNALS_TRUST_AVG, value=trust_avg)
    active = sum(levels.values())
    yield Point(catalog.PIPELINE_DEPTH, value=active + m.open_specs + m.running_contracts)
    yield Point(catalog.INTENTS_ACTIVE, value=m.intents_active)
    yield Point(catalog.SPECS_IN_PROGRESS, value=m.specs_in_progress)
    for key, last_ns in m.intent_last_ns.items():  # in key order: not copied to be sorted
        intent_id = key.removeprefix("intent:")
        yield Point(catalog.INTENT_LAST_EVENT_TIMESTAMP, (("intent_id", intent_id),), last_ns / 1e9)


def as_json(points: Iterable[Point]) -> dict[str, Any]:
    """Metric name → its points: labels and value, or count, sum and cumulative buckets."""
    out: dict[str, Any] = {}
    for p in points:
        entry = out.setdefault(
            p.metric.name, {"type": p.metric.kind.value, "unit": p.metric.unit, "points": []}
        )
        labels = dict(p.labels)
        if p.histogram is None:
            entry["points"].append({"labels": labels, "value": p.value})
            continue
        cumulative, buckets = 0, {}
        for bound, count in zip((*p.histogram.bounds, float("inf")), p.histogram.counts, strict=True):
            cumulative += count
            buckets["+Inf" if bound == float("inf") else f"{bound:g}"] = cumulative
        entry["points"].append(
            {
                "labels": labels,
                "count": p.histogram.count,
                "sum": round(p.histogram.total, 6),
                "buckets": buckets,
            }
        )
    return out
