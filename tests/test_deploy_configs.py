"""deploy/ read by the real tools: yamllint, docker-compose, systemd-analyze, Helm (helm-sdkpy lint,
the Helm CLI's own template rendering), kubernetes-validate --strict and the real Collector
(`otelcol validate` of the chart's agent and gateway configs)."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.chart import (
    CHART,
    HELM,
    chart_without_dependencies,
    collector_configs,
    helm_template,
)
from tests.support.deploy_tools import install
from tests.support.otelcol import validate

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PHASE1 = DEPLOY / "phase1"
PHASE2 = DEPLOY / "phase2"
BUILD = ROOT / ".build"
HELM_PYTHON = BUILD / "helm-venv" / "bin" / "python"
VENV_BIN = Path(sys.executable).parent
COMPOSE = [
    "docker-compose",
    "--env-file",
    str(PHASE2 / "env.example"),
    "-f",
    str(PHASE2 / "docker-compose.yml"),
]


def _run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: run scripts/install-system-deps.sh")
    return path


@pytest.fixture(scope="module")
def helm_tools() -> None:
    install("helm")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---- yamllint ----


def _yamllint(*args: str) -> subprocess.CompletedProcess[str]:
    return _run([str(VENV_BIN / "yamllint"), "-c", str(DEPLOY / ".yamllint"), *args])


def test_yamllint_passes_on_every_yaml_file_under_deploy() -> None:
    """As a user runs it: `yamllint -c deploy/.yamllint deploy` (the chart's Go templates excluded)."""
    listed = _yamllint("--list-files", str(DEPLOY)).stdout.split()
    expected = {
        p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"} and "templates" not in p.parts
    } | {DEPLOY / ".yamllint"}
    assert {Path(p) for p in listed} == expected
    assert len(listed) >= 15
    result = _yamllint("-f", "parsable", str(DEPLOY))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_yamllint_with_our_config_still_catches_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\na: 2\nb:   [1,2]\n", encoding="utf-8")
    result = _yamllint("-f", "parsable", str(bad))
    assert result.returncode != 0
    assert "key-duplicates" in result.stdout


# ---- phase 1 ----


def _pipelines_reference_defined_components(config: dict[str, Any]) -> None:
    service = config["service"]
    assert set(service.get("extensions", [])) <= set(config.get("extensions", {}))
    for name, pipeline in service["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(config.get(kind, {})), (name, kind)
    assert set(service["pipelines"]) == {"traces", "logs", "metrics"}


@pytest.mark.parametrize("path", [PHASE1 / "otelcol.yaml", PHASE2 / "otelcol.yaml"], ids=["phase1", "phase2"])
def test_collector_pipelines_reference_defined_components(path: Path) -> None:
    config = _yaml(path)
    _pipelines_reference_defined_components(config)
    for pipeline in config["service"]["pipelines"].values():
        # memory_limiter first and batch last, as the Collector's documentation asks.
        assert pipeline["processors"][0] == "memory_limiter"
        assert pipeline["processors"][-1] == "batch"


def test_phase1_ships_to_grafana_cloud_with_basic_auth_from_the_environment() -> None:
    config = _yaml(PHASE1 / "otelcol.yaml")
    auth = config["extensions"]["basicauth/grafana_cloud"]["client_auth"]
    assert auth == {
        "username": "${env:GRAFANA_CLOUD_INSTANCE_ID}",
        "password": "${env:GRAFANA_CLOUD_API_TOKEN}",
    }
    exporter = config["exporters"]["otlp_http/grafana_cloud"]
    assert exporter["auth"]["authenticator"] == "basicauth/grafana_cloud"
    assert exporter["endpoint"] == "${env:GRAFANA_CLOUD_OTLP_ENDPOINT}"
    protocols = config["receivers"]["otlp"]["protocols"]
    assert {p["endpoint"].split(":")[0] for p in protocols.values()} == {"127.0.0.1"}


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """The unit as a user installs it: %h paths pointed at a real executable and directory."""
    analyze = _require("systemd-analyze")
    repo = tmp_path / "my-repo"
    (repo / ".intent" / "events").mkdir(parents=True)
    env = tmp_path / "env"
    env.write_text("OTEL_SERVICE_NAME=intent\n", encoding="utf-8")
    unit = (PHASE1 / "intent-observe-tail.service").read_text(encoding="utf-8")
    installed = (
        unit.replace("%h/.local/bin/intent-observe", str(VENV_BIN / "intent-observe"))
        .replace("%h/src/my-repo", str(repo))
        .replace("%h/.config/intent-observe/env", str(env))
    )
    target = tmp_path / "intent-observe-tail.service"
    target.write_text(installed, encoding="utf-8")
    result = _run([analyze, "verify", str(target)])
    assert result.returncode == 0, result.stdout + result.stderr
    target.write_text(installed.replace("ExecStart=", "ExecStrat="), encoding="utf-8")
    assert _run([analyze, "verify", str(target)]).returncode != 0


def test_launchd_plist_parses_and_runs_tail() -> None:
    with (PHASE1 / "io.intent-observe.tail.plist").open("rb") as handle:
        plist = plistlib.load(handle)
    assert plist["Label"] == "io.intent-observe.tail"
    assert 'intent-observe" tail .intent/events/events.jsonl' in plist["ProgramArguments"][-1]
    assert plist["KeepAlive"] == {"SuccessfulExit": False}


# ---- phase 2 ----


def test_docker_compose_config_is_valid() -> None:
    result = _run([_require("docker-compose"), *COMPOSE[1:], "config", "-q"], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_refuses_to_start_without_a_grafana_password(tmp_path: Path) -> None:
    env = tmp_path / "no-password.env"
    env.write_text("GRAFANA_ADMIN_USER=admin\n", encoding="utf-8")
    args = ["--env-file", str(env), "-f", str(PHASE2 / "docker-compose.yml"), "config", "-q"]
    result = _run(
        [_require("docker-compose"), *args], cwd=ROOT, env={**os.environ, "GRAFANA_ADMIN_PASSWORD": ""}
    )
    assert result.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in result.stderr


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    result = _run([_require("docker-compose"), *COMPOSE[1:], "config"], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = yaml.safe_load(result.stdout)
    return document


def test_compose_pins_every_image_and_publishes_only_on_loopback(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"collector", "tempo", "loki", "mimir", "grafana", "adapter"} <= set(services)
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), name
        for port in service.get("ports", []):
            published = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}"
            assert published.startswith("127.0.0.1:"), (name, port)
    assert services["adapter"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / "Dockerfile").is_file()


def test_adapter_dockerfile_builds_from_what_its_context_keeps() -> None:
    """deploy/Dockerfile read by BuildKit's own parser (PyPI `dockerfile`): every COPY source exists and
    survives Dockerfile.dockerignore, the image runs `intent-observe tail` as a non-root user."""
    import dockerfile

    commands = dockerfile.parse_file(str(DEPLOY / "Dockerfile"))
    kept = {
        line[1:].rstrip("/")
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    copies = [c for c in commands if c.cmd == "COPY" and not any(f.startswith("--from") for f in c.flags)]
    sources = {source for c in copies for source in c.value[:-1]}
    assert sources == {"pyproject.toml", "README.md", "Cargo.toml", "Cargo.lock", "crates", "src"}
    assert sources <= kept
    assert all((ROOT / source).exists() for source in sources)
    final_stage = commands[max(i for i, c in enumerate(commands) if c.cmd == "FROM") :]
    user = [c.value[0] for c in final_stage if c.cmd == "USER"]
    assert user and user[-1] not in {"root", "0"}
    entrypoint = next(c.value for c in final_stage if c.cmd == "ENTRYPOINT")
    assert entrypoint == ("intent-observe",)
    assert "intent-observe" in _project_scripts()
    assert next(c.value for c in final_stage if c.cmd == "CMD")[0] == "tail"


def _project_scripts() -> set[str]:
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as handle:
        return set(tomllib.load(handle)["project"]["scripts"])


def _bind_sources(service: dict[str, Any]) -> list[tuple[str, str]]:
    binds = []
    for volume in service.get("volumes", []):
        source, target = (
            (volume.split(":")[:2]) if isinstance(volume, str) else (volume["source"], volume["target"])
        )
        if source.startswith("/"):
            binds.append((source, target))
    return binds


def test_compose_bind_mounts_exist(compose: dict[str, Any]) -> None:
    checked = 0
    for name, service in compose["services"].items():
        for source, target in _bind_sources(service):
            if name == "adapter":
                continue  # the user's repository, from INTENT_REPOSITORY
            assert Path(source).exists(), (name, source, target)
            checked += 1
    assert checked >= 8


def test_compose_has_healthchecks_that_gate_grafana(compose: dict[str, Any]) -> None:
    services = compose["services"]
    probe = " ".join(services["probe"]["healthcheck"]["test"])
    for endpoint in ("tempo:3200/ready", "loki:3100/ready", "mimir:9009/ready", "collector:13133"):
        assert endpoint in probe
    assert services["grafana"]["depends_on"]["probe"]["condition"] == "service_healthy"
    assert "healthcheck" in services["grafana"]


def test_mimir_ruler_loads_the_generated_rule_file(compose: dict[str, Any]) -> None:
    mimir = _yaml(PHASE2 / "mimir" / "mimir.yaml")
    directory = mimir["ruler_storage"]["local"]["directory"]
    binds = dict((target, source) for source, target in _bind_sources(compose["services"]["mimir"]))
    rules = binds[f"{directory}/anonymous/intent-observe.yaml"]
    assert Path(rules) == DEPLOY / "rules" / "intent-observe.rules.yaml"
    assert mimir["limits"]["otel_metric_suffixes_enabled"] is True
    assert mimir["multitenancy_enabled"] is False


def test_grafana_datasources_link_traces_logs_and_metrics(compose: dict[str, Any]) -> None:
    provisioning = _yaml(PHASE2 / "grafana" / "provisioning" / "datasources" / "intent-observe.yaml")
    by_uid = {source["uid"]: source for source in provisioning["datasources"]}
    assert {"mimir", "loki", "tempo"} <= set(by_uid)
    tempo = by_uid["tempo"]["jsonData"]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert tempo["tracesToLogsV2"]["customQuery"] is True  # tests/test_deploy_backends.py parses it
    derived = by_uid["loki"]["jsonData"]["derivedFields"][0]
    assert (derived["datasourceUid"], derived["matcherType"], derived["matcherRegex"]) == (
        "tempo",
        "label",
        "trace_id",
    )
    dashboards = _yaml(PHASE2 / "grafana" / "provisioning" / "dashboards" / "intent-observe.yaml")
    path = dashboards["providers"][0]["options"]["path"]
    binds = dict((target, source) for source, target in _bind_sources(compose["services"]["grafana"]))
    assert Path(binds[f"{path}/intent-observe.json"]) == DEPLOY / "grafana" / "intent-observe.json"


# ---- phase 3: Helm ----

_LINT = """
import asyncio, json, sys
from helm_sdkpy import Configuration
from helm_sdkpy.chart import Lint
print(json.dumps(asyncio.run(Lint(Configuration()).run(sys.argv[1]))))
"""
HELM_ERROR_SEVERITY = 3  # helm's support.ErrorSev (Unknown 0, Info 1, Warning 2, Error 3)


def _helm_sdkpy_lint(chart: Path) -> dict[str, Any]:
    result = _run([str(HELM_PYTHON), "-c", _LINT, str(chart)])
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_chart_passes_helm_lint_through_helm_sdkpy(helm_tools: None) -> None:
    report = _helm_sdkpy_lint(CHART)
    assert report["TotalChartsLinted"] == 1
    errors = [m for m in report["Messages"] if m["Severity"] >= HELM_ERROR_SEVERITY]
    # helm-sdkpy drops the messages' text; the Helm CLI's lint says what went wrong.
    assert errors == [], _run([str(HELM), "lint", str(CHART)]).stdout
    assert report["Errors"] is None


def test_helm_lint_catches_a_broken_template(helm_tools: None, tmp_path: Path) -> None:
    broken = tmp_path / "intent-observe"
    shutil.copytree(CHART, broken)
    (broken / "templates" / "broken.yaml").write_text("kind: {{ .Values.nope | quote\n", encoding="utf-8")
    report = _helm_sdkpy_lint(broken)
    assert any(m["Severity"] >= HELM_ERROR_SEVERITY for m in report["Messages"])
    assert report["Errors"]


def test_chart_declares_tempo_mimir_and_loki_as_dependencies() -> None:
    dependencies = {d.get("alias", d["name"]): d for d in _yaml(CHART / "Chart.yaml")["dependencies"]}
    assert set(dependencies) == {"tempo", "mimir", "loki"}
    for alias, dependency in dependencies.items():
        assert dependency["condition"] == f"{alias}.enabled"
        assert dependency["repository"] == "https://grafana.github.io/helm-charts"


@pytest.fixture(scope="module")
def rendered(helm_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    chart = chart_without_dependencies(tmp_path_factory.mktemp("chart"))
    values = chart.parent / "two-teams.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "teams": [
                    {"name": "platform", "gatewayReplicas": 2},
                    {"name": "payments", "gatewayReplicas": 1},
                ],
                "repositories": [
                    {"name": "web", "team": "platform", "git": {"url": "https://example.test/web.git"}},
                    {"name": "ledger", "team": "payments", "existingClaim": "ledger-checkout"},
                ],
            }
        ),
        encoding="utf-8",
    )
    result = helm_template(chart, "--values", str(values))
    assert result.returncode == 0, result.stderr
    output = chart.parent / "rendered.yaml"
    output.write_text(result.stdout, encoding="utf-8")
    return output


