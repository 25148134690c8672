"""The trace identity engine: each event gets its place in a trace.

The model of the seed, exactly:

| moment                       | trace                                                        |
|------------------------------|--------------------------------------------------------------|
| signal created               | an orphan: a trace of its own                                |
| signals clustered            | the provisional `cluster-{uuid}` trace, under the cluster span |
| cluster → intent (promotion) | the intent's trace (its UUID, else one derived from its id); |
|                              | every member signal is backfilled into it, linked to its     |
|                              | orphan and cluster spans                                     |
| spec                         | the intent's trace, parent = the intent span                 |
| contract                     | the intent's trace, parent = the spec span                   |
| contract execution, asserts  | the intent's trace, parent = the contract span               |

Artifacts are spans; every event is a log record on its artifact's span. A span is
*placed* (trace and parent fixed for good) once its ancestors are known; events whose
ancestors have not appeared yet (a contract before its spec) wait, durably, until
they do or until `finalize()` decides with what is known. A placed span is exported
at once, and once more with the same ids when its artifact closes (contract
completed, spec's contracts all passed), so it carries a real duration.

All state is plain data (`EngineState`), so it can be saved with the checkpoint in
one transaction and a restart continues exactly where the last commit left off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from intent_observe.events.model import ArtifactKind, Event
from intent_observe.identity import ids
from intent_observe.identity.attributes import event_attributes, one_line, summary_line
from intent_observe.identity.records import (
    SEVERITY_ERROR,
    SEVERITY_INFO,
    SEVERITY_WARN,
    AttrValue,
    LogRecord,
    SpanLink,
    SpanRecord,
)
from intent_observe.identity.table import SpillingTable
from intent_observe.metrics.catalog import autonomy_level
from intent_observe.metrics.state import UNSCORED, MetricState

# Event types that announce an artifact (and so may start a new occurrence of a reused id).
_CREATION_SUFFIXES = (".created", ".captured", ".proposed", ".written", ".started", ".recorded")
_SIGNAL_INACTIVE = {
    "signal.clustered": "clustered",
    "signal.promoted": "promoted",
    "signal.dismissed": "dismissed",
    "signal.resolved": "resolved",
    "signal.archived": "archived",
}
_INTENT_CLOSERS = frozenset(
    {
        "intent.completed",
        "intent.closed",
        "intent.rejected",
        "intent.abandoned",
        "intent.archived",
        "intent.done",
    }
)
# Kept from the event that opened the artifact; later events do not rename what it is.
_FIRST_EVENT_ONLY = frozenset({"intent.event.type", "intent.artifact.id", "intent.artifact.type"})
_RELATIONS_CACHE = 20_000
_RELATION_ATTR = {"intent": "intent.id", "spec": "intent.spec.id", "contract": "intent.contract.id"}
_CONTRACT_PASS = frozenset({"contract.verified", "contract.passed"})
_CONTRACT_FAIL = frozenset({"contract.failed"})
_FAIL_WORDS = frozenset({"fail", "failed", "failure", "error", "errored", "red"})


@dataclass(slots=True)
class Artifact:
    """One span-worthy thing. `key` is unique: kind, id and occurrence of a reused id."""

    key: str
    kind: str
    id: str | None
    span_id: str
    first_ns: int
    last_ns: int
    name: str
    attrs: dict[str, AttrValue]
    intent: str | None = None  # owning intent key (specs, contracts via spec, events)
    spec: str | None = None  # contracts
    contract: str | None = None  # assertions, execution events
    cluster: str | None = None
    defined: bool = False  # intents: an event of their own has been seen
    defined_ns: int | None = None
    claimed_trace: str | None = None  # intents and clusters: a UUID from the events
    trace_id: str | None = None  # set once placed; never changes after
    parent_span: str | None = None
    closed: bool = False
    end_ns: int | None = None
    error: bool = False
    status_message: str | None = None
    emitted: list[Any] | None = None  # the version last exported (see `_version`)
    revision: int = 0  # bumped when its own events change its attributes
    runs: int = 0  # contracts: contract.started count
    running: bool = False
    approved: bool = False
    contracts: list[str] = field(default_factory=list)  # specs
    passed: list[str] = field(default_factory=list)  # specs: contracts passed
    members: list[str] = field(default_factory=list)  # intents and clusters: signal keys
    inactive: str | None = None  # signals: why no longer active
    trust: float | None = None
    level: str | None = None
    fingerprint: str | None = None
    first_spec_ns: int | None = None  # intents: when their first spec appeared
    placeholder: bool = False
    in_progress: bool = False  # specs: approved or executing, not complete
    counted: bool = False  # signals, specs: counted in their `*.total` metric
    observed: bool = False  # intents, specs: their cycle time observed
    bare: bool = False  # known only because another artifact's event named it
    latest: str | None = None  # first occurrence of a reused id: key of the newest occurrence
    occurrences: int = 1


@dataclass(slots=True)
class Membership:
    """A signal's appearance in a cluster's or an intent's trace (the backfill)."""

    key: str
    signal: str
    container: str
    role: str  # "cluster" | "intent"
    time_ns: int
    span_id: str
    attrs: dict[str, AttrValue]  # the signal's attributes when it joined
    observed: bool = False  # signal → intent cycle time observed


