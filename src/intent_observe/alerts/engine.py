"""The five alert rules, evaluated continuously on the embedded store.

Each rule (definitions and thresholds: `alerts/rules.py`) yields the instances whose
condition holds now, each with labels and a value. An instance goes pending → firing
once its condition has held for the rule's `for_seconds` (0: at once), and firing →
resolved when it no longer holds. States and every firing/resolved transition are kept
in the store (tables `alert_state`, `alert_history`); transitions go to the notifier.

The conditions mirror the PromQL of the deployed stack where the store has the same
numbers (the `intent.*` metric values and their history); the volume surge and the
stall read event times, so replaying an old history does not look like a surge today.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from intent_observe.alerts.rules import (
    CONTRACT_FAILURE,
    PIPELINE_STALL,
    RULES,
    STALE_INTENT,
    TRUST_DRIFT,
    VOLUME_SURGE,
    AlertRule,
    Thresholds,
)
from intent_observe.metrics import catalog
from intent_observe.store import metric_queries
from intent_observe.store.store import Store

log = logging.getLogger(__name__)

NS = 10**9
HISTORY_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Instance:
    """One alert whose condition holds now."""

    rule: AlertRule
    labels: dict[str, str]
    value: float
    summary: str

    @property
    def key(self) -> str:
        return orjson.dumps(self.labels, option=orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    severity: str
    state: str  # firing | resolved
    labels: dict[str, str]
    summary: str
    value: float | None
    at_ns: int
    since_ns: int


# --------------------------------------------------------------------- conditions
def _age_text(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} days"
    return f"{seconds / 3600:.1f} hours"


def stale_intents(conn: sqlite3.Connection, t: Thresholds, now_ns: int) -> list[Instance]:
    out = []
    for s in metric_queries.current_series(conn, catalog.INTENT_LAST_EVENT_TIMESTAMP.name):
        if s.name != catalog.INTENT_LAST_EVENT_TIMESTAMP.name:
            continue
        age = now_ns / NS - s.value
        if age > t.stale_intent_days * 86_400:
            intent = s.labels.get("intent_id", "?")
            out.append(
                Instance(
                    STALE_INTENT,
                    {"intent_id": intent},
                    age,
                    f"Intent {intent} has had no event for {_age_text(age)}",
                )
            )
    return out


def contract_failures(conn: sqlite3.Connection, t: Thresholds, now_ns: int) -> list[Instance]:
    since = now_ns - t.failure_window_minutes * 60 * NS
    out = []
    for kind, metric in (("contract", catalog.CONTRACTS_TOTAL), ("assertion", catalog.ASSERTIONS_TOTAL)):
        new = metric_queries.metric_total(conn, metric, result="fail") - metric_queries.metric_value_at(
            conn, metric, since, result="fail"
        )
        if new > 0:
            out.append(
                Instance(
                    CONTRACT_FAILURE,
                    {"failed": kind},
                    new,
                    f"{new:g} new failed {kind}(s) in the last {t.failure_window_minutes} minutes",
                )
            )
    return out


def volume_surge(conn: sqlite3.Connection, t: Thresholds, now_ns: int) -> list[Instance]:
    since = now_ns - t.volume_window_hours * 3600 * NS
    count = conn.execute(
        "SELECT count(DISTINCT coalesce(artifact_id, record_key)) FROM logs WHERE category = 'intent' "
        "AND event_name IN ('signal.created', 'signal.captured') AND time_ns >= ? AND time_ns <= ?",
        (since, now_ns),
    ).fetchone()[0]
    if count > t.volume_surge_signals:
        return [
            Instance(
                VOLUME_SURGE, {}, float(count), f"{count} signals in the last {t.volume_window_hours} hours"
            )
        ]
    return []


def trust_drift(conn: sqlite3.Connection, t: Thresholds, now_ns: int) -> list[Instance]:
    metric = catalog.SIGNALS_TRUST_AVG
    then_ns = now_ns - t.trust_window_days * 86_400 * NS
    known_then = conn.execute(
        "SELECT 1 FROM metric_points p JOIN metric_series s ON s.id = p.series_id "
        "WHERE s.name = ? AND p.time_ns <= ? LIMIT 1",
        (metric.name, then_ns),
    ).fetchone()
    if known_then is None:
        return []  # no value a window ago: nothing to compare with
    drop = metric_queries.metric_value_at(conn, metric, then_ns) - metric_queries.metric_total(conn, metric)
    if drop > t.trust_drop:
        return [
            Instance(
                TRUST_DRIFT,
                {},
                drop,
                f"average signal trust fell by {drop:.2f} over {t.trust_window_days} days",
            )
        ]
    return []


def pipeline_stall(conn: sqlite3.Connection, t: Thresholds, now_ns: int) -> list[Instance]:
    last = conn.execute("SELECT max(time_ns) FROM logs WHERE category = 'intent'").fetchone()[0]
    if last is None:
        return []
    age = (now_ns - last) / NS
    if age > t.stall_hours * 3600:
        return [Instance(PIPELINE_STALL, {}, age, f"no Intent event for {_age_text(age)}")]
    return []


CONDITIONS: dict[str, Callable[[sqlite3.Connection, Thresholds, int], list[Instance]]] = {
    STALE_INTENT.name: stale_intents,
    CONTRACT_FAILURE.name: contract_failures,
    VOLUME_SURGE.name: volume_surge,
    TRUST_DRIFT.name: trust_drift,
    PIPELINE_STALL.name: pipeline_stall,
}


# ---------------------------------------------------------------------- engine
class AlertEngine:
    """Evaluates every rule every `settings.interval_seconds` until `stop()`."""

    def __init__(
        self,
        store: Store,
        settings: Any,  # stack.config.AlertSettings
        notify: Callable[[list[Transition]], None] | None = None,
        clock_ns: Callable[[], int] | None = None,
    ) -> None:
        import time

        self.store = store
        self.settings = settings
        self.notify = notify or (lambda transitions: None)
        self.clock_ns = clock_ns or time.time_ns
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_evaluated_ns: int | None = None

    def rule_enabled(self, rule: AlertRule) -> bool:
        return bool(self.settings.rule(rule.name).enabled)

    def for_seconds(self, rule: AlertRule) -> float:
        override = self.settings.rule(rule.name).for_seconds
        return float(rule.for_seconds if override is None else override)

    def evaluate(self) -> list[Transition]:
        """One round: conditions read in one snapshot, state changes written in one transaction."""
        now = self.clock_ns()
        thresholds = self.settings.thresholds
        active = self.store.read(
            lambda conn: [
                inst
                for rule in RULES
                if self.rule_enabled(rule)
                for inst in CONDITIONS[rule.name](conn, thresholds, now)
            ]
        )
        transitions = self.store.writer.run(lambda conn: self._advance(conn, active, now))
        self.last_evaluated_ns = now
        if transitions:
            self.notify(transitions)
        return transitions

    def _advance(self, conn: sqlite3.Connection, active: list[Instance], now: int) -> list[Transition]:
        states = {
            (name, labels): (state, since)
            for name, labels, state, since in conn.execute(
                "SELECT name, labels, state, since_ns FROM alert_state"
            )
        }
        transitions: list[Transition] = []
        holding = set()
        for inst in active:
            key = (inst.rule.name, inst.key)
            holding.add(key)
            state, since = states.get(key, ("inactive", now))
            if state in ("inactive", "resolved"):
                state, since = "pending", now
            if state == "pending" and (now - since) / NS >= self.for_seconds(inst.rule):
                state, since = "firing", now
                transitions.append(
                    _transition(inst.rule, "firing", inst.labels, inst.summary, inst.value, now, since)
                )
            conn.execute(
                "INSERT OR REPLACE INTO alert_state VALUES (?,?,?,?,?,?)",
                (inst.rule.name, inst.key, state, since, inst.value, inst.summary),
            )
        for (name, labels), (state, _) in states.items():
            if (name, labels) in holding:
                continue
            if state == "pending" or not self._known_enabled(name):
                conn.execute("DELETE FROM alert_state WHERE name = ? AND labels = ?", (name, labels))
            elif state == "firing":
                rule = next(r for r in RULES if r.name == name)
                summary = f"resolved: {rule.summary}"
                conn.execute(
                    "UPDATE alert_state SET state = 'resolved', since_ns = ?, summary = ? "
                    "WHERE name = ? AND labels = ?",
                    (now, summary, name, labels),
                )
                transitions.append(
                    _transition(rule, "resolved", orjson.loads(labels), summary, None, now, now)
                )
        conn.executemany(
            "INSERT INTO alert_history (name, labels, state, at_ns, summary, value) VALUES (?,?,?,?,?,?)",
            [
                (
                    t.name,
                    orjson.dumps(t.labels, option=orjson.OPT_SORT_KEYS).decode(),
                    t.state,
                    t.at_ns,
                    t.summary,
                    t.value,
                )
                for t in transitions
            ],
        )
        return transitions

    def _known_enabled(self, name: str) -> bool:
        rule = next((r for r in RULES if r.name == name), None)
        return rule is not None and self.rule_enabled(rule)

    # ------------------------------------------------------------------ thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="alert-engine", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate()
            except Exception:  # one failed round must not end alerting; the next one retries
                log.exception("alert evaluation failed")
            self._stop.wait(self.settings.interval_seconds)


def _transition(
    rule: AlertRule,
    state: str,
    labels: dict[str, str],
    summary: str,
    value: float | None,
    at: int,
    since: int,
) -> Transition:
    return Transition(rule.name, rule.severity.value, state, labels, summary, value, at, since)


def alerts_view(conn: sqlite3.Connection, engine: AlertEngine | None) -> dict[str, Any]:
    """GET /api/alerts: every rule with its instances (or one inactive row), and the history."""
    rows = conn.execute("SELECT name, labels, state, since_ns, value, summary FROM alert_state").fetchall()
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for name, labels, state, since, value, summary in rows:
        by_rule.setdefault(name, []).append(
            {
                "labels": orjson.loads(labels),
                "state": state,
                "since_ns": since,
                "value": value,
                "summary": summary,
            }
        )
    alerts = []
    for rule in RULES:
        shown = [i for i in by_rule.get(rule.name, []) if i["state"] in ("firing", "resolved")]
        if not shown:
            shown = [
                {"labels": {}, "state": "inactive", "since_ns": None, "value": None, "summary": rule.summary}
            ]
        enabled = engine.rule_enabled(rule) if engine is not None else True
        for inst in sorted(shown, key=lambda i: (i["state"] != "firing", str(i["labels"]))):
            alerts.append({"name": rule.name, "severity": rule.severity.value, "enabled": enabled, **inst})
    history = [
        {
            "name": n,
            "state": s,
            "at_ns": at,
            "summary": summary,
            "labels": orjson.loads(labels),
            "value": value,
        }
        for n, labels, s, at, summary, value in conn.execute(
            "SELECT name, labels, state, at_ns, summary, value FROM alert_history ORDER BY id DESC LIMIT ?",
            (HISTORY_LIMIT,),
        )
    ]
    return {
        "alerts": alerts,
        "history": history,
        "evaluated_ns": engine.last_evaluated_ns if engine is not None else None,
    }
