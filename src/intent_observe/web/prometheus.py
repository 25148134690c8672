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
from intent_observe.store.metric_queries import Series

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
EXPORTED_PREFIX = "intent."
_NOT_IN_METRIC_NAME = re.compile(r"[^a-zA-Z0-9_:]")
_NOT_IN_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")
# Label names a histogram's own lines use; a series label of that name is renamed.
_HISTOGRAM_LABELS = frozenset({"le"})
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_KIND_OF_STORED = {
    "counter": Kind.COUNTER,
    "updown": Kind.GAUGE,
    "gauge": Kind.GAUGE,
    "histogram": Kind.HISTOGRAM,
}

Labels = tuple[tuple[str, str], ...]


# The tail's health as `up` serves it (not part of the catalog: no adapter exports these).
TAIL_UP = MetricDef(
    "intent.observe.tail.up",
    Kind.GAUGE,
    "1 while the tail adapter follows every events file, 0 while it is down or a file cannot be read",
    "1",
)
TAIL_RESTARTS = MetricDef(
    "intent.observe.tail.restarts", Kind.COUNTER, "Times the tail adapter was restarted after a failure", "1"
)
# sent by no client: a stored series of one of these names is left out
_RESERVED = frozenset(metric.prom_name for metric in (TAIL_UP, TAIL_RESTARTS))


def definition(series: Series) -> MetricDef:
    known = BY_NAME.get(series.name)
    if known is not None:
        return known
    kind = _KIND_OF_STORED.get(series.kind, Kind.GAUGE)
    # the help line names the metric as it was sent, before its name was sanitised
    return MetricDef(series.name, kind, f"OTel metric {series.name}", series.unit or "1")


# ---- the one sanitiser: every name, label and text written into the exposition passes here
def metric_name(name: str) -> str:
    clean = _NOT_IN_METRIC_NAME.sub("_", name)
    return clean if clean and not clean[0].isdigit() else "_" + clean


def label_name(name: str) -> str:
    clean = _NOT_IN_LABEL_NAME.sub("_", name)
    if not clean or clean[0].isdigit():
        clean = "_" + clean
    # `__`-names are Prometheus' own (`__name__`): a series label may not take one
    return "_" + clean.lstrip("_") if clean.startswith("__") else clean


def escape_label_value(value: str) -> str:
    text = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be sent
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def help_text(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8").replace("\\", "\\\\").replace("\n", "\\n")


def series_labels(labels: dict[str, Any], kind: Kind) -> Labels:
    """Sanitised, sorted label pairs; of two labels that sanitise to the same name, the first is kept."""
    out: dict[str, str] = {}
    for key, value in sorted(labels.items()):
        name = label_name(key)
        if kind is Kind.HISTOGRAM and name in _HISTOGRAM_LABELS:
            name = "_" + name
        out.setdefault(name, str(value))
    return tuple(sorted(out.items()))


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


def _families(series: list[Series]) -> dict[str, tuple[MetricDef, dict[Labels, Any]]]:
    """prom name → (its definition, label set → value or histogram), summed across repositories.

    A name reached by series of another kind (two OTel names sanitised alike) keeps the kind
    it was first seen with; the others are left out, as are names that a histogram's own
    `_bucket`/`_sum`/`_count` lines use: each name is one family, as the format requires."""
    families: dict[str, tuple[MetricDef, dict[Labels, Any]]] = {}
    for s in series:
        metric = definition(s)
        name = metric_name(metric.prom_name)
        known = families.get(name)
        if known is not None and known[0].kind is not metric.kind:
            continue
        values = families.setdefault(name, (metric, {}))[1]
        key = series_labels(s.labels, metric.kind)
        if metric.kind is Kind.HISTOGRAM:
            values[key] = _add_histogram(values.get(key), s.histogram)
        elif metric.unit == "s" and metric.kind is Kind.GAUGE:
            values[key] = max(values.get(key, -math.inf), s.value)  # a timestamp: the newest
        else:
            values[key] = values.get(key, 0.0) + s.value
    taken = {
        name + suffix
        for name, (metric, _) in families.items()
        if metric.kind is Kind.HISTOGRAM
        for suffix in _HISTOGRAM_SUFFIXES
    }
    return {name: family for name, family in families.items() if name not in taken | _RESERVED}


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
    lines: list[str] = []
    for prom_name, (metric, values) in sorted(_families(wanted).items()):
        if metric.description:
            lines.append(f"# HELP {prom_name} {help_text(metric.description)}")
        lines.append(f"# TYPE {prom_name} {metric.kind.value}")
        for labels, value in sorted(values.items()):
            if metric.kind is Kind.HISTOGRAM:
                lines += _histogram_lines(prom_name, labels, value)
            else:
                lines.append(f"{prom_name}{_labels(labels)} {number(value)}")
    return "\n".join(lines) + "\n" if lines else ""


def _histogram_lines(name: str, labels: Labels, hist: dict[str, Any] | None) -> list[str]:
    if not hist:
        return []
    out, cumulative = [], 0
    for bound, count in zip([*hist["bounds"], math.inf], hist["counts"], strict=True):
        cumulative += count
        out.append(f"{name}_bucket{_labels((*labels, ('le', number(float(bound)))))} {cumulative}")
    out.append(f"{name}_sum{_labels(labels)} {number(float(hist['sum']))}")
    out.append(f"{name}_count{_labels(labels)} {number(float(hist['count']))}")
    return out


def render_tail_health(status: dict[str, Any]) -> str:
    lines = []
    for metric, value in ((TAIL_UP, 1.0 if status["ok"] else 0.0), (TAIL_RESTARTS, status["restarts"])):
        name = metric_name(metric.prom_name)
        lines += [f"# HELP {name} {help_text(metric.description)}", f"# TYPE {name} {metric.kind.value}"]
        lines.append(f"{name} {number(float(value))}")
    return "\n".join(lines) + "\n"
