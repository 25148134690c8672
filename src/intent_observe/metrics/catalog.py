"""Every metric intent-observe produces, named once.

The derivation code, the Prometheus `/metrics` endpoint, the Grafana dashboard and
the alert rules all read names from here, so a rename cannot leave a broken panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


HOUR = 3600.0
DAY = 24 * HOUR
CYCLE_TIME_BUCKETS: tuple[float, ...] = (HOUR, 4 * HOUR, DAY, 3 * DAY, 7 * DAY, 14 * DAY)
TRUST_BUCKETS: tuple[float, ...] = (0.1, 0.2, 0.4, 0.6, 0.85, 1.0)
AUTONOMY_LEVELS: tuple[str, ...] = ("L0", "L1", "L2", "L3", "L4")
UNSCORED = "unscored"  # the autonomy level of a signal with no trust score

# Units that the OTel → Prometheus translation turns into a name suffix.
_UNIT_SUFFIX = {"s": "seconds", "By": "bytes"}


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: Kind
    description: str
    unit: str = "1"
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = field(default_factory=tuple)

    @property
    def prom_name(self) -> str:
        """The series name after OTel → Prometheus translation (Collector, Mimir, our /metrics)."""
        base = self.name.replace(".", "_")
        suffix = _UNIT_SUFFIX.get(self.unit)
        if suffix and not base.endswith("_" + suffix):
            base = f"{base}_{suffix}"
        if self.kind is Kind.COUNTER and not base.endswith("_total"):
            base += "_total"
        return base


def _m(*args: object, **kwargs: object) -> MetricDef:
    return MetricDef(*args, **kwargs)  # type: ignore[arg-type]


SIGNALS_TOTAL = _m("intent.signals.total", Kind.COUNTER, "Signals created", "{signal}", ("source",))
SPECS_TOTAL = _m("intent.specs.total", Kind.COUNTER, "Specs written, under an intent or not", "{spec}")
CONTRACTS_TOTAL = _m(
    "intent.contracts.total", Kind.COUNTER, "Contract evaluations by result", "{contract}", ("result",)
)
ASSERTIONS_TOTAL = _m(
    "intent.assertions.total", Kind.COUNTER, "Contract assertions by result", "{assertion}", ("result",)
)
EVENTS_TOTAL = _m(
    "intent.events.total", Kind.COUNTER, "Every event read", "{event}", ("event_type", "source")
)
SIGNALS_ACTIVE = _m(
    "intent.signals.active",
    Kind.GAUGE,
    "Open signals, not yet clustered, promoted, dismissed or archived",
    "{signal}",
    ("autonomy_level",),
)
SIGNALS_TRUST_AVG = _m("intent.signals.trust_avg", Kind.GAUGE, "Average trust of active signals", "")
PIPELINE_DEPTH = _m(
    "intent.pipeline.depth",
    Kind.GAUGE,
    "Artifacts in flight: open signals + open specs + running contracts",
    "{artifact}",
)
INTENTS_TOTAL = _m("intent.intents.total", Kind.COUNTER, "Intents proposed or promoted", "{intent}")
INTENTS_ACTIVE = _m("intent.intents.active", Kind.GAUGE, "Intents not complete", "{intent}")
SPECS_IN_PROGRESS = _m(
    "intent.specs.in_progress", Kind.GAUGE, "Specs approved or executing, not complete", "{spec}"
)
CYCLE_SIGNAL_TO_INTENT = _m(
    "intent.cycle_time.signal_to_intent",
    Kind.HISTOGRAM,
    "Signal created → its intent promoted",
    "s",
    buckets=CYCLE_TIME_BUCKETS,
)
CYCLE_INTENT_TO_SPEC = _m(
    "intent.cycle_time.intent_to_spec",
    Kind.HISTOGRAM,
    "Intent promoted → first spec",
    "s",
    buckets=CYCLE_TIME_BUCKETS,
)
CYCLE_SPEC_TO_COMPLETE = _m(
    "intent.cycle_time.spec_to_complete",
    Kind.HISTOGRAM,
    "Spec created → all its contracts passing",
    "s",
    buckets=CYCLE_TIME_BUCKETS,
)
SIGNAL_TRUST = _m(
    "intent.signals.trust",
    Kind.HISTOGRAM,
    "Trust score of signals when first scored",
    "",
    buckets=TRUST_BUCKETS,
)
LAST_EVENT_TIMESTAMP = _m(
    "intent.events.last_timestamp", Kind.GAUGE, "Time of the newest event (Unix seconds)", "s"
)
INTENT_LAST_EVENT_TIMESTAMP = _m(
    "intent.intent.last_event_timestamp",
    Kind.GAUGE,
    "Time of the newest event of each open intent (Unix seconds); one series per open intent",
    "s",
    ("intent_id",),
)

DOMAIN_METRICS: tuple[MetricDef, ...] = (
    SIGNALS_TOTAL,
    SPECS_TOTAL,
    CONTRACTS_TOTAL,
    ASSERTIONS_TOTAL,
    EVENTS_TOTAL,
    INTENTS_TOTAL,
    SIGNALS_ACTIVE,
    SIGNALS_TRUST_AVG,
    PIPELINE_DEPTH,
    INTENTS_ACTIVE,
    SPECS_IN_PROGRESS,
    CYCLE_SIGNAL_TO_INTENT,
    CYCLE_INTENT_TO_SPEC,
    CYCLE_SPEC_TO_COMPLETE,
    SIGNAL_TRUST,
    LAST_EVENT_TIMESTAMP,
    INTENT_LAST_EVENT_TIMESTAMP,
)

# The tail adapter's own health.
ADAPTER_LINES_READ = _m("intent.adapter.lines_read", Kind.COUNTER, "Lines read from event files", "{line}")
ADAPTER_LINES_REJECTED = _m(
    "intent.adapter.lines_rejected", Kind.COUNTER, "Unusable lines sent to the dead-letter file", "{line}"
)
ADAPTER_EXPORT_FAILURES = _m(
    "intent.adapter.export_failures", Kind.COUNTER, "Export attempts that failed", "{attempt}", ("signal",)
)
ADAPTER_QUEUE_DEPTH = _m(
    "intent.adapter.queue_depth", Kind.GAUGE, "Batches waiting in the on-disk queue", "{batch}"
)
ADAPTER_LAG_BYTES = _m("intent.adapter.lag", Kind.GAUGE, "Bytes written but not yet acknowledged", "By")
ADAPTER_LAG_SECONDS = _m("intent.adapter.lag_time", Kind.GAUGE, "Age of the oldest unacknowledged line", "s")

ADAPTER_METRICS: tuple[MetricDef, ...] = (
    ADAPTER_LINES_READ,
    ADAPTER_LINES_REJECTED,
    ADAPTER_EXPORT_FAILURES,
    ADAPTER_QUEUE_DEPTH,
    ADAPTER_LAG_BYTES,
    ADAPTER_LAG_SECONDS,
)

ALL_METRICS: tuple[MetricDef, ...] = DOMAIN_METRICS + ADAPTER_METRICS
BY_NAME: dict[str, MetricDef] = {m.name: m for m in ALL_METRICS}


def autonomy_level(trust: float) -> str:
    """L0–L4 from a trust score, as the design page's table gives them."""
    if trust < 0.2:
        return "L0"
    if trust < 0.4:
        return "L1"
    if trust < 0.6:
        return "L2"
    if trust < 0.85:
        return "L3"
    return "L4"
