"""`intent-observe up` (the whole stack on this machine) and the commands that query it:
`status`, `trace`, `events` — each with `--json`, all over the app's HTTP JSON API."""

from __future__ import annotations

import errno
import logging
import os
import re
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from intent_observe import layout

# httpx and rich are imported where a request is made or a table drawn: listing the commands
# and their --help need neither. The stack is imported when `up` runs, not by the client commands.
if TYPE_CHECKING:
    from rich.console import Console

    from intent_observe.sinks.chain import Stage
    from intent_observe.stack.stack import Stack

URL_ENV = "INTENT_OBSERVE_URL"
# Also read by the receiver and the app (otlp.receiver.TOKEN_ENV); not imported from
# there so that the client commands start without loading gRPC.
TOKEN_ENV = "INTENT_OBSERVE_TOKEN"
DEFAULT_URL = "http://127.0.0.1:4040"
EXIT_UNAVAILABLE = 3
EXIT_NOT_FOUND = 4

log = logging.getLogger("intent_observe.up")


# --------------------------------------------------------------------------------- up
def _repo_root() -> Path:
    from intent_observe.emitter.draft import EmitError
    from intent_observe.emitter.emit import find_repo_root

    try:
        return find_repo_root()
    except EmitError:
        return Path.cwd()


def _forward_chain(observe_dir: Path) -> Stage:
    """The tail's batches also go to the OTLP endpoint of the standard OTEL_EXPORTER_OTLP_* variables."""
    from intent_observe.sinks.chain import export_chain
    from intent_observe.sinks.disk_queue import DiskQueue
    from intent_observe.sinks.otlp_config import load_export_config
    from intent_observe.sinks.otlp_exporter import OtlpExporter

    exporter = OtlpExporter(load_export_config())
    return export_chain(exporter, DiskQueue(layout.up_forward_queue(observe_dir)))


@click.command("up")
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help=f"Address to listen on; beyond loopback needs {TOKEN_ENV}.",
)
@click.option(
    "--port", default=4040, show_default=True, type=click.IntRange(0, 65535), help="Web app and API port."
)
@click.option(
    "--grpc-port", default=4317, show_default=True, type=click.IntRange(0, 65535), help="OTLP/gRPC port."
)
@click.option(
    "--http-port", default=4318, show_default=True, type=click.IntRange(0, 65535), help="OTLP/HTTP port."
)
@click.option("--no-receiver", is_flag=True, help="Do not accept OTLP from other programs.")
@click.option(
    "--observe-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Store, state and config.toml (default: .intent/observe).",
)
@click.option(
    "--forward",
    is_flag=True,
    help="Also export everything to the endpoint of OTEL_EXPORTER_OTLP_* (a collector, Grafana Cloud).",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Write a demo history (only into an empty events file) and keep appending a live loop.",
)
@click.option(
    "--auto-demo", is_flag=True, help="--demo when the repository has no events yet, else its own events."
)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def up(
    paths: tuple[Path, ...],
    host: str,
    port: int,
    grpc_port: int,
    http_port: int,
    no_receiver: bool,
    observe_dir: Path | None,
    forward: bool,
    demo: bool,
    auto_demo: bool,
    verbose: bool,
) -> None:
    """Start the whole observability stack on this machine: no Docker, no account.

    Follows the events files PATHS (default: .intent/events/events.jsonl of the current
    repository) into an embedded store (.intent/observe/store.db), accepts OTLP on 4317
    (gRPC) and 4318 (HTTP) from any OpenTelemetry client (Claude Code included), and
    serves the Intent Observe app, its JSON API (/docs) and Prometheus /metrics on
    http://127.0.0.1:4040. Alerts and retention: .intent/observe/config.toml.
    Stop with Ctrl-C.
    """
    from rich.console import Console
    from rich.markup import escape

    from intent_observe.safe_files import check_regular_or_absent
    from intent_observe.stack.demo import has_events, write_history
    from intent_observe.stack.stack import Stack, StackOptions, UpError

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    started = time.monotonic()
    root = _repo_root()
    events = list(paths) or [layout.events_file(root)]
    observe = observe_dir or layout.observe_dir(root)
    console = Console(stderr=True, highlight=False)
    try:
        _check_inside(root, [*([] if paths else events), *([] if observe_dir else [observe])])
        for path in events:
            check_regular_or_absent(path)
        live_demo = demo or (auto_demo and not has_events(events[0]))
        if live_demo and not has_events(events[0]):
            lines = write_history(events[0])
            console.print(f"demo: wrote {lines} events of history to {escape(str(events[0]))}")
        for path in events:
            if _created(path):
                console.print(
                    f"created an empty {escape(str(path))}: append events to it, or run `up --demo`"
                )
    except OSError as exc:
        console.print(f"[red]intent-observe up: {escape(str(exc.strerror or exc))}[/]")
        sys.exit(2)
    options = StackOptions(
        events=events,
        observe_dir=observe,
        host=host,
        port=port,
        grpc_port=None if no_receiver else grpc_port,
        http_port=None if no_receiver else http_port,
        forward=_forward_chain(observe) if forward else None,
        live_demo=live_demo,
    )
    stack = Stack(options)
    try:
        stack.start()
    except UpError as exc:
        console.print(f"[red]intent-observe up: {escape(str(exc))}[/]")
        sys.exit(2)
    _print_ready(console, stack, time.monotonic() - started)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stack.request_stop())
    try:
        stack.wait()
    finally:
        console.print("stopping…")
        stack.stop()


