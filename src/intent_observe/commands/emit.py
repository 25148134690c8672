"""`intent-observe emit` (append an event) and `intent-observe run` (wrap an agent session in a contract)."""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from intent_observe.emitter.draft import Draft, EmitError, default_actor, draft_from_line

# The emitter (the identity engine, SQLite) is imported when an event is written and
# subprocess when `run` starts its command: listing the commands and their --help need neither.
if TYPE_CHECKING:
    import subprocess

    from intent_observe.emitter.emit import Emitted, Emitter
    from intent_observe.records import TraceContext

# OTLP defaults for a wrapped session: our receiver (or a collector) on the loopback gRPC port.
OTLP_DEFAULTS = {
    "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
    "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1",  # its spans (beta), which TRACEPARENT parents
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
}
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_SI_KERNEL = 0x80  # si_code of a signal the terminal sent (Ctrl-C): the child got it too


def _file_option(function: Any) -> Any:
    return click.option(
        "--file",
        "file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Events file (default: .intent/events/events.jsonl of the repository around the cwd).",
    )(function)


def _emitter(file: Path | None, fsync: bool) -> Emitter:
    from intent_observe.emitter.emit import emitter_for, events_path

    try:
        return emitter_for(file if file is not None else events_path(), fsync=fsync)
    except EmitError as exc:
        raise click.ClickException(str(exc)) from None


def parse_data(pairs: Sequence[str]) -> dict[str, Any]:
    """`key=value` pairs; a value that is JSON (a number, true, a list…) is taken as JSON, else as text."""
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--data")
        try:
            data[key.strip()] = orjson.loads(text)
        except orjson.JSONDecodeError:
            data[key.strip()] = text
    return data


def _report(results: Sequence[Emitted], as_json: bool) -> None:
    for result in results:
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        if not result.lines:
            continue
        if as_json:
            for line in result.lines:
                click.echo(orjson.dumps(line).decode())
        else:
            click.echo(result.event["span_id"] or result.event["event"])


@click.command("emit")
@click.argument("event_type", metavar="TYPE", required=False)
@click.option(
    "--id",
    "artifact_id",
    help="The artifact's id (SIG-001, SPEC-042…); 'auto' takes the next free one in the repository's "
    "style (numbered, or a ULID where its ids are ULIDs); 'ulid' a new ULID id.",
)
@click.option("--parent", help="Its parent artifact: the intent of a spec, the spec of a contract…")
@click.option(
    "--data",
    "data",
    multiple=True,
    metavar="KEY=VALUE",
    help="Payload field (repeatable); JSON values allowed.",
)
@click.option(
    "--source", default="cli", show_default=True, help="Where the event comes from (cli, mcp, github…)."
)
@click.option("--actor", help="Who acted (default: $INTENT_ACTOR, $GITHUB_ACTOR or the user name).")
@click.option(
    "--timestamp", help="When it happened (ISO 8601; default now). Written as UTC with microseconds."
)
@click.option("--trace-id", help="An explicit trace id (default: the one the identity model gives).")
@click.option(
    "--raw",
    is_flag=True,
    help="Read JSON lines (either shape) from stdin, validate and append them; lines other writers "
    "write without id, parent or title are taken as they are (with a warning).",
)
@click.option("--allow-reuse", is_flag=True, help="Accept an id that an earlier event already announced.")
@click.option(
    "--skip-existing", is_flag=True, help="Leave out announcements of ids already announced (replays)."
)
@click.option("--fsync", is_flag=True, help="fsync the file before returning.")
@click.option("--json", "as_json", is_flag=True, help="Print the written lines instead of the artifact id.")
@_file_option
def emit_command(
    event_type: str | None,
    artifact_id: str | None,
    parent: str | None,
    data: tuple[str, ...],
    source: str,
    actor: str | None,
    timestamp: str | None,
    trace_id: str | None,
    raw: bool,
    allow_reuse: bool,
    skip_existing: bool,
    fsync: bool,
    as_json: bool,
    file: Path | None,
) -> None:
    """Append one well-formed event to the repository's events.jsonl, trace context filled in.

    \b
      intent-observe emit signal.created --id auto --data title='Login test flaky'
      intent-observe emit signal.clustered --id SIG-001 --parent CLU-001
      intent-observe emit signal.promoted --id SIG-001 --parent INT-001
      intent-observe emit intent.proposed --id INT-001 --data title='Reliable login'
      intent-observe emit spec.created --id SPEC-001 --parent INT-001 --data 'contracts=["CON-001"]'
      intent-observe emit contract.assertion.failed --id lint --parent CON-001 --data error='3 errors'
      my-script | intent-observe emit --raw

    Prints the artifact id (so `ID=$(intent-observe emit … --id auto)` works). Nothing
    is written when the event is incomplete or its id is taken; the reason goes to stderr.
    """
    if raw == (event_type is not None):
        raise click.UsageError("give an event TYPE, or --raw to read JSON lines from stdin (not both)")
    emitter = _emitter(file, fsync)
    if raw:
        _emit_raw(emitter, source, allow_reuse, skip_existing, as_json)
        return
    assert event_type is not None
    drafts = [
        Draft(
            type=event_type,
            id=artifact_id,
            parent=parent,
            data=parse_data(data),
            source=source,
            actor=actor or default_actor(),
            timestamp=timestamp,
            trace_id=trace_id,
        )
    ]
    try:
        results = emitter.emit(drafts, allow_reuse=allow_reuse, skip_existing=skip_existing)
    except EmitError as exc:
        raise click.ClickException(f"{exc} (nothing was written)") from None
    _report(results, as_json)


