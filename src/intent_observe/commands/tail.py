"""`intent-observe tail [PATH…]`: follow event files and export them over OTLP."""

from __future__ import annotations

import gc
import glob
import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from intent_observe.sinks.chain import SPILL_AFTER_S
from intent_observe.sinks.disk_queue import DEFAULT_MAX_BYTES

# The tail itself (the engine, the exporter and its transports) is imported when the command
# runs, not when its options are read: `tail --help` needs none of it.
if TYPE_CHECKING:
    from rich.progress import Progress

    from intent_observe.sources.tail import Batch, TailAdapter

log = logging.getLogger("intent_observe.tail")

EXIT_CONFIG = 3
_GC_THRESHOLD = 20_000  # allocations between young-generation collections (CPython: 700)
PROGRESS_MIN_BYTES = 32 * 1024 * 1024  # a replay this large shows a progress bar (on a terminal)

EPILOG = """\b
Exit codes:
  0   done (--once caught up, or stopped by SIGTERM/SIGINT after flushing)
  1   unexpected error
  2   bad command line
  3   bad exporter settings (OTEL_EXPORTER_OTLP_* or flags)
  4   state directory unusable, or another tail follows the same file
  5   the backend refused data for good (bad request, unauthorized); the checkpoint
      stays before the refused batch
  75  stopped with data not yet acknowledged: it is in the disk queue or will be
      read again; run again to deliver it
"""


def expand_paths(patterns: tuple[str, ...]) -> list[str]:
    """Globs expanded (sorted); a plain path is kept even if it does not exist yet."""
    from intent_observe.sources.tail import DEFAULT_PATH

    paths: list[str] = []
    for pattern in patterns or (DEFAULT_PATH,):
        if glob.has_magic(pattern):
            found = sorted(glob.glob(pattern, recursive=True))
            if not found:
                raise click.BadParameter(f"{pattern!r} matches no file", param_hint="PATH")
            paths.extend(found)
        else:
            paths.append(pattern)
    unique = list(dict.fromkeys(str(Path(p)) for p in paths))
    return unique