def _check_inside(root: Path, defaults: list[Path]) -> None:
    """The repository's own events file and observe directory must stay inside it: a cloned
    repository whose `.intent/` links elsewhere must not make `up` read or write there."""
    from intent_observe.safe_files import UnsafeFileError, inside

    for path in defaults:
        if not inside(path, root):
            raise UnsafeFileError(
                errno.EXDEV,
                f"{path} leads out of the repository {root} through a symbolic link; "
                "name the file you mean as an argument (or --observe-dir)",
            )


def _created(path: Path) -> bool:
    """Create `path` empty (and its directory) unless it exists; never through a symbolic link."""
    from intent_observe.safe_files import open_regular

    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(open_regular(path, os.O_WRONLY | os.O_CREAT, 0o644))
    return True


def _print_ready(console: Console, stack: Stack, seconds: float) -> None:
    from rich.markup import escape

    assert stack.store is not None and stack.tail is not None
    receiver = stack.receiver
    console.print(f"[bold green]Intent Observe[/] ready in {seconds:.2f} s: [bold]{stack.url}[/]")
    if receiver is not None:
        console.print(
            f"  OTLP receiver: gRPC :{receiver.grpc_port or 'off'} · HTTP :{receiver.http_port or 'off'}"
        )
    for f in stack.tail.file_status():
        console.print(f"  following {escape(f['path'])}")
    console.print(
        f"  store {escape(str(stack.store.path))} · API {stack.url}/docs · metrics {stack.url}/metrics"
    )


