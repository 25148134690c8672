"""The version every part reports (the CLI, the exporter's user agent, the resource) is the installed one."""

from __future__ import annotations

import importlib.metadata

from click.testing import CliRunner

from intent_observe.cli import main
from intent_observe.version import __version__


def test_the_version_is_the_installed_distributions() -> None:
    assert __version__ == importlib.metadata.version("intent-observe") != "0.0.0"
    assert CliRunner().invoke(main, ["--version"]).output == f"intent-observe, version {__version__}\n"
