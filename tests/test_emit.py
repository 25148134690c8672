"""The emitter: well-formed envelope lines, identity-model trace context, safe concurrent appends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from intent_observe.cli import main
from intent_observe.emitter.draft import EmitError
from intent_observe.emitter.emit import emit, find_repo_root
from intent_observe.events import Event, Rejected, parse_file
from intent_observe.identity import ids
from intent_observe.report import build_report, read_history

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".intent").mkdir(parents=True)
    (root / "src" / "deep").mkdir(parents=True)
    return root


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def events_file(repo: Path) -> Path:
    return repo / ".intent" / "events" / "events.jsonl"


def build_loop(repo: Path) -> None:
    """Three signals clustered, one promoted (the others backfilled), an intent, a spec, two contracts."""
    for n in (1, 2, 3):
        emit("signal.created", f"SIG-00{n}", data={"title": f"login flaky #{n}"}, repo=repo)
        emit("signal.clustered", f"SIG-00{n}", "CL-001", repo=repo)
    emit("signal.created", "SIG-009", data={"title": "unrelated"}, repo=repo)
    emit("signal.promoted", "SIG-001", "INT-001", data={"reason": "recurring"}, repo=repo)
    emit("intent.proposed", "INT-001", data={"title": "Reliable login"}, repo=repo)
    emit("spec.created", "SPEC-001", "INT-001", data={"contracts": ["CON-001", "CON-002"]}, repo=repo)
    for contract in ("CON-001", "CON-002"):
        emit("contract.started", contract, repo=repo)  # its spec comes from spec.created
        emit("contract.assertion.passed", "tests_pass", contract, repo=repo)
    emit("contract.assertion.failed", "lint", "CON-002", data={"error": "3 errors"}, repo=repo)
    emit("contract.completed", "CON-001", data={"result": "pass", "duration": 12}, repo=repo)
    emit("contract.completed", "CON-002", data={"result": "fail", "duration": 30}, repo=repo)


def test_finds_the_repository_from_a_subdirectory(repo: Path) -> None:
    assert find_repo_root(repo / "src" / "deep") == repo.resolve()
    result = emit("signal.created", "SIG-001", data={"title": "x"}, repo=repo / "src" / "deep")
    assert result.path == events_file(repo).resolve()
    assert len(lines_of(events_file(repo))) == 1


def test_every_line_is_a_complete_envelope(repo: Path) -> None:
    build_loop(repo)
    keys = [
        "version",
        "event",
        "timestamp",
        "trace_id",
        "span_id",
        "parent_id",
        "source",
        "actor",
        "ref",
        "data",
    ]
    for line in lines_of(events_file(repo)):
        assert list(line) == keys
        assert line["version"] == "0.2.0"
        assert line["timestamp"].endswith("Z") and len(line["timestamp"]) == len(
            "2026-01-01T00:00:00.000000Z"
        )
    assert not [item for item in parse_file(str(events_file(repo))) if isinstance(item, Rejected)]


def test_trace_context_follows_the_identity_model(repo: Path) -> None:
    build_loop(repo)
    lines = lines_of(events_file(repo))
    run = read_history([str(events_file(repo))])
    intent = run.engine.state.artifacts["intent:INT-001"]
    intent_trace = ids.uuid_form(intent.trace_id)
    cluster_trace = f"cluster-{ids.uuid_form(run.engine.state.artifacts['cluster:CL-001'].trace_id)}"
    for line in lines:
        event = line["event"]
        if event in ("signal.created",):
            assert line["trace_id"] is None, line  # an orphan observation has no trace
        elif event == "signal.clustered":
            assert line["trace_id"] == cluster_trace
            assert line["parent_id"] == "CL-001"
        else:
            assert line["trace_id"] == intent_trace, line
    parents = {(line["event"], line["span_id"]): line["parent_id"] for line in lines}
    assert parents[("spec.created", "SPEC-001")] == "INT-001"
    assert parents[("contract.started", "CON-001")] == "SPEC-001"
    assert parents[("contract.assertion.failed", "lint")] == "CON-002"


def test_emitted_history_reads_as_one_complete_trace(repo: Path) -> None:
    build_loop(repo)
    run = read_history([str(events_file(repo))])
    assert not run.rejected
    intent = run.engine.state.artifacts["intent:INT-001"]
    tree = [(entry["name"], entry["depth"]) for entry in build_report(run)["intents"]["INT-001"]["artifacts"]]
    assert tree[0] == ("intent INT-001", 0)
    for name in ("signal SIG-001", "signal SIG-002", "signal SIG-003", "spec SPEC-001"):
        assert (name, 1) in tree
    assert ("signal SIG-009", 1) not in tree
    assert ("contract CON-001", 2) in tree and ("contract CON-002", 2) in tree
    assert ("contract CON-002 · run 1", 3) in tree
    assert ("assertion lint", 4) in tree  # under the run it was evaluated in
    assert sum(1 for name, _ in tree if name.startswith("assertion")) == 3
    # Every log record sits in a trace: the intent's, or (orphan signals) the signal's own.
    assert all(record.trace_id for record in run.logs)
    spans = {span.name: span for span in run.spans.values() if span.trace_id == intent.trace_id}
    assert spans["contract CON-002 · run 1"].error and not spans["contract CON-001 · run 1"].error


def test_promotion_backfills_every_member_signal_once(repo: Path) -> None:
    build_loop(repo)
    lines = lines_of(events_file(repo))
    promoted = [line for line in lines if line["event"] == "signal.promoted"]
    assert [(p["span_id"], p["data"].get("backfill", False)) for p in promoted] == [
        ("SIG-001", False),
        ("SIG-002", True),
        ("SIG-003", True),
    ]
    assert all(p["parent_id"] == "INT-001" and p["data"]["cluster_id"] == "CL-001" for p in promoted)
    run = read_history([str(events_file(repo))])
    metrics = run.engine.state.metrics
    assert metrics.signals == {"python": 4}  # backfill lines do not count signals again
    backfilled = [s for s in run.spans.values() if s.attributes.get("intent.backfilled")]
    assert sorted(s.name for s in backfilled) == ["signal SIG-001", "signal SIG-002", "signal SIG-003"]
    # A later intent event adds no second backfill for signals already in the intent.
    emit("intent.accepted", "INT-001", repo=repo)
    assert lines_of(events_file(repo))[-1]["event"] == "intent.accepted"


def test_intent_listing_signals_backfills_them(repo: Path) -> None:
    for n in (1, 2):
        emit("signal.created", f"SIG-00{n}", data={"title": f"s{n}"}, repo=repo)
    result = emit(
        "intent.proposed", "INT-007", data={"title": "t", "signals": ["SIG-001", "SIG-002"]}, repo=repo
    )
    assert [line["span_id"] for line in result.lines] == ["INT-007", "SIG-001", "SIG-002"]
    assert {line["trace_id"] for line in result.lines} == {result.event["trace_id"]}
    uuid.UUID(result.event["trace_id"])  # the intent's trace id is a UUID, as the framework writes it


def test_an_explicit_intent_trace_id_is_kept_and_inherited(repo: Path) -> None:
    chosen = str(uuid.uuid4())
    emit("intent.proposed", "INT-001", data={"title": "t"}, trace_id=chosen, repo=repo)
    spec = emit("spec.created", "SPEC-001", "INT-001", repo=repo)
    assert spec.event["trace_id"] == chosen
    run = read_history([str(events_file(repo))])
    assert run.engine.state.artifacts["spec:SPEC-001"].trace_id == uuid.UUID(chosen).hex


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event": "signal.created", "data": {"title": "x"}}, "needs the id of its signal"),
        ({"event": "signal.created", "id": "SIG-1"}, "needs a title"),
        ({"event": "spec.created", "id": "SPEC-1"}, "needs its parent intent"),
        ({"event": "spec.created", "id": "SPEC-1", "parent": "CON-1"}, "must name its intent"),
        ({"event": "contract.started", "id": "CON-404"}, "needs its parent spec"),
        ({"event": "contract.assertion.failed", "id": "lint"}, "needs its parent contract"),
        ({"event": "Signal Created", "id": "SIG-1"}, "not of the form"),
        ({"event": "signal.created", "id": "SIG\n1", "data": {"title": "x"}}, "one line"),
        ({"event": "signal.created", "id": "unknown", "data": {"title": "x"}}, "names nothing"),
        (
            {"event": "signal.created", "id": "SIG-1", "data": {"title": "x", "signal_id": "SIG-2"}},
            "contradicts",
        ),
        (
            {"event": "signal.created", "id": "SIG-1", "data": {"title": "x"}, "timestamp": "soon"},
            "timestamp",
        ),
        ({"event": "decision.recorded", "id": "DEC-1", "data": {"blob": b"\x00"}}, "not JSON"),
    ],
)
def test_incomplete_events_are_refused_and_nothing_is_written(
    repo: Path, kwargs: dict[str, Any], message: str
) -> None:
    emit("signal.created", "SIG-001", data={"title": "keep me"}, repo=repo)
    before = events_file(repo).read_bytes()
    event = kwargs.pop("event")
    with pytest.raises(EmitError, match=message):
        emit(event, repo=repo, **kwargs)
    assert events_file(repo).read_bytes() == before
    # The emitter is still usable after a refusal.
    emit("signal.created", "SIG-002", data={"title": "next"}, repo=repo)
    assert len(lines_of(events_file(repo))) == 2


def test_ids_are_never_reused_silently(repo: Path) -> None:
    emit("signal.created", "SIG-001", data={"title": "first"}, repo=repo)
    with pytest.raises(EmitError, match="already in use"):
        emit("signal.created", "SIG-001", data={"title": "second"}, repo=repo)
    assert emit("signal.created", "auto", data={"title": "second"}, repo=repo).event["span_id"] == "SIG-002"
    reused = emit("signal.created", "SIG-001", data={"title": "again"}, allow_reuse=True, repo=repo)
    assert reused.event["span_id"] == "SIG-001"
    # A signal merely listed by an intent has not been announced: creating it is no reuse.
    emit("intent.proposed", "INT-001", data={"title": "t", "signals": ["SIG-010"]}, repo=repo)
    emit("signal.created", "SIG-010", data={"title": "late"}, repo=repo)
    assert emit("signal.created", "auto", data={"title": "n"}, repo=repo).event["span_id"] == "SIG-011"


def test_a_last_line_without_newline_stays_apart(repo: Path) -> None:
    path = events_file(repo)
    path.parent.mkdir(parents=True)
    partial = orjson.dumps(
        {
            "event_type": "signal.created",
            "signal_id": "SIG-100",
            "title": "h",
            "timestamp": "2026-01-01T00:00:00Z",
        }
    )
    path.write_bytes(partial)
    emit("signal.created", "auto", data={"title": "after"}, repo=repo)
    raw = path.read_bytes().splitlines()
    assert raw[0] == partial
    assert orjson.loads(raw[1])["span_id"] == "SIG-101"  # the hand-written line counted for `auto`


WORKER = """
import sys
from intent_observe.emitter.emit import emit
worker, count, pad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for n in range(count):
    emit("signal.created", f"SIG-{worker}-{n:05d}", data={"title": f"w{worker} n{n} " + "x" * pad})
