"""The five alert rules: generated file in sync, `promtool check rules`, `promtool test rules`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from intent_observe.alerts.rules import RULES, Severity, Thresholds
from intent_observe.cli import main
from intent_observe.deploy.promql import known_series, series_names
from intent_observe.deploy.rulefile import rule_file_yaml

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "deploy" / "rules"
RULE_FILE = RULES_DIR / "intent-observe.rules.yaml"
RULE_TESTS = RULES_DIR / "intent-observe.rules.test.yaml"
WEEK_RULE_TESTS = RULES_DIR / "intent-observe.rules.week.test.yaml"
CHART_RULE_FILE = ROOT / "deploy" / "helm" / "intent-observe" / "files" / "intent-observe.rules.yaml"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: run scripts/install-system-deps.sh (Debian package prometheus)")
    return path


def _promtool(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_five_rules_of_the_design_page() -> None:
    assert [(rule.name, rule.severity) for rule in RULES] == [
        ("IntentStale", Severity.WARNING),
        ("IntentContractFailure", Severity.CRITICAL),
        ("IntentVolumeSurge", Severity.WARNING),
        ("IntentTrustDrift", Severity.INFO),
        ("IntentPipelineStall", Severity.WARNING),
    ]


@pytest.mark.parametrize("path", [RULE_FILE, CHART_RULE_FILE], ids=["deploy-rules", "helm-chart"])
def test_checked_in_rule_files_are_the_generated_ones(path: Path) -> None:
    assert path.read_text(encoding="utf-8") == rule_file_yaml(), (
        f"{path} is stale: run `intent-observe export rules -o {path.relative_to(ROOT)}`"
    )


def test_every_rule_reads_only_catalog_series() -> None:
    for rule in RULES:
        names = series_names(rule.promql())
        assert names, rule.name
        assert names <= known_series(), (rule.name, names - known_series())


def test_series_name_check_catches_an_unknown_metric() -> None:
    renamed = 'sum without (source) (increase(intent_signal_count_total{source=~"cli"}[24h])) > 20'
    assert series_names(renamed) - known_series() == {"intent_signal_count_total"}


def test_promtool_check_rules_accepts_the_rule_file(promtool: str) -> None:
    result = _promtool(promtool, "check", "rules", str(RULE_FILE), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_promtool_check_rules_rejects_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    document = yaml.safe_load(rule_file_yaml())
    document["groups"][0]["rules"][0]["expr"] = "time() - (intent_intent_last_event_timestamp_seconds"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = _promtool(promtool, "check", "rules", str(broken), cwd=tmp_path)
    assert result.returncode != 0


def test_promtool_unit_tests_fire_and_stay_silent(promtool: str, tmp_path: Path) -> None:
    """The unit tests run against a freshly generated rule file, not only the checked-in copy."""
    (tmp_path / RULE_FILE.name).write_text(rule_file_yaml(), encoding="utf-8")
    for suite in (RULE_TESTS, WEEK_RULE_TESTS):
        shutil.copy(suite, tmp_path / suite.name)
    result = _promtool(promtool, "test", "rules", RULE_TESTS.name, WEEK_RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 2
    tested = {
        case["alertname"]
        for suite in (RULE_TESTS, WEEK_RULE_TESTS)
        for group in yaml.safe_load(suite.read_text(encoding="utf-8"))["tests"]
        for case in group["alert_rule_test"]
    }
    assert tested == {rule.name for rule in RULES}


def test_promtool_unit_tests_fail_when_a_threshold_moves(promtool: str, tmp_path: Path) -> None:
    """The unit tests pin the thresholds: a rule file with a 25-signal surge must not pass them."""
    (tmp_path / RULE_FILE.name).write_text(rule_file_yaml(Thresholds(volume_surge_signals=25)), "utf-8")
    suite = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    # Only the cases where the surge alert must fire: a short second promtool run.
    firing_surges = []
    for group in suite["tests"]:
        cases = [
            c for c in group["alert_rule_test"] if c["alertname"] == "IntentVolumeSurge" and c["exp_alerts"]
        ]
        if cases:
            firing_surges.append({**group, "alert_rule_test": cases})
    assert firing_surges
    suite["tests"] = firing_surges
    (tmp_path / RULE_TESTS.name).write_text(yaml.safe_dump(suite), encoding="utf-8")
    result = _promtool(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "IntentVolumeSurge" in result.stdout + result.stderr


def test_thresholds_reach_the_expressions() -> None:
    custom = Thresholds(stale_intent_days=1, volume_surge_signals=5, trust_drop=0.25, stall_hours=2)
    expressions = {rule.name: rule.promql(custom) for rule in RULES}
    assert expressions["IntentStale"].endswith("> 86400")
    assert expressions["IntentVolumeSurge"].endswith("> 5")
    assert expressions["IntentTrustDrift"].endswith("> 0.25")
    assert expressions["IntentPipelineStall"].endswith("> 7200")


@pytest.mark.parametrize("field", ["stale_intent_days", "volume_surge_signals", "trust_drop", "stall_hours"])
def test_thresholds_reject_non_positive_values(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Thresholds(**{field: 0})


def test_export_rules_command_writes_the_rule_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "rules.yaml"
    result = CliRunner().invoke(main, ["export", "rules", "-o", str(target), "--stall-hours", "12"])
    assert result.exit_code == 0, result.output
    written = yaml.safe_load(target.read_text(encoding="utf-8"))
    stall = next(r for r in written["groups"][0]["rules"] if r["alert"] == "IntentPipelineStall")
    assert stall["expr"] == "time() - intent_events_last_timestamp_seconds > 43200"
    assert not list(tmp_path.glob("out/*.partial"))


def test_export_rules_command_refuses_a_bad_threshold() -> None:
    result = CliRunner().invoke(main, ["export", "rules", "--trust-drop", "-0.5"])
    assert result.exit_code == 2
    assert "--trust-drop" in result.output
