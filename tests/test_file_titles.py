"""The title an artifact file's front matter gives names its artifact, over the title its log lines
carry: an Action writes the file's headings there (an update note above the name, or only the
file's path), the author wrote `title:`. In `inspect` (the artifact's newest title) and on every
log record (the store shows a trace's newest by time) alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intent_observe.report import build_report, read_history

INTENT_FILE = ".intent/intents/INT-7-panel-review.md"
NAME = "Ship panel-review as a first-class skill"
HEADINGS = ["v2 UPDATE (after the answers)", "Original intent (v1)", NAME + " — the primitive"]


def _repo(tmp_path: Path, events: list[dict[str, object]], files: dict[str, str]) -> Path:
    """A repository (no git: the files are read as they are) with its log and artifact files."""
    log = tmp_path / ".intent" / "events" / "events.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return log


def _proposed(minute: int, headings: list[str]) -> dict[str, object]:
    return {
        "event": "intent.proposed",
        "timestamp": f"2026-04-09T14:{minute:02d}:00Z",
        "span_id": "INT-7",
        "source": "github-action",
        "data": {"title": "\n".join(headings), "file": INTENT_FILE},
    }


# accepted: the file says nothing the log did not (no derived event); shipped: it closes the intent
@pytest.mark.parametrize("status", ["accepted", "v1.0-shipped"])
def test_the_front_matter_title_names_the_intent_over_its_lines_headings(tmp_path: Path, status: str) -> None:
    events = [_proposed(0, HEADINGS), _proposed(30, ["v3 UPDATE (v1.0 SHIPPED)", *HEADINGS])]
    front = f'---\nid: INT-7\ntitle: "{NAME}"\nstatus: {status}\n---\n\n# v3 UPDATE (v1.0 SHIPPED)\n'
    log = _repo(tmp_path, events, {INTENT_FILE: front})
    run = read_history([str(log)])
    assert build_report(run)["intents"]["INT-7"]["title"] == NAME
    # every record's: the newest by time, as the store picks it, is the same
    assert {r.attributes.get("intent.title") for r in run.logs} == {NAME}
    assert all(r.body.endswith("— " + NAME) for r in run.logs)
    lines = [r for r in run.logs if r.attributes.get("intent.source") == "github-action"]
    assert lines[0].attributes["intent.data.title"] == "\n".join(HEADINGS)  # what the line said stays


def test_a_signal_file_with_no_id_is_titled_by_its_front_matter(tmp_path: Path) -> None:
    file = ".intent/signals/2026-04-08-knowledge-farm.md"
    created = {
        "event": "signal.created",
        "timestamp": "2026-04-09T19:03:18Z",
        "span_id": "unknown",
        "source": "github-action",
        "data": {"title": file, "file": file},  # the Action found no heading: it wrote the path
    }
    front = '---\ntitle: "Knowledge Farm — a product concept"\nstatus: active\n---\n\n## Observation\n'
    log = _repo(tmp_path, [created], {file: front})
    [orphan] = build_report(read_history([str(log)]))["orphans"]
    assert (orphan["id"], orphan["title"]) == (None, "Knowledge Farm — a product concept")


def test_a_file_whose_front_matter_gives_no_title_leaves_the_lines_title(tmp_path: Path) -> None:
    file = ".intent/signals/SIG-1-flaky-login.md"
    created = {
        "event": "signal.created",
        "timestamp": "2026-04-09T19:03:18Z",
        "span_id": "SIG-1",
        "data": {"title": "Flaky login", "file": file},
    }
    log = _repo(tmp_path, [created], {file: "---\nid: SIG-1\nstatus: active\n---\n\n# Login is flaky\n"})
    [orphan] = build_report(read_history([str(log)]))["orphans"]
    assert orphan["title"] == "Flaky login"  # its first heading is no name the author gave