"""


def test_concurrent_writers_never_interleave(repo: Path) -> None:
    workers, per_worker = 4, 750
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(w), str(per_worker), str(6000 if w % 2 else 40)],
            cwd=repo / "src",
        )
        for w in range(workers)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * workers
    items = list(parse_file(str(events_file(repo))))
    assert not [i for i in items if isinstance(i, Rejected)]
    assert len(items) == workers * per_worker
    by_worker: dict[str, list[int]] = {}
    for item in items:
        assert isinstance(item, Event) and item.artifact_id is not None
        _, worker, n = item.artifact_id.split("-")
        by_worker.setdefault(worker, []).append(int(n))
    assert by_worker == {str(w): list(range(per_worker)) for w in range(workers)}


AUTO_WORKER = """
import sys
from intent_observe.emitter.emit import emit
for n in range(int(sys.argv[1])):
    emit("signal.created", "auto", data={"title": "auto"})
"""


def test_concurrent_auto_ids_are_unique(repo: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", AUTO_WORKER, "150"], cwd=repo) for _ in range(3)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    got = [line["span_id"] for line in lines_of(events_file(repo))]
    assert sorted(got) == [f"SIG-{n:03d}" for n in range(1, 451)]


def test_cli_emit_prints_the_id_and_reports_errors(repo: Path) -> None:
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        first = runner.invoke(main, ["emit", "signal.created", "--id", "auto", "--data", "title=Login flaky"])
        assert first.exit_code == 0, first.output
        assert first.stdout.strip() == "SIG-001"
        typed = runner.invoke(
            main,
            [
                "emit",
                "intent.proposed",
                "--id",
                "INT-001",
                "--data",
                "title=T",
                "--data",
                'signals=["SIG-001"]',
            ],
        )
        assert typed.exit_code == 0, typed.output
        bad = runner.invoke(main, ["emit", "spec.created", "--id", "SPEC-1"])
        assert bad.exit_code == 1
        assert "needs its parent intent" in bad.stderr and "nothing was written" in bad.stderr
        both = runner.invoke(main, ["emit", "signal.created", "--raw"])
        assert both.exit_code == 2
    finally:
        os.chdir(cwd)
    lines = lines_of(events_file(repo))
    assert [(line["event"], line["source"]) for line in lines][:2] == [
        ("signal.created", "cli"),
        ("intent.proposed", "cli"),
    ]
    assert lines[1]["data"]["signals"] == ["SIG-001"]


def test_cli_raw_normalises_lines_and_fills_trace_context(repo: Path) -> None:
    emit("intent.proposed", "INT-001", data={"title": "t"}, repo=repo)
    emit("spec.created", "SPEC-001", "INT-001", data={"contracts": ["CON-092"]}, repo=repo)
    flat = {
        "event_type": "contract.assertion.failed",
        "contract_id": "CON-092",
        "assertion_id": "assert-2",
        "assertion_name": "lint_passes",
        "error": "eslint: 3 errors",
        "timestamp": "2026-03-30T17:03:45+02:00",
    }
    # Python MCP servers: json.dumps with spaces, a naive utcnow() timestamp.
    mcp_style = json.dumps(
        {
            "event": "contract.started",
            "timestamp": "2026-03-31T02:16:42.691454",
            "span_id": "CON-092",
            "source": "mcp",
        }
    )
    stdin = mcp_style + "\n" + orjson.dumps(flat).decode() + "\n"
    result = CliRunner().invoke(main, ["emit", "--raw", "--file", str(events_file(repo))], input=stdin)
    assert result.exit_code == 0, result.output
    started, failed = lines_of(events_file(repo))[-2:]
    trace = lines_of(events_file(repo))[0]["trace_id"]
    assert started["timestamp"] == "2026-03-31T02:16:42.691454Z" and started["source"] == "mcp"
    assert (started["trace_id"], started["parent_id"]) == (trace, "SPEC-001")
    assert failed["timestamp"] == "2026-03-30T15:03:45.000000Z"
    assert (failed["span_id"], failed["parent_id"], failed["trace_id"]) == ("assert-2", "CON-092", trace)
    assert failed["data"]["error"] == "eslint: 3 errors" and "event_type" not in failed["data"]


def signal_line(signal_id: str) -> str:
    doc = {
        "event": "signal.created",
        "span_id": signal_id,
        "timestamp": "2026-01-01T00:00:00Z",
        "data": {"title": "t"},
    }
    return orjson.dumps(doc).decode()


def test_cli_raw_with_a_bad_line_writes_nothing(repo: Path) -> None:
    emit("signal.created", "SIG-001", data={"title": "x"}, repo=repo)
    before = events_file(repo).read_bytes()
    good = signal_line("SIG-002")
    stdin = "\n".join([good, "{not json", '{"event":"signal.created"}']) + "\n"
    result = CliRunner().invoke(main, ["emit", "--raw", "--file", str(events_file(repo))], input=stdin)
    assert result.exit_code == 1
    assert "line 2: invalid JSON" in result.stderr and "line 3: no timestamp" in result.stderr
    assert events_file(repo).read_bytes() == before
    reuse = signal_line("SIG-001")
    result = CliRunner().invoke(
        main, ["emit", "--raw", "--file", str(events_file(repo))], input=good + "\n" + reuse
    )
    assert result.exit_code == 1 and "already in use" in result.stderr
    assert events_file(repo).read_bytes() == before


def test_package_exports_emit(repo: Path) -> None:
    import intent_observe

    assert intent_observe.emit is emit


FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from intent_observe.emitter.draft import EmitError
from intent_observe.emitter.emit import emit
events = Path(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (events.stat().st_size + 100, resource.RLIM_INFINITY))
try:
    emit("signal.created", "SIG-002", data={"title": "x" * 1000}, file=events)
except EmitError as exc:
    print(exc)
"""


def test_a_failed_append_leaves_no_half_line(repo: Path) -> None:
    emit("signal.created", "SIG-001", data={"title": "first"}, repo=repo)
    before = events_file(repo).read_bytes()
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(events_file(repo))], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "cannot append to" in result.stdout
    assert events_file(repo).read_bytes() == before
