"""The metric side of the read queries: the newest value of every series, totals and values at a
moment (the alert engine's and /metrics' input), and the dashboard's summary built from them.

Every function takes a read connection (see `Store.read`).
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from intent_observe.metrics import catalog
from intent_observe.metrics.catalog import AUTONOMY_LEVELS, UNSCORED, MetricDef
from intent_observe.store.values import from_column, load_histogram

HOUR_NS = 3600 * 10**9
SPARKLINE_HOURS = 48
_CYCLE_STAGES = (
    ("signal_to_intent", catalog.CYCLE_SIGNAL_TO_INTENT),
    ("intent_to_spec", catalog.CYCLE_INTENT_TO_SPEC),
    ("spec_to_complete", catalog.CYCLE_SPEC_TO_COMPLETE),
)
# Event types counted when a summary is asked for a time range (event time, not export time).
_SIGNAL_CREATED = ("signal.created", "signal.captured")
_INTENT_DEFINED = ("intent.proposed", "intent.accepted", "intent.approved", "signal.promoted")
_SPEC_CREATED = ("spec.created", "spec.written")
_CONTRACT_RESULT = ("contract.completed", "contract.verified", "contract.passed", "contract.failed")
# A contract result event that reports a failure, read as the identity engine reads it: the
# event type, a result word, or a count of failed assertions.
_CONTRACT_FAILED_SQL = """(
    event_name = 'contract.failed' OR severity_number >= 17
    OR lower(coalesce(json_extract(attributes, '$."intent.data.result"'),
                      json_extract(attributes, '$."intent.data.status"'),
                      json_extract(attributes, '$."intent.data.outcome"'),
                      json_extract(attributes, '$."intent.data.verdict"'), ''))
       IN ('fail', 'failed', 'failure', 'error', 'errored', 'red')
    OR coalesce(json_extract(attributes, '$."intent.data.assertions_failed"'), 0) > 0
    OR json_extract(attributes, '$."intent.data.passed"') = 0
)"""


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    service: str
    labels: dict[str, str]
    kind: str
    unit: str
    temporality: str
    time_ns: int
    value: float
    histogram: dict[str, Any] | None


def current_series(conn: sqlite3.Connection, name_prefix: str = "") -> list[Series]:
    """The newest value of every live series: a gauge series missing from its metric's newest
    export is gone (a closed intent's last-event gauge), cumulative and delta series stay."""
    rows = conn.execute(
        """SELECT s.name, s.service, s.labels, s.kind, s.unit, s.temporality, s.time_ns, s.value,
                  s.histogram
           FROM metric_series s JOIN metric_exports e ON e.name = s.name AND e.service = s.service
           WHERE s.name >= ?1 AND s.name < ?1 || char(1114111)
             AND (s.kind != 'gauge' OR s.time_ns >= e.time_ns)
           ORDER BY s.name, s.labels""",
        (name_prefix,),
    )
    return [
        Series(n, svc, orjson.loads(lb), k, u, tmp, t, from_column(v), load_histogram(h))
        for n, svc, lb, k, u, tmp, t, v, h in rows
    ]


def metric_total(conn: sqlite3.Connection, metric: MetricDef, **labels: str) -> float:
    """Sum of the newest finite values of a metric's live series whose labels match (a NaN or
    infinite value, which any OTLP client may send, says nothing about a total)."""
    return sum(
        s.value
        for s in current_series(conn, metric.name)
        if s.name == metric.name
        and math.isfinite(s.value)
        and all(s.labels.get(k) == v for k, v in labels.items())
    )


def metric_value_at(conn: sqlite3.Connection, metric: MetricDef, at_ns: int, **labels: str) -> float:
    """Sum over matching series of each one's value at `at_ns` (0 for a series not yet seen)."""
    total = 0.0
    for series_id, labels_json in conn.execute(
        "SELECT id, labels FROM metric_series WHERE name = ?", (metric.name,)
    ):
        series_labels = orjson.loads(labels_json)
        if not all(series_labels.get(k) == v for k, v in labels.items()):
            continue
        row = conn.execute(
            "SELECT value FROM metric_points WHERE series_id = ? AND time_ns <= ? "
            "ORDER BY time_ns DESC LIMIT 1",
            (series_id, at_ns),
        ).fetchone()
        total += from_column(row[0]) if row else 0.0
    return total


def histogram_quantile(q: float, histogram: dict[str, Any] | None) -> float | None:
    """Prometheus' histogram_quantile over one cumulative histogram (linear within a bucket)."""
    if not histogram or not histogram.get("count"):
        return None
    bounds, counts = histogram["bounds"], histogram["counts"]
    rank = q * histogram["count"]
    cumulative = 0.0
    for i, count in enumerate(counts):
        if cumulative + count >= rank and count > 0:
            if i == len(bounds):  # +Inf bucket: the highest finite bound, as Prometheus answers
                return float(bounds[-1]) if bounds else None
            lower = bounds[i - 1] if i > 0 else 0.0
            return float(lower + (bounds[i] - lower) * (rank - cumulative) / count)
        cumulative += count
    return float(bounds[-1]) if bounds else None


def _cycle_time(conn: sqlite3.Connection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    series = {s.name: s for s in current_series(conn, "intent.cycle_time.")}
    for key, metric in _CYCLE_STAGES:
        hist = series[metric.name].histogram if metric.name in series else None
        out[key] = {
            "median_s": histogram_quantile(0.5, hist),
            "p95_s": histogram_quantile(0.95, hist),
            "count": int(hist["count"]) if hist else 0,
        }
    return out


def _trust(conn: sqlite3.Connection) -> dict[str, int]:
    """Open signals by autonomy level, those with no trust score apart (most, in many repositories)."""
    levels = dict.fromkeys((*AUTONOMY_LEVELS, UNSCORED), 0)
    for s in current_series(conn, catalog.SIGNALS_ACTIVE.name):
        level = s.labels.get("autonomy_level")
        if s.name == catalog.SIGNALS_ACTIVE.name and level in levels and math.isfinite(s.value):
            levels[level] += int(s.value)
    return levels


# ------------------------------------------------------------------------------ summary
def summary(
    conn: sqlite3.Connection, now_ns: int, since: int | None = None, until: int | None = None
) -> dict[str, Any]:
    """The dashboard's numbers: the adapter's newest `intent.*` metrics and the events stored,
    or for a time range, the events whose event time falls in it."""
    counts = _counts_in_range(conn, since, until) if since or until else _counts_from_metrics(conn)
    last = conn.execute("SELECT max(time_ns) FROM logs WHERE category = 'intent'").fetchone()[0]
    end_hour = (until or now_ns) // HOUR_NS
    hours = dict(
        conn.execute(
            "SELECT hour, count FROM event_hours WHERE hour > ? AND hour <= ?",
            (end_hour - SPARKLINE_HOURS, end_hour),
        ).fetchall()
    )
    orphans = conn.execute("SELECT count(*) FROM traces WHERE kind = 'orphan'").fetchone()[0]
    return {
        **counts,
        "orphans": orphans,
        "intents_open": int(metric_total(conn, catalog.INTENTS_ACTIVE)),
        "specs_without_intent": _specs_without_intent(conn),
        "last_event_ns": last,
        "cycle_time": _cycle_time(conn),
        "trust": _trust(conn),
        "events_per_hour": [
            {"t_ns": h * HOUR_NS, "count": hours.get(h, 0)}
            for h in range(end_hour - SPARKLINE_HOURS + 1, end_hour + 1)
        ],
    }


def _specs_without_intent(conn: sqlite3.Connection) -> int:
    """Specs that root a trace of their own: no intent claims them."""
    return int(
        conn.execute(
            "SELECT count(*) FROM traces t JOIN spans s ON s.trace_id = t.trace_id "
            "AND s.span_id = t.root_span_id WHERE t.kind = 'other' AND s.artifact_type = 'spec'"
        ).fetchone()[0]
    )


def _counts_from_metrics(conn: sqlite3.Connection) -> dict[str, int]:
    # the events the Events page lists, front matter's too: the adapter's metric counts lines
    events_total = conn.execute("SELECT coalesce(sum(count), 0) FROM event_hours").fetchone()[0]
    return {
        "signals": int(metric_total(conn, catalog.SIGNALS_TOTAL)),
        "intents": int(metric_total(conn, catalog.INTENTS_TOTAL)),
        "specs": int(metric_total(conn, catalog.SPECS_TOTAL)),
        "contracts_passed": int(metric_total(conn, catalog.CONTRACTS_TOTAL, result="pass")),
        "contracts_failed": int(metric_total(conn, catalog.CONTRACTS_TOTAL, result="fail")),
        "events_total": int(events_total),
    }


def _counts_in_range(conn: sqlite3.Connection, since: int | None, until: int | None) -> dict[str, int]:
    lo, hi = since or 0, until or (1 << 63) - 1

    def distinct(types: tuple[str, ...]) -> int:
        marks = ",".join("?" * len(types))
        return int(
            conn.execute(
                f"SELECT count(DISTINCT coalesce(artifact_id, record_key)) FROM logs "
                f"WHERE category = 'intent' AND event_name IN ({marks}) AND time_ns >= ? AND time_ns < ?",
                (*types, lo, hi),
            ).fetchone()[0]
        )

    marks = ",".join("?" * len(_CONTRACT_RESULT))
    failed, total = conn.execute(
        f"SELECT coalesce(sum({_CONTRACT_FAILED_SQL}), 0), count(*) FROM logs "
        f"WHERE category = 'intent' AND event_name IN ({marks}) AND time_ns >= ? AND time_ns < ?",
        (*_CONTRACT_RESULT, lo, hi),
    ).fetchone()
    events = conn.execute(
        "SELECT count(*) FROM logs WHERE category = 'intent' AND time_ns >= ? AND time_ns < ?", (lo, hi)
    ).fetchone()[0]
    return {
        "signals": distinct(_SIGNAL_CREATED),
        "intents": distinct(_INTENT_DEFINED),
        "specs": distinct(_SPEC_CREATED),
        "contracts_passed": int(total - failed),
        "contracts_failed": int(failed),
        "events_total": int(events),
    }
