"""Phase 3 fit to start on a small k3s node: the chart rendered by the real Helm CLI, its values read
against what the pinned subcharts create, and the workflow that publishes the adapter image.

The Grafana chart repository is out of reach here, so the subcharts cannot be rendered. What they
create from our values was read in their sources at the pinned versions (tempo-distributed 1.46.3,
mimir-distributed 5.7.0, loki 6.41.0) and is written below as small functions, each saying where
it comes from; deploy/README.md lists what must still be checked on a cluster.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.chart import CHART, render
from tests.support.deploy_tools import BUILD, install

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "adapter-image.yml"
ACTIONLINT = BUILD / "go" / "bin" / "actionlint"
RELEASE = "intent"  # tests.support.chart renders the release under this name
SMALL_NODE_CACHE_BUDGET_MIB = 1024


def _values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    install("helm")
    return render(tmp_path_factory.mktemp("k3s"), {})  # the chart's defaults, as a user installs it


def _agent(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [agent] = [o for o in objects if o["kind"] == "StatefulSet"]
    spec: dict[str, Any] = agent["spec"]["template"]["spec"]
    return spec


def test_subchart_versions_are_pinned_exactly() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    versions = {d["name"]: d["version"] for d in chart["dependencies"]}
    assert versions == {"tempo-distributed": "1.46.3", "mimir-distributed": "5.7.0", "loki": "6.41.0"}


def _mimir_gateway_service(mimir: dict[str, Any]) -> str | None:
    """mimir-distributed 5.7.0 (templates/gateway/_helpers.tpl, gateway-svc.yaml): the gateway Service
    exists when `gateway.enabled` (default true) and `gateway.enabledNonEnterprise` or
    `enterprise.enabled` (both default false); it is named `<release>-<alias>-gateway`, port 80."""
    gateway = {"enabled": True, "enabledNonEnterprise": False, **mimir.get("gateway", {})}
    enterprise = {"enabled": False, **mimir.get("enterprise", {})}
    if gateway["enabled"] and (gateway["enabledNonEnterprise"] or enterprise["enabled"]):
        return f"{RELEASE}-mimir-gateway"
    return None


def test_the_mimir_address_names_a_service_the_pinned_mimir_chart_creates(
    objects: list[dict[str, Any]],
) -> None:
    mimir = _values()["mimir"]
    service = _mimir_gateway_service(mimir)
    assert service == f"{RELEASE}-mimir-gateway"
    assert _mimir_gateway_service({**mimir, "gateway": {}}) is None  # the chart's default: no such Service
    assert mimir["nginx"]["enabled"] is False  # not two proxies
    [gateway] = [o for o in objects if o["kind"] == "ConfigMap" and "gateway" in o["metadata"]["name"]]
    exporters = yaml.safe_load(gateway["data"]["collector.yaml"])["exporters"]
    assert exporters["otlp_http/mimir"]["endpoint"] == f"http://{service}/otlp"
    [job] = [o for o in objects if o["kind"] == "Job"]
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert f"--address=http://{service}" in container["args"]


def _writable_paths(container: dict[str, Any], volumes: dict[str, dict[str, Any]]) -> dict[str, str]:
    """mount path → volume kind, for the container's writable mounts."""
    return {
        m["mountPath"]: next(k for k in volumes[m["name"]] if k != "name")
        for m in container.get("volumeMounts", [])
        if not m.get("readOnly")
    }


