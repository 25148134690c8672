"""The `intent-observe` command: one group, each subcommand in `commands/`."""

from __future__ import annotations

import gc
import importlib

import click

from intent_observe.version import __version__

# name → "module:attribute"; imported only when the command runs, so `--help` stays fast.
COMMANDS: dict[str, str] = {
    "inspect": "intent_observe.commands.inspect:inspect_command",
    "export": "intent_observe.commands.export:export",
    "tail": "intent_observe.commands.tail:tail",
    "emit": "intent_observe.commands.emit:emit_command",
    "run": "intent_observe.commands.emit:run_command",
    "up": "intent_observe.commands.up:up",
    "status": "intent_observe.commands.up:status",
    "trace": "intent_observe.commands.up:trace",
    "events": "intent_observe.commands.up:events",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        # what start-up made (modules, classes, functions) lives as long as the process: frozen
        # out of the cyclic collector, no collection scans it again, the one at exit included
        gc.freeze()
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="intent-observe")
def main() -> None:
    """OpenTelemetry-native observability for the Intent loop.

    Reads `.intent/events/events.jsonl` and turns every signal, intent, spec and
    contract into traces, logs and metrics: locally (`up`), or shipped to any OTLP
    backend (`tail`).
    """


if __name__ == "__main__":
    main()
