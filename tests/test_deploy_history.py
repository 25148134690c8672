"""The dashboard and the alert rules on the metrics the engine derives from the four-month fixture
history, evaluated by Prometheus's own engine (promtool): the generated queries and rules must agree
with the derivation on names, labels and label values, not only with hand-written series."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from intent_observe.deploy.dashboard import dashboard
from intent_observe.deploy.rulefile import rule_groups, to_yaml
from intent_observe.metrics.catalog import BY_NAME, DAY
from intent_observe.metrics.derive import as_json, snapshot
from intent_observe.report import read_history

ROOT = Path(__file__).resolve().parents[1]
HISTORY = ROOT / "tests" / "fixtures" / "history.jsonl"
TIMESTAMP_METRICS = {"intent.intent.last_event_timestamp", "intent.events.last_timestamp"}
# promtool's clock starts at 0: timestamps are shifted so the history's last event is at START_S
# (older events get negative times, which PromQL's arithmetic does not mind).
START_S = 3600
SAMPLES = "x3100"  # one sample a minute for ~52 hours: every series holds its value throughout


@pytest.fixture(scope="module")
def derived() -> dict[str, Any]:
    derived_json: dict[str, Any] = as_json(snapshot(read_history([str(HISTORY)]).engine.state))
    return derived_json


def _shift(derived: dict[str, Any]) -> float:
    return float(derived["intent.events.last_timestamp"]["points"][0]["value"]) - START_S


def _selector(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _input_series(derived: dict[str, Any]) -> list[dict[str, str]]:
    """The derived snapshot as promtool series, named as Prometheus names the exported metrics."""
    shift = _shift(derived)
    series = []
    for otel_name, document in derived.items():
        name = BY_NAME[otel_name].prom_name
        for point in document["points"]:
            labels = point["labels"]
            if document["type"] == "histogram":
                for bound, count in point["buckets"].items():
                    series.append((_selector(f"{name}_bucket", {**labels, "le": bound}), count))
                series += [
                    (_selector(f"{name}_sum", labels), point["sum"]),
                    (_selector(f"{name}_count", labels), point["count"]),
                ]
            else:
                value = point["value"] - shift if otel_name in TIMESTAMP_METRICS else point["value"]
                series.append((_selector(name, labels), value))
    return [{"series": selector, "values": f"{value}{SAMPLES}"} for selector, value in series]


def _values(derived: dict[str, Any], otel_name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(p["labels"].items())): p["value"] for p in derived[otel_name]["points"]}


def _total(derived: dict[str, Any], otel_name: str, **labels: str) -> float:
    return sum(v for key, v in _values(derived, otel_name).items() if set(labels.items()) <= set(key))


def _expected_panels(derived: dict[str, Any]) -> dict[tuple[str, str], list[tuple[str, float]]]:
    """What each panel must show, computed from the derivation's own numbers."""
    single = {
        ("Signals", "A"): _total(derived, "intent.signals.total"),
        ("Intents", "A"): _total(derived, "intent.intents.total"),
        ("Intents", "B"): _total(derived, "intent.intents.active"),
        ("Specs", "A"): _total(derived, "intent.specs.total"),
        ("Specs", "B"): _total(derived, "intent.specs.in_progress"),
        ("Contracts ✓ / ✗", "A"): _total(derived, "intent.contracts.total", result="pass"),
        ("Contracts ✓ / ✗", "B"): _total(derived, "intent.contracts.total", result="fail"),
        ("Work in flight", "A"): _total(derived, "intent.pipeline.depth"),
        ("Work in flight", "B"): _total(derived, "intent.intents.active"),
        ("Work in flight", "C"): _total(derived, "intent.specs.in_progress"),
    }
    expected = {key: [("{}", value)] for key, value in single.items()}
    levels = _values(derived, "intent.signals.active")
    expected[("Trust distribution (active signals by autonomy level)", "A")] = [
        (f'{{autonomy_level="{dict(key)["autonomy_level"]}"}}', value) for key, value in levels.items()
    ]
    event_types = sorted({dict(key)["event_type"] for key in _values(derived, "intent.events.total")})
    # Counters that hold still: every event type is there, at 0 per minute.
    expected[("Events per minute by type", "A")] = [(f'{{event_type="{t}"}}', 0) for t in event_types]
    return expected


