"""The five alert rules on a real store, a controlled clock, and webhook delivery over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from tests.support.requests import consume, logs_request, metrics_request

from intent_observe.alerts.engine import AlertEngine, Transition, alerts_view
from intent_observe.alerts.notify import WebhookNotifier
from intent_observe.alerts.rules import RULES, Thresholds
from intent_observe.metrics import catalog
from intent_observe.metrics.derive import Point
from intent_observe.records import LogRecord
from intent_observe.stack.config import AlertSettings, ConfigError, RuleSettings, load_config, parse_config
from intent_observe.store.store import Store

NS = 10**9
HOUR = 3600 * NS
DAY = 24 * HOUR
NOW = 1_800_000_000 * NS
AT_ONCE = {rule.name: RuleSettings(for_seconds=0) for rule in RULES}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "store.db")
    yield s
    s.shutdown()


def engine(
    store: Store, clock: Clock, notified: list[Transition] | None = None, **settings: Any
) -> AlertEngine:
    options = {"rules": AT_ONCE, **settings}
    sink = notified.extend if notified is not None else None
    return AlertEngine(store, AlertSettings(**options), sink, clock)


def push(store: Store, at_ns: int, *points: Point) -> None:
    consume(store, metrics_request(list(points), NOW - 30 * DAY, at_ns))


def events(store: Store, times: list[int], event: str = "signal.created") -> None:
    records = []
    for i, t in enumerate(times):
        attrs = {"intent.event.id": f"{event}-{t}-{i}", "event.name": event, "intent.artifact.id": f"SIG-{t}"}
        records.append(LogRecord(t, t, "ab" * 16, "01" * 8, 9, "INFO", f"{event} SIG-{t}", attrs))  # type: ignore[arg-type]
    consume(store, logs_request(records))


def firing(store: Store, eng: AlertEngine) -> dict[str, list[dict[str, Any]]]:
    view = store.read(lambda c: alerts_view(c, eng))
    out: dict[str, list[dict[str, Any]]] = {}
    for alert in view["alerts"]:
        if alert["state"] == "firing":
            out.setdefault(alert["name"], []).append(alert)
    return out


def fail_count(n: int) -> Point:
    return Point(catalog.CONTRACTS_TOTAL, (("result", "fail"),), n)


def test_a_contract_failure_fires_at_once_and_resolves_after_its_window(store: Store) -> None:
    clock, notified = Clock(), []
    eng = engine(store, clock, notified)
    push(store, NOW - HOUR, Point(catalog.CONTRACTS_TOTAL, (("result", "pass"),), 3))
    assert eng.evaluate() == []
    push(store, NOW, fail_count(1))
    (fired,) = eng.evaluate()
    assert (fired.name, fired.state, fired.severity, fired.labels, fired.value) == (
        "IntentContractFailure", "firing", "critical", {"failed": "contract"}, 1
    )  # fmt: skip
    assert eng.evaluate() == []  # still firing: no new transition
    clock.now += 16 * 60 * NS  # past the 15-minute window with no new failure
    push(store, clock.now, fail_count(1))
    (resolved,) = eng.evaluate()
    assert resolved.state == "resolved"
    history = store.read(lambda c: alerts_view(c, eng))["history"]
    assert [(h["name"], h["state"]) for h in history] == [
        ("IntentContractFailure", "resolved"),
        ("IntentContractFailure", "firing"),
    ]
    assert [t.state for t in notified] == ["firing", "resolved"]


def test_a_second_failure_later_fires_again(store: Store) -> None:
    clock = Clock()
    eng = engine(store, clock)
    push(store, NOW - DAY, fail_count(1))
    assert eng.evaluate() == []  # the old failure is outside the window
    push(store, NOW, fail_count(2))
    assert [t.value for t in eng.evaluate()] == [1]


def test_stale_intents_fire_per_intent_and_resolve_when_the_intent_closes(store: Store) -> None:
    clock = Clock()
    eng = engine(store, clock)
    stale = Point(catalog.INTENT_LAST_EVENT_TIMESTAMP, (("intent_id", "INT-7"),), (NOW - 8 * DAY) / NS)
    fresh = Point(catalog.INTENT_LAST_EVENT_TIMESTAMP, (("intent_id", "INT-8"),), (NOW - DAY) / NS)
    push(store, NOW, stale, fresh)
    (fired,) = eng.evaluate()
    assert fired.labels == {"intent_id": "INT-7"} and "8.0 days" in fired.summary
    clock.now += 60 * NS
    push(store, clock.now, fresh)  # INT-7 closed: its series is gone from the newest export
    (resolved,) = eng.evaluate()
    assert (resolved.state, resolved.labels) == ("resolved", {"intent_id": "INT-7"})


def test_volume_surge_counts_signals_by_event_time(store: Store) -> None:
    eng = engine(store, Clock())
    events(store, [NOW - i * HOUR for i in range(20)])  # 20 within 24 h: not more than 20
    events(store, [NOW - 30 * HOUR - i for i in range(10)], "signal.created")  # outside the window
    assert eng.evaluate() == []
    events(store, [NOW - 90 * NS], "signal.captured")
    (fired,) = eng.evaluate()
    assert (fired.name, fired.value) == ("IntentVolumeSurge", 21)


def test_pipeline_stall_after_48_hours_without_events(store: Store) -> None:
    clock = Clock()
    eng = engine(store, clock)
    events(store, [NOW - 47 * HOUR], "decision.recorded")
    assert eng.evaluate() == []
    clock.now += 2 * HOUR
    (fired,) = eng.evaluate()
    assert fired.name == "IntentPipelineStall" and fired.value == pytest.approx(49 * 3600)
    events(store, [clock.now], "signal.created")
    assert [t.state for t in eng.evaluate()] == ["resolved"]


def test_trust_drift_compares_with_the_value_a_window_ago(store: Store) -> None:
    eng = engine(store, Clock())
    push(store, NOW - 8 * DAY, Point(catalog.SIGNALS_TRUST_AVG, value=0.8))
    push(store, NOW, Point(catalog.SIGNALS_TRUST_AVG, value=0.75))
    assert eng.evaluate() == []
    push(store, NOW + 1, Point(catalog.SIGNALS_TRUST_AVG, value=0.65))
    (fired,) = eng.evaluate()
    assert fired.name == "IntentTrustDrift" and fired.value == pytest.approx(0.15)


def test_a_rule_fires_only_after_its_for_duration(store: Store) -> None:
    clock = Clock()
    eng = engine(store, clock, rules={})  # the rules' own for_seconds: 15 min for the stall
    events(store, [NOW - 50 * HOUR], "decision.recorded")
    assert eng.evaluate() == []
    assert "IntentPipelineStall" not in firing(store, eng)  # pending shows as not firing
    clock.now += 15 * 60 * NS
    assert [t.name for t in eng.evaluate()] == ["IntentPipelineStall"]
    assert firing(store, eng)["IntentPipelineStall"][0]["severity"] == "warning"


def test_thresholds_and_disabled_rules_come_from_the_config(store: Store) -> None:
    thresholds = Thresholds(volume_surge_signals=2)
    rules = {**AT_ONCE, "IntentPipelineStall": RuleSettings(enabled=False)}
    eng = engine(store, Clock(), thresholds=thresholds, rules=rules)
    events(store, [NOW - HOUR * i for i in range(3)] + [NOW - 60 * HOUR])
    events(store, [NOW - 60 * DAY], "decision.recorded")
    assert [t.name for t in eng.evaluate()] == ["IntentVolumeSurge"]


class Hook(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.bodies.append(json.loads(body))
        self.send_response(Hook.answers.pop(0) if Hook.answers else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    Hook.answers, Hook.bodies = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()
    server.server_close()


def transition(state: str = "firing") -> Transition:
    return Transition(
        "IntentContractFailure", "critical", state, {"failed": "contract"}, "1 new", 1.0, NOW, NOW
    )


def test_webhook_delivery_retries_with_backoff_until_accepted(hook: str) -> None:
    Hook.answers = [500, 503]
    results: list[tuple[str, bool]] = []
    notifier = WebhookNotifier(
        (hook,), retries=3, first_backoff_s=0.05, on_result=lambda u, ok: results.append((u, ok))
    )
    notifier.start()
    notifier([transition()])
    notifier.shutdown(timeout_s=10)
    assert results == [(hook, True)]
    assert len(Hook.bodies) == 3 and Hook.bodies[0] == Hook.bodies[2]
    body = Hook.bodies[-1]
    assert body["status"] == "firing" and body["receiver"] == "intent-observe"
    assert body["alerts"][0]["name"] == "IntentContractFailure" and body["alerts"][0]["labels"] == {
        "failed": "contract"
    }


def test_webhook_delivery_gives_up_on_a_final_refusal(hook: str) -> None:
    Hook.answers = [400]
    results: list[tuple[str, bool]] = []
    notifier = WebhookNotifier(
        (hook,), retries=3, first_backoff_s=0.05, on_result=lambda u, ok: results.append((u, ok))
    )
    notifier.start()
    notifier([transition("resolved")])
    notifier.shutdown(timeout_s=10)
    assert results == [(hook, False)] and len(Hook.bodies) == 1


def test_webhook_delivery_gives_up_after_the_retries(hook: str) -> None:
    Hook.answers = [500] * 10
    results: list[tuple[str, bool]] = []
    notifier = WebhookNotifier(
        (hook,), retries=2, first_backoff_s=0.05, on_result=lambda u, ok: results.append((u, ok))
    )
    notifier.start()
    notifier([transition()])
    notifier.shutdown(timeout_s=10)
    assert results == [(hook, False)] and len(Hook.bodies) == 3


CONFIG = """
[store]
max_age_days = 90
max_logs = 1000

