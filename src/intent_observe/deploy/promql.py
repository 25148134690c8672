"""Which series a PromQL expression reads, so generated panels and rules can be checked
against the metric catalog (a renamed metric must not leave a query on a missing series)."""

from __future__ import annotations

import re

from intent_observe.deploy.dashboard import CLAUDE_CODE_SERIES
from intent_observe.metrics.catalog import ALL_METRICS, Kind

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w$.])([a-zA-Z_:][\w:]*)\b(?!\s*\()")
# Grafana's `label_values(metric, label)`: only the first argument is a series.
_LABEL_VALUES = re.compile(r"label_values\(\s*([^,()]*?)\s*,\s*\w+\s*\)")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring", "inf", "nan", "atan2"}
)
_DURATION = re.compile(r"^\d")


def series_names(expression: str) -> set[str]:
    """Metric names an expression selects (function names, labels and keywords excluded)."""
    text = _LABEL_VALUES.sub(r"\1", expression)
    text = _STRING.sub('""', text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {
        name
        for name in _IDENTIFIER.findall(text)
        if name.lower() not in _KEYWORDS and not _DURATION.match(name)
    }


def known_series() -> frozenset[str]:
    """Series names the catalog's metrics produce in Prometheus, plus Claude Code's."""
    names: set[str] = set(CLAUDE_CODE_SERIES)
    for metric in ALL_METRICS:
        if metric.kind is Kind.HISTOGRAM:
            names.update(f"{metric.prom_name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(metric.prom_name)
    return frozenset(names)