def _emit_raw(emitter: Emitter, source: str, allow_reuse: bool, skip_existing: bool, as_json: bool) -> None:
    """All of stdin or nothing; every bad line is named, the unreadable and the refused alike."""
    drafts, errors = _drafts_from_stdin(source)
    if not drafts and not errors:
        raise click.ClickException("no JSON lines on stdin")
    results: list[Emitted] = []
    try:
        if drafts:
            results = emitter.emit(
                drafts, allow_reuse=allow_reuse, skip_existing=skip_existing, lenient=True, write=not errors
            )
    except EmitError as exc:
        errors.extend(str(exc).splitlines())
    if errors:
        errors.sort(key=_line_number)
        raise click.ClickException("\n".join([*errors, "nothing was written"]))
    _report(results, as_json)


def _line_number(error: str) -> int:
    """`line 12: …` → 12, so the report follows stdin's order."""
    number = error.removeprefix("line ").partition(":")[0]
    return int(number) if number.isdigit() else 0


def _drafts_from_stdin(default_source: str) -> tuple[list[Draft], list[str]]:
    drafts, errors = [], []
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        if not raw.strip():
            continue
        try:
            draft = draft_from_line(raw, number)
        except EmitError as exc:
            errors.append(str(exc))
            continue
        draft.source = draft.source or default_source
        drafts.append(draft)
    return drafts, errors


# ---------------------------------------------------------------------- run
def session_environment(base: Mapping[str, str], context: TraceContext | None) -> dict[str, str]:
    """The child's environment: Intent ids as resource attributes, the contract span as parent,
    OTLP export on by default (what the user set stays)."""
    env = dict(base)
    for name, value in OTLP_DEFAULTS.items():
        if name == "OTEL_EXPORTER_OTLP_ENDPOINT" and any(k.startswith("OTEL_EXPORTER_OTLP_") for k in base):
            continue  # the user configured an exporter: do not redirect part of it
        env.setdefault(name, value)
    if context is None:
        return env
    ids = {
        "intent.contract.id": context.contract_id,
        "intent.spec.id": context.spec_id,
        "intent.id": context.intent_id,
    }
    existing = env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    present = {item.split("=", 1)[0].strip() for item in existing.split(",") if "=" in item}
    added = [
        f"{key}={urllib.parse.quote(value, safe='')}"
        for key, value in ids.items()
        if value is not None and key not in present
    ]
    env["OTEL_RESOURCE_ATTRIBUTES"] = ",".join(part for part in (existing.strip(" ,"), *added) if part)
    env["TRACEPARENT"] = context.traceparent
    for name, known in (
        ("INTENT_CONTRACT_ID", context.contract_id),
        ("INTENT_SPEC_ID", context.spec_id),
        ("INTENT_ID", context.intent_id),
    ):
        if known is not None:
            env[name] = known
    return env