[alerts]
interval_seconds = 5
webhooks = ["https://hooks.example.com/intent"]

[alerts.thresholds]
volume_surge_signals = 50
stall_hours = 12

[alerts.rules.IntentTrustDrift]
enabled = false
"""


def test_the_config_file_sets_retention_thresholds_and_webhooks(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    assert (config.store.max_age_days, config.store.max_logs, config.store.max_spans) == (90, 1000, 5_000_000)
    assert config.alerts.webhooks == ("https://hooks.example.com/intent",)
    assert (config.alerts.thresholds.volume_surge_signals, config.alerts.thresholds.stall_hours) == (50, 12)
    assert config.alerts.thresholds.trust_drop == 0.1  # untouched keys keep the design page's numbers
    assert config.alerts.rule("IntentTrustDrift").enabled is False
    assert load_config(tmp_path / "missing.toml").alerts.thresholds == Thresholds()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"alerts": {"thresholds": {"stall_hour": 3}}}, "unknown key alerts.thresholds.stall_hour"),
        ({"store": {"max_logs": -1}}, "max_logs"),
        ({"alerts": {"thresholds": {"trust_drop": "a lot"}}}, "trust_drop must be a number"),
        ({"alerts": {"webhooks": ["file:///etc/passwd"]}}, "http"),
        ({"alerts": {"rules": {"NoSuchRule": {}}}}, "unknown key alerts.rules.NoSuchRule"),
        ({"server": {}}, "unknown key server"),
    ],
)
def test_a_bad_config_is_refused_with_the_key_named(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(doc)


def test_every_config_key_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "observe-config.md").read_text()
    from dataclasses import fields

    from intent_observe.store.retention import Retention

    keys = [f"`{f.name}`" for f in fields(Retention)]
    keys += [f"`{f.name}`" for f in fields(AlertSettings) if f.name not in ("thresholds", "rules")]
    keys += [f"`{f.name}`" for f in fields(Thresholds)]
    keys += ["`enabled`", "`for_seconds`", *(f"`{rule.name}`" for rule in RULES)]
    assert [k for k in keys if k not in doc] == []
