"""The dashboard and the alert rules on the metrics the engine derives from the four-month fixture
history: evaluated by Prometheus's engine (promtool) on the derivation's snapshot, and answered by a
real Prometheus server scraping the embedded app's /metrics (`intent-observe up` on the history).
The generated queries and rules must agree with the derivation on names, labels and label values,
not only with hand-written series."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.support.prometheus import running_prometheus
from tests.support.up import UpProcess, up_env

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


# ---- a real Prometheus server scraping the embedded app's /metrics ----

SCRAPE_TIMEOUT_S = 60.0


def _wait(
    condition: Callable[[], bool], what: str, alive: Callable[[], bool], log: Callable[[], str]
) -> None:
    deadline = time.monotonic() + SCRAPE_TIMEOUT_S
    while not condition():
        if not alive() or time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen; log:\n{log()[-3000:]}")
        time.sleep(0.2)


def _get(url: str, **params: str) -> Any:
    try:
        response = httpx.get(url, params=params, timeout=5)
    except httpx.HTTPError:
        return None
    return (
        response.json() if response.headers.get("content-type", "").startswith("application/json") else None
    )


@pytest.fixture(scope="module")
def app_url(derived: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`intent-observe up` on a repository holding the fixture history, on loopback ports it chose."""
    repo = tmp_path_factory.mktemp("repo")
    events = repo / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True)
    shutil.copy(HISTORY, events)
    # the app's adapter reports metrics twice a second
    up = UpProcess(repo, str(events), env=up_env(OTEL_METRIC_EXPORT_INTERVAL="500"))
    signals = _total(derived, "intent.signals.total")

    def history_ingested() -> bool:
        try:
            text = httpx.get(f"{up.url}/metrics", timeout=5).text
        except httpx.HTTPError:
            return False
        values = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("intent_signals_total")
        ]
        return sum(values) == signals and "intent_adapter_lag_bytes 0" in text

    try:
        _wait(history_ingested, "the app's /metrics showing the whole history", up.alive, up.log)
        yield up.url
    finally:
        up.stop()


@pytest.fixture(scope="module")
def prometheus_url(app_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus (Debian's server, 2.42) scraping the app twice a second, on loopback."""
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is missing: run scripts/install-system-deps.sh (Debian package prometheus)")
    workdir = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "500ms", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "intent-observe", "static_configs": [{"targets": [app_url[len("http://") :]]}]}
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with running_prometheus(workdir / "prometheus.yml", workdir) as prometheus:

        def scraped_three_times() -> bool:
            query = "count_over_time(intent_signals_trust_avg[1m])"
            answer = _get(f"{prometheus.url}/api/v1/query", query=query)
            return bool(
                answer and answer["data"]["result"] and float(answer["data"]["result"][0]["value"][1]) >= 3
            )

        _wait(scraped_three_times, "three scrapes of the app", prometheus.alive, prometheus.log)
        yield prometheus.url


def _query(prometheus_url: str, expr: str) -> list[tuple[str, float]]:
    answer = _get(f"{prometheus_url}/api/v1/query", query=expr)
    assert answer is not None and answer["status"] == "success", (expr, answer)
    out = []
    for sample in answer["data"]["result"]:
        labels = {k: v for k, v in sample["metric"].items() if k not in {"job", "instance"}}
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        out.append((f"{{{inner}}}", float(sample["value"][1])))
    return sorted(out)


def _grafana_substitutions(expr: str) -> str:
    for variable, value in (("$__rate_interval", "1m"), ("$__range", "1m"), ("$source", ".*")):
        expr = expr.replace(variable, value)
    return expr.replace("$event_type", ".*").replace("$autonomy_level", ".*")


def _prometheus_targets() -> dict[tuple[str, str], str]:
    return {
        (panel["title"], target["refId"]): _grafana_substitutions(target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
        if target.get("datasource", {}).get("type") == "prometheus"
    }


def test_prometheus_scraping_the_app_answers_every_panel(
    derived: dict[str, Any], prometheus_url: str
) -> None:
    expected = _expected_panels(derived)
    targets = _prometheus_targets()
    for key, samples in expected.items():
        got = _query(prometheus_url, targets[key])
        assert got == sorted((labels, float(value)) for labels, value in samples), key
    # Claude Code reports nothing in this history: its panels are empty, not errors.
    for key, expr in targets.items():
        if key[0] in {"Tokens per minute by type", "Cost in range", "Cost per contract", "Sessions in range"}:
            assert _query(prometheus_url, expr) == [], key


def _bucket_bounds(point: dict[str, Any], q: float) -> tuple[float, float]:
    """The bucket that holds the q-quantile's rank: histogram_quantile must answer inside it."""
    rank = q * point["count"]
    lower = 0.0
    for bound, cumulative in sorted(
        ((float(b), c) for b, c in point["buckets"].items()), key=lambda bc: bc[0]
    ):
        if cumulative >= rank:
            return lower, bound
        lower = bound
    raise AssertionError("no bucket holds the rank")


def test_prometheus_cycle_time_quantiles_fall_in_the_derived_buckets(
    derived: dict[str, Any], prometheus_url: str
) -> None:
    targets = _prometheus_targets()
    queries = [expr for (title, _), expr in sorted(targets.items()) if title == "Cycle time (median · p95)"]
    stages = [
        "intent.cycle_time.signal_to_intent",
        "intent.cycle_time.intent_to_spec",
        "intent.cycle_time.spec_to_complete",
    ]
    expected = [(stage, q) for stage in stages for q in (0.5, 0.95)]
    assert len(queries) == len(expected)
    for expr, (stage, q) in zip(queries, expected, strict=True):
        assert stage.split(".")[-1] in expr and f"histogram_quantile({q}," in expr
        [(_, value)] = _query(prometheus_url, expr)
        lower, upper = _bucket_bounds(derived[stage]["points"][0], q)
        assert lower <= value <= upper, (stage, q, value, lower, upper)


def test_prometheus_serves_the_variables_label_values(derived: dict[str, Any], prometheus_url: str) -> None:
    for label, otel_name in (("source", "intent.events.total"), ("event_type", "intent.events.total")):
        series = BY_NAME[otel_name].prom_name
        answer = _get(f"{prometheus_url}/api/v1/label/{label}/values", **{"match[]": series})
        assert answer is not None
        assert set(answer["data"]) == {dict(key)[label] for key in _values(derived, otel_name)}
