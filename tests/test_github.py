"""GitHub → Intent events: webhook payload mapping and the Actions workflow, run for real on a git repo."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.support.deploy_tools import BUILD, install

from intent_observe.emitter.draft import EmitError
from intent_observe.emitter.emit import Emitter, emit
from intent_observe.events import ArtifactKind
from intent_observe.report import read_history
from intent_observe.sources.github import drafts_for_changes, drafts_for_delivery, references

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = REPO_ROOT / "deploy" / "github" / "intent-observe-events.yml"
BIN = Path(sys.executable).parent


def push_payload(message: str, ref: str = "refs/heads/main") -> dict[str, Any]:
    commit = {
        "id": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "message": message,
        "timestamp": "2026-03-30T16:10:00+02:00",
        "url": "https://github.com/acme/app/commit/6dcb09b",
        "added": [".intent/specs/SPEC-042.md"],
        "modified": ["src/login.py"],
        "removed": [],
    }
    return {
        "ref": ref,
        "before": "a" * 40,
        "after": commit["id"],
        "repository": {"full_name": "acme/app"},
        "pusher": {"name": "dev"},
        "sender": {"login": "dev"},
        "commits": [commit],
        "head_commit": commit,
        "forced": False,
    }


def run_payload(
    conclusion: str | None, branch: str, action: str = "completed", attempt: int = 1
) -> dict[str, Any]:
    return {
        "action": action,
        "repository": {"full_name": "acme/app"},
        "sender": {"login": "ci-bot"},
        "workflow": {"name": "CI"},
        "workflow_run": {
            "id": 30433642,
            "name": "CI",
            "run_attempt": attempt,
            "head_branch": branch,
            "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
            "display_title": "Update login retry",
            "status": "completed" if action == "completed" else "in_progress",
            "conclusion": conclusion,
            "html_url": "https://github.com/acme/app/actions/runs/30433642",
            "updated_at": "2026-03-30T14:20:00Z",
            "head_commit": {"message": "make login retry configurable"},
        },
    }


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "repo" / ".intent" / "events" / "events.jsonl"
    path.parent.mkdir(parents=True)
    emit("intent.proposed", "INT-015", data={"title": "Reliable login"}, file=path)
    emit("spec.created", "SPEC-042", "INT-015", data={"contracts": ["CON-091"]}, file=path)
    emit("contract.started", "CON-091", file=path)
    return path


def test_references_find_ids_in_branches_and_messages() -> None:
    found = references(["feature/con-091-login", "SPEC-042: retry", "see INT-15 and CON-092"])
    assert {kind.value: value for kind, value in found.items()} == {
        "contract": "CON-091",
        "spec": "SPEC-042",
        "intent": "INT-15",
    }
    assert references(["reconcile-44", "INTERNAL-3", "description"]) == {}


def test_push_lands_in_the_trace_of_the_contract_it_mentions(events: Path) -> None:
    drafts = drafts_for_delivery(
        "push", push_payload("CON-091: make login retry configurable\n\nlong body"), "d-1"
    )
    assert len(drafts) == 1
    written = Emitter(events).emit(drafts)[0].event
    assert (written["event"], written["parent_id"], written["source"], written["actor"]) == (
        "github.push",
        "CON-091",
        "github",
        "dev",
    )
    assert written["timestamp"] == "2026-03-30T14:10:00.000000Z"
    assert written["data"]["head_commit"]["message"] == "CON-091: make login retry configurable"
    assert written["data"]["intent_files"] == [".intent/specs/SPEC-042.md"]
    run = read_history([str(events)])
    contract = run.engine.state.artifacts["contract:CON-091"]
    push_span = next(s for s in run.spans.values() if s.name == "github.push")
    assert (push_span.trace_id, push_span.parent_span_id) == (contract.trace_id, contract.span_id)


def test_a_push_mentioning_nothing_is_a_standalone_event(events: Path) -> None:
    written = Emitter(events).emit(drafts_for_delivery("push", push_payload("typo")))[0].event
    assert written["parent_id"] is None and written["trace_id"] is None


@pytest.mark.parametrize(("conclusion", "verdict"), [("success", "passed"), ("failure", "failed")])
def test_ci_on_a_contract_branch_is_an_assertion_of_the_contract(
    events: Path, conclusion: str, verdict: str
) -> None:
    drafts = drafts_for_delivery("workflow_run", run_payload(conclusion, "con-091-login-retry"))
    written = Emitter(events).emit(drafts)[0].event
    assert (written["event"], written["span_id"], written["parent_id"]) == (
        f"contract.assertion.{verdict}",
        "ci/CI",
        "CON-091",
    )
    run = read_history([str(events)])
    place = run.engine.context(ArtifactKind.CONTRACT, "CON-091")  # its current run, if running
    assert place is not None
    assertion = next(s for s in run.spans.values() if s.name == "assertion ci/CI")
    assert (assertion.trace_id, assertion.parent_span_id) == (place.trace_id, place.span_id)
    assert assertion.error is (verdict == "failed")


def test_failed_ci_without_a_contract_is_a_signal_announced_once(events: Path) -> None:
    drafts = drafts_for_delivery("workflow_run", run_payload("failure", "main"), "d-9")
    emitter = Emitter(events)
    written = emitter.emit(drafts)[0].event
    assert (written["event"], written["span_id"], written["trace_id"]) == (
        "signal.created",
        "SIG-GH-30433642-1",
        None,
    )
    assert written["data"]["title"] == "CI failed: CI on main"
    before = events.read_bytes()
    with pytest.raises(EmitError, match="already in use"):  # GitHub redelivered the same delivery
        emitter.emit(drafts_for_delivery("workflow_run", run_payload("failure", "main"), "d-9"))
    assert emitter.emit(drafts, skip_existing=True)[0].lines == []
    assert events.read_bytes() == before
    rerun = drafts_for_delivery("workflow_run", run_payload("failure", "main", attempt=2))
    assert emitter.emit(rerun)[0].event["span_id"] == "SIG-GH-30433642-2"


def test_deliveries_that_mean_nothing_map_to_nothing() -> None:
    assert drafts_for_delivery("workflow_run", run_payload(None, "main", action="in_progress")) == []
    assert drafts_for_delivery("ping", {"zen": "Keep it logically awesome."}) == []
    cancelled = drafts_for_delivery("workflow_run", run_payload("cancelled", "con-091"))
    assert cancelled[0].type == "github.workflow_run.completed" and cancelled[0].parent == "CON-091"


def reader(files: dict[str, str]) -> Callable[[str], str | None]:
    return files.get


def test_changed_files_map_their_front_matter_fully() -> None:
    after = {
        ".intent/signals/templates/signal.md": "---\nid: SIG-XXX\nstatus: open\n---\n",
        ".intent/intents/_template.md": "---\nid: INT-NNN\n---\n",
        ".intent/signals/SIG-070-retries.md": "---\nid: SIG-070\nstatus: resolved  # fixed in 2.3\n"
        "trust: 0.9\nautonomy_level: L4\ncluster: reliability\n---\n",
        ".intent/intents/INT-013-a.md": "---\nid: INT-013\ntitle: Retrieval\nsignals: [SIG-070]\n---\n",
        ".intent/intents/INT-013-b.md": "---\nid: INT-013\ntitle: Safety\nstatus: v1.0-shipped\n---\n",
        ".intent/specs/SPEC-009.md": "---\nid: SPEC-009\nintent: INT-013\ncontracts: [CON-1, CON-2]\n---\n"
        "Mentions INT-999 in prose only.\n",
        ".intent/signals/SIG-071.md": "---\nid: SIG-071\nstatus: promoted\nrelated_intents: [INT-013]\n---\n",
    }
    before = {
        ".intent/signals/SIG-071.md": "---\nid: SIG-071\nstatus: open\n---\n",
        ".intent/signals/SIG-072.md": "---\nid: SIG-072\nstatus: open\n---\n",
        ".intent/signals/SIG-073.md": "---\n- not a mapping\n---\n",
    }
    changes = [("A", path) for path in after if not path.endswith("SIG-071.md")]
    changes += [("M", ".intent/signals/SIG-071.md"), ("D", ".intent/signals/SIG-072.md")]
    changes += [("D", ".intent/signals/SIG-073.md")]
    drafts = drafts_for_changes(changes, reader(after), "c0ffee", "2026-04-02T10:00:00Z", reader(before))
    got = [(d.type, d.id, d.parent, d.data["file"].rpartition("/")[2]) for d in drafts]
    assert got == [
        ("file.changed", None, None, "signal.md"),
        ("file.changed", None, None, "_template.md"),
        ("signal.created", "SIG-070", None, "SIG-070-retries.md"),
        ("signal.resolved", "SIG-070", None, "SIG-070-retries.md"),
        ("intent.proposed", "INT-013", None, "INT-013-a.md"),
        ("intent.proposed", "INT-013", None, "INT-013-b.md"),
        ("intent.completed", "INT-013", None, "INT-013-b.md"),
        ("spec.created", "SPEC-009", "INT-013", "SPEC-009.md"),
        ("signal.updated", "SIG-071", None, "SIG-071.md"),
        ("signal.promoted", "SIG-071", "INT-013", "SIG-071.md"),
        ("signal.archived", "SIG-072", None, "SIG-072.md"),
        ("file.changed", None, None, "SIG-073.md"),  # never an artifact, so none archived
    ]
    created = drafts[2].data
    assert (created["status"], created["trust_score"], created["autonomy_level"], created["cluster"]) == (
        "resolved",
        0.9,
        "L4",
        "reliability",
    )
    assert drafts[4].data["signals"] == ["SIG-070"] and drafts[7].data["contracts"] == ["CON-1", "CON-2"]
    assert "template" in drafts[0].data["not_an_artifact"]


# ------------------------------------------------------------------ the workflow, run for real
def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def workflow_steps() -> dict[str, str]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    return {step["name"]: step["run"] for step in doc["jobs"]["emit"]["steps"] if "run" in step}


def run_step(repo: Path, script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    full_env.update(PATH=f"{BIN}:{os.environ['PATH']}", RUNNER_TEMP=str(tmp_path), INTENT_ACTOR="dev", **env)
    return subprocess.run(
        ["bash", "-c", script], cwd=repo, env=full_env, capture_output=True, text=True, timeout=120
    )


def commit_files(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    repo = tmp_path / "checkout"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "config", "user.name", "dev")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "remote", "add", "origin", str(origin))
    (repo / "README.md").write_text("app\n")
    commit_files(repo, {"README.md": "app\n"}, "initial")
    git(repo, "push", "-q", "origin", "main")
    return repo


def test_the_workflow_emits_and_commits_events_for_changed_artifacts(checkout: Path, tmp_path: Path) -> None:
    steps = workflow_steps()
    emit_step, commit_step = (
        steps["Emit events for changed .intent/ files"],
        steps["Commit the appended events"],
    )
    first = git(checkout, "rev-parse", "HEAD")
    after = commit_files(
        checkout,
        {
            ".intent/signals/SIG-001-flaky-login.md": "---\nid: SIG-001\ntitle: Login flaky\n---\nseen\n",
            ".intent/signals/SIG-2026-05-26-slow-ci.md": "CI takes 40 minutes\n",
            ".intent/intents/INT-015.md": "# Reliable login\n\nsignals: SIG-001\n",
            ".intent/specs/SPEC-042.md": "---\nintent_id: INT-015\ntitle: Retry login\n---\n",
            ".intent/notes.md": "free text\n",
        },
        "intent: reliable login",
    )
    result = run_step(checkout, emit_step, tmp_path, BEFORE=first, AFTER=after)
    assert result.returncode == 0, result.stderr
    pushed = run_step(checkout, commit_step, tmp_path, GITHUB_SHA=after, GITHUB_REF_NAME="main")
    assert pushed.returncode == 0, pushed.stderr
    assert git(checkout, "log", "-1", "--format=%s") == f"intent: events for {after[:7]}"
    assert git(checkout, "rev-parse", "HEAD") == git(checkout, "rev-parse", "origin/main")

    lines = [
        orjson.loads(line) for line in (checkout / ".intent/events/events.jsonl").read_bytes().splitlines()
    ]
    by_event = {(line["event"], line["span_id"]): line for line in lines}
    assert set(by_event) == {
        ("file.changed", None),
        ("intent.proposed", "INT-015"),
        ("signal.created", "SIG-001"),
        ("signal.created", "SIG-2026-05-26-slow-ci"),
        ("spec.created", "SPEC-042"),
    }
    spec = by_event[("spec.created", "SPEC-042")]
    assert spec["parent_id"] == "INT-015" and spec["source"] == "github" and spec["actor"] == "dev"
    assert spec["trace_id"] == by_event[("intent.proposed", "INT-015")]["trace_id"] is not None
    assert by_event[("signal.created", "SIG-001")]["data"]["title"] == "Login flaky"
    assert by_event[("intent.proposed", "INT-015")]["data"]["title"] == "Reliable login"

    # A re-run of the same push announces nothing twice; the commit step has nothing to do.
    again = run_step(checkout, emit_step, tmp_path, BEFORE=first, AFTER=after)
    assert again.returncode == 0, again.stderr
    assert f"events for {after} already written" in again.stdout
    assert run_step(checkout, commit_step, tmp_path, GITHUB_SHA=after, GITHUB_REF_NAME="main").returncode == 0
    assert len((checkout / ".intent/events/events.jsonl").read_bytes().splitlines()) == len(lines)

    # The next push: a contract added, the spec edited.
    second = commit_files(
        checkout,
        {
            ".intent/contracts/CON-091.md": "---\nspec_id: SPEC-042\n---\n# Retries are bounded\n",
            ".intent/specs/SPEC-042.md": "---\nintent_id: INT-015\ntitle: Retry login, bounded\n---\n",
        },
        "intent: contract for the retry",
    )
    assert run_step(checkout, emit_step, tmp_path, BEFORE=after, AFTER=second).returncode == 0
    newest = [
        orjson.loads(line) for line in (checkout / ".intent/events/events.jsonl").read_bytes().splitlines()
    ]
    added = {(line["event"], line["span_id"], line["parent_id"]) for line in newest[len(lines) :]}
    assert added == {("contract.created", "CON-091", "SPEC-042"), ("spec.updated", "SPEC-042", "INT-015")}
    run = read_history([str(checkout / ".intent/events/events.jsonl")])
    intent = run.engine.state.artifacts["intent:INT-015"]
    contract = run.engine.state.artifacts["contract:CON-091"]
    assert contract.trace_id == intent.trace_id


def test_the_workflow_file_is_valid_yaml() -> None:
    install("actionlint")
    actionlint = BUILD / "go" / "bin" / "actionlint"
    lint = subprocess.run([str(actionlint), str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    result = subprocess.run(
        [str(BIN / "yamllint"), "-d", "{extends: relaxed, rules: {line-length: {max: 120}}}", str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert doc["permissions"] == {"contents": "write"}
    assert "!.intent/events/**" in doc[True]["push"]["paths"]  # YAML 1.1 reads `on` as true