@dataclass(slots=True)
class PendingLog:
    home: str  # artifact or membership key whose span the log belongs to
    record: LogRecord


def artifact_table(**kwargs: Any) -> SpillingTable[Artifact]:
    return SpillingTable(orjson.dumps, lambda raw: Artifact(**orjson.loads(raw)), **kwargs)


def membership_table(**kwargs: Any) -> SpillingTable[Membership]:
    return SpillingTable(orjson.dumps, lambda raw: Membership(**orjson.loads(raw)), **kwargs)


@dataclass
class EngineState:
    scope: str = ""
    artifacts: SpillingTable[Artifact] = field(default_factory=artifact_table)
    memberships: SpillingTable[Membership] = field(default_factory=membership_table)
    unplaced: set[str] = field(default_factory=set)  # artifact keys whose trace is not fixed yet
    members_pending: list[str] = field(default_factory=list)  # memberships not yet exported
    claimed: dict[str, str] = field(default_factory=dict)  # trace id → intent/cluster key
    pending: list[PendingLog] = field(default_factory=list)
    metrics: MetricState = field(default_factory=MetricState)
    events_seen: int = 0


@dataclass(frozen=True, slots=True)
class TraceContext:
    """An artifact's place: what a writer needs for `trace_id`/`parent_id` and a `TRACEPARENT`."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    intent_id: str | None
    spec_id: str | None
    contract_id: str | None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"


@dataclass(slots=True)
class Output:
    spans: list[SpanRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)


class Engine:
    """Feed events with `process`, collect spans and logs with `drain`."""

    def __init__(self, state: EngineState | None = None, scope: str = "") -> None:
        self.state = state if state is not None else EngineState(scope=scope)
        self.dirty: set[str] = set()  # artifact keys whose span may need (re-)export
        self.changed: set[str] = set()  # artifact keys changed since the last `take_changed`
        self.changed_members: set[str] = set()
        self.changed_activity: set[str] = set()  # intent keys whose `intent_last_ns` entry changed
        self._attrs: dict[str, AttrValue] = {}  # attributes of the event being processed
        self._relations: dict[str, dict[str, AttrValue]] = {}  # placed artifact key → relation attrs

    # ------------------------------------------------------------------ input
    def process(self, ev: Event, observed_ns: int | None = None) -> None:
        st = self.state
        st.events_seen += 1
        self._attrs = event_attributes(ev)
        st.metrics.count_event(ev)
        handler = _HANDLERS.get(ev.kind, Engine._on_other)
        home = handler(self, ev)
        owner = self._owning_intent(home)
        if owner is not None and (intent := st.artifacts[owner]).defined and not intent.closed:
            st.metrics.intent_activity(owner, ev.time_ns)
            self.changed_activity.add(owner)
        st.pending.append(PendingLog(home, self._log_record(ev, observed_ns)))

    # ----------------------------------------------------------------- output
    def drain(self) -> Output:
        """Spans and logs whose place is known; the rest keep waiting."""
        out = Output()
        waiting: list[PendingLog] = []
        for item in self.state.pending:
            if self._place_home(item.home, force=False):
                out.logs.append(self._finish_log(item))
            else:
                waiting.append(item)
        self._collect_new_spans(out)
        self.state.pending = waiting
        self.state.artifacts.trim()
        self.state.memberships.trim()
        return out

    def finalize(self) -> Output:
        """Place everything still waiting, with what is known (placeholders for parents never seen)."""
        out = self.drain()
        for item in self.state.pending:
            self._place_home(item.home, force=True)
            out.logs.append(self._finish_log(item))
        self.state.pending = []
        for key in sorted(self.state.unplaced):
            self._place(key, force=True)
        self._collect_new_spans(out)
        return out

    def context(self, kind: ArtifactKind, artifact_id: str) -> TraceContext | None:
        """Where the newest artifact of this kind and id sits, once it is placed (else None)."""
        first = self.state.artifacts.get(f"{kind}:{artifact_id}")
        if first is None:
            return None
        art = self.state.artifacts[first.latest] if first.latest else first
        if not self._place(art.key, force=False):
            return None
        assert art.trace_id is not None
        relations = self._relation_attrs(art)
        return TraceContext(
            trace_id=art.trace_id,
            span_id=art.span_id,
            parent_span_id=art.parent_span,
            intent_id=_str_or_none(relations.get("intent.id")),
            spec_id=_str_or_none(relations.get("intent.spec.id")),
            contract_id=_str_or_none(relations.get("intent.contract.id")),
        )

    def take_changed(self) -> tuple[set[str], set[str], set[str]]:
        """Artifact, membership and intent-activity keys changed since the last call: what a
        durable save must write."""
        changed, self.changed = self.changed, set()
        members, self.changed_members = self.changed_members, set()
        activity, self.changed_activity = self.changed_activity, set()
        return changed, members, activity

    # -------------------------------------------------------------- artifacts
    def _artifact(
        self, kind: ArtifactKind, raw_id: str | None, ev: Event, *, creating: bool, base: str | None = None
    ) -> Artifact:
        st = self.state
        if raw_id is None:
            key = f"{kind}:~{ev.event_id}"
            existing = st.artifacts.get(key)
            return existing if existing is not None else self._new_artifact(key, kind, None, ev)
        alias = base or f"{kind}:{raw_id}"
        first = st.artifacts.get(alias)
        if first is None:
            return self._new_artifact(alias, kind, raw_id, ev)
        art = st.artifacts[first.latest] if first.latest else first
        if not (creating and self._is_new_occurrence(art, ev)):
            return art
        first.occurrences += 1
        first.latest = f"{alias}#{first.occurrences}"
        self._touch(first)
        return self._new_artifact(first.latest, kind, raw_id, ev)

    def _new_artifact(self, key: str, kind: ArtifactKind, raw_id: str | None, ev: Event) -> Artifact:
        label = one_line(raw_id, 80) if raw_id is not None else "(no id)"
        # An artifact first named by another kind's event (a spec listing its contracts)
        # starts bare; its own events fill it in (`_seen`).
        attrs = dict(self._attrs) if ev.kind is kind else {}
        attrs["intent.artifact.type"] = str(kind)
        if raw_id is not None:
            attrs["intent.artifact.id"] = raw_id
        art = Artifact(
            key=key,
            kind=str(kind),
            id=raw_id,
            span_id=ids.span_id(self.state.scope, "artifact", key),
            first_ns=ev.time_ns,
            last_ns=ev.time_ns,
            name=f"{kind} {label}",
            attrs=attrs,
            fingerprint=_fingerprint(ev) if ev.kind is kind else None,
            bare=ev.kind is not kind,
        )
        self.state.artifacts[key] = art
        self.state.unplaced.add(key)
        self._touch(art)
        return art

    @staticmethod
    def _is_new_occurrence(art: Artifact, ev: Event) -> bool:
        """A reused id names a different artifact when a creation event says something else."""
        if not ev.type.endswith(_CREATION_SUFFIXES):
            return False
        fingerprint = _fingerprint(ev)
        if fingerprint is not None and art.fingerprint is not None and fingerprint != art.fingerprint:
            return True
        if art.kind == "spec" and ev.intent_id is not None and art.intent is not None:
            return art.intent != f"intent:{ev.intent_id}" and not art.intent.startswith(
                f"intent:{ev.intent_id}#"
            )
        return False

    def _touch(self, art: Artifact) -> None:
        self.dirty.add(art.key)
        self.changed.add(art.key)

    def _seen(self, art: Artifact, ev: Event) -> None:
        """Note an event of or about `art`; its own events fill in its attributes."""
        art.last_ns = max(art.last_ns, ev.time_ns)
        if ev.kind == art.kind:
            if art.bare:
                self._unbare(art, ev)
            attrs, changed = art.attrs, False
            for key, value in self._attrs.items():
                if attrs.get(key) != value and key not in _FIRST_EVENT_ONLY:
                    attrs[key] = value
                    changed = True
            art.revision += changed
        self._touch(art)

    @staticmethod
    def _unbare(art: Artifact, ev: Event) -> None:
        """Named before only by another artifact's event: its own first event is its start."""
        art.bare = False
        art.first_ns = ev.time_ns
        art.fingerprint = _fingerprint(ev)

    def _intent(self, raw_id: str, ev: Event, *, defining: bool) -> Artifact:
        art = self._artifact(ArtifactKind.INTENT, raw_id, ev, creating=ev.kind is ArtifactKind.INTENT)
        if defining and not art.defined:
            if art.bare:
                self._unbare(art, ev)
            art.defined = True
            if not art.closed:
                self.state.metrics.intents_active += 1
            art.defined_ns = ev.time_ns
            self.state.metrics.intent_defined()
            hinted = ids.trace_id_from_hint(ev.trace_hint)
            if hinted is not None and hinted not in self.state.claimed:
                self.state.claimed[hinted] = art.key
                art.claimed_trace = hinted
            for signal in art.members:
                member = self.state.memberships[f"intent-member:{signal}@{art.key}"]
                self._observe_signal_to_intent(member)
            self._observe_intent_to_spec(art)
        self._seen(art, ev)
        return art

    def _intent_for(self, ev: Event) -> Artifact | None:
        """The intent an event names: by id, else by a trace id an intent has claimed."""
        if ev.intent_id is not None:
            return self._intent(ev.intent_id, ev, defining=False)
        hinted = ids.trace_id_from_hint(ev.trace_hint)
        owner = self.state.claimed.get(hinted) if hinted else None
        if owner is not None and owner.startswith("intent:"):
            return self.state.artifacts[owner]
        return None

    # --------------------------------------------------------------- handlers
    def _on_signal(self, ev: Event) -> str:
        if ev.artifact_id is None and not ev.type.endswith(_CREATION_SUFFIXES):
            return self._on_signal_without_id(ev)
        sig = self._artifact(ArtifactKind.SIGNAL, ev.artifact_id, ev, creating=True)
        self._count_signal(sig, ev.source)
        self._seen(sig, ev)
        if ev.trust is not None or ev.autonomy_level is not None:
            self._rescore(sig, ev)
        reason = _SIGNAL_INACTIVE.get(ev.type)
        if reason is not None:
            self._deactivate(sig, reason)
        home = sig.key
        if ev.type == "signal.clustered" and ev.cluster_id is not None:
            cluster = self._cluster(ev.cluster_id, ev)
            home = self._join(sig, cluster, "cluster", ev.time_ns).key
            if cluster.intent is not None:
                self._join(sig, self.state.artifacts[cluster.intent], "intent", ev.time_ns)
        if ev.type == "signal.promoted" and ev.intent_id is not None:
            intent = self._intent(ev.intent_id, ev, defining=True)
            if ev.cluster_id is not None:
                self._promote_cluster(self._cluster(ev.cluster_id, ev), intent, ev)
            home = self._join(sig, intent, "intent", ev.time_ns).key
        return home

    def _on_signal_without_id(self, ev: Event) -> str:
        """A signal event naming no signal: it says something of its intent or cluster, if any.

        Only a creation event makes an anonymous signal; anything else would count a
        signal that was never created.
        """
        if ev.type == "signal.promoted" and ev.intent_id is not None:
            intent = self._intent(ev.intent_id, ev, defining=True)
            if ev.cluster_id is not None:
                self._promote_cluster(self._cluster(ev.cluster_id, ev), intent, ev)
            return intent.key
        if ev.cluster_id is not None:
            return self._cluster(ev.cluster_id, ev).key
        return self._on_other(ev)

    def _count_signal(self, sig: Artifact, source: str | None) -> None:
        if not sig.counted:
            sig.counted = True
            self.state.metrics.signal_created(source)
            sig.closed, sig.end_ns = True, sig.first_ns  # a signal is an instant: its observation
            if sig.inactive is None:
                self.state.metrics.active_signal(_level(sig), sig.trust, +1)

    def _rescore(self, sig: Artifact, ev: Event) -> None:
        active = sig.counted and sig.inactive is None
        if active:
            self.state.metrics.active_signal(_level(sig), sig.trust, -1)
        if ev.trust is not None:
            if sig.trust is None:
                self.state.metrics.signal_scored(ev.trust)
            sig.trust = ev.trust
        if ev.autonomy_level is not None:
            sig.level = ev.autonomy_level
        if active:
            self.state.metrics.active_signal(_level(sig), sig.trust, +1)

    def _deactivate(self, sig: Artifact, reason: str) -> None:
        if sig.inactive is None:
            if sig.counted:
                self.state.metrics.active_signal(_level(sig), sig.trust, -1)
            sig.inactive = reason
            self._touch(sig)

    def _cluster(self, raw_id: str, ev: Event) -> Artifact:
        cluster = self._artifact(ArtifactKind.CLUSTER, raw_id, ev, creating=False)
        if cluster.claimed_trace is None and cluster.trace_id is None:
            hinted = ids.cluster_trace_from_hint(ev.trace_hint)
            if hinted is not None and hinted not in self.state.claimed:
                self.state.claimed[hinted] = cluster.key
                cluster.claimed_trace = hinted
        self._seen(cluster, ev)
        return cluster

    def _promote_cluster(self, cluster: Artifact, intent: Artifact, ev: Event) -> None:
        if cluster.intent is None:
            cluster.intent = intent.key
            cluster.closed = True
            cluster.end_ns = max(ev.time_ns, cluster.first_ns)
            self._touch(cluster)
        for signal in cluster.members:
            self._join(self.state.artifacts[signal], intent, "intent", ev.time_ns)

    def _join(self, sig: Artifact, container: Artifact, role: str, time_ns: int) -> Membership:
        key = f"{role}-member:{sig.key}@{container.key}"
        existing = self.state.memberships.get(key)
        if existing is not None:
            return existing
        member = Membership(
            key=key,
            signal=sig.key,
            container=container.key,
            role=role,
            time_ns=time_ns if role == "cluster" else sig.first_ns,
            span_id=ids.span_id(self.state.scope, "member", key),
            attrs=dict(sig.attrs),
        )
        self.state.memberships[key] = member
        self.changed_members.add(key)
        self.state.members_pending.append(key)
        container.members.append(sig.key)
        self._touch(container)
        if role == "intent":
            sig.intent = sig.intent or container.key
            self._deactivate(sig, "promoted")
            if container.defined:
                self._observe_signal_to_intent(member)
        elif sig.cluster is None:
            sig.cluster = container.key
        self._touch(sig)
        return member

    def _observe_signal_to_intent(self, member: Membership) -> None:
        intent = self.state.artifacts[member.container]
        if member.observed or intent.defined_ns is None:
            return
        member.observed = True
        self.changed_members.add(member.key)
        sig = self.state.artifacts[member.signal]
        self.state.metrics.observe_signal_to_intent(intent.defined_ns - sig.first_ns)

    def _observe_intent_to_spec(self, intent: Artifact) -> None:
        if intent.observed or intent.first_spec_ns is None or intent.defined_ns is None:
            return
        intent.observed = True
        self.state.metrics.observe_intent_to_spec(intent.first_spec_ns - intent.defined_ns)

    def _on_intent(self, ev: Event) -> str:
        if ev.artifact_id is None:
            return self._on_other(ev)
        intent = self._intent(ev.artifact_id, ev, defining=True)
        signals = ev.payload.get("signals")
        if isinstance(signals, list):
            for raw in signals:
                signal_id = raw if isinstance(raw, str) else None
                if signal_id:
                    sig = self._artifact(ArtifactKind.SIGNAL, signal_id, ev, creating=False)
                    self._count_signal(sig, ev.source)
                    self._join(sig, intent, "intent", ev.time_ns)
        if ev.cluster_id is not None:
            self._promote_cluster(self._cluster(ev.cluster_id, ev), intent, ev)
        if ev.type in _INTENT_CLOSERS:
            self._close(intent, ev.time_ns, error=ev.type in ("intent.rejected", "intent.abandoned"))
        return intent.key

    def _on_spec(self, ev: Event) -> str:
        spec = self._artifact(ArtifactKind.SPEC, ev.artifact_id, ev, creating=True)
        self._seen(spec, ev)
        if not spec.counted:
            spec.counted = True
            self.state.metrics.spec_created()
            self.state.metrics.open_specs += not spec.closed
        intent = self._intent_for(ev)
        if intent is not None and spec.intent is None:
            spec.intent = intent.key
            if intent.first_spec_ns is None:
                intent.first_spec_ns = spec.first_ns
                self._observe_intent_to_spec(intent)
        if ev.type == "spec.approved":
            spec.approved = True
            self._in_progress(spec)
        contracts = ev.payload.get("contracts")
        if isinstance(contracts, list):
            for raw in contracts:
                if isinstance(raw, str) and raw.strip():
                    contract = self._artifact(ArtifactKind.CONTRACT, raw, ev, creating=False)
                    self._attach_contract(contract, spec)
        return spec.key

    def _attach_contract(self, contract: Artifact, spec: Artifact) -> None:
        if contract.spec is None:
            contract.spec = spec.key
            self._touch(contract)
        if contract.key not in spec.contracts:
            spec.contracts.append(contract.key)
            self._touch(spec)
        if contract.runs:
            self._in_progress(spec)

    def _in_progress(self, spec: Artifact) -> None:
        """A spec approved or executing counts in `specs.in_progress` until it completes."""
        if not spec.in_progress and not spec.closed:
            spec.in_progress = True
            self.state.metrics.specs_in_progress += 1
            self._touch(spec)

    def _on_contract(self, ev: Event) -> str:
        contract = self._artifact(
            ArtifactKind.CONTRACT, ev.artifact_id, ev, creating=ev.type == "contract.started"
        )
        self._seen(contract, ev)
        if ev.spec_id is not None:
            spec = self._artifact(ArtifactKind.SPEC, ev.spec_id, ev, creating=False)
            self._attach_contract(contract, spec)
        if ev.type == "contract.started":
            contract.runs += 1
            if not contract.running:
                contract.running = True
                self.state.metrics.running_contracts += 1
            if contract.spec is not None:
                self._in_progress(self.state.artifacts[contract.spec])
        result = _contract_result(ev)
        if result is not None:
            self.state.metrics.contract_result(result)
            if contract.running:
                contract.running = False
                self.state.metrics.running_contracts -= 1
            duration = ev.payload.get("duration")
            if contract.runs == 0 and isinstance(duration, int | float) and 0 < duration < 10**8:
                contract.first_ns = min(contract.first_ns, ev.time_ns - int(duration * 1e9))
            failed = result == "fail"
            message = (
                f"{ev.payload.get('assertions_failed', '')} assertions failed".strip() if failed else None
            )
            self._close(contract, ev.time_ns, error=failed, message=message, reopen=True)
            if not failed and contract.spec is not None:
                self._contract_passed(self.state.artifacts[contract.spec], contract, ev.time_ns)
        return contract.key

    def _contract_passed(self, spec: Artifact, contract: Artifact, time_ns: int) -> None:
        if contract.key not in spec.passed:
            spec.passed.append(contract.key)
        if not spec.closed and spec.contracts and all(c in spec.passed for c in spec.contracts):
            self._close(spec, time_ns)
            self.state.metrics.observe_spec_to_complete(time_ns - spec.first_ns)

    def _on_assertion(self, ev: Event) -> str:
        contract = None
        if ev.contract_id is not None:
            contract = self._artifact(ArtifactKind.CONTRACT, ev.contract_id, ev, creating=False)
            self._seen(contract, ev)
        scope = contract.key if contract is not None else "~"
        run = contract.runs if contract is not None else 0
        base = f"assertion:{scope}/run{run}/{ev.artifact_id}" if ev.artifact_id is not None else None
        assertion = self._artifact(ArtifactKind.ASSERTION, ev.artifact_id, ev, creating=False, base=base)
        assertion.contract = contract.key if contract is not None else None
        failed = ev.type.endswith(".failed")
        self.state.metrics.assertion_result("fail" if failed else "pass")
        error_text = ev.payload.get("error") or ev.payload.get("evidence")
        self._seen(assertion, ev)
        self._close(
            assertion,
            ev.time_ns,
            error=failed,
            message=one_line(str(error_text)) if failed and error_text else None,
            reopen=True,  # evaluated again in the same run: the last word counts
        )
        return assertion.key

    def _on_decision(self, ev: Event) -> str:
        decision = self._artifact(ArtifactKind.DECISION, ev.artifact_id, ev, creating=True)
        self._seen(decision, ev)
        self._relate(decision, ev)
        if not decision.closed:
            self._close(decision, ev.time_ns)
        return decision.key

    def _on_cluster(self, ev: Event) -> str:
        if ev.artifact_id is None:
            return self._on_other(ev)
        return self._cluster(ev.artifact_id, ev).key

    def _on_other(self, ev: Event) -> str:
        """A standalone event: a span of its own, under the artifact it names, if any."""
        span = self._new_artifact(f"event:{ev.event_id}", ArtifactKind.OTHER, None, ev)
        span.name = ev.type
        self._relate(span, ev)
        self._close(span, ev.time_ns, error=ev.type == "system.error", message=_error_text(ev))
        if ev.type == "trace.completed" and span.intent is not None:
            intent = self.state.artifacts[span.intent]
            self._close(intent, ev.time_ns)
        return span.key

    def _relate(self, art: Artifact, ev: Event) -> None:
        if ev.contract_id is not None:
            contract = self._artifact(ArtifactKind.CONTRACT, ev.contract_id, ev, creating=False)
            self._seen(contract, ev)
            art.contract = contract.key
        elif ev.spec_id is not None:
            art.spec = self._artifact(ArtifactKind.SPEC, ev.spec_id, ev, creating=False).key
        else:
            intent = self._intent_for(ev)
            if intent is not None:
                art.intent = intent.key

    def _close(
        self,
        art: Artifact,
        time_ns: int,
        *,
        error: bool = False,
        message: str | None = None,
        reopen: bool = False,
    ) -> None:
        if art.closed and not reopen:
            return
        if not art.closed:
            self._closing(art)
        art.closed = True
        art.end_ns = max(time_ns, art.first_ns)
        art.error = error
        art.status_message = message
        self._touch(art)

    def _closing(self, art: Artifact) -> None:
        """Gauges an artifact leaves when it completes."""
        m = self.state.metrics
        if art.kind == "spec":
            m.open_specs -= art.counted
            m.specs_in_progress -= art.in_progress
        elif art.kind == "intent" and art.defined:
            m.intents_active -= 1
            m.intent_last_ns.pop(art.key, None)
            self.changed_activity.add(art.key)

    # -------------------------------------------------------------- placement
    def _owning_intent(self, key: str) -> str | None:
        art = self.state.artifacts.get(key)
        if art is None:
            member = self.state.memberships.get(key)
            if member is None or member.role != "intent":
                return None
            return member.container
        for _ in range(4):
            if art.kind == "intent":
                return art.key
            parent = art.intent or art.spec or art.contract
            if parent is None:
                return None
            art = self.state.artifacts[parent]
        return None

    def _place_home(self, home: str, *, force: bool) -> bool:
        member = self.state.memberships.get(home)
        if member is not None:
            return self._place(member.container, force=force)
        return self._place(home, force=force)

    def _place(self, key: str, *, force: bool) -> bool:
        """Fix an artifact's trace and parent once its ancestors are known (or when forced)."""
        art = self.state.artifacts[key]
        if art.trace_id is not None:
            return True
        parent_key = self._parent_key(art)
        scope = self.state.scope
        if art.kind in ("signal", "cluster") or (art.kind == "intent" and (art.defined or force)):
            art.placeholder = art.kind == "intent" and not art.defined
            if art.kind == "signal":
                art.trace_id = ids.derived_trace_id(scope, "orphan", art.key)
            else:
                art.trace_id = art.claimed_trace or ids.uuid_trace_id(scope, art.kind, art.key)
        elif parent_key is not None and self._place(parent_key, force=force):
            parent = self.state.artifacts[parent_key]
            art.trace_id, art.parent_span = parent.trace_id, parent.span_id
        elif force or (parent_key is None and art.kind in ("decision", "other")):
            art.trace_id = ids.derived_trace_id(scope, "root", art.key)
        else:
            return False
        self.state.unplaced.discard(key)
        self.dirty.add(key)
        self.changed.add(key)
        return True

    def _parent_key(self, art: Artifact) -> str | None:
        if art.kind == "spec":
            return art.intent
        if art.kind == "contract":
            return art.spec
        if art.kind == "assertion":
            return art.contract
        if art.kind in ("decision", "other"):
            return art.contract or art.spec or art.intent
        return None

    def _emit_if_ready(self, key: str, out: Output) -> None:
        art = self.state.artifacts.get(key)
        if art is None or not self._place(key, force=False):
            return
        version = [art.closed, art.error, art.end_ns if art.closed else None, art.first_ns, art.revision]
        if art.emitted == version:
            return
        art.emitted = version
        out.spans.append(self._span(art))

    def _collect_new_spans(self, out: Output) -> None:
        for key in sorted(self.dirty):
            self._emit_if_ready(key, out)
        self.dirty.clear()
        waiting: list[str] = []
        for key in self.state.members_pending:
            member = self.state.memberships[key]
            if self.state.artifacts[member.container].trace_id is None:
                waiting.append(key)
                continue
            self._emit_if_ready(member.signal, out)
            out.spans.append(self._member_span(member))
        self.state.members_pending = waiting

    # ----------------------------------------------------------------- records
    def _relation_attrs(self, art: Artifact) -> dict[str, AttrValue]:
        """intent.id / intent.spec.id / intent.contract.id of the artifact and its ancestors."""
        cached = self._relations.get(art.key)
        if cached is not None:
            return cached
        attrs: dict[str, AttrValue] = {}
        node: Artifact | None = art
        for _ in range(5):
            if node is None:
                break
            name = _RELATION_ATTR.get(node.kind)
            if name is not None and node.id is not None:
                attrs.setdefault(name, node.id)
            parent = self._parent_key(node)
            node = self.state.artifacts.get(parent) if parent else None
        if art.trace_id is not None:  # placed: its ancestors are fixed for good
            if len(self._relations) >= _RELATIONS_CACHE:
                self._relations.clear()
            self._relations[art.key] = attrs
        return attrs

    def _span(self, art: Artifact) -> SpanRecord:
        assert art.trace_id is not None
        attrs = dict(art.attrs)
        attrs.update(self._relation_attrs(art))
        attrs["intent.artifact.state"] = "closed" if art.closed else "open"
        if art.placeholder:
            attrs["intent.artifact.placeholder"] = True
        if art.kind == "cluster":
            attrs["intent.cluster.trace"] = f"cluster-{ids.uuid_form(art.trace_id)}"
        end = art.end_ns if art.closed and art.end_ns is not None else art.first_ns
        return SpanRecord(
            trace_id=art.trace_id,
            span_id=art.span_id,
            parent_span_id=art.parent_span,
            name=art.name,
            start_ns=art.first_ns,
            end_ns=max(end, art.first_ns),
            error=art.error,
            status_message=art.status_message,
            attributes=attrs,
        )

    def _member_span(self, member: Membership) -> SpanRecord:
        sig = self.state.artifacts[member.signal]
        container = self.state.artifacts[member.container]
        assert sig.trace_id is not None and container.trace_id is not None
        attrs = dict(member.attrs)
        links = [SpanLink(sig.trace_id, sig.span_id, {"intent.link": "orphan"})]
        if member.role == "intent":
            attrs.update(self._relation_attrs(container))
            attrs["intent.backfilled"] = True
            cluster_member = (
                self.state.memberships.get(f"cluster-member:{sig.key}@{sig.cluster}") if sig.cluster else None
            )
            if cluster_member is not None:
                cluster = self.state.artifacts[cluster_member.container]
                self._place(cluster.key, force=True)
                assert cluster.trace_id is not None
                links.append(SpanLink(cluster.trace_id, cluster_member.span_id, {"intent.link": "cluster"}))
        else:
            attrs["intent.cluster.id"] = container.id or ""
        attrs["intent.artifact.state"] = "closed"
        return SpanRecord(
            trace_id=container.trace_id,
            span_id=member.span_id,
            parent_span_id=container.span_id,
            name=sig.name,
            start_ns=member.time_ns,
            end_ns=member.time_ns,
            error=False,
            status_message=None,
            attributes=attrs,
            links=links,
        )

    def _log_record(self, ev: Event, observed_ns: int | None) -> LogRecord:
        attrs = self._attrs  # handlers have taken their copies; the log record keeps the original
        attrs["event.name"] = ev.type
        attrs["intent.event.id"] = ev.event_id
        attrs["intent.event.file"] = ev.position.file
        attrs["intent.event.line"] = ev.position.line
        attrs["intent.event.offset"] = ev.position.offset
        severity = _severity(ev)
        return LogRecord(
            time_ns=ev.time_ns,
            observed_ns=observed_ns if observed_ns is not None else ev.time_ns,
            trace_id="",
            span_id="",
            severity_number=severity[0],
            severity_text=severity[1],
            body=summary_line(ev),
            attributes=attrs,
        )

    def _finish_log(self, item: PendingLog) -> LogRecord:
        record = item.record
        member = self.state.memberships.get(item.home)
        if member is not None:
            container = self.state.artifacts[member.container]
            assert container.trace_id is not None
            record.trace_id, record.span_id = container.trace_id, member.span_id
            relations = self._relation_attrs(container)
        else:
            art = self.state.artifacts[item.home]
            assert art.trace_id is not None
            record.trace_id, record.span_id = art.trace_id, art.span_id
            relations = self._relation_attrs(art)
        for name, value in relations.items():
            record.attributes.setdefault(name, value)
        return record


