"""`intent-observe inspect` run as a user runs it: a real process, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
from tests.support.startup import modules_loaded

FIXTURE = Path(__file__).parent / "fixtures" / "history.jsonl"
PLAN = json.loads((Path(__file__).parent / "fixtures" / "history.plan.json").read_text())


def inspect(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "intent_observe.cli", "inspect", *args],
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_json_document_is_stable_and_complete() -> None:
    first, second = inspect("--json", str(FIXTURE)), inspect("--json", str(FIXTURE))
    assert first.returncode == 1  # the fixture has unusable lines
    assert first.stdout == second.stdout  # same input, same bytes
    doc = json.loads(first.stdout)
    # the core writes the document as orjson lays one out: sorted keys, two spaces, its escapes
    assert orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n" == first.stdout
    assert set(doc["intents"]) == set(PLAN["intents"])
    for intent in doc["intents"].values():
        assert len(intent["trace_id"]) == 32 and int(intent["trace_id"], 16)
        for art in intent["artifacts"]:
            assert {"id", "type", "span_id", "parent_span_id"} <= set(art)
            assert len(art["span_id"]) == 16
    phases = {art["phase"] for intent in doc["intents"].values() for art in intent["artifacts"]}
    assert phases == {None, "run", "lifecycle"}  # a run's and a lifecycle's span say which they are
    assert all(len(o["trace_id"]) == 32 and "id" in o for o in doc["orphans"])
    assert [set(r) for r in doc["rejected"]] == [{"file", "line", "offset", "reason"}] * PLAN[
        "rejected_lines"
    ]
    assert "intent.signals.total" in doc["metrics"] and "intent.cycle_time.spec_to_complete" in doc["metrics"]


def test_tree_output_and_exit_status(tmp_path: Path) -> None:
    clean = tmp_path / "events.jsonl"
    clean.write_text(
        '{"event":"signal.created","timestamp":"2026-03-01T00:00:00Z","span_id":"SIG-1",'
        '"data":{"title":"<b>not markup</b> [red]x[/red]"}}\n'
        '{"event":"signal.promoted","timestamp":"2026-03-02T00:00:00Z","span_id":"SIG-1","ref":"INT-1"}\n'
    )
    out = inspect(str(clean))
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert "INT-1" in text and "signal SIG-1" in text and "backfilled" in text
    assert "[red]x[/red]" in text  # user text is printed, never interpreted as markup
    assert "intent.signals.total" in text

    bad = inspect(str(FIXTURE))
    assert bad.returncode == 1
    assert "Unusable lines" in bad.stdout.decode()


def test_an_orphan_with_no_id_is_listed_by_its_file_name(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"event":"signal.created","timestamp":"2026-03-01T00:00:00Z","span_id":"unknown",'
        '"data":{"title":"Flaky","file":".intent/signals/2026-03-01-flaky.md"}}\n'
    )
    out = inspect(str(events), env={"COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    assert "│ 2026-03-01-flaky.md " in out.stdout.decode()  # not its key, cut to `signal:@.intent…`


def test_help_explains() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "intent_observe.cli", "inspect", "--help"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert b"--json" in out.stdout and b"Exit status" in out.stdout


def test_json_of_a_file_outside_a_repository_imports_no_artifact_reader_nor_rich() -> None:
    """No artifact file to read (YAML, git), no tree to draw, no derived event's id to hash, no
    path to build, no span or log record object: start-up spends nothing on them."""
    unneeded = ["yaml", "intent_observe.artifacts.files", "intent_observe.artifacts.history", "rich"]
    unneeded += ["hashlib", "pathlib", "intent_observe.records"]
    output, loaded = modules_loaded(unneeded, "inspect", "--json", str(FIXTURE))
    assert json.loads(output)["events"] > 0
    assert loaded == []
