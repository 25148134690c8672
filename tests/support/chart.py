"""The Helm chart rendered by the real Helm CLI (installed by scripts/install-deploy-tools.sh helm).

The Grafana subcharts cannot be fetched here and Helm refuses to render a chart whose declared
dependencies are missing, so `chart_without_dependencies` copies the chart without them: every
object of this chart is rendered by Helm, the subcharts' objects are not.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from tests.support.deploy_tools import BUILD, REPO_ROOT

CHART = REPO_ROOT / "deploy" / "helm" / "intent-observe"
HELM = BUILD / "helm" / "helm"


def chart_without_dependencies(workdir: Path) -> Path:
    copy = workdir / "intent-observe"
    shutil.copytree(CHART, copy)
    chart_yaml = yaml.safe_load((copy / "Chart.yaml").read_text(encoding="utf-8"))
    del chart_yaml["dependencies"]
    (copy / "Chart.yaml").write_text(yaml.safe_dump(chart_yaml), encoding="utf-8")
    return copy


def helm_template(chart: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`helm template` (the Helm CLI comes with `deploy_tools.install("helm")`)."""
    return subprocess.run(
        [str(HELM), "template", "intent", str(chart), "--namespace", "observe", *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def render(workdir: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    """This chart's objects for `values`, as Helm renders them."""
    values_file = workdir / "values.yaml"
    values_file.write_text(yaml.safe_dump(values), encoding="utf-8")
    result = helm_template(chart_without_dependencies(workdir), "--values", str(values_file))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def collector_configs(objects: list[dict[str, Any]], component: str) -> dict[str, dict[str, Any]]:
    """ConfigMap name → the Collector config of each agent or gateway."""
    configmaps = [o for o in objects if o["kind"] == "ConfigMap"]
    return {
        o["metadata"]["name"]: yaml.safe_load(o["data"]["collector.yaml"])
        for o in configmaps
        if o["metadata"]["labels"].get("app.kubernetes.io/component") == component
    }
