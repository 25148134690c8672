"""The Intent Observe dashboard: Grafana's own types, the foundation SDK, and a real PromQL engine."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard
from tests.support.deploy_tools import install

from intent_observe.cli import main
from intent_observe.deploy.dashboard import dashboard, promql_expressions
from intent_observe.deploy.promql import known_series, series_names

ROOT = Path(__file__).resolve().parents[1]
GRAFANA_VERSION = "11.6.3"
SCHEMA = ROOT / ".build" / "grafana-schema" / f"dashboard-{GRAFANA_VERSION}.schema.json"
PART_SCHEMAS = ROOT / ".build" / "grafana-schema" / f"parts-{GRAFANA_VERSION}"
# datasource type → the query type @grafana/schema declares for it (Prometheus's is not in 11.6's package)
QUERY_SCHEMAS = {"loki": "loki-LokiDataQuery", "tempo": "tempo-TempoQuery"}
CHECKED_IN = [
    ROOT / "deploy" / "grafana" / "intent-observe.json",
    ROOT / "deploy" / "helm" / "intent-observe" / "files" / "intent-observe.json",
]


@pytest.fixture(scope="module")
def grafana_schema() -> dict[str, Any]:
    install("grafana-schema")
    schema: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return schema


def _validator(name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((PART_SCHEMAS / f"{name}.schema.json").read_text("utf-8")))


def _panels(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in document["panels"] if panel["type"] != "row"]


def test_grafana_version_is_the_one_deploy_pins() -> None:
    compose = (ROOT / "deploy" / "phase2" / "docker-compose.yml").read_text(encoding="utf-8")
    assert f"grafana/grafana:{GRAFANA_VERSION}" in compose
    installer = (ROOT / "scripts" / "install-deploy-tools.sh").read_text(encoding="utf-8")
    assert f"GRAFANA_SCHEMA_VERSION={GRAFANA_VERSION}" in installer


def test_dashboard_validates_against_grafanas_dashboard_types(grafana_schema: dict[str, Any]) -> None:
    errors = list(jsonschema.Draft7Validator(grafana_schema).iter_errors(dashboard()))
    assert errors == [], [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_panel_options_validate_against_their_panel_types(grafana_schema: dict[str, Any]) -> None:
    panels = _panels(dashboard())
    assert {p["type"] for p in panels} == {"stat", "bargauge", "timeseries", "logs", "table"}
    for panel in panels:
        errors = list(_validator(f"{panel['type']}-Options").iter_errors(panel["options"]))
        assert errors == [], (panel["title"], [f"{list(e.absolute_path)}: {e.message}" for e in errors[:3]])


def test_loki_and_tempo_queries_validate_against_their_query_types(grafana_schema: dict[str, Any]) -> None:
    checked = 0
    for panel in _panels(dashboard()):
        for target in panel["targets"]:
            schema = QUERY_SCHEMAS.get(target["datasource"]["type"])
            if schema is None:
                continue
            errors = list(_validator(schema).iter_errors(target))
            assert errors == [], (panel["title"], [e.message for e in errors[:3]])
            checked += 1
    assert checked == 3


def test_panel_type_schemas_catch_a_wrong_option(grafana_schema: dict[str, Any]) -> None:
    stat = next(p for p in _panels(dashboard()) if p["type"] == "stat")
    assert list(_validator("stat-Options").iter_errors({**stat["options"], "colorMode": "rainbow"}))
    logs = next(p for p in _panels(dashboard()) if p["type"] == "logs")
    assert list(_validator("loki-LokiDataQuery").iter_errors({**logs["targets"][0], "exprr": "{}"}))


def test_schema_catches_a_malformed_panel(grafana_schema: dict[str, Any]) -> None:
    document = dashboard()
    document["panels"][1]["gridPos"] = {"h": "five", "w": 6, "x": 0, "y": 0}
    document["panels"][2]["gird"] = {}
    errors = list(jsonschema.Draft7Validator(grafana_schema).iter_errors(document))
    assert len(errors) == 2


def _contains(full: Any, part: Any, path: str = "") -> list[str]:
    """Where `part` is not carried unchanged inside `full` (extra keys in `full` are defaults)."""
    if isinstance(part, dict):
        if not isinstance(full, dict):
            return [path]
        return [p for key, value in part.items() for p in _contains(full.get(key), value, f"{path}.{key}")]
    if isinstance(part, list):
        if not isinstance(full, list) or len(full) != len(part):
            return [path]
        pairs = enumerate(zip(full, part, strict=True))
        return [p for i, (f, v) in pairs for p in _contains(f, v, f"{path}[{i}]")]
    return [] if full == part else [path]


def test_dashboard_round_trips_through_the_grafana_foundation_sdk() -> None:
    original = dashboard()
    model = Dashboard.from_json(original)
    back = json.loads(json.dumps(model, cls=JSONEncoder))
    assert _contains(back, original) == []
    assert model.uid == "intent-observe"
    assert len(model.templating.list_val) == 6


def test_checked_in_dashboards_are_the_generated_one() -> None:
    generated = dashboard()
    for path in CHECKED_IN:
        assert json.loads(path.read_text(encoding="utf-8")) == generated, (
            f"{path} is stale: run `intent-observe export grafana -o {path.relative_to(ROOT)}`"
        )


def test_design_page_layout() -> None:
    document = dashboard()
    assert (document["uid"], document["title"]) == ("intent-observe", "Intent Observe")
    rows = [panel["title"] for panel in document["panels"] if panel["type"] == "row"]
    assert rows == ["Overview", "Flow", "Event stream", "Trace explorer", "Claude Code"]
    titles = [panel["title"] for panel in _panels(document)]
    assert titles[:4] == ["Signals", "Intents", "Specs", "Contracts ✓ / ✗"]
    names = [variable["name"] for variable in document["templating"]["list"]]
    assert {"datasource", "source", "autonomy_level", "event_type"} <= set(names)
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))


def test_no_two_panels_overlap() -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, panel["title"]
        cells |= mine


def test_logs_and_traces_panels_query_loki_and_tempo() -> None:
    by_type = {panel["type"]: panel for panel in _panels(dashboard())}
    logs = by_type["logs"]["targets"][0]
    assert logs["datasource"]["type"] == "loki"
    assert logs["expr"].startswith('{service_name="intent"} | intent_event_type=~"$event_type"')
    traces = [p for p in _panels(dashboard()) if p["datasource"]["type"] == "tempo"]
    queries = [p["targets"][0]["query"] for p in traces]
    assert '{resource.service.name="intent" && span.intent.artifact.type="intent"}' in queries
    assert all(p["targets"][0]["queryType"] == "traceql" for p in traces)


def test_every_promql_expression_reads_only_catalog_series() -> None:
    expressions = promql_expressions(dashboard())
    assert len(expressions) >= 20
    for expression in expressions:
        names = series_names(expression)
        assert names, expression
        assert names <= known_series(), (expression, names - known_series())


def test_export_grafana_command_prints_the_dashboard() -> None:
    result = CliRunner().invoke(main, ["export", "grafana"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == dashboard()


# ---- every PromQL panel evaluated by Prometheus's own engine (promtool) on a fixture ----

EVAL_MINUTES = 10
# Grafana's variables and macros, as a user with every filter on "All" and a 5m range sees them.
GRAFANA_SUBSTITUTIONS = {
    "$__rate_interval": "5m",
    "$__range": "5m",
    "$source": ".*",
    "$autonomy_level": ".*",
    "$event_type": ".*",
}
BUCKET_BOUNDS = ("3600", "14400", "86400", "259200", "604800", "1209600", "+Inf")
FIXTURE_SERIES = {
    'intent_signals_total{source="cli"}': "0+1x10",
    'intent_signals_total{source="mcp"}': "5x10",
    "intent_intents_total": "3x10",
    "intent_intents_active": "2x10",
    "intent_specs_total": "4x10",
    "intent_specs_in_progress": "1x10",
    'intent_contracts_total{result="pass"}': "0+1x10",
    'intent_contracts_total{result="fail"}': "1x10",
    'intent_signals_active{autonomy_level="L0"}': "3x10",
    'intent_signals_active{autonomy_level="L2"}': "8x10",
    'intent_signals_active{autonomy_level="L4"}': "2x10",
    "intent_pipeline_depth": "7x10",
    'intent_events_total{event_type="signal.created",source="cli"}': "0+2x10",
    'intent_events_total{event_type="spec.created",source="mcp"}': "0+1x10",
    'claude_code_token_usage_tokens_total{type="input"}': "0+600x10",
    'claude_code_token_usage_tokens_total{type="output"}': "0+60x10",
    "claude_code_cost_usage_USD_total": "0+0.5x10",
    "claude_code_session_count_total": "0+1x10",
}
# Cumulative bucket counts per stage, in BUCKET_BOUNDS order.
CYCLE_BUCKETS = {
    "intent_cycle_time_signal_to_intent_seconds_bucket": (0, 0, 2, 4, 4, 4, 4),
    "intent_cycle_time_intent_to_spec_seconds_bucket": (10, 10, 10, 10, 10, 10, 10),
    "intent_cycle_time_spec_to_complete_seconds_bucket": (0, 1, 1, 3, 4, 4, 4),
}
# (panel title, refId) → samples the fixture implies, worked out by hand:
# histogram_quantile interpolates linearly inside the bucket that holds the rank, e.g.
# signal→intent p95: rank 3.8 lies in (86400, 259200] holding observations 3–4 → 86400 + 172800 × 0.9.
EXPECTED: dict[tuple[str, str], list[tuple[str, float]]] = {
    ("Signals", "A"): [("{}", 15)],
    ("Intents", "A"): [("{}", 3)],
    ("Intents", "B"): [("{}", 2)],
    ("Specs", "A"): [("{}", 4)],
    ("Specs", "B"): [("{}", 1)],
    ("Contracts ✓ / ✗", "A"): [("{}", 10)],
    ("Contracts ✓ / ✗", "B"): [("{}", 1)],
    ("Cycle time (median · p95)", "A"): [("{}", 86400)],
    # Written as the interpolation itself: promtool compares floats exactly (241919.99999999997).
    ("Cycle time (median · p95)", "B"): [("{}", 86400 + 172800 * ((0.95 * 4 - 2) / 2))],
    ("Cycle time (median · p95)", "C"): [("{}", 1800)],
    ("Cycle time (median · p95)", "D"): [("{}", 3420)],
    ("Cycle time (median · p95)", "E"): [("{}", 172800)],
    ("Cycle time (median · p95)", "F"): [("{}", 535680)],
    ("Trust distribution (active signals by autonomy level)", "A"): [
        ('{autonomy_level="L0"}', 3),
        ('{autonomy_level="L2"}', 8),
        ('{autonomy_level="L4"}', 2),
    ],
    ("Work in flight", "A"): [("{}", 7)],
    ("Work in flight", "B"): [("{}", 2)],
    ("Work in flight", "C"): [("{}", 1)],
    ("Events per minute by type", "A"): [
        ('{event_type="signal.created"}', 2),
        ('{event_type="spec.created"}', 1),
    ],
    ("Tokens per minute by type", "A"): [('{type="input"}', 600), ('{type="output"}', 60)],
    ("Cost in range", "A"): [("{}", 2.5)],
    # 2.5 USD over 5 contracts evaluated in the range.
    ("Cost per contract", "A"): [("{}", 0.5)],
    ("Sessions in range", "A"): [("{}", 5)],
}


def _substitute(expression: str) -> str:
    for variable, value in GRAFANA_SUBSTITUTIONS.items():
        expression = expression.replace(variable, value)
    return expression


def _fixture_series() -> list[dict[str, str]]:
    series = [{"series": name, "values": values} for name, values in FIXTURE_SERIES.items()]
    for name, counts in CYCLE_BUCKETS.items():
        series += [
            {"series": f'{name}{{le="{bound}"}}', "values": f"{count}x{EVAL_MINUTES}"}
            for bound, count in zip(BUCKET_BOUNDS, counts, strict=True)
        ]
    return series


def _prometheus_panel_targets() -> dict[tuple[str, str], str]:
    return {
        (panel["title"], target["refId"]): target["expr"]
        for panel in _panels(dashboard())
        for target in panel["targets"]
        if target["datasource"]["type"] == "prometheus"
    }


def test_every_promql_panel_returns_what_the_fixture_implies(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: run scripts/install-system-deps.sh (Debian package prometheus)")
    targets = _prometheus_panel_targets()
    assert set(targets) == set(EXPECTED), set(targets) ^ set(EXPECTED)
    cases = [
        {
            "expr": _substitute(targets[key]),
            "eval_time": f"{EVAL_MINUTES}m",
            "exp_samples": [{"labels": labels, "value": value} for labels, value in EXPECTED[key]],
        }
        for key in sorted(targets)
    ]
    suite = {"tests": [{"interval": "1m", "input_series": _fixture_series(), "promql_expr_test": cases}]}
    (tmp_path / "dashboard.test.yaml").write_text(yaml.safe_dump(suite, allow_unicode=True), "utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", "dashboard.test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