def _rules_without_annotations() -> str:
    """The generated rules minus their annotations: this test is about when they fire, and
    deploy/rules/intent-observe.rules.test.yaml already pins the annotation texts."""
    groups = rule_groups()
    for rule in groups["groups"][0]["rules"]:
        del rule["annotations"]
    return to_yaml(groups)


def _promtool(tmp_path: Path, suite: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: run scripts/install-system-deps.sh (Debian package prometheus)")
    (tmp_path / "intent-observe.rules.yaml").write_text(_rules_without_annotations(), encoding="utf-8")
    (tmp_path / "history.test.yaml").write_text(yaml.safe_dump(suite, allow_unicode=True), encoding="utf-8")
    return subprocess.run(
        [promtool, "test", "rules", "history.test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_fixture_history_exercises_every_label(derived: dict[str, Any]) -> None:
    assert {"pass", "fail"} == {dict(k)["result"] for k in _values(derived, "intent.contracts.total")}
    levels = {dict(k)["autonomy_level"] for k in _values(derived, "intent.signals.active")}
    assert {"L0", "L1", "L2", "L3", "L4"} <= levels
    assert _total(derived, "intent.intents.active") > 0


def test_dashboard_panels_show_what_the_engine_derived(derived: dict[str, Any], tmp_path: Path) -> None:
    expected = _expected_panels(derived)
    targets = {
        (panel["title"], target["refId"]): target["expr"]
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
        if (panel["title"], target["refId"]) in expected
    }
    assert set(targets) == set(expected)
    cases = [
        {
            "expr": expr.replace("$__rate_interval", "5m")
            .replace("$source", ".*")
            .replace("$event_type", ".*")
            .replace("$autonomy_level", ".*"),
            "eval_time": f"{START_S}s",
            "exp_samples": [{"labels": labels, "value": value} for labels, value in expected[key]],
        }
        for key, expr in sorted(targets.items())
    ]
    suite = {"tests": [{"interval": "1m", "input_series": _input_series(derived), "promql_expr_test": cases}]}
    result = _promtool(tmp_path, suite)
    assert result.returncode == 0, result.stdout + result.stderr


def _stale_intents(derived: dict[str, Any], at_s: float) -> list[str]:
    shift = _shift(derived)
    return sorted(
        dict(key)["intent_id"]
        for key, ts in _values(derived, "intent.intent.last_event_timestamp").items()
        if at_s - (ts - shift) > 7 * DAY
    )


def test_alert_rules_on_the_derived_history(derived: dict[str, Any], tmp_path: Path) -> None:
    """An hour after the history's last event: exactly the open intents idle for 7 days are stale and
    the pipeline is not stalled; 49 hours after it, the pipeline is stalled."""
    one_hour_later = START_S + 3600
    stale = _stale_intents(derived, one_hour_later)
    assert stale, "the fixture should leave some open intent idle for a week"
    assert len(stale) < len(_values(derived, "intent.intent.last_event_timestamp"))
    stale_alerts = [{"exp_labels": {"severity": "warning", "intent_id": intent}} for intent in stale]
    tests = [
        {"eval_time": f"{one_hour_later}s", "alertname": "IntentStale", "exp_alerts": stale_alerts},
        {"eval_time": f"{one_hour_later}s", "alertname": "IntentPipelineStall", "exp_alerts": []},
        {
            "eval_time": f"{START_S + 49 * 3600}s",
            "alertname": "IntentPipelineStall",
            "exp_alerts": [{"exp_labels": {"severity": "warning"}}],
        },
        # Counters that hold still raise no contract failure once the first window has passed.
        {"eval_time": f"{one_hour_later}s", "alertname": "IntentContractFailure", "exp_alerts": []},
    ]
    suite = {
        "rule_files": ["intent-observe.rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": _input_series(derived), "alert_rule_test": tests}],
    }
    result = _promtool(tmp_path, suite)
    assert result.returncode == 0, result.stdout + result.stderr
