"""The intent.* metrics a small history implies, and the catalog's Prometheus names."""

from __future__ import annotations

from typing import Any

from helpers import events_of
from intent_observe.identity.engine import Engine
from intent_observe.metrics import catalog
from intent_observe.metrics.derive import as_json, snapshot
from test_identity import LOOP, clustered, promoted, sig, spec


def metrics_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    engine = Engine()
    for ev in events_of(docs):
        engine.process(ev)
    engine.finalize()
    return as_json(snapshot(engine.state))


def value(metrics: dict[str, Any], name: str, **labels: str) -> float:
    points = [p for p in metrics[name]["points"] if all(p["labels"].get(k) == v for k, v in labels.items())]
    assert len(points) == 1, (name, labels, metrics[name]["points"])
    return points[0]["value"] if "value" in points[0] else points[0]


def test_counters_gauges_and_histograms_of_a_small_history() -> None:
    docs = [
        sig(1, "SIG-10", "a", trust_score=0.1),  # L0
        sig(1, "SIG-11", "b", trust_score=0.5),  # L2
        sig(1, "SIG-12", "c", trust_score=0.9),  # L4
        {"event_type": "signal.dismissed", "signal_id": "SIG-12", "timestamp": "2026-03-02T00:00:00Z"},
        {
            "event": "signal.created",
            "timestamp": "2026-03-01T00:00:00Z",
            "span_id": "SIG-13",
            "source": "mcp",
        },
        *LOOP,
        spec(6, "SPEC-2", "INT-1", ["CON-2"]),
        {"event_type": "contract.started", "contract_id": "CON-2", "timestamp": "2026-03-07T00:00:00Z"},
    ]
    m = metrics_of(docs)
    assert value(m, "intent.signals.total", source="cli") == 5  # SIG-1, SIG-2, SIG-10..12
    assert value(m, "intent.signals.total", source="mcp") == 1
    assert value(m, "intent.specs.total") == 2
    assert value(m, "intent.intents.total") == 1
    assert value(m, "intent.contracts.total", result="fail") == 1
    assert value(m, "intent.contracts.total", result="pass") == 0
    assert value(m, "intent.assertions.total", result="fail") == 1
    assert value(m, "intent.assertions.total", result="pass") == 1
    assert value(m, "intent.events.total", event_type="signal.created", source="cli") == 5
    # Active: SIG-10 (L0), SIG-11 (L2), SIG-13 (unscored); SIG-12 dismissed, SIG-1/2 promoted.
    assert value(m, "intent.signals.active", autonomy_level="L0") == 1
    assert value(m, "intent.signals.active", autonomy_level="L2") == 1
    assert value(m, "intent.signals.active", autonomy_level="L4") == 0
    assert value(m, "intent.signals.active", autonomy_level="unscored") == 1
    assert value(m, "intent.signals.trust_avg") == (0.1 + 0.5) / 2
    assert value(m, "intent.intents.active") == 1
    assert value(m, "intent.specs.in_progress") == 2  # both specs have started contracts
    assert value(m, "intent.pipeline.depth") == 3 + 2 + 1  # active signals + open specs + running CON-2
    s2i = value(m, "intent.cycle_time.signal_to_intent")
    assert s2i["count"] == 2 and s2i["sum"] == 2 * 2 * 86400  # created 03-01, promoted 03-03
    assert s2i["buckets"] == {
        "3600": 0,
        "14400": 0,
        "86400": 0,
        "259200": 2,
        "604800": 2,
        "1.2096e+06": 2,
        "+Inf": 2,
    }
    i2s = value(m, "intent.cycle_time.intent_to_spec")
    assert i2s["count"] == 1 and i2s["sum"] == 86400
    trust = value(m, "intent.signals.trust")
    assert trust["count"] == 3 and trust["buckets"]["0.1"] == 1 and trust["buckets"]["0.6"] == 2
    stale = value(m, "intent.intent.last_event_timestamp", intent_id="INT-1")
    assert stale == 1772841600.0  # CON-2 started 2026-03-07, under INT-1 via SPEC-2


def test_spec_to_complete_observed_once_when_all_contracts_pass() -> None:
    docs = [
        sig(1, "SIG-1"),
        clustered(1, "SIG-1", "CL-1"),
        promoted(2, "SIG-1", "INT-1"),
        spec(3, "SPEC-1", "INT-1", ["CON-1"]),
        {"event_type": "contract.started", "contract_id": "CON-1", "timestamp": "2026-03-03T12:00:00Z"},
        {"event_type": "contract.verified", "contract_id": "CON-1", "timestamp": "2026-03-04T10:00:00Z"},
        {"event_type": "contract.verified", "contract_id": "CON-1", "timestamp": "2026-03-05T10:00:00Z"},
    ]
    m = metrics_of(docs)
    s2c = value(m, "intent.cycle_time.spec_to_complete")
    assert s2c["count"] == 1 and s2c["sum"] == 86400
    assert value(m, "intent.contracts.total", result="pass") == 2  # two evaluations


def test_label_cardinality_is_bounded() -> None:
    docs = [
        {"event_type": f"weird.type.{n}", "source": f"s{n}", "timestamp": "2026-01-01"} for n in range(400)
    ]
    m = metrics_of(docs)
    types = {p["labels"]["event_type"] for p in m["intent.events.total"]["points"]}
    sources = {p["labels"]["source"] for p in m["intent.events.total"]["points"]}
    assert len(types) <= 201 and "_other" in types
    assert len(sources) <= 51


def test_prometheus_names_follow_the_translation_rules() -> None:
    assert catalog.SIGNALS_TOTAL.prom_name == "intent_signals_total"
    assert catalog.CONTRACTS_TOTAL.prom_name == "intent_contracts_total"
    assert catalog.SIGNALS_ACTIVE.prom_name == "intent_signals_active"
    assert catalog.SIGNALS_TRUST_AVG.prom_name == "intent_signals_trust_avg"
    assert catalog.CYCLE_SIGNAL_TO_INTENT.prom_name == "intent_cycle_time_signal_to_intent_seconds"
    assert catalog.LAST_EVENT_TIMESTAMP.prom_name == "intent_events_last_timestamp_seconds"
    assert catalog.ADAPTER_LAG_BYTES.prom_name == "intent_adapter_lag_bytes"
    assert len({m.prom_name for m in catalog.ALL_METRICS}) == len(catalog.ALL_METRICS)
    assert [catalog.autonomy_level(x) for x in (0.0, 0.19, 0.2, 0.4, 0.6, 0.84, 0.85, 1.0)] == [
        "L0",
        "L0",
        "L1",
        "L2",
        "L3",
        "L3",
        "L4",
        "L4",
    ]


def test_a_member_signal_announced_again_is_not_work_on_its_intent() -> None:
    """An Action that re-announces every signal file on each push must not keep every intent fresh:
    the stale-intent alert reads the newest event of the intent's own work."""
    fresh = metrics_of(LOOP)
    again = metrics_of([*LOOP, sig(9, "SIG-1", "first, announced again")])
    last_work = value(fresh, "intent.intent.last_event_timestamp", intent_id="INT-1")
    assert last_work == 1772705100.0  # CON-1 completed 2026-03-05T10:05
    assert value(again, "intent.intent.last_event_timestamp", intent_id="INT-1") == last_work