def _level(sig: Artifact) -> str:
    if sig.level is not None:
        return sig.level
    return autonomy_level(sig.trust) if sig.trust is not None else UNSCORED


def _str_or_none(value: AttrValue | None) -> str | None:
    return value if isinstance(value, str) else None


def _fingerprint(ev: Event) -> str | None:
    title = ev.title
    return " ".join(title.split()).casefold()[:200] if title else None


def _contract_result(ev: Event) -> str | None:
    if ev.type in _CONTRACT_PASS:
        return "pass"
    if ev.type in _CONTRACT_FAIL:
        return "fail"
    if ev.type != "contract.completed":
        return None
    for key in ("result", "status", "outcome", "verdict"):
        value = ev.payload.get(key)
        if isinstance(value, str):
            return "fail" if value.strip().lower() in _FAIL_WORDS else "pass"
    failed = ev.payload.get("assertions_failed")
    if isinstance(failed, int | float) and not isinstance(failed, bool):
        return "fail" if failed > 0 else "pass"
    passed = ev.payload.get("passed")
    if isinstance(passed, bool):
        return "pass" if passed else "fail"
    return "pass"


def _error_text(ev: Event) -> str | None:
    for key in ("error", "message", "reason"):
        value = ev.payload.get(key)
        if isinstance(value, str) and value.strip():
            return one_line(value)
    return None


def _severity(ev: Event) -> tuple[int, str]:
    if ev.type in ("system.error", "contract.failed"):
        return SEVERITY_ERROR
    if ev.type == "contract.completed" and _contract_result(ev) == "fail":
        return SEVERITY_ERROR
    if ev.type.endswith((".failed", ".dismissed", ".expired", ".escalated", ".error_retry")):
        return SEVERITY_WARN
    return SEVERITY_INFO


_HANDLERS = {
    ArtifactKind.SIGNAL: Engine._on_signal,
    ArtifactKind.CLUSTER: Engine._on_cluster,
    ArtifactKind.INTENT: Engine._on_intent,
    ArtifactKind.SPEC: Engine._on_spec,
    ArtifactKind.CONTRACT: Engine._on_contract,
    ArtifactKind.ASSERTION: Engine._on_assertion,
    ArtifactKind.DECISION: Engine._on_decision,
}
