"""The demo history: its artifact files agree with its events, and it never mixes into a real tree."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from intent_observe.artifacts.files import read_artifacts
from intent_observe.stack.demo import history, write_artifact_files, write_history

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def open_signals_by_events(lines: list[bytes]) -> set[str]:
    """Signals announced and then never clustered, promoted or resolved, read straight off the lines."""
    announced, closed = set(), set()
    for raw in lines:
        doc = orjson.loads(raw)
        event = doc.get("event") or doc.get("event_type")
        signal = doc.get("span_id") if "event" in doc else doc.get("signal_id")
        if event == "signal.created" and signal != "unknown":
            announced.add(signal)
        elif event in ("signal.clustered", "signal.promoted", "signal.resolved"):
            closed.add(signal)
    return announced - closed


def test_the_files_say_what_the_events_say(tmp_path: Path) -> None:
    events = tmp_path / ".intent" / "events" / "events.jsonl"
    written = write_history(events, NOW)
    lines = events.read_bytes().splitlines()
    assert written == len(lines) > 500
    artifacts, skipped = read_artifacts(tmp_path)
    assert skipped == []
    open_files = {art.id for art in artifacts if art.kind.value == "signal" and not art.closed}
    assert open_files == open_signals_by_events(lines)
    specs = {art.id: art.links.intent for art in artifacts if art.kind.value == "spec"}
    spec_lines = [orjson.loads(raw) for raw in lines if b'"spec.created"' in raw]
    assert specs == {doc["span_id"]: (doc["data"]["intent_id"],) for doc in spec_lines}


def test_the_history_is_the_same_every_time() -> None:
    assert history(NOW) == history(NOW)


def test_no_demo_files_in_a_tree_that_has_artifacts_or_through_a_symlink(tmp_path: Path) -> None:
    _, files = history(NOW)
    real = tmp_path / "real"
    (real / ".intent" / "signals").mkdir(parents=True)
    (real / ".intent" / "signals" / "SIG-001.md").write_text("---\nid: SIG-001\n---\n")
    assert write_artifact_files(real, files) == 0
    assert [p.name for p in (real / ".intent").rglob("*") if p.is_file()] == ["SIG-001.md"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / ".intent").symlink_to(elsewhere)
    assert write_artifact_files(linked, files) == 0
    assert list(elsewhere.iterdir()) == []
    fresh = tmp_path / "fresh"
    assert write_artifact_files(fresh, files) == len(files)