@click.command(
    "tail",
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.argument("paths", nargs=-1)
@click.option("--once", is_flag=True, help="Export what the files hold now, then exit.")
@click.option(
    "--from-beginning",
    is_flag=True,
    help="Ignore the saved checkpoint and replay every file with a fresh identity state "
    "(ids are stable, so a store keyed on ids sees nothing twice).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Identity state, checkpoints, dead-letter file and disk queue [default: .intent/observe/ "
    "beside each events file].",
)
@click.option("--endpoint", help="OTLP endpoint [env: OTEL_EXPORTER_OTLP_ENDPOINT].")
@click.option(
    "--protocol",
    type=click.Choice(["grpc", "http/protobuf"]),
    help="[env: OTEL_EXPORTER_OTLP_PROTOCOL; default http/protobuf]",
)
@click.option(
    "--compression", type=click.Choice(["gzip", "none"]), help="[env: OTEL_EXPORTER_OTLP_COMPRESSION]"
)
@click.option("--timeout", "timeout_s", type=float, help="Seconds per export attempt [env: …_TIMEOUT in ms].")
@click.option(
    "--insecure", is_flag=True, default=None, help="gRPC without TLS for an endpoint without scheme."
)
@click.option(
    "--queue-max-mb",
    type=click.IntRange(1),
    default=DEFAULT_MAX_BYTES // (1024 * 1024),
    show_default=True,
    help="Bound of the on-disk queue used while the backend is down; when full, reading pauses.",
)
@click.option(
    "--spill-after",
    type=float,
    default=SPILL_AFTER_S,
    show_default=True,
    help="Seconds a batch may wait for the backend before it goes to the disk queue.",
)
@click.option(
    "--shutdown-timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds to keep flushing after SIGTERM/SIGINT.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every batch, not only state changes.")
def tail(
    paths: tuple[str, ...],
    once: bool,
    from_beginning: bool,
    state_dir: Path | None,
    endpoint: str | None,
    protocol: str | None,
    compression: str | None,
    timeout_s: float | None,
    insecure: bool | None,
    queue_max_mb: int,
    spill_after: float,
    shutdown_timeout: float,
    verbose: bool,
) -> None:
    """Follow Intent event files and export traces, logs and intent.* metrics over OTLP.

    PATH defaults to .intent/events/events.jsonl; several files or a glob follow several
    repositories. Exporter settings come from the standard OTEL_EXPORTER_OTLP_* variables
    (headers, e.g. an Authorization for Grafana Cloud, only from the environment; never
    logged); OTEL_METRIC_EXPORT_INTERVAL sets the metrics interval. A first run reads each
    file from its start; later runs continue after the last acknowledged line.
    """
    from intent_observe import layout
    from intent_observe.sinks.chain import export_chain
    from intent_observe.sinks.disk_queue import DiskQueue, DiskQueueError
    from intent_observe.sinks.otlp_config import ExportConfigError, ExporterOptions, load_export_config
    from intent_observe.sinks.otlp_exporter import OtlpExporter
    from intent_observe.sources.tail import (
        EXIT_OK,
        EXIT_STATE,
        TailAdapter,
        TailConfig,
        TailError,
        metric_interval_from_env,
    )

    _setup_logging(verbose)
    files = expand_paths(paths)
    options = ExporterOptions(
        endpoint=endpoint,
        protocol=protocol,
        compression=compression,
        timeout_seconds=timeout_s,
        insecure=insecure,
    )
    try:
        exporter = OtlpExporter(load_export_config(options=options))
    except ExportConfigError as error:
        log.error("%s", error)
        sys.exit(EXIT_CONFIG)
    config = TailConfig(
        paths=files,
        state_dir=state_dir,
        once=once,
        from_beginning=from_beginning,
        metric_interval_s=metric_interval_from_env(),
        shutdown_timeout_s=shutdown_timeout,
    )
    queue_dir = state_dir or layout.state_dir(files[0])
    try:
        disk_queue = DiskQueue(layout.tail_queue(queue_dir, files), max_bytes=queue_max_mb * 1024 * 1024)
        sink = export_chain(exporter, disk_queue, spill_after)
        adapter = TailAdapter(config, sink)
        adapter.open()
    except (TailError, DiskQueueError, OSError) as error:
        log.error("%s", error)
        sys.exit(EXIT_STATE)
    _handle_signals(adapter)
    _tune_gc()
    sink.start()
    try:
        with _progress(adapter):
            code = adapter.run()
    finally:
        sink.shutdown()
    if code == EXIT_OK:
        log.info("stopped cleanly")
    sys.exit(code)


def _tune_gc() -> None:
    """Fewer cyclic collections: the adapter allocates many short-lived containers and makes
    no cycles on its hot path, so CPython's default (a collection every 700 allocations) spent
    ~6% of the replay CPU scanning the identity cache. Start-up objects are frozen out of it."""
    gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, 10, 10)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    for noisy in ("watchdog", "httpx", "httpcore", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if verbose:
        logging.getLogger("intent_observe.tail").setLevel(logging.DEBUG)


def _handle_signals(adapter: TailAdapter) -> None:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        if adapter.stopping:
            log.warning("second %s: exiting without waiting for the backend", signal.Signals(signum).name)
            sys.exit(75)
        log.info("%s: flushing and stopping", signal.Signals(signum).name)
        adapter.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)


class _progress:
    """A progress bar on a terminal while a large backlog is replayed; nothing otherwise."""

    def __init__(self, adapter: TailAdapter) -> None:
        self.adapter = adapter
        self.bar: Progress | None = None

    def __enter__(self) -> _progress:
        backlog = sum(t.lag_bytes() for t in self.adapter.files)
        self.bar = _terminal_bar() if backlog >= PROGRESS_MIN_BYTES else None
        if self.bar is not None:
            task = self.bar.add_task("replay", total=backlog)
            self.bar.start()
            bar = self.bar

            def advance(batch: Batch) -> None:
                bar.advance(task, batch.size)
                if bar.finished:
                    bar.stop()

            self.adapter.on_batch = advance
        elif log.isEnabledFor(logging.DEBUG):
            self.adapter.on_batch = _log_batch
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _terminal_bar() -> Progress | None:
    """A bar when stderr is a terminal (rich is imported only then: 25 ms of every start-up)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        return None
    columns = (TextColumn("replaying"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console, transient=True)


def _log_batch(batch: Batch) -> None:
    if batch.source is not None:
        log.debug(
            "delivered %d lines of %s up to byte %d (%d rejected)",
            batch.lines,
            batch.source.path,
            batch.end_offset,
            len(batch.rejected),
        )
