"""`intent-observe inspect FILE…`: what the identity engine makes of event files."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from intent_observe.artifacts.derive import NO_FRONT_MATTER
from intent_observe.identity.attributes import one_line
from intent_observe.report import Run, build_report, read_history, write_report

if TYPE_CHECKING:  # rich is imported where a tree or a progress bar is drawn, not for --json
    from rich.console import Console
    from rich.tree import Tree

_MARK = {"ok": "[green]✓[/]", "error": "[red]✗[/]"}


def _fmt_duration(seconds: float) -> str:
    if seconds <= 0:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"


def _label(entry: dict[str, Any]) -> str:
    from rich.markup import escape

    decided = entry["phase"] is not None or entry["type"] in ("assertion", "other")
    mark = _MARK[entry["status"]] if decided else ""
    parts = [f"[bold]{escape(one_line(entry['name'], 80))}[/]"]
    if entry["title"] and entry["phase"] is None:
        parts.append(f"[dim]{escape(one_line(str(entry['title']), 70))}[/]")
    duration = _fmt_duration(entry["duration_s"])
    if duration:
        parts.append(f"[cyan]{duration}[/]")
    long_lived = entry["type"] in ("intent", "spec", "contract")
    if entry["state"] == "open" and entry["phase"] is None and long_lived:
        parts.append("[yellow]open[/]")
    if entry["backfilled"]:
        parts.append("[magenta]backfilled[/]")
    if entry["status"] == "error" and entry["status_message"]:
        parts.append(f"[red]{escape(one_line(entry['status_message'], 80))}[/]")
    return " ".join(p for p in ([mark] if mark else []) + parts)


# Trace groups of the report, in the order a reader wants them.
_GROUPS = (
    ("intents", "intents"),
    ("specs", "specs with no intent"),
    ("contracts", "contracts with no spec"),
    ("clusters", "cluster traces"),
    ("decisions", "decisions"),
    ("assertions", "assertions with no contract"),
    ("other_events", "other events"),
)


def _trace(key: str, trace: dict[str, Any]) -> Tree:
    from rich.markup import escape
    from rich.tree import Tree

    root = Tree(f"[bold blue]{escape(one_line(key, 60))}[/] [dim]trace {trace['trace_id']}[/]")
    nodes = {0: root}
    for entry in trace["artifacts"]:
        parent = nodes.get(entry["depth"] - 1, root) if entry["depth"] else root
        if entry["depth"] == 0 and entry["parent_span_id"] is None and len(nodes) == 1:
            root.label = f"{root.label} {_label(entry)}"
            continue
        nodes[entry["depth"]] = parent.add(_label(entry))
    return root


def _render(doc: dict[str, Any], console: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    derived = doc["logs"] - doc["events"]  # a log record each event: the rest the front matter said
    console.print(
        f"[bold]{doc['events']}[/] events from {doc['lines']} lines"
        + (f", [bold]{derived}[/] more from the artifact files' front matter" if derived > 0 else "")
        + " · "
        f"[bold]{len(doc['intents'])}[/] intents · "
        f"[bold]{len(doc['orphans'])}[/] orphan signals · [bold]{doc['spans']}[/] spans · "
        f"[{'red' if doc['rejected'] else 'green'}]{len(doc['rejected'])} unusable lines[/]"
    )
    for group, heading in _GROUPS:
        if doc[group] and group != "intents":
            console.print(f"[bold underline]{heading}[/] ({len(doc[group])})")
        for key, trace in doc[group].items():
            console.print(_trace(key, trace))

    if doc["orphans"]:
        table = Table(title="Orphan signals", title_justify="left")
        for column in ("signal", "status", "cluster", "trace id", "title"):
            table.add_column(column)
        for o in doc["orphans"]:
            table.add_row(
                escape(one_line(_orphan_label(o), 40)),
                o["status"],
                escape(one_line(o["cluster"] or "", 20)),
                o["trace_id"],
                escape(one_line(o["title"] or "", 50)),
            )
        console.print(table)
    _render_metrics(doc["metrics"], console)
    if doc["rejected"]:
        table = Table(title="Unusable lines", title_justify="left", title_style="red")
        for column in ("file", "line", "byte", "reason"):
            table.add_column(column)
        for r in doc["rejected"]:
            table.add_row(
                escape(r["file"]), str(r["line"]), str(r["offset"]), escape(one_line(r["reason"], 100))
            )
        console.print(table)


def _orphan_label(orphan: dict[str, Any]) -> str:
    """Its id; with none, its file's name, as its span is named (else its key)."""
    if orphan["id"] or not orphan["file"]:
        return str(orphan["id"] or orphan["key"])
    return str(orphan["file"]).rsplit("/", 1)[-1]


def _render_metrics(metrics: dict[str, Any], console: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("labels")
    table.add_column("value", justify="right")
    for name, entry in metrics.items():
        for point in entry["points"]:
            labels = ",".join(f"{k}={v}" for k, v in point["labels"].items())
            if "buckets" in point:
                value = f"count={point['count']} sum={point['sum']:g}"
            else:
                value = f"{point['value']:g}"
            table.add_row(name, escape(one_line(labels, 60)), value)
    console.print(table)


@click.command("inspect")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one stable JSON document instead of the tree.")
@click.option(
    "--no-artifact-files",
    "log_only",
    is_flag=True,
    help="Read the event log alone, not what the repository's artifact files say.",
)
def inspect_command(files: tuple[str, ...], as_json: bool, log_only: bool) -> None:
    """Show what intent-observe makes of event files, before shipping them anywhere.

    Reads FILES as one history, in the order given, and prints every intent trace
    (intent → signals → specs → contracts → runs → assertions, with durations and
    pass/fail), every other trace (specs with no intent, clusters, decisions, other
    events), the orphan signals, the metric values and the unusable lines with their
    reasons. With --json, the same as one JSON document (keys: intents, specs,
    contracts, clusters, decisions, assertions, other_events, orphans, rejected,
    metrics, …); the same input always prints the same bytes.

    When FILES sit in a repository's `.intent/events/`, what its artifact files'
    front matter says joins the history: a status that closes a signal, an intent or
    a spec, a spec's `intent:`, each at the time of the commit that wrote it (git),
    else of the file's last change.

    Exit status: 0 when every line was usable, 1 when some were rejected.
    """
    run = _read(files, log_only)
    if as_json:
        write_report(run, sys.stdout.buffer)
    else:
        from rich.console import Console

        _render(build_report(run), Console(highlight=False))
    sys.exit(1 if run.rejected else 0)


def _read(files: tuple[str, ...], log_only: bool) -> Run:
    """The history, with a progress bar while a large one is read on a terminal."""
    with _progress(sum(os.path.getsize(f) for f in files)) as advance:
        derived = NO_FRONT_MATTER if log_only else None
        return read_history(files, progress=advance, records=False, derived=derived)


@contextmanager
def _progress(total_bytes: int) -> Iterator[Callable[[int], None] | None]:
    if not (sys.stderr.isatty() and total_bytes > 8 << 20):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (
        TextColumn("reading"),
        BarColumn(),
        TextColumn("{task.completed:,} lines"),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("read", total=None)
        yield lambda lines: progress.advance(task, lines)
