"""Where the state files live: the names the tail writes and `emit` reads agree by construction."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from intent_observe import layout


def test_state_sits_in_the_repositorys_observe_dir_or_beside_a_loose_file(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    assert layout.state_dir(layout.events_file(repo)) == repo / ".intent" / "observe"
    assert layout.state_dir(tmp_path / "loose" / "events.jsonl") == tmp_path / "loose" / ".intent-observe"


def test_state_dir_keeps_a_symlink_in_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git-sync's `current` link moves on every commit: the state must not move with it."""
    (tmp_path / "rev1" / ".intent" / "events").mkdir(parents=True)
    (tmp_path / "current").symlink_to(tmp_path / "rev1")
    monkeypatch.chdir(tmp_path)
    assert (
        layout.state_dir("current/.intent/events/events.jsonl")
        == tmp_path / "current" / ".intent" / "observe"
    )


def test_tail_states_are_not_its_queues_or_emits_cache(tmp_path: Path) -> None:
    events = layout.events_file(tmp_path)
    directory = layout.state_dir(events)
    directory.mkdir(parents=True)
    state = layout.tail_state(directory, layout.tail_stem(str(events), ""))
    for path in (state, layout.tail_queue(directory, [str(events)]), layout.emit_cache(events)):
        assert path.parent == directory
        path.touch()
    assert layout.tail_states(directory) == [state]


def test_one_queue_per_set_of_followed_files(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
    assert layout.tail_queue(tmp_path, [a, b]) == layout.tail_queue(tmp_path, [b, a])
    assert layout.tail_queue(tmp_path, [a, b]) != layout.tail_queue(tmp_path, [a])


def test_repository_of_an_events_file() -> None:
    assert layout.repository_of(Path("/x/repo/.intent/events/events.jsonl")) == Path("/x/repo")
    assert layout.repository_of(Path("/x/repo/logs/events.jsonl")) is None


SRC = Path(__file__).parent.parent / "src" / "intent_observe"


def _code_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """The string literals of a module, docstrings aside (f-strings by their literal parts)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found.append((node.lineno, node.value))
    return found


def test_paths_and_state_file_names_are_spelled_only_in_layout() -> None:
    named_here = [
        f"{path.relative_to(SRC)}:{line}: {text!r}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "layout.py"
        for line, text in _code_strings(ast.parse(path.read_text()))
        if text.startswith(".intent") or text.endswith((".sqlite", ".jsonl"))
    ]
    assert named_here == []
