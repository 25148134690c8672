"""The package's shape, read from its code: imports run one way, and no module outgrows a reading.

Every `import` and `from … import` counts, wherever it stands (inside a function, under
TYPE_CHECKING): a deferred import still ties two modules together. The compiled core's
imports are the ones its Rust code makes (`py.import("intent_observe.…")`); its stub
(`_core.pyi`) only names types for mypy. The graph is drawn twice, between the sub-packages
(`store`, `otlp`, … and the top-level modules such as `cli`) and between the modules
themselves, and neither may have a cycle.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import intent_observe

ROOT = Path(intent_observe.__file__).parent
REPO = Path(__file__).resolve().parents[1]
CORE_SOURCES = REPO / "crates" / "core" / "src"
PACKAGE = "intent_observe"
CORE = "intent_observe._core"
MAX_LINES = 600


def module_files() -> dict[str, Path]:
    """Dotted name → file, for every Python module of the package."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def core_imports() -> set[str]:
    """What the compiled core imports from the package at run time."""
    pattern = re.compile(r'import\("(intent_observe[\w.]*)"\)')
    return {name for path in CORE_SOURCES.rglob("*.rs") for name in pattern.findall(path.read_text())}


def imported_names(tree: ast.Module, package: str) -> Iterator[str]:
    """Every dotted name an import statement of the module names, relative ones made absolute."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def module_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports (`from pkg import name` counts as `pkg.name`
    when that is a module, else as `pkg`), the compiled core's included."""
    files = module_files()
    known = {*files, CORE}

    def resolved(names: Iterator[str] | set[str], importer: str) -> set[str]:
        targets = set()
        for imported in names:
            while imported and imported not in known:
                imported = imported.rpartition(".")[0]
            if imported and imported != importer:
                targets.add(imported)
        return targets

    graph = {CORE: resolved(core_imports(), CORE)}
    for name, path in files.items():
        package = name if path.stem == "__init__" else name.rpartition(".")[0]
        graph[name] = resolved(imported_names(ast.parse(path.read_text()), package), name)
    return graph


def room(module: str) -> str:
    """The sub-package a module belongs to, or the top-level module itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def described(
    component: list[str], graph: dict[str, set[str]], imports: dict[tuple[str, str], set[str]]
) -> str:
    """A cycle as its edges, each with the module imports that make it (for a package edge)."""
    members = set(component)
    lines = []
    for source in component:
        for target in sorted(graph[source] & members):
            made_by = ", ".join(sorted(imports.get((source, target), ())))
            lines.append(f"  {source} → {target}" + (f": {made_by}" if made_by else ""))
    return " ↔ ".join(component) + "\n" + "\n".join(lines)


def room_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], set[str]]]:
    """Sub-package → the sub-packages it imports, and the module imports behind each edge."""
    rooms: dict[str, set[str]] = {}
    edges: dict[tuple[str, str], set[str]] = {}
    for source, targets in module_graph().items():
        rooms.setdefault(room(source), set())
        for target in targets:
            if room(source) != room(target):
                rooms[room(source)].add(room(target))
                edges.setdefault((room(source), room(target)), set()).add(f"{source} → {target}")
    return rooms, edges


def test_no_cycle_between_sub_packages() -> None:
    rooms, edges = room_graph()
    found = cycles(rooms)
    assert not found, "import cycles between sub-packages:\n" + "\n".join(
        described(component, rooms, edges) for component in found
    )


def test_no_cycle_between_modules() -> None:
    graph = module_graph()
    found = cycles(graph)
    assert not found, "import cycles between modules:\n" + "\n".join(
        described(component, graph, {}) for component in found
    )


def readme_map() -> list[str]:
    """The parts the README's architecture map lists under src/intent_observe/, in its order."""
    text = (REPO / "README.md").read_text()
    block = text[
        text.index("src/intent_observe/\n") : text.index("\ndeploy/ ", text.index("## Architecture"))
    ]
    return [re.sub(r"(/|\.py)$", "", name) for name in re.findall(r"^  (\S+)", block, re.M)]


def test_the_readme_map_lists_every_part_above_what_it_imports() -> None:
    """The map is read top-down as "imports only what is listed under it": kept true by the code."""
    listed = readme_map()
    rooms, edges = room_graph()
    assert set(rooms) - {"__init__"} <= set(listed), "parts missing from the README's map"
    upward = {
        (source, target): sorted(edges[(source, target)])
        for source in listed
        for target in rooms.get(source, set())
        if target in listed and listed.index(target) < listed.index(source)
    }
    assert upward == {}, "the README map lists these parts below what they import"


def test_no_module_over_600_lines() -> None:
    """The package's Python modules and the compiled core's Rust modules alike."""
    files = [*ROOT.rglob("*.py"), *CORE_SOURCES.rglob("*.rs")]
    long = {
        str(path.relative_to(REPO)): count
        for path in files
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_cycles_are_found(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert sorted(cycles(graph)) == expected


def test_every_kind_of_import_is_counted() -> None:
    source = """
from __future__ import annotations
from typing import TYPE_CHECKING
import intent_observe.store.store
from intent_observe.otlp import consumer
from . import sibling
from ..events import model
if TYPE_CHECKING:
    from intent_observe.web.context import AppContext
def later():
    from intent_observe.stack.stack import Stack
"""
    names = set(imported_names(ast.parse(source), "intent_observe.sinks"))
    assert {
        "intent_observe.store.store",
        "intent_observe.otlp.consumer",
        "intent_observe.sinks.sibling",
        "intent_observe.events.model",
        "intent_observe.web.context.AppContext",
        "intent_observe.stack.stack.Stack",
    } <= names
