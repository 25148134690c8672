"""The five alert rules as a Prometheus/Mimir rule file (the format `promtool check rules` reads)."""

from __future__ import annotations

from typing import Any

import yaml

from intent_observe.alerts.rules import DEFAULT_THRESHOLDS, RULES, AlertRule, Thresholds

GROUP_NAME = "intent-observe"


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _rule_entry(rule: AlertRule, thresholds: Thresholds) -> dict[str, Any]:
    entry: dict[str, Any] = {"alert": rule.name, "expr": rule.promql(thresholds)}
    if rule.for_seconds:
        entry["for"] = _duration(rule.for_seconds)
    entry["labels"] = {"severity": str(rule.severity)}
    entry["annotations"] = {"summary": rule.summary, "description": rule.description}
    return entry


def rule_groups(thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    rules = [_rule_entry(rule, thresholds) for rule in RULES]
    # No `interval`: the evaluator's default (1m in Prometheus and Mimir) applies, and promtool's
    # unit tests can evaluate the week-long cases every 5 minutes.
    return {"groups": [{"name": GROUP_NAME, "rules": rules}]}


class _BlockStrings(yaml.SafeDumper):
    """Writes multi-line strings (long PromQL) as `|-` blocks so every line stays short."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStrings.add_representer(str, _represent_str)


def to_yaml(document: dict[str, Any]) -> str:
    body = yaml.dump(document, Dumper=_BlockStrings, sort_keys=False, allow_unicode=True, width=10_000)
    return "---\n" + body


def rule_file_yaml(thresholds: Thresholds = DEFAULT_THRESHOLDS) -> str:
    return to_yaml(rule_groups(thresholds))