# --------------------------------------------------------------------- client commands
class Client:
    """The JSON API of a running `up`, with the token from the environment."""

    def __init__(self, url: str) -> None:
        import httpx

        token = os.environ.get(TOKEN_ENV)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=10.0)

    def get(self, path: str, **params: Any) -> Any:
        import httpx

        clean = {k: v for k, v in params.items() if v is not None and v != ""}
        try:
            response = self.http.get(path, params=clean)
        except httpx.HTTPError as exc:
            raise click.ClickException(
                f"no intent-observe up answers at {self.url} ({type(exc).__name__}); start it with "
                f"`intent-observe up` or pass --url"
            ) from None
        if response.status_code == 404:
            return None
        if response.status_code == 401:
            raise click.ClickException(f"{self.url} wants an access token: set {TOKEN_ENV}")
        if not response.is_success:
            raise click.ClickException(f"{path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()


def _url_option(fn: Any) -> Any:
    return click.option(
        "--url",
        envvar=URL_ENV,
        default=DEFAULT_URL,
        show_default=True,
        help=f"The running app (or ${URL_ENV}).",
    )(fn)


def _json_option(fn: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")(
        fn
    )


def _print_json(doc: Any) -> None:
    import orjson

    sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def _when(ns: int | None) -> str:
    if not ns:
        return "—"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


@click.command("status")
@_url_option
@_json_option
def status(url: str, as_json: bool) -> None:
    """What the running stack holds: store size, spans/logs/metric points, files and lag, loop numbers."""
    from rich.console import Console
    from rich.markup import escape

    client = Client(url)
    doc = {"status": client.get("/api/status"), "summary": client.get("/api/summary")}
    if as_json:
        _print_json(doc)
        return
    st, sm = doc["status"], doc["summary"]
    out = Console(highlight=False)
    out.print(f"[bold]intent-observe {escape(st['version'])}[/] at {escape(url)} · up {st['uptime_s']:.0f} s")
    out.print(f"store {escape(st['store_path'])}: {st['store_bytes'] / 1e6:.1f} MB · {st['spans']:,} spans · "
              f"{st['logs']:,} log records · {st['metric_points']:,} metric points")  # fmt: skip
    receiver = st["receiver"]
    out.print(f"OTLP receiver: gRPC {receiver.get('grpc') or 'off'} · HTTP {receiver.get('http') or 'off'}")
    for f in st["files"]:
        out.print(
            f"following {escape(f['path'])}: {f['offset']:,}/{f['size']:,} bytes (lag {f['lag_bytes']:,})"
        )
    out.print(
        f"signals {sm['signals']} · intents {sm['intents']} · specs {sm['specs']} · contracts "
        f"{sm['contracts_passed']} ✓ {sm['contracts_failed']} ✗ · events {sm['events_total']} · "
        f"last event {_when(sm['last_event_ns'])}"
    )


_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")


def _duration(start: int, end: int) -> str:
    seconds = (end - start) / 1e9
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s" if seconds > 0 else ""


def one_line(text: str, limit: int) -> str:
    from intent_observe.identity.attributes import one_line as shorten

    return shorten(text, limit)


def _span_label(span: dict[str, Any]) -> str:
    from rich.markup import escape

    passed = span.get("phase") == "run" and span["attributes"].get("intent.contract.result") == "pass"
    mark = {"error": "[red]✗[/] ", "ok": "[green]✓[/] "}.get(span["status"], "[green]✓[/] " if passed else "")
    title = span["title"]
    parts = [f"{mark}[bold]{escape(one_line(span['name'], 80))}[/]"]
    if title:
        parts.append(f"[dim]{escape(one_line(str(title), 60))}[/]")
    if span["service"] != "intent":
        parts.append(f"[magenta]{escape(span['service'])}[/]")
    duration = _duration(span["start_ns"], span["end_ns"])
    if duration:
        parts.append(f"[cyan]{duration}[/]")
    if span.get("state") == "open":  # a long-lived artifact nothing has closed yet
        parts.append("[yellow]open[/]")
    if span["status"] == "error" and span.get("status_message"):
        parts.append(f"[red]{escape(one_line(span['status_message'], 80))}[/]")
    return " ".join(parts)


@click.command("trace")
@click.argument("ident")
@_url_option
@_json_option
def trace(ident: str, url: str, as_json: bool) -> None:
    """Show one trace as a tree: IDENT is an intent id (INT-015) or a 32-hex trace id."""
    from rich.console import Console
    from rich.tree import Tree

    client = Client(url)
    if _TRACE_ID.match(ident):
        doc = client.get(f"/api/traces/{ident.lower()}")
    else:
        doc = client.get(f"/api/intents/{quote(ident, safe='')}")
    if doc is None:
        raise click.ClickException(f"no trace for {ident!r} in the running store")
    if as_json:
        _print_json(doc)
        return
    out = Console(highlight=False)
    root = Tree(
        f"[bold blue]trace {doc['trace_id']}[/] · {len(doc['spans'])} spans · {len(doc['logs'])} events"
    )
    nodes: dict[int, Any] = {-1: root}
    for span in doc["spans"]:
        parent = nodes.get(span["depth"] - 1, root)
        nodes[span["depth"]] = parent.add(_span_label(span))
    out.print(root)


_SINCE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now_ns: int) -> int:
    """`7d`, `12h`, `30m`, `2w` ago, or an ISO date/time → Unix nanoseconds."""
    match = _SINCE.match(text.strip())
    if match:
        return now_ns - int(float(match.group(1)) * _UNIT_S[match.group(2)] * 1e9)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: use a duration such as 7d, 12h, 30m or an ISO date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1e9)


@click.command("events")
@click.option("--type", "type_glob", help="Event type glob, e.g. 'contract.*'.")
@click.option("--since", help="Only newer events: 7d, 12h, 30m or an ISO date.")
@click.option("--source", help="Only events from this source (cli, mcp, github…).")
@click.option("--level", "autonomy_level", help="Only this autonomy level (L0…L4).")
@click.option("-q", "--query", "text", help="Text in the summary or artifact id.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@_url_option
@_json_option
def events(
    type_glob: str | None,
    since: str | None,
    source: str | None,
    autonomy_level: str | None,
    text: str | None,
    limit: int,
    url: str,
    as_json: bool,
) -> None:
    """Search the events of the running stack, newest first."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    since_ns = parse_since(since, time.time_ns()) if since else None
    doc = Client(url).get(
        "/api/events",
        type=type_glob,
        since=since_ns,
        source=source,
        autonomy_level=autonomy_level,
        q=text,
        limit=limit,
    )
    if as_json:
        _print_json(doc)
        return
    table = Table(title=f"{len(doc['events'])} events", title_justify="left")
    for column in ("time (UTC)", "type", "artifact", "source", "detail"):
        table.add_column(column)
    for ev in doc["events"]:
        table.add_row(
            _when(ev["time_ns"]),
            escape(ev["type"] or ""),
            escape(one_line(ev["artifact_id"] or "", 30)),
            escape(ev["source"] or ""),
            escape(one_line(ev["detail"] or "", 70)),
        )
    Console(highlight=False).print(table)
