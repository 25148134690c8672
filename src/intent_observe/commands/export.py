"""`intent-observe export grafana|rules`: the dashboard and the alert rules, generated from code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

# The generators (and yaml, json) are imported by the subcommand that writes: listing the
# commands and their --help need none of them.


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target, then rename: a failed export never leaves half a file.
    partial = output.with_name(output.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(output)
    click.echo(f"wrote {output}", err=True)


_OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="File to write; standard output when omitted.",
)


@click.group("export")
def export() -> None:
    """Write the Grafana dashboard or the Prometheus/Mimir alert rules."""


@export.command("grafana")
@_OUTPUT
def export_grafana(output: Path | None) -> None:
    """The Intent Observe dashboard (uid intent-observe) as Grafana dashboard JSON."""
    import json

    from intent_observe.deploy.dashboard import dashboard

    _write(json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n", output)


@export.command("rules")
@_OUTPUT
@click.option("--stale-intent-days", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--volume-surge-signals", type=click.IntRange(min=1), default=None)
@click.option("--trust-drop", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--stall-hours", type=click.FloatRange(min=0, min_open=True), default=None)
def export_rules(
    output: Path | None,
    stale_intent_days: float | None,
    volume_surge_signals: int | None,
    trust_drop: float | None,
    stall_hours: float | None,
) -> None:
    """The five alert rules as a Prometheus/Mimir rule file (thresholds default to the design page's)."""
    from intent_observe.alerts.rules import Thresholds
    from intent_observe.deploy.rulefile import rule_file_yaml

    given: dict[str, Any] = {
        "stale_intent_days": stale_intent_days,
        "volume_surge_signals": volume_surge_signals,
        "trust_drop": trust_drop,
        "stall_hours": stall_hours,
    }
    thresholds = Thresholds(**{name: value for name, value in given.items() if value is not None})
    _write(rule_file_yaml(thresholds), output)