@click.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--contract", "contract_id", required=True, help="The contract this session executes (CON-091)."
)
@click.option("--spec", "spec_id", help="Its spec, when no spec.created in the file lists the contract yet.")
@click.option("--source", default="cli", show_default=True)
@click.option("--actor", help="Who runs it (default: $INTENT_ACTOR or the user name).")
@click.option("--fsync", is_flag=True, help="fsync each event.")
@_file_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(
    contract_id: str,
    spec_id: str | None,
    source: str,
    actor: str | None,
    fsync: bool,
    file: Path | None,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND (e.g. `claude …`) as contract CONTRACT, inside the intent's trace.

    \b
      intent-observe run --contract CON-091 -- claude -p "make the login test pass"

    Emits contract.started, runs the command with TRACEPARENT set to the contract's span
    and OTEL_RESOURCE_ATTRIBUTES extended by intent.contract.id, intent.spec.id and
    intent.id (Claude Code telemetry on, OTLP to 127.0.0.1:4317 unless OTEL_EXPORTER_OTLP_*
    is set), forwards SIGINT/SIGTERM/SIGHUP, then emits contract.completed with the
    duration and exit status (result fail on a non-zero exit) and exits with the
    command's status.
    """
    emitter = _emitter(file, fsync)
    who = actor or default_actor()
    agent = Path(command[0]).name
    started = _emit_or_fail(
        emitter, Draft("contract.started", contract_id, spec_id, {"agent": agent}, source, who)
    )
    if started.context is None:
        click.echo(
            f"warning: {contract_id} is not under a known intent yet: the session runs without TRACEPARENT",
            err=True,
        )
    began = time.monotonic()
    try:
        status = _run_forwarding_signals(list(command), session_environment(os.environ, started.context))
    except OSError as exc:
        status = 127
        click.echo(f"error: cannot run {command[0]}: {exc.strerror}", err=True)
    completed = Draft(
        "contract.completed", contract_id, None, _outcome(status, time.monotonic() - began), source, who
    )
    try:
        emitter.emit([completed])
    except (EmitError, OSError) as exc:
        # Keep the outcome: it can be appended later with `emit --raw`.
        line = {
            "event": completed.type,
            "contract_id": contract_id,
            "timestamp": time.time(),
            **completed.data,
        }
        click.echo(f"error: contract.completed not written ({exc}): {orjson.dumps(line).decode()}", err=True)
    sys.exit(status)


def _emit_or_fail(emitter: Emitter, draft: Draft) -> Emitted:
    try:
        result = emitter.emit([draft])[0]
    except EmitError as exc:
        raise click.ClickException(f"{exc} (the command was not started)") from None
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    return result


def _outcome(status: int, seconds: float) -> dict[str, Any]:
    data: dict[str, Any] = {"duration": round(seconds, 3), "exit_code": status}
    if status > 128 and status - 128 in signal.valid_signals():
        data["signal"] = signal.Signals(status - 128).name
    data["result"] = "pass" if status == 0 else "fail"
    return data


def _run_forwarding_signals(command: list[str], env: dict[str, str]) -> int:
    """Run the child to its end; a signal to us reaches it once. Returns a shell-style exit status."""
    import subprocess

    child = subprocess.Popen(command, env=env)
    # macOS has no sigtimedwait (no siginfo): there every signal is forwarded.
    wait = _wait_with_sigtimedwait if hasattr(signal, "sigtimedwait") else _wait_with_handlers
    code = wait(child)
    return code if code >= 0 else 128 - code


def _wait_with_sigtimedwait(child: subprocess.Popen[bytes]) -> int:
    watched = (*_FORWARDED, signal.SIGCHLD)  # SIGCHLD wakes the wait the moment the child ends
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    try:
        while True:
            code = child.poll()
            if code is not None:
                return code
            info = signal.sigtimedwait(watched, 1.0)
            if info is None or info.si_signo == signal.SIGCHLD:
                continue
            # Ctrl-C in the terminal reaches the whole foreground group, the child included.
            if not (info.si_signo == signal.SIGINT and info.si_code == _SI_KERNEL):
                child.send_signal(info.si_signo)
    finally:
        while signal.sigtimedwait(watched, 0) is not None:
            pass  # arrived as the child ended: we are about to exit anyway, with its status
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _wait_with_handlers(child: subprocess.Popen[bytes]) -> int:
    previous = {sig: signal.signal(sig, lambda s, _f: child.send_signal(s)) for sig in _FORWARDED}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
