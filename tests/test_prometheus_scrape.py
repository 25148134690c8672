"""A real Prometheus (Debian `prometheus`) scrapes `up`'s /metrics and answers PromQL queries
with the values the fixture implies; `promtool` checks the exposition format."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.observe import stack_with_history, wait_for
from tests.support.prometheus import PROMETHEUS, running_prometheus

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

pytestmark = pytest.mark.skipif(
    not Path(PROMETHEUS).exists(),
    reason="Debian prometheus is not installed (scripts/install-system-deps.sh)",
)


def query(base: str, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def test_prometheus_scrapes_the_intent_series(tmp_path: Path) -> None:
    with stack_with_history(tmp_path / "repo", grpc_port=None, http_port=None) as (stack, _, _):
        exposition = httpx.get(f"{stack.url}/metrics", timeout=5).content
        lint = subprocess.run(
            [PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, timeout=60
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr

        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: intent-observe\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{stack.port}']\n"
        )
        with running_prometheus(config, tmp_path) as prometheus:
            base = prometheus.url
            signals = wait_for(lambda: _answer(base, "sum(intent_signals_total)"), timeout=60, interval=0.5)
            assert float(signals[0]["value"][1]) == 4
            failed = query(base, 'intent_contracts_total{result="fail"}')
            assert [float(r["value"][1]) for r in failed] == [1]
            assert failed[0]["metric"]["job"] == "intent-observe"
            by_source = {
                r["metric"]["source"]: float(r["value"][1]) for r in query(base, "intent_signals_total")
            }
            assert by_source == {"cli": 1, "mcp": 2, "github": 1}
            specs = query(base, "intent_cycle_time_intent_to_spec_seconds_count")
            assert float(specs[0]["value"][1]) == 1
            # the spec came 2 h after the intent: in the (1 h, 4 h] bucket
            within = query(base, 'intent_cycle_time_intent_to_spec_seconds_bucket{le="14400"}')
            below = query(base, 'intent_cycle_time_intent_to_spec_seconds_bucket{le="3600"}')
            assert (float(within[0]["value"][1]), float(below[0]["value"][1])) == (1, 0)


def _answer(base: str, promql: str) -> list[dict[str, Any]] | None:
    try:
        return query(base, promql) or None
    except httpx.HTTPError:
        return None  # still starting
