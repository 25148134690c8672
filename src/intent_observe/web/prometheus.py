"""The store's newest `intent.*` metric values in the Prometheus text exposition format (0.0.4).

Names come from the metric catalog (`MetricDef.prom_name`), so a Prometheus scraping
`/metrics` sees the same series as one reading the Collector or Mimir. Several
repositories' adapters may report the same series: they are added up (newest wins for
timestamps), so each series appears once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from intent_observe.metrics.catalog import BY_NAME, Kind, MetricDef
from intent_observe.store.queries import Series

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
EXPORTED_PREFIX = "intent."
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")
_KIND_OF_STORED = {
    "counter": Kind.COUNTER,
    "updown": Kind.GAUGE,
    "gauge": Kind.GAUGE,
    "histogram": Kind.HISTOGRAM,
}


def definition(series: Series) -> MetricDef:
    known = BY_NAME.get(series.name)
    if known is not None:
        return known
    return MetricDef(series.name, _KIND_OF_STORED.get(series.kind, Kind.GAUGE), "", series.unit or "1")


def label_name(name: str) -> str:
    clean = _LABEL_NAME.sub("_", name)
    return clean if clean and not clean[0].isdigit() else "_" + clean


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _merge(series: list[Series]) -> dict[str, dict[tuple[tuple[str, str], ...], Any]]:
    """prom name → label set → value (float) or histogram dict, summed across repositories."""
    merged: dict[str, dict[tuple[tuple[str, str], ...], Any]] = {}
    for s in series:
        metric = definition(s)
        key = tuple(sorted((label_name(k), str(v)) for k, v in s.labels.items()))
        values = merged.setdefault(metric.prom_name, {})
        if metric.kind is Kind.HISTOGRAM:
            values[key] = _add_histogram(values.get(key), s.histogram)
        elif metric.unit == "s" and metric.kind is Kind.GAUGE:
            values[key] = max(values.get(key, -math.inf), s.value)  # a timestamp: the newest
        else:
            values[key] = values.get(key, 0.0) + s.value
    return merged


def _add_histogram(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    if old is None or new is None or old["bounds"] != new["bounds"]:
        return new or old
    return {
        "bounds": old["bounds"],
        "counts": [a + b for a, b in zip(old["counts"], new["counts"], strict=True)],
        "sum": old["sum"] + new["sum"],
        "count": old["count"] + new["count"],
    }


def render(series: list[Series]) -> str:
    """The exposition text for every `intent.*` series given."""
    wanted = [s for s in series if s.name.startswith(EXPORTED_PREFIX)]
    defs = {definition(s).prom_name: definition(s) for s in wanted}
    lines: list[str] = []
    for prom_name, values in sorted(_merge(wanted).items()):
        metric = defs[prom_name]
        if metric.description:
            lines.append(f"# HELP {prom_name} {metric.description.replace(chr(10), ' ')}")
        lines.append(f"# TYPE {prom_name} {metric.kind.value}")
        for labels, value in sorted(values.items()):
            if metric.kind is Kind.HISTOGRAM:
                lines += _histogram_lines(prom_name, labels, value)
            else:
                lines.append(f"{prom_name}{_labels(labels)} {number(value)}")
    return "\n".join(lines) + "\n" if lines else ""


def _histogram_lines(
    name: str, labels: tuple[tuple[str, str], ...], hist: dict[str, Any] | None
) -> list[str]:
    if not hist:
        return []
    out, cumulative = [], 0
    for bound, count in zip([*hist["bounds"], math.inf], hist["counts"], strict=True):
        cumulative += count
        out.append(f"{name}_bucket{_labels((*labels, ('le', number(float(bound)))))} {cumulative}")
    out.append(f"{name}_sum{_labels(labels)} {number(float(hist['sum']))}")
    out.append(f"{name}_count{_labels(labels)} {number(float(hist['count']))}")
    return out
