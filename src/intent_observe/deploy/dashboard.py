"""The "Intent Observe" Grafana dashboard (uid `intent-observe`), generated from the metric catalog.

Rows follow the design page: stats; cycle time and trust distribution; the live event
stream (LogQL on Loki); the trace explorer (TraceQL on Tempo); then Claude Code's own
metrics. Every PromQL series name comes from `intent_observe.metrics.catalog` or from
`CLAUDE_CODE_SERIES` below, so a renamed metric changes the panels with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intent_observe.metrics.catalog import (
    CONTRACTS_TOTAL,
    CYCLE_INTENT_TO_SPEC,
    CYCLE_SIGNAL_TO_INTENT,
    CYCLE_SPEC_TO_COMPLETE,
    EVENTS_TOTAL,
    INTENTS_ACTIVE,
    INTENTS_TOTAL,
    PIPELINE_DEPTH,
    SIGNALS_ACTIVE,
    SIGNALS_TOTAL,
    SPECS_IN_PROGRESS,
    SPECS_TOTAL,
    MetricDef,
)

UID = "intent-observe"
TITLE = "Intent Observe"
# Grafana 11.6's dashboard schema version (the deploy/ stack pins Grafana 11.6.3).
SCHEMA_VERSION = 41
SERVICE_NAME = "intent"

# Claude Code exports `claude_code.token.usage` (unit "tokens") and `claude_code.cost.usage`
# (unit "USD") as monotonic sums. The OTel → Prometheus translation (Collector exporters,
# Mimir/Prometheus OTLP ingestion with suffixes on) turns dots into underscores, appends the
# unit unchanged unless it is a `{annotation}`, and appends `_total` to monotonic sums.
CLAUDE_TOKENS = "claude_code_token_usage_tokens_total"
CLAUDE_COST = "claude_code_cost_usage_USD_total"
CLAUDE_SESSIONS = "claude_code_session_count_total"
CLAUDE_CODE_SERIES: frozenset[str] = frozenset({CLAUDE_TOKENS, CLAUDE_COST, CLAUDE_SESSIONS})

PROMETHEUS = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "${logs}"}
TEMPO = {"type": "tempo", "uid": "${traces}"}

SOURCE_MATCH = 'source=~"$source"'
LEVEL_MATCH = 'autonomy_level=~"$autonomy_level"'
EVENT_TYPE_MATCH = 'event_type=~"$event_type"'
EVENT_MATCHERS = f"{SOURCE_MATCH}, {EVENT_TYPE_MATCH}"
PASSED = 'result="pass"'
FAILED = 'result="fail"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = True


@dataclass
class _Layout:
    """Hands out panel ids and grid positions left to right, row by row (24 columns)."""

    next_id: int = 1
    x: int = 0
    y: int = 0
    row_height: int = 0

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def place(self, width: int, height: int) -> dict[str, int]:
        if self.x + width > 24:
            self.new_line()
        position = {"h": height, "w": width, "x": self.x, "y": self.y}
        self.x += width
        self.row_height = max(self.row_height, height)
        return position

    def new_line(self) -> None:
        self.y += self.row_height
        self.x = 0
        self.row_height = 0


def _selector(metric: MetricDef, matchers: str = "", suffix: str = "") -> str:
    return f"{metric.prom_name}{suffix}{{{matchers}}}" if matchers else f"{metric.prom_name}{suffix}"


def _prometheus_targets(queries: tuple[Query, ...]) -> list[dict[str, Any]]:
    return [
        {
            "refId": chr(ord("A") + index),
            "datasource": PROMETHEUS,
            "expr": query.expr,
            "legendFormat": query.legend or "__auto",
            "instant": query.instant,
            "range": not query.instant,
        }
        for index, query in enumerate(queries)
    ]


def _field_config(unit: str = "", decimals: int | None = None) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit} if unit else {}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {"defaults": defaults, "overrides": []}


def _panel(
    layout: _Layout,
    kind: str,
    title: str,
    size: tuple[int, int],
    datasource: dict[str, str],
    targets: list[dict[str, Any]],
    options: dict[str, Any],
    field_config: dict[str, Any] | None = None,
    description: str = "",
) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "id": layout.take_id(),
        "type": kind,
        "title": title,
        "gridPos": layout.place(*size),
        "datasource": datasource,
        "targets": targets,
        "options": options,
        "fieldConfig": field_config or _field_config(),
    }
    if description:
        panel["description"] = description
    return panel


def _row(layout: _Layout, title: str) -> dict[str, Any]:
    layout.new_line()
    row = {
        "id": layout.take_id(),
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": layout.place(24, 1),
    }
    layout.new_line()
    return row


# Panel options as Grafana 11.6 saves them: complete, so they validate against its panel types.
_REDUCE_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}
_LEGEND = {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True}
_STAT_OPTIONS = {
    "reduceOptions": _REDUCE_LAST,
    "colorMode": "value",
    "graphMode": "none",
    "justifyMode": "auto",
    "orientation": "horizontal",
    "percentChangeColorMode": "standard",
    "showPercentChange": False,
    "textMode": "value_and_name",
    "wideLayout": True,
}
_BAR_OPTIONS = {
    "reduceOptions": _REDUCE_LAST,
    "displayMode": "basic",
    "legend": {**_LEGEND, "showLegend": False},
    "maxVizHeight": 300,
    "minVizHeight": 16,
    "minVizWidth": 8,
    "namePlacement": "auto",
    "orientation": "horizontal",
    "showUnfilled": True,
    "sizing": "auto",
    "valueMode": "color",
}
_TIMESERIES_OPTIONS = {"legend": _LEGEND, "tooltip": {"mode": "multi", "sort": "desc"}}
_TABLE_OPTIONS = {"frameIndex": 0, "showHeader": True}
_LOGS_OPTIONS = {
    "dedupStrategy": "none",
    "enableLogDetails": True,
    "prettifyLogMessage": False,
    "showCommonLabels": False,
    "showLabels": False,
    "showLogContextToggle": True,
    "showTime": True,
    "sortOrder": "Descending",
    "wrapLogMessage": True,
}


def _stat(layout: _Layout, title: str, *queries: Query, unit: str = "none") -> dict[str, Any]:
    return _panel(
        layout,
        "stat",
        title,
        (6, 5),
        PROMETHEUS,
        _prometheus_targets(queries),
        _STAT_OPTIONS,
        _field_config(unit, decimals=0 if unit == "none" else None),
    )


def _stats_row(layout: _Layout) -> list[dict[str, Any]]:
    contracts = CONTRACTS_TOTAL
    return [
        _row(layout, "Overview"),
        _stat(layout, "Signals", Query(f"sum({_selector(SIGNALS_TOTAL, SOURCE_MATCH)})", "Signals")),
        _stat(
            layout,
            "Intents",
            Query(f"sum({INTENTS_TOTAL.prom_name})", "Promoted"),
            Query(f"sum({INTENTS_ACTIVE.prom_name})", "Active"),
        ),
        _stat(
            layout,
            "Specs",
            Query(f"sum({SPECS_TOTAL.prom_name})", "Created"),
            Query(f"sum({SPECS_IN_PROGRESS.prom_name})", "In progress"),
        ),
        _stat(
            layout,
            "Contracts ✓ / ✗",
            Query(f"sum({_selector(contracts, PASSED)})", "✓ passed"),
            Query(f"sum({_selector(contracts, FAILED)})", "✗ failed"),
        ),
    ]


CYCLE_STAGES: tuple[tuple[str, MetricDef], ...] = (
    ("Signal → Intent", CYCLE_SIGNAL_TO_INTENT),
    ("Intent → Spec", CYCLE_INTENT_TO_SPEC),
    ("Spec → Complete", CYCLE_SPEC_TO_COMPLETE),
)
QUANTILES: tuple[tuple[str, float], ...] = (("median", 0.5), ("p95", 0.95))


def cycle_time_queries() -> tuple[Query, ...]:
    """Median and p95 of each stage over every observation so far (the buckets are cumulative)."""
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by (le) ({_selector(metric, suffix='_bucket')}))",
            f"{stage} {label}",
        )
        for stage, metric in CYCLE_STAGES
        for label, q in QUANTILES
    )


def _flow_row(layout: _Layout) -> list[dict[str, Any]]:
    trust = Query(f"sum by (autonomy_level) ({_selector(SIGNALS_ACTIVE, LEVEL_MATCH)})", "{{autonomy_level}}")
    pipeline = (
        Query(f"sum({PIPELINE_DEPTH.prom_name})", "Pipeline depth", instant=False),
        Query(f"sum({INTENTS_ACTIVE.prom_name})", "Active intents", instant=False),
        Query(f"sum({SPECS_IN_PROGRESS.prom_name})", "Specs in progress", instant=False),
    )
    return [
        _row(layout, "Flow"),
        _panel(
            layout,
            "bargauge",
            "Cycle time (median · p95)",
            (12, 8),
            PROMETHEUS,
            _prometheus_targets(cycle_time_queries()),
            _BAR_OPTIONS,
            _field_config("s"),
        ),
        _panel(
            layout,
            "bargauge",
            "Trust distribution (active signals by autonomy level)",
            (12, 8),
            PROMETHEUS,
            _prometheus_targets((trust,)),
            _BAR_OPTIONS,
            _field_config("none", decimals=0),
        ),
        _panel(
            layout,
            "timeseries",
            "Work in flight",
            (12, 7),
            PROMETHEUS,
            _prometheus_targets(pipeline),
            _TIMESERIES_OPTIONS,
        ),
        _panel(
            layout,
            "timeseries",
            "Events per minute by type",
            (12, 7),
            PROMETHEUS,
            _prometheus_targets(
                (
                    Query(
                        f"sum by (event_type) (rate({_selector(EVENTS_TOTAL, EVENT_MATCHERS)}"
                        "[$__rate_interval])) * 60",
                        "{{event_type}}",
                        instant=False,
                    ),
                )
            ),
            _TIMESERIES_OPTIONS,
        ),
    ]


def event_stream_logql() -> str:
    """Loki's OTLP ingestion indexes `service.name` as `service_name` and keeps log attributes
    as structured metadata with dots turned into underscores (`intent.event.type` → `intent_event_type`)."""
    return (
        f'{{service_name="{SERVICE_NAME}"}}'
        ' | intent_event_type=~"$event_type" | intent_source=~"$source"'
        ' | intent_autonomy_level=~"$autonomy_level|"'
    )


def _event_stream_row(layout: _Layout) -> list[dict[str, Any]]:
    target = {"refId": "A", "datasource": LOKI, "expr": event_stream_logql(), "queryType": "range"}
    return [
        _row(layout, "Event stream"),
        _panel(
            layout,
            "logs",
            "Live event stream",
            (24, 10),
            LOKI,
            [target],
            _LOGS_OPTIONS,
            description="One log line per event: time, type, artifact id and summary; open a line for "
            "source, actor and the trace it belongs to.",
        ),
    ]


def intent_traces_traceql() -> str:
    return f'{{resource.service.name="{SERVICE_NAME}" && span.intent.artifact.type="intent"}}'


def orphan_signals_traceql() -> str:
    # An orphan signal is its own trace: its root span is the signal itself.
    return f'{{resource.service.name="{SERVICE_NAME}" && trace:rootName =~ "signal .*"}}'


def _traces_row(layout: _Layout) -> list[dict[str, Any]]:
    def search(title: str, traceql: str, width: int) -> dict[str, Any]:
        target = {
            "refId": "A",
            "datasource": TEMPO,
            "queryType": "traceql",
            "query": traceql,
            "limit": 50,
            "spss": 3,
            "tableType": "traces",
            "filters": [],
        }
        return _panel(layout, "table", title, (width, 10), TEMPO, [target], _TABLE_OPTIONS)

    return [
        _row(layout, "Trace explorer"),
        search("Intents (span count, duration; open one for its waterfall)", intent_traces_traceql(), 14),
        search("Orphan signals", orphan_signals_traceql(), 10),
    ]


def _claude_code_row(layout: _Layout) -> list[dict[str, Any]]:
    contracts = f"sum(increase({CONTRACTS_TOTAL.prom_name}[$__range]))"
    cost = f"sum(increase({CLAUDE_COST}[$__range]))"
    return [
        _row(layout, "Claude Code"),
        _panel(
            layout,
            "timeseries",
            "Tokens per minute by type",
            (12, 7),
            PROMETHEUS,
            _prometheus_targets(
                (Query(f"sum by (type) (rate({CLAUDE_TOKENS}[$__rate_interval])) * 60", "{{type}}", False),)
            ),
            _TIMESERIES_OPTIONS,
        ),
        _stat(layout, "Cost in range", Query(cost, "Cost"), unit="currencyUSD"),
        _stat(
            layout,
            "Cost per contract",
            Query(f"{cost} / clamp_min({contracts}, 1)", "USD / contract"),
            unit="currencyUSD",
        ),
        _stat(layout, "Sessions in range", Query(f"sum(increase({CLAUDE_SESSIONS}[$__range]))", "Sessions")),
    ]


def _datasource_variable(name: str, label: str, plugin: str) -> dict[str, Any]:
    return {"type": "datasource", "name": name, "label": label, "query": plugin, "hide": 0, "refresh": 1}


def _label_values_variable(name: str, label: str, metric: MetricDef, label_name: str) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": PROMETHEUS,
        "query": {"qryType": 1, "query": f"label_values({metric.prom_name}, {label_name})", "refId": name},
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
    }


def variables() -> list[dict[str, Any]]:
    return [
        _datasource_variable("datasource", "Metrics", "prometheus"),
        _datasource_variable("logs", "Logs", "loki"),
        _datasource_variable("traces", "Traces", "tempo"),
        _label_values_variable("source", "Source", EVENTS_TOTAL, "source"),
        # Values as the derivation emits them: L0–L4, and "unscored" for signals without a trust score yet.
        _label_values_variable("autonomy_level", "Autonomy level", SIGNALS_ACTIVE, "autonomy_level"),
        _label_values_variable("event_type", "Event type", EVENTS_TOTAL, "event_type"),
    ]


def panels() -> list[dict[str, Any]]:
    layout = _Layout()
    return [
        *_stats_row(layout),
        *_flow_row(layout),
        *_event_stream_row(layout),
        *_traces_row(layout),
        *_claude_code_row(layout),
    ]


def dashboard() -> dict[str, Any]:
    return {
        "uid": UID,
        "title": TITLE,
        "description": "Signals, intents, specs and contracts of the Intent loop (intent-observe).",
        "tags": ["intent", "intent-observe", "opentelemetry"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": [],
        "annotations": {"list": []},
        "templating": {"list": variables()},
        "panels": panels(),
    }


def promql_expressions(document: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: Prometheus targets and query variables."""
    expressions = [
        target["expr"]
        for panel in document["panels"]
        for target in panel.get("targets", [])
        if target.get("datasource", {}).get("type") == "prometheus"
    ]
    expressions += [
        variable["query"]["query"]
        for variable in document["templating"]["list"]
        if variable["type"] == "query" and variable.get("datasource", {}).get("type") == "prometheus"
    ]
    return expressions
