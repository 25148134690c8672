"""What Tempo, Loki, Mimir and Grafana are told (phase 2 files and the chart's values), where no
engine runs here: the trace → logs query parsed by Grafana's own LogQL grammar, replay settings that
agree with retention, and no service graph or exemplar settings that nothing feeds.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.deploy_tools import BUILD, install

ROOT = Path(__file__).resolve().parents[1]
PHASE2 = ROOT / "deploy" / "phase2"
DATASOURCES = PHASE2 / "grafana" / "provisioning" / "datasources" / "intent-observe.yaml"
VALUES = ROOT / "deploy" / "helm" / "intent-observe" / "values.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "intent-observe.json"
LOGQL = BUILD / "grafana-logql"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def parse_logql() -> Any:
    install("logql")

    def parse(queries: list[str]) -> dict[str, list[int]]:
        """query → offsets where Grafana's grammar found an error (none: it parses)."""
        script = ROOT / "tests" / "support" / "parse_logql.cjs"
        done = subprocess.run(
            ["node", str(script), str(LOGQL)],
            input=json.dumps(queries),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return {entry["query"]: entry["errors"] for entry in json.loads(done.stdout)}

    return parse


def _datasources() -> dict[str, dict[str, Any]]:
    return {source["uid"]: source for source in _yaml(DATASOURCES)["datasources"]}


def _expand_trace_to_logs(link: dict[str, Any], service: str) -> str:
    """The query Grafana 11.6 runs from a span: `$$` is the provisioning file's escape of `$`,
    `${__tags}` the configured span tags as label matchers, `${__span.traceId}` the span's trace."""
    tags = ", ".join(f'{tag["value"]}="{service}"' for tag in link["tags"] if tag["key"] == "service.name")
    query = str(link["query"]).replace("$$", "$")
    return query.replace("${__tags}", tags).replace("${__span.traceId}", TRACE_ID)


def test_trace_to_logs_queries_the_trace_id_structured_metadata(parse_logql: Any) -> None:
    sources = _datasources()
    link = sources["tempo"]["jsonData"]["tracesToLogsV2"]
    # The built-in filter searches the log line for the id; Loki keeps it as structured metadata.
    assert (link["customQuery"], link["filterByTraceID"]) == (True, False)
    query = _expand_trace_to_logs(link, "intent")
    assert query == f'{{service_name="intent"}} | trace_id="{TRACE_ID}"'
    # The name Loki gives an OTLP record's trace id, as the logs → traces link reads it too.
    derived = sources["loki"]["jsonData"]["derivedFields"][0]
    assert (derived["matcherType"], derived["matcherRegex"]) == ("label", "trace_id")
    claude = _expand_trace_to_logs(link, "claude-code")
    broken = query[:-1]  # the grammar must refuse something, or it proves nothing
    parsed = parse_logql([query, claude, broken])
    assert parsed[query] == [] and parsed[claude] == []
    assert parsed[broken]


def test_dashboard_loki_queries_parse(parse_logql: Any) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "loki" in json.dumps(target.get("datasource") or panel.get("datasource") or {}).lower()
    ]
    assert queries
    # Grafana replaces $variables before the query reaches Loki (a multi-value one as a|b).
    expanded = [re.sub(r"\$\w+", "a|b", q) for q in queries]
    assert all(errors == [] for errors in parse_logql(expanded).values())


def _hours(duration: str) -> float:
    """A Go/Prometheus duration such as 720h or 31d, in hours."""
    units = {"m": 1 / 60, "h": 1, "d": 24, "w": 168, "y": 8760}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)([mhdwy])", duration))


def _phase2_replay() -> dict[str, tuple[str, str]]:
    loki = _yaml(PHASE2 / "loki.yaml")["limits_config"]
    tempo = _yaml(PHASE2 / "tempo.yaml")
    return {
        "loki": (loki["reject_old_samples_max_age"], loki["retention_period"]),
        "tempo": (
            tempo["storage"]["trace"]["wal"]["ingestion_time_range_slack"],
            tempo["compactor"]["compaction"]["block_retention"],
        ),
    }


def _chart_replay() -> dict[str, tuple[str, str]]:
    values = _yaml(VALUES)
    loki = values["loki"]["loki"]["limits_config"]
    tempo = values["tempo"]["tempo"]["structuredConfig"]
    return {
        "loki": (loki["reject_old_samples_max_age"], loki["retention_period"]),
        "tempo": (
            tempo["storage"]["trace"]["wal"]["ingestion_time_range_slack"],
            tempo["compactor"]["compaction"]["block_retention"],
        ),
    }


@pytest.mark.parametrize("settings", [_phase2_replay, _chart_replay], ids=["phase2", "chart"])
def test_replayed_history_is_taken_as_far_back_as_it_is_kept(settings: Any) -> None:
    """Loki takes entries as old as its retention (its default: 7 days) and Tempo dates blocks by
    their spans that far back (its default slack: 2 minutes), so a first `tail` of an older
    history lands where a time range finds it instead of being refused or found by id only."""
    for backend, (accepted, kept) in settings().items():
        assert _hours(accepted) == _hours(kept) >= 30 * 24, backend


def test_no_service_graph_or_exemplar_settings_without_a_source() -> None:
    """Our spans are INTERNAL in one service (tests/test_deploy_otelcol.py shows it) and our metrics
    carry no exemplars: a service graph, a span-metrics series or an exemplar link would stay empty."""
    tempo = _yaml(PHASE2 / "tempo.yaml")
    assert tempo["overrides"]["defaults"]["metrics_generator"]["processors"] == ["local-blocks"]
    assert "remote_write" not in tempo["metrics_generator"]["storage"]
    sources = _datasources()
    assert "serviceMap" not in sources["tempo"]["jsonData"]
    assert "exemplarTraceIdDestinations" not in sources["mimir"]["jsonData"]
    assert "max_global_exemplars_per_user" not in _yaml(PHASE2 / "mimir" / "mimir.yaml")["limits"]
    chart_limits = _yaml(VALUES)["mimir"]["mimir"]["structuredConfig"]["limits"]
    assert "max_global_exemplars_per_user" not in chart_limits