def test_read_only_containers_write_only_to_their_volumes(objects: list[dict[str, Any]]) -> None:
    spec = _agent(objects)
    volumes = {v["name"]: v for v in spec["volumes"]}
    volumes["state"] = {"name": "state", "persistentVolumeClaim": {}}  # the StatefulSet's claim template
    containers = {c["name"]: c for c in spec["containers"]}
    assert all(c["securityContext"]["readOnlyRootFilesystem"] for c in containers.values())
    env = {name: {e["name"]: e.get("value") for e in c.get("env", [])} for name, c in containers.items()}
    # The adapter: checkpoints on the claim, SQLite's temporary tables in TMPDIR.
    assert _writable_paths(containers["adapter"], volumes) == {
        "/state": "persistentVolumeClaim",
        "/tmp": "emptyDir",
    }
    assert env["adapter"]["TMPDIR"] == "/tmp"
    # git-sync: the checkout, and its gitconfig in the temp directory and $HOME.
    assert _writable_paths(containers["git-sync"], volumes) == {"/repo": "emptyDir", "/tmp": "emptyDir"}
    assert env["git-sync"]["HOME"] == "/tmp"
    assert _writable_paths(containers["collector"], volumes) == {}
    for temp in ("adapter-tmp", "git-sync-tmp"):
        assert volumes[temp]["emptyDir"]["sizeLimit"]  # bounded: a runaway writer cannot fill the node


def _memcached_request_mib(allocated_mib: int) -> int:
    """loki 6.41.0 templates/memcached/_memcached-statefulset.tpl: round(allocatedMemory × 1.2),
    computed with integers as (m × 12 + 5) / 10."""
    return (allocated_mib * 12 + 5) // 10


def test_loki_caches_fit_a_small_node() -> None:
    loki = _values()["loki"]
    requested = {
        cache: _memcached_request_mib(loki[cache]["allocatedMemory"])
        for cache in ("chunksCache", "resultsCache")
    }
    assert sum(requested.values()) <= SMALL_NODE_CACHE_BUDGET_MIB, requested
    # The chart's defaults (8192 and 1024 MB) would ask for ~11 GiB: Pending on a small node.
    assert _memcached_request_mib(8192) + _memcached_request_mib(1024) > 10 * 1024


def test_every_store_keeps_its_data_beyond_a_pod(objects: list[dict[str, Any]]) -> None:
    values = _values()
    tempo, mimir, loki = values["tempo"], values["mimir"], values["loki"]
    # tempo-distributed 1.46.3 defaults to `local` block storage, per ingester pod.
    trace = tempo["storage"]["trace"]
    assert trace["backend"] == "s3"
    assert trace["s3"]["endpoint"] == "{{ .Release.Name }}-minio:9000"  # the config passes through tpl
    assert trace["s3"]["bucket"] in {b["name"] for b in mimir["minio"]["buckets"]}
    assert mimir.get("minio", {}).get("enabled", True)  # mimir-distributed 5.7.0 runs MinIO by default
    assert tempo["ingester"]["persistence"]["enabled"] is True  # the WAL on a claim
    assert loki["singleBinary"]["persistence"]["enabled"] is True
    [agent] = [o for o in objects if o["kind"] == "StatefulSet"]
    assert [c["metadata"]["name"] for c in agent["spec"]["volumeClaimTemplates"]] == ["state"]


def test_the_adapter_image_is_the_one_the_workflow_publishes() -> None:
    install("actionlint")
    lint = subprocess.run([str(ACTIONLINT), str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = {s["uses"].split("@")[0]: s.get("with", {}) for s in workflow["jobs"]["publish"]["steps"]}
    build = steps["docker/build-push-action"]
    assert build["file"] == "deploy/Dockerfile" and build["push"] is True
    assert (ROOT / build["file"]).is_file()
    image = steps["docker/metadata-action"]["images"]
    adapter = _values()["images"]["adapter"]
    owner = re.escape("${{ github.repository_owner }}")
    match = re.fullmatch(rf"ghcr\.io/{owner}/(.+)", image)
    assert match and adapter["repository"] == f"ghcr.io/intent-observe/{match.group(1)}"
    # A tag v<version> publishes <version>: the chart's appVersion and the image tag it runs.
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert adapter["tag"] == chart["appVersion"]
    assert steps["docker/metadata-action"]["tags"] == "type=semver,pattern={{version}}"
