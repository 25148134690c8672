"""`.intent/observe/config.toml`: retention of the embedded store and the alert settings.

Every key is optional; a missing file means the defaults. An unknown key or a wrong
type is an error that names the key, so a typo never silently keeps a default.
The keys, their defaults and meaning are documented in docs/observe-config.md.

    [store]
    max_age_days = 0            # delete spans/logs whose time is older (0 = keep)
    max_spans = 5000000         # keep at most this many spans, oldest deleted first (0 = no limit)
    max_logs = 5000000          # the same for log records (events)
    metric_history_days = 400   # metric value history kept for range totals and alert windows

    [alerts]
    interval_seconds = 15       # how often the rules are evaluated
    webhooks = ["https://example.com/hook"]   # JSON POSTed on every firing/resolved change
    webhook_timeout_seconds = 5
    webhook_retries = 5         # attempts after the first, with exponential backoff

    [alerts.thresholds]         # the numbers of alerts/rules.py Thresholds
    stale_intent_days = 7
    volume_surge_signals = 20
    volume_window_hours = 24
    trust_drop = 0.1
    trust_window_days = 7
    stall_hours = 48
    failure_window_minutes = 15

    [alerts.rules.IntentStale]  # per rule: enabled, for_seconds (how long the condition must hold)
    enabled = true
    for_seconds = 900
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from intent_observe.alerts.rules import RULES, Thresholds
from intent_observe.store.retention import Retention


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class RuleSettings:
    enabled: bool = True
    for_seconds: float | None = None  # None: the rule's own for_seconds


@dataclass(frozen=True)
class AlertSettings:
    interval_seconds: float = 15.0
    webhooks: tuple[str, ...] = ()
    webhook_timeout_seconds: float = 5.0
    webhook_retries: int = 5
    thresholds: Thresholds = field(default_factory=Thresholds)
    rules: dict[str, RuleSettings] = field(default_factory=dict)

    def rule(self, name: str) -> RuleSettings:
        return self.rules.get(name, RuleSettings())


@dataclass(frozen=True)
class ObserveConfig:
    store: Retention = field(default_factory=Retention)
    alerts: AlertSettings = field(default_factory=AlertSettings)


def load_config(path: Path) -> ObserveConfig:
    if not path.exists():
        return ObserveConfig()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return parse_config(doc)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_config(doc: dict[str, Any]) -> ObserveConfig:
    _known(doc, {"store", "alerts"}, "")
    store = _dataclass_from(Retention, _table(doc, "store"), "store")
    alerts_doc = dict(_table(doc, "alerts"))
    thresholds = _dataclass_from(Thresholds, _table(alerts_doc, "thresholds", "alerts."), "alerts.thresholds")
    rules = _rules(_table(alerts_doc, "rules", "alerts."))
    alerts_doc.pop("thresholds", None)
    alerts_doc.pop("rules", None)
    if "webhooks" in alerts_doc:
        hooks = alerts_doc["webhooks"]
        if not isinstance(hooks, list) or not all(isinstance(h, str) and _is_http_url(h) for h in hooks):
            raise ConfigError("alerts.webhooks must be a list of http(s) URLs")
        alerts_doc["webhooks"] = tuple(hooks)
    settings = _dataclass_from(AlertSettings, alerts_doc, "alerts", skip={"thresholds", "rules"})
    return ObserveConfig(store, AlertSettings(**{**vars(settings), "thresholds": thresholds, "rules": rules}))


def _is_http_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _table(doc: dict[str, Any], key: str, prefix: str = "") -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{prefix}{key} must be a table")
    return value


def _known(doc: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise ConfigError(f"unknown key {where}{unknown[0]} (known: {', '.join(sorted(allowed))})")


def _dataclass_from(
    cls: type, doc: dict[str, Any], where: str, skip: frozenset[str] | set[str] = frozenset()
) -> Any:
    types = {f.name: f.type for f in fields(cls) if f.name not in skip}
    _known(doc, set(types), where + ".")
    for key, value in doc.items():
        if isinstance(value, bool) or not isinstance(value, int | float | tuple):
            raise ConfigError(f"{where}.{key} must be a number, got {value!r}")
    try:
        return cls(**doc)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _rules(doc: dict[str, Any]) -> dict[str, RuleSettings]:
    names = {rule.name for rule in RULES}
    _known(doc, names, "alerts.rules.")
    out = {}
    for name, table in doc.items():
        if not isinstance(table, dict):
            raise ConfigError(f"alerts.rules.{name} must be a table")
        _known(table, {"enabled", "for_seconds"}, f"alerts.rules.{name}.")
        enabled = table.get("enabled", True)
        for_seconds = table.get("for_seconds")
        if not isinstance(enabled, bool):
            raise ConfigError(f"alerts.rules.{name}.enabled must be true or false")
        if for_seconds is not None and (
            isinstance(for_seconds, bool) or not isinstance(for_seconds, int | float) or for_seconds < 0
        ):
            raise ConfigError(f"alerts.rules.{name}.for_seconds must be a number ≥ 0")
        out[name] = RuleSettings(enabled, for_seconds)
    return out