@pytest.mark.parametrize("kubernetes", ["1.27.0", "1.33.0"])
def test_rendered_objects_pass_kubernetes_validate_strict(rendered: Path, kubernetes: str) -> None:
    result = _run([str(VENV_BIN / "kubernetes-validate"), "--strict", "-k", kubernetes, str(rendered)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(_objects(rendered))


def test_kubernetes_validate_strict_rejects_an_unknown_field(rendered: Path, tmp_path: Path) -> None:
    objects = _objects(rendered)
    statefulset = next(o for o in objects if o["kind"] == "StatefulSet")
    statefulset["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(statefulset), encoding="utf-8")
    result = _run([str(VENV_BIN / "kubernetes-validate"), "--strict", str(bad)])
    assert result.returncode != 0


def _objects(rendered: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered.read_text(encoding="utf-8")) if doc]


def _collector_configs(rendered: Path, component: str) -> dict[str, dict[str, Any]]:
    return collector_configs(_objects(rendered), component)


def test_agents_export_to_kafka_keyed_by_trace_id(rendered: Path) -> None:
    agents = _collector_configs(rendered, "agent")
    assert set(agents) == {"intent-intent-observe-agent-web", "intent-intent-observe-agent-ledger"}
    for config in agents.values():
        _pipelines_reference_defined_components(config)
        kafka = config["exporters"]["kafka"]
        assert kafka["partition_traces_by_id"] is True
        assert kafka["traces"]["encoding"] == "otlp_proto"
    topics = {name: c["exporters"]["kafka"]["traces"]["topic"] for name, c in agents.items()}
    assert topics["intent-intent-observe-agent-ledger"] == "intent.payments.spans"


def test_gateways_keep_failed_traces_and_write_to_their_teams_tenant(rendered: Path) -> None:
    gateways = _collector_configs(rendered, "gateway")
    assert set(gateways) == {
        "intent-intent-observe-gateway-platform",
        "intent-intent-observe-gateway-payments",
    }
    for name, config in gateways.items():
        team = name.rsplit("-", 1)[1]
        _pipelines_reference_defined_components(config)
        policies = config["processors"]["tail_sampling"]["policies"]
        assert {
            "name": "keep-failures",
            "type": "status_code",
            "status_code": {"status_codes": ["ERROR"]},
        } in policies
        assert "tail_sampling" in config["service"]["pipelines"]["traces"]["processors"]
        assert config["receivers"]["kafka"]["traces"]["topics"] == [f"intent.{team}.spans"]
        for exporter in config["exporters"].values():
            assert exporter["headers"] == {"X-Scope-OrgID": team}


def ledger_args(objects: list[dict[str, Any]]) -> list[str]:
    ledger = next(
        o
        for o in objects
        if o["metadata"]["name"] == "intent-intent-observe-agent-ledger" and o["kind"] == "StatefulSet"
    )
    args: list[str] = ledger["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_rendered_workloads_match_teams_and_repositories(rendered: Path) -> None:
    objects = _objects(rendered)
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert deployments["intent-intent-observe-gateway-platform"]["spec"]["replicas"] == 2
    statefulsets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "StatefulSet"}
    web = statefulsets["intent-intent-observe-agent-web"]["spec"]["template"]["spec"]
    assert [c["name"] for c in web["containers"]] == ["adapter", "collector", "git-sync"]
    assert web["containers"][0]["args"] == [
        "tail",
        "--state-dir=/state",
        "/repo/current/.intent/events/events.jsonl",
    ]
    assert ledger_args(objects) == ["tail", "--state-dir=/state", "/repo/.intent/events/events.jsonl"]
    ledger = statefulsets["intent-intent-observe-agent-ledger"]["spec"]["template"]["spec"]
    repo_volume = next(v for v in ledger["volumes"] if v["name"] == "repo")
    assert repo_volume["persistentVolumeClaim"] == {"claimName": "ledger-checkout", "readOnly": True}
    job = next(o for o in objects if o["kind"] == "Job")
    loaded = sorted(
        arg for c in job["spec"]["template"]["spec"]["containers"] for arg in c["args"] if "--id=" in arg
    )
    assert loaded == ["--id=payments", "--id=platform"]


def test_rendered_configmaps_carry_the_generated_dashboard_and_rules(rendered: Path) -> None:
    by_name = {o["metadata"]["name"]: o for o in _objects(rendered) if o["kind"] == "ConfigMap"}
    dashboard = json.loads(by_name["intent-intent-observe-dashboard"]["data"]["intent-observe.json"])
    assert dashboard["uid"] == "intent-observe"
    rules = yaml.safe_load(by_name["intent-intent-observe-alert-rules"]["data"]["intent-observe.rules.yaml"])
    assert len(rules["groups"][0]["rules"]) == 5


def test_chart_collector_configs_pass_otelcol_validate(rendered: Path, tmp_path: Path) -> None:
    """Every agent and gateway config the chart renders, read by the real Collector."""
    validated = 0
    for component in ("agent", "gateway"):
        for name, config in _collector_configs(rendered, component).items():
            path = tmp_path / f"{name}.yaml"
            path.write_text(yaml.safe_dump(config), encoding="utf-8")
            result = validate([path], dict(os.environ))
            assert result.returncode == 0, (name, result.stdout + result.stderr)
            validated += 1
    assert validated == 4  # two agents, two gateways


def test_embedded_collector_configs_pass_yamllint(rendered: Path, tmp_path: Path) -> None:
    files = []
    for component in ("agent", "gateway"):
        for o in _objects(rendered):
            if (
                o["kind"] == "ConfigMap"
                and o["metadata"]["labels"].get("app.kubernetes.io/component") == component
            ):
                path = tmp_path / f"{o['metadata']['name']}.yaml"
                path.write_text(o["data"]["collector.yaml"], encoding="utf-8")
                files.append(str(path))
    result = _yamllint("-f", "parsable", *files)
    assert result.returncode == 0, result.stdout


def test_chart_refuses_a_repository_of_an_unknown_team(helm_tools: None, tmp_path: Path) -> None:
    chart = chart_without_dependencies(tmp_path)
    values = tmp_path / "unknown-team.yaml"
    repository = {"name": "web", "team": "nobody", "git": {"url": "https://example.test/web.git"}}
    values.write_text(yaml.safe_dump({"repositories": [repository]}), encoding="utf-8")
    result = helm_template(chart, "--values", str(values))
    assert result.returncode != 0
    assert 'names team "nobody", which is not in .Values.teams' in result.stderr


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("gateway.keepPercentage=150", "/gateway/keepPercentage"),
        ("teams[0].name=Platform_Team", "/teams/0/name"),
        ("images.collector.tag=latest", "/images/collector/tag"),
    ],
)
def test_values_schema_refuses_bad_values(
    helm_tools: None, tmp_path: Path, setting: str, complaint: str
) -> None:
    result = helm_template(chart_without_dependencies(tmp_path), "--set", setting)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_unmodified_chart_needs_its_dependencies_to_render(helm_tools: None) -> None:
    """Documents why the rendering above strips the dependencies: the Grafana chart repository is
    out of reach here, and Helm refuses to render a chart whose declared dependencies are missing."""
    result = helm_template(CHART)
    assert result.returncode != 0
    assert "missing in charts/ directory: tempo-distributed, mimir-distributed, loki" in result.stderr
