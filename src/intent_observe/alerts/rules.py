"""The five alert rules of the design page, as data.

Each rule names its severity, a one-line summary, how long its condition must hold
(`for_seconds`) and the PromQL that Prometheus/Mimir evaluate, built from the metric
catalog so a renamed metric cannot leave a broken rule. The embedded evaluator reads
the same `Thresholds`, so both paths fire on the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from intent_observe.metrics.catalog import (
    ASSERTIONS_TOTAL,
    CONTRACTS_TOTAL,
    INTENT_LAST_EVENT_TIMESTAMP,
    LAST_EVENT_TIMESTAMP,
    SIGNALS_TOTAL,
    SIGNALS_TRUST_AVG,
)

HOUR_S = 3600
DAY_S = 24 * HOUR_S


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Thresholds:
    """The numbers the rules compare against; defaults are the design page's."""

    stale_intent_days: float = 7
    volume_surge_signals: int = 20
    volume_window_hours: int = 24
    trust_drop: float = 0.1
    trust_window_days: int = 7
    stall_hours: float = 48
    # How long a new contract/assertion failure keeps the alert firing.
    failure_window_minutes: int = 15

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"threshold {name} must be > 0, got {value!r}")


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class AlertRule:
    name: str
    severity: Severity
    summary: str
    for_seconds: int
    expression: Callable[[Thresholds], str]
    # Prometheus template text for the rule file's `description` annotation.
    description: str = ""

    def promql(self, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> str:
        return self.expression(thresholds)


def _seconds(value: float) -> str:
    """A PromQL number for a duration in seconds, without a trailing `.0`."""
    return f"{value:g}"


def _stale_intent(t: Thresholds) -> str:
    series = INTENT_LAST_EVENT_TIMESTAMP.prom_name
    return f"time() - {series} > {_seconds(t.stale_intent_days * DAY_S)}"


def _new_failures(counter: str, window: str) -> str:
    """Failures counted within `window`, including a fail series that has just appeared.

    `increase()` needs two samples, so the very first failure (the series appears
    at 1) is caught by the `unless … offset` clause; `+ 0` drops the metric name so
    both clauses carry the same label set and `or` keeps one of them.
    """
    fail = f'{counter}{{result="fail"}}'
    return f"  increase({fail}[{window}]) > 0\n  or\n  ({fail} unless {fail} offset {window}) + 0 > 0"


def _contract_failure(t: Thresholds) -> str:
    window = f"{t.failure_window_minutes}m"
    return "\nor\n".join(
        f'label_replace(\n{_new_failures(metric.prom_name, window)},\n  "failed", "{kind}", "", ""\n)'
        for kind, metric in (("contract", CONTRACTS_TOTAL), ("assertion", ASSERTIONS_TOTAL))
    )


def _volume_surge(t: Thresholds) -> str:
    series = SIGNALS_TOTAL.prom_name
    window = f"{t.volume_window_hours}h"
    return f"sum without (source) (increase({series}[{window}])) > {t.volume_surge_signals}"


def _trust_drift(t: Thresholds) -> str:
    series = SIGNALS_TRUST_AVG.prom_name
    return f"({series} offset {t.trust_window_days}d) - {series} > {t.trust_drop:g}"


def _pipeline_stall(t: Thresholds) -> str:
    series = LAST_EVENT_TIMESTAMP.prom_name
    return f"time() - {series} > {_seconds(t.stall_hours * HOUR_S)}"


STALE_INTENT = AlertRule(
    "IntentStale",
    Severity.WARNING,
    "An open intent has had no event for longer than the stale-intent threshold",
    for_seconds=15 * 60,
    expression=_stale_intent,
    description="Intent {{ $labels.intent_id }} last had an event {{ $value | humanizeDuration }} ago.",
)
CONTRACT_FAILURE = AlertRule(
    "IntentContractFailure",
    Severity.CRITICAL,
    "A contract or one of its assertions failed",
    for_seconds=0,
    expression=_contract_failure,
    description="New failed {{ $labels.failed }}s: {{ $value }}.",
)
VOLUME_SURGE = AlertRule(
    "IntentVolumeSurge",
    Severity.WARNING,
    "More signals than the surge threshold arrived within the surge window",
    for_seconds=5 * 60,
    expression=_volume_surge,
    description='{{ $value | printf "%.0f" }} signals arrived within the surge window.',
)
TRUST_DRIFT = AlertRule(
    "IntentTrustDrift",
    Severity.INFO,
    "Average signal trust fell by more than the drift threshold over the drift window",
    for_seconds=60 * 60,
    expression=_trust_drift,
    description='Average signal trust fell by {{ $value | printf "%.2f" }}.',
)
PIPELINE_STALL = AlertRule(
    "IntentPipelineStall",
    Severity.WARNING,
    "No event of any kind within the stall window",
    for_seconds=15 * 60,
    expression=_pipeline_stall,
    description="The newest event is {{ $value | humanizeDuration }} old.",
)

RULES: tuple[AlertRule, ...] = (STALE_INTENT, CONTRACT_FAILURE, VOLUME_SURGE, TRUST_DRIFT, PIPELINE_STALL)
