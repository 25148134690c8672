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
| contract execution, asserts  | the intent's trace, parent = the contract (run) span         |

Identity: the file a line names (`data.file`) is its artifact's identity where given: one id
from one file is one artifact whatever its title says, the same id from two files is two
artifacts, and a line naming no file joins the newest artifact of its id.

Export: **a span id is sent once, final.** Backends keep the first copy of a span (Tempo) or
every copy (Jaeger), and an ended OpenTelemetry span is immutable, so nothing is re-sent:

- each artifact is *announced* by one span, built the moment its place (trace and parent) is
  known, from what it was announced with; children parent to it at once;
- a phase with a real duration is a span of its own, built when the phase ends, under the
  artifact: each contract run (started → completed), a spec's, an intent's and a cluster's
  lifecycle (announced → closed);
- everything else an artifact lives through travels as its log records.

Every span is built right after the event that fixes it (a sequence point), never at `drain`,
so how a history is cut into batches, killed or resumed never changes a byte of any span.

All state is plain data (`EngineState`), saved with the tail's checkpoint in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

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
from intent_observe.model import DERIVED_SHAPE, ArtifactKind, Event

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
_INTENT_FAILURES = frozenset({"intent.rejected", "intent.abandoned"})
_SPEC_CLOSERS = frozenset({"spec.completed", "spec.done", "spec.closed"})
_SPEC_IN_PROGRESS = frozenset({"spec.approved", "spec.executing"})
# Events that only mention artifacts: they never create one, and an intent's staleness is
# about its own work, not about someone asking after it.
_MENTION_PREFIXES = ("knowledge.",)
_RELATIONS_CACHE = 20_000
_RELATION_ATTR = {"intent": "intent.id", "spec": "intent.spec.id", "contract": "intent.contract.id"}
_CONTRACT_PASS = frozenset({"contract.verified", "contract.passed"})
_CONTRACT_FAIL = frozenset({"contract.failed"})
_FAIL_WORDS = frozenset({"fail", "failed", "failure", "error", "errored", "red", "regressed"})
_DENIED_WORDS = frozenset({"denied", "deny", "rejected", "reject", "declined", "refused", "no"})
_APPROVAL_DECISIONS = frozenset({"approval.decided", "intent.approval.decided"})
_LONG_LIVED = frozenset({"intent", "spec", "contract", "cluster"})  # their state lives in phases
_MAX_DURATION_S = 10**8


@dataclass(slots=True)
class Artifact:
    """One span-worthy thing. `key` is unique: kind, id and occurrence (one per file)."""

    key: str
    kind: str
    id: str | None
    span_id: str
    first_ns: int
    last_ns: int
    name: str
    attrs: dict[str, AttrValue]  # what its span is announced with
    title: str | None = None  # the newest title: a new title renames, never splits
    file: str | None = None
    files: dict[str, str] | None = None  # first occurrence: file → occurrence key
    latest: str | None = None  # first occurrence: key of the newest occurrence
    occurrences: int = 1
    intent: str | None = None  # owning intent key (specs, standalone events)
    spec: str | None = None  # contracts
    contract: str | None = None  # assertions, execution events
    cluster: str | None = None
    defined: bool = False  # intents: an event of their own (or a promotion) has been seen
    defined_ns: int | None = None
    claimed_trace: str | None = None  # intents and clusters: a UUID from the events
    trace_id: str | None = None  # set once placed; never changes after
    parent_span: str | None = None
    announced: bool = False
    closed: bool = False
    end_ns: int | None = None
    error: bool = False
    status_message: str | None = None
    runs: int = 0  # contracts: runs begun (started, or completed without a start)
    running: bool = False
    run_start_ns: int | None = None
    approved: bool = False
    contracts: list[str] = field(default_factory=list)  # specs: contracts attached
    listed: list[str] = field(default_factory=list)  # specs: contracts the spec itself lists
    passed: list[str] = field(default_factory=list)  # specs: contracts passed
    members: list[str] = field(default_factory=list)  # intents and clusters: signal keys
    inactive: str | None = None  # signals: why no longer active
    trust: float | None = None
    level: str | None = None
    first_spec_ns: int | None = None  # intents: when their first spec appeared
    placeholder: bool = False
    in_progress: bool = False  # specs: approved or executing, not complete
    counted: bool = False  # signals, specs: counted in their `*.total` metric
    observed: bool = False  # intents, specs: their cycle time observed
    bare: bool = False  # known only because another artifact's event named it
    evaluations: int = 0  # assertions: evaluations in the same run
    run: int = 0  # assertions: the contract run they were evaluated in


@dataclass(slots=True)
class Membership:
    """A signal's appearance in a cluster's or an intent's trace (the backfill)."""

    key: str
    signal: str
    container: str
    role: str  # "cluster" | "intent"
    time_ns: int
    span_id: str
    attrs: dict[str, AttrValue]  # the signal's announced attributes
    observed: bool = False  # signal → intent cycle time observed


@dataclass(slots=True)
class Phase:
    """A closed phase of an artifact (a contract run, a lifecycle): its span, once placed."""

    owner: str  # artifact key
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    error: bool
    status_message: str | None
    attrs: dict[str, AttrValue]


@dataclass(slots=True)
class PendingLog:
    home: str  # artifact or membership key whose span the log belongs to
    record: LogRecord


def artifact_table(**kwargs: Any) -> SpillingTable[Artifact]:
    return SpillingTable(orjson.dumps, lambda raw: Artifact(**orjson.loads(raw)), **kwargs)


def key_list_table(**kwargs: Any) -> SpillingTable[list[str]]:
    """A file → the keys of the artifacts announced from it; a derived event id → [] once taken."""
    return SpillingTable(orjson.dumps, orjson.loads, **kwargs)


def membership_table(**kwargs: Any) -> SpillingTable[Membership]:
    return SpillingTable(orjson.dumps, lambda raw: Membership(**orjson.loads(raw)), **kwargs)


@dataclass
class EngineState:
    scope: str = ""
    artifacts: SpillingTable[Artifact] = field(default_factory=artifact_table)
    memberships: SpillingTable[Membership] = field(default_factory=membership_table)
    unplaced: set[str] = field(default_factory=set)  # artifact keys whose trace is not fixed yet
    waiting: dict[str, list[str]] = field(default_factory=dict)  # parent key → unplaced children
    members_pending: dict[str, list[str]] = field(default_factory=dict)  # container key → memberships
    phases: dict[str, list[Phase]] = field(default_factory=dict)  # owner key → closed phases, unplaced
    claimed: dict[str, str] = field(default_factory=dict)  # trace id → intent/cluster key
    pending: list[PendingLog] = field(default_factory=list)
    metrics: MetricState = field(default_factory=MetricState)
    # a file → the keys of the artifacts announced from it (as the tables above: spilled, saved
    # entry by entry, never in one growing row)
    files: SpillingTable[list[str]] = field(default_factory=key_list_table)
    events_seen: int = 0  # lines of the log
    derived_ignored: int = 0  # derived events about artifacts the log never announced
    derived_taken: SpillingTable[list[str]] = field(default_factory=key_list_table)  # derived event ids


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


@dataclass(frozen=True, slots=True)
class Changes:
    """Keys changed since the last save, by table."""

    artifacts: set[str]
    memberships: set[str]
    activity: set[str]  # intents whose `intent_last_ns` entry changed
    files: set[str]
    derived: set[str]


@dataclass(slots=True)
class Output:
    spans: list[SpanRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)


class Engine:
    """Feed events with `process`, collect spans and logs with `drain` (before saving state)."""

    def __init__(self, state: EngineState | None = None, scope: str = "") -> None:
        self.state = state if state is not None else EngineState(scope=scope)
        self.dirty: set[str] = set()  # unplaced artifact keys whose place may have become known
        self.changed: set[str] = set()  # artifact keys changed since the last `take_changed`
        self.changed_members: set[str] = set()
        self.changed_activity: set[str] = set()  # intent keys whose `intent_last_ns` entry changed
        self.changed_files: set[str] = set()
        self.changed_derived: set[str] = set()
        self._spans: list[SpanRecord] = []  # built at sequence points, handed over by `drain`
        self._attrs: dict[str, AttrValue] = {}  # attributes of the event being processed
        self._relations: dict[str, dict[str, AttrValue]] = {}  # placed artifact key → relation attrs

    # ------------------------------------------------------------------ input
    def process(self, ev: Event, observed_ns: int | None = None) -> None:
        if ev.shape == DERIVED_SHAPE:
            self._process_derived(ev, observed_ns)
            return
        self.state.events_seen += 1  # a line of the log
        self.state.metrics.count_event(ev)
        self._process_one(ev, observed_ns)

    def _process_one(self, ev: Event, observed_ns: int | None) -> None:
        self._attrs = event_attributes(ev)
        handler = _HANDLERS.get(ev.kind, Engine._on_other)
        home = handler(self, ev)
        # an intent's staleness is about its work: not a mention, not a file's (copied) time
        if not ev.type.startswith(_MENTION_PREFIXES) and ev.shape != DERIVED_SHAPE:
            self._note_activity(home, ev.time_ns)
        self.state.pending.append(PendingLog(home, self._log_record(ev, observed_ns)))
        self._settle(force=False)

    def _derived_targets(self, ev: Event) -> list[Artifact]:
        """The artifacts a file's front matter speaks for: every one the log announced from that
        file (writers have given one file several ids over time), else the one of its id the log
        announced without a file. Never one the log did not announce, nor an undefined intent."""
        keys = self.state.files.get(ev.file or "") or []
        if not keys and ev.artifact_id is not None:
            newest = self._existing(ev.kind, ev.artifact_id)
            keys = [newest.key] if newest is not None and newest.file is None else []
        targets = [self.state.artifacts[key] for key in keys]
        return [
            art
            for art in targets
            if art.kind == ev.kind and not art.bare and (art.kind != "intent" or art.defined)
        ]

    def _process_derived(self, ev: Event, observed_ns: int | None) -> None:
        if ev.event_id in self.state.derived_taken:  # a file's change is said once
            return
        self.state.derived_taken[ev.event_id] = []
        self.changed_derived.add(ev.event_id)
        if ev.intent_id is not None and ev.kind is not ArtifactKind.INTENT:
            intent = self._existing(ArtifactKind.INTENT, ev.intent_id)
            if intent is None or not intent.defined:
                ev.intent_id = None  # the file names an intent the log never proposed: no link
        targets = self._derived_targets(ev)
        if not targets:
            self.state.derived_ignored += 1
        for art in targets:
            one = replace(ev, artifact_id=art.id, file=art.file)
            if len(targets) > 1:
                one.event_id = ids.derived_trace_id(ev.event_id, art.key)  # a log record for each
            self._process_one(one, observed_ns)

    def _note_activity(self, home: str, time_ns: int) -> None:
        owner = self._owning_intent(home)
        if owner is not None and (intent := self.state.artifacts[owner]).defined and not intent.closed:
            self.state.metrics.intent_activity(owner, time_ns)
            self.changed_activity.add(owner)

    # ----------------------------------------------------------------- output
    def drain(self) -> Output:
        """Spans built so far and logs whose place is known; the rest keep waiting."""
        out = Output(spans=self._spans)
        self._spans = []
        waiting: list[PendingLog] = []
        for item in self.state.pending:
            if self._home_placed(item.home):
                out.logs.append(self._finish_log(item))
            else:
                waiting.append(item)
        self.state.pending = waiting
        for table in (
            self.state.artifacts,
            self.state.memberships,
            self.state.files,
            self.state.derived_taken,
        ):
            table.trim()
        return out

    def finalize(self) -> Output:
        """Place everything still waiting, with what is known (placeholders for parents never seen)."""
        self.dirty.update(self.state.unplaced)
        self._settle(force=True)
        return self.drain()

    def context(self, kind: ArtifactKind, artifact_id: str) -> TraceContext | None:
        """Where the newest artifact of this kind and id sits, once it is placed (else None); for
        a running contract, its current run."""
        art = self._existing(kind, artifact_id)
        if art is None or art.trace_id is None:
            return None
        relations = self._relation_attrs(art)
        parent: str | None
        if art.kind == "contract" and art.running:  # a running contract's work sits under its run
            span_id, parent = self._phase_span_id(art, f"run{art.runs}"), art.span_id
        else:
            span_id, parent = art.span_id, art.parent_span
        return TraceContext(
            trace_id=art.trace_id,
            span_id=span_id,
            parent_span_id=parent,
            intent_id=_str_or_none(relations.get("intent.id")),
            spec_id=_str_or_none(relations.get("intent.spec.id")),
            contract_id=_str_or_none(relations.get("intent.contract.id")),
        )

    def take_changed(self) -> Changes:
        """What changed since the last call: what a durable save must write."""
        changes = Changes(
            self.changed,
            self.changed_members,
            self.changed_activity,
            self.changed_files,
            self.changed_derived,
        )
        self.changed, self.changed_members, self.changed_activity = set(), set(), set()
        self.changed_files, self.changed_derived = set(), set()
        return changes

    # -------------------------------------------------------------- artifacts
    def _artifact(
        self, kind: ArtifactKind, raw_id: str | None, ev: Event, *, key: str | None = None
    ) -> Artifact:
        """The artifact an event names: by its file where the event is its own and names one,
        else the newest artifact of the id."""
        st = self.state
        if raw_id is None:  # names nothing: its file, where it gives one, is all its identity
            own_file = ev.file if ev.kind is kind and ev.file is not None else None
            anonymous = f"{kind}:@{own_file}" if own_file is not None else f"{kind}:~{ev.event_id}"
            existing = st.artifacts.get(anonymous)
            if existing is not None:
                return existing
            art = self._new_artifact(anonymous, kind, None, ev)
            if own_file is not None:
                self._set_file(art, own_file)
            return art
        alias = key or f"{kind}:{raw_id}"
        first = st.artifacts.get(alias)
        if first is None:
            art = self._new_artifact(alias, kind, raw_id, ev)
            if self._own_file(kind, raw_id, ev):
                art.files = {ev.file: alias}  # type: ignore[dict-item]
                self._set_file(art, ev.file)  # type: ignore[arg-type]
            return art
        newest = st.artifacts[first.latest] if first.latest else first
        file = ev.file if self._own_file(kind, raw_id, ev) else None
        if file is None:
            return newest
        files = first.files if first.files is not None else {}
        known = files.get(file)
        if known is not None:
            return newest if known == newest.key else st.artifacts[known]
        if newest.file is not None:  # the same id from another file: another artifact
            first.occurrences += 1
            first.latest = f"{alias}#{first.occurrences}"
            newest = self._new_artifact(first.latest, kind, raw_id, ev)
        self._set_file(newest, file)  # announced before without a file: this is its file
        files[file] = newest.key
        first.files = files
        self._touch(first)
        return newest

    def _set_file(self, art: Artifact, file: str) -> None:
        art.file = file
        keys = self.state.files.get(file) or []
        self.state.files[file] = [*keys, art.key]
        self.changed_files.add(file)

    @staticmethod
    def _own_file(kind: ArtifactKind, raw_id: str, ev: Event) -> bool:
        return ev.file is not None and ev.kind is kind and ev.artifact_id == raw_id

    def _new_artifact(self, key: str, kind: ArtifactKind, raw_id: str | None, ev: Event) -> Artifact:
        label = one_line(raw_id, 80) if raw_id is not None else "(no id)"
        own = ev.kind is kind
        # An artifact first named by another kind's event (a spec listing its contracts)
        # starts bare; its first own event fills it in, if its span is not announced yet.
        art = Artifact(
            key=key,
            kind=str(kind),
            id=raw_id,
            span_id=ids.span_id(self.state.scope, "artifact", key),
            first_ns=ev.time_ns,
            last_ns=ev.time_ns,
            name=f"{kind} {label}",
            attrs=self._own_attrs(str(kind), raw_id, own),
            title=ev.title if own else None,
            bare=not own,
        )
        self.state.artifacts[key] = art
        self.state.unplaced.add(key)
        self._touch(art)
        return art

    def _touch(self, art: Artifact) -> None:
        if art.trace_id is None:  # only an artifact not yet placed may have become placeable
            self.dirty.add(art.key)
        self.changed.add(art.key)

    def _seen(self, art: Artifact, ev: Event) -> None:
        """Note an event of or about `art`; its own first event fills in a bare artifact."""
        art.last_ns = max(art.last_ns, ev.time_ns)
        if ev.kind == art.kind:
            if art.bare and not art.announced:
                self._unbare(art, ev)
            if ev.title is not None:
                art.title = ev.title
        self._touch(art)

    def _unbare(self, art: Artifact, ev: Event) -> None:
        art.bare = False
        art.first_ns = ev.time_ns
        art.attrs = self._own_attrs(art.kind, art.id, own=True)

    def _own_attrs(self, kind: str, raw_id: str | None, own: bool) -> dict[str, AttrValue]:
        """What an artifact's span is announced with: its own event's attributes (a bare one: none)."""
        attrs = dict(self._attrs) if own else {}
        attrs["intent.artifact.type"] = kind
        if raw_id is not None:
            attrs["intent.artifact.id"] = raw_id
        return attrs

    def _intent(self, raw_id: str, ev: Event, *, defining: bool) -> Artifact:
        art = self._artifact(ArtifactKind.INTENT, raw_id, ev)
        if defining and not art.defined:
            self._define_intent(art, ev)
        self._seen(art, ev)
        return art

    def _define_intent(self, art: Artifact, ev: Event) -> None:
        if art.bare and ev.kind is ArtifactKind.INTENT:
            self._unbare(art, ev)
        elif art.bare:  # promoted before it was proposed: the promotion may carry its title
            art.first_ns = ev.time_ns
            title = ev.payload.get("intent_title")
            if isinstance(title, str) and title.strip():
                art.attrs["intent.title"] = one_line(title, 1024)
                art.title = title
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

    def _intent_for(self, ev: Event, *, create: bool = True) -> Artifact | None:
        """The intent an event names: by id, else by a trace id an intent has claimed."""
        if ev.intent_id is not None:
            if create:
                return self._intent(ev.intent_id, ev, defining=False)
            return self._existing(ArtifactKind.INTENT, ev.intent_id)
        hinted = ids.trace_id_from_hint(ev.trace_hint)
        owner = self.state.claimed.get(hinted) if hinted else None
        if owner is not None and owner.startswith("intent:"):
            return self.state.artifacts[owner]
        return None

    def _existing(self, kind: ArtifactKind, raw_id: str) -> Artifact | None:
        first = self.state.artifacts.get(f"{kind}:{raw_id}")
        if first is None:
            return None
        return self.state.artifacts[first.latest] if first.latest else first

    # --------------------------------------------------------------- handlers
    def _on_signal(self, ev: Event) -> str:
        if ev.artifact_id is None and not ev.type.endswith((".created", ".captured")):
            return self._on_signal_without_id(ev)
        sig = self._artifact(ArtifactKind.SIGNAL, ev.artifact_id, ev)
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
            self._join_members(ev, cluster, "cluster", skip=sig.key)
            if cluster.intent is not None:
                self._join(sig, self.state.artifacts[cluster.intent], "intent", ev.time_ns)
        if ev.type == "signal.promoted" and ev.intent_id is not None:
            intent = self._intent(ev.intent_id, ev, defining=True)
            if ev.cluster_id is not None:
                self._promote_cluster(self._cluster(ev.cluster_id, ev), intent, ev)
            home = self._join(sig, intent, "intent", ev.time_ns).key
            self._join_members(ev, intent, "intent", skip=sig.key)
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
            self._join_members(ev, intent, "intent")
            return intent.key
        if ev.cluster_id is not None:
            cluster = self._cluster(ev.cluster_id, ev)
            if ev.type == "signal.clustered":
                self._join_members(ev, cluster, "cluster")
            return cluster.key
        return self._on_other(ev)

    def _join_members(self, ev: Event, container: Artifact, role: str, skip: str | None = None) -> None:
        """Signals a line lists in `signals: [...]` join the cluster or intent it names."""
        for signal_id in ev.signals:
            sig = self._artifact(ArtifactKind.SIGNAL, signal_id, ev)
            if sig.key == skip:
                continue
            self._count_signal(sig, ev.source)
            self._join(sig, container, role, ev.time_ns)

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
        cluster = self._artifact(ArtifactKind.CLUSTER, raw_id, ev)
        if cluster.claimed_trace is None and not cluster.announced:
            hinted = ids.cluster_trace_from_hint(ev.trace_hint)
            if hinted is not None and hinted not in self.state.claimed:
                self.state.claimed[hinted] = cluster.key
                cluster.claimed_trace = hinted
        self._seen(cluster, ev)
        return cluster

    def _promote_cluster(self, cluster: Artifact, intent: Artifact, ev: Event) -> None:
        if cluster.intent is None:
            cluster.intent = intent.key
            self._close(cluster, ev)
        for signal in cluster.members:
            self._join(self.state.artifacts[signal], intent, "intent", ev.time_ns)

    def _join(self, sig: Artifact, container: Artifact, role: str, time_ns: int) -> Membership:
        """`sig` appears in the container's trace too: a signal in its cluster or intent (the
        backfill), or a spec already sent as a trace of its own in the intent it later names."""
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
        if container.trace_id is not None:
            self._spans.append(self._member_span(member))
        else:
            self.state.members_pending.setdefault(container.key, []).append(key)
        if sig.kind != "signal":  # a spec joining the intent its file names: a copy, nothing more
            return member
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
        for signal_id in ev.signals:
            sig = self._artifact(ArtifactKind.SIGNAL, signal_id, ev)
            self._count_signal(sig, ev.source)
            self._join(sig, intent, "intent", ev.time_ns)
        if ev.cluster_id is not None:
            self._promote_cluster(self._cluster(ev.cluster_id, ev), intent, ev)
        if ev.type in _INTENT_CLOSERS:
            self._close(intent, ev, error=ev.type in _INTENT_FAILURES)
        return intent.key

    def _on_spec(self, ev: Event) -> str:
        spec = self._artifact(ArtifactKind.SPEC, ev.artifact_id, ev)
        self._seen(spec, ev)
        if not spec.counted:
            spec.counted = True
            self.state.metrics.spec_created()
            self.state.metrics.open_specs += not spec.closed
        intent = self._intent_for(ev)
        if intent is not None and spec.intent is None:
            if spec.trace_id is not None:  # already a trace of its own: it joins, linked to it
                self._join(spec, intent, "intent", ev.time_ns)
            spec.intent = intent.key
            if intent.first_spec_ns is None:
                intent.first_spec_ns = spec.first_ns
                self._observe_intent_to_spec(intent)
        if ev.type in _SPEC_IN_PROGRESS:
            spec.approved = True
            self._in_progress(spec)
        for contract_id in ev.contracts:
            contract = self._artifact(ArtifactKind.CONTRACT, contract_id, ev)
            if contract.key not in spec.listed:
                spec.listed.append(contract.key)
            self._attach_contract(contract, spec)
        if ev.type in _SPEC_CLOSERS:
            self._complete_spec(spec, ev)
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
        contract = self._artifact(ArtifactKind.CONTRACT, ev.artifact_id, ev)
        self._seen(contract, ev)
        if ev.spec_id is not None:
            spec = self._artifact(ArtifactKind.SPEC, ev.spec_id, ev)
            self._attach_contract(contract, spec)
        if ev.type == "contract.started":
            self._start_run(contract, ev)
        result = _contract_result(ev)
        if result is not None:
            self._finish_run(contract, ev, result)
        return contract.key

    def _start_run(self, contract: Artifact, ev: Event) -> None:
        if contract.running:  # started again before it completed: the old run ends here
            self._end_run(contract, ev, outcome="restarted", error=False, message=None)
        contract.runs += 1
        contract.running = True
        contract.run_start_ns = ev.time_ns
        self.state.metrics.running_contracts += 1
        if contract.spec is not None:
            self._in_progress(self.state.artifacts[contract.spec])

    def _finish_run(self, contract: Artifact, ev: Event, result: str) -> None:
        self.state.metrics.contract_result(result)
        if not contract.running:  # completed with no start seen: a run of its own
            contract.runs += 1
            contract.running = True
            contract.run_start_ns = ev.time_ns - _duration_ns(ev)
            self.state.metrics.running_contracts += 1
        failed = result == "fail"
        message = _error_text(ev) or (
            one_line(f"{ev.payload.get('assertions_failed')} assertion(s) failed") if failed else None
        )
        self._end_run(contract, ev, outcome=result, error=failed, message=message)
        if not failed and contract.spec is not None:
            self._contract_passed(self.state.artifacts[contract.spec], contract, ev)

    def _end_run(
        self, contract: Artifact, ev: Event, *, outcome: str, error: bool, message: str | None
    ) -> None:
        start = contract.run_start_ns if contract.run_start_ns is not None else ev.time_ns
        attrs = dict(self._attrs)
        attrs["intent.contract.run"] = contract.runs
        attrs["intent.contract.result"] = outcome
        self._add_phase(
            contract,
            f"run{contract.runs}",
            f"{contract.name} · run {contract.runs}",
            start,
            ev.time_ns,
            error=error,
            message=message,
            attrs=attrs,
        )
        contract.running = False
        contract.run_start_ns = None
        contract.closed, contract.end_ns, contract.error = True, max(ev.time_ns, start), error
        self.state.metrics.running_contracts -= 1
        self._touch(contract)

    def _contract_passed(self, spec: Artifact, contract: Artifact, ev: Event) -> None:
        if contract.key not in spec.passed:
            spec.passed.append(contract.key)
        if spec.listed and all(c in spec.passed for c in spec.listed):
            self._complete_spec(spec, ev)

    def _complete_spec(self, spec: Artifact, ev: Event) -> None:
        if not spec.closed:
            self._close(spec, ev)
            self.state.metrics.observe_spec_to_complete(ev.time_ns - spec.first_ns)

    def _on_assertion(self, ev: Event) -> str:
        contract = None
        if ev.contract_id is not None:
            contract = self._artifact(ArtifactKind.CONTRACT, ev.contract_id, ev)
            self._seen(contract, ev)
        scope = contract.key if contract is not None else "~"
        run = contract.runs if contract is not None else 0
        key = None
        if ev.artifact_id is not None:
            key = f"assertion:{scope}/run{run}/{ev.artifact_id}"
            earlier = self.state.artifacts.get(key)
            if earlier is not None and earlier.first_ns != ev.time_ns:  # evaluated again: a new span
                earlier.evaluations += 1
                self._touch(earlier)
                key = f"{key}#{earlier.evaluations + 1}"
        assertion = self._artifact(ArtifactKind.ASSERTION, ev.artifact_id, ev, key=key)
        assertion.contract = contract.key if contract is not None else None
        assertion.run = run
        failed = ev.type.endswith(".failed")
        self.state.metrics.assertion_result("fail" if failed else "pass")
        error_text = ev.payload.get("error") or ev.payload.get("evidence")
        self._seen(assertion, ev)
        if not assertion.closed:
            assertion.closed, assertion.end_ns, assertion.error = True, ev.time_ns, failed
            assertion.status_message = one_line(str(error_text)) if failed and error_text else None
        return assertion.key

    def _on_decision(self, ev: Event) -> str:
        decision = self._artifact(ArtifactKind.DECISION, ev.artifact_id, ev)
        self._seen(decision, ev)
        self._relate(decision, ev)
        if not decision.closed:
            decision.closed, decision.end_ns = True, decision.first_ns
        return decision.key

    def _on_cluster(self, ev: Event) -> str:
        if ev.artifact_id is None:
            return self._on_other(ev)
        cluster = self._cluster(ev.artifact_id, ev)
        self._join_members(ev, cluster, "cluster")
        return cluster.key

    def _on_other(self, ev: Event) -> str:
        """A standalone event: a span of its own, under the artifact it names, if any."""
        span = self._new_artifact(f"event:{ev.event_id}", ArtifactKind.OTHER, None, ev)
        span.name = ev.type
        self._relate(span, ev, create=not ev.type.startswith(_MENTION_PREFIXES))
        span.closed, span.end_ns = True, ev.time_ns
        span.error, span.status_message = _standalone_status(ev)
        if ev.type == "trace.completed" and span.intent is not None:
            self._close(self.state.artifacts[span.intent], ev)
        return span.key

    def _relate(self, art: Artifact, ev: Event, *, create: bool = True) -> None:
        """Link an event's own span to the contract, spec or intent it names (an event that only
        mentions them links only to artifacts that exist)."""
        if ev.contract_id is not None:
            contract = self._named(ArtifactKind.CONTRACT, ev.contract_id, ev, create)
            if contract is not None:
                art.contract = contract.key
                return
        if ev.spec_id is not None:
            spec = self._named(ArtifactKind.SPEC, ev.spec_id, ev, create)
            if spec is not None:
                art.spec = spec.key
                return
        intent = self._intent_for(ev, create=create)
        if intent is not None:
            art.intent = intent.key

    def _named(self, kind: ArtifactKind, raw_id: str, ev: Event, create: bool) -> Artifact | None:
        art = self._artifact(kind, raw_id, ev) if create else self._existing(kind, raw_id)
        if art is not None and create:
            self._seen(art, ev)
        return art

    def _close(self, art: Artifact, ev: Event, *, error: bool = False) -> None:
        """A long-lived artifact completes: its lifecycle span, announced → now."""
        if art.closed:
            return
        self._closing(art)
        art.closed, art.end_ns, art.error = True, max(ev.time_ns, art.first_ns), error
        art.status_message = _error_text(ev) if error else None
        start = art.defined_ns if art.kind == "intent" and art.defined_ns is not None else art.first_ns
        attrs: dict[str, AttrValue] = {"intent.phase.end_event": ev.type}
        self._add_phase(
            art,
            "lifecycle",
            f"{art.name} · lifecycle",
            start,
            art.end_ns,
            error=error,
            message=art.status_message,
            attrs=attrs,
        )
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

    def _add_phase(
        self,
        art: Artifact,
        label: str,
        name: str,
        start_ns: int,
        end_ns: int,
        *,
        error: bool,
        message: str | None,
        attrs: dict[str, AttrValue],
    ) -> None:
        attrs["intent.artifact.type"] = art.kind
        if art.id is not None:
            attrs["intent.artifact.id"] = art.id
        attrs["intent.phase"] = "run" if label.startswith("run") else label
        attrs["intent.artifact.state"] = "closed"
        phase = Phase(
            owner=art.key,
            span_id=self._phase_span_id(art, label),
            name=name,
            start_ns=min(start_ns, end_ns),
            end_ns=end_ns,
            error=error,
            status_message=message,
            attrs=attrs,
        )
        if art.trace_id is not None:
            self._spans.append(self._phase_span(phase, art))
        else:
            self.state.phases.setdefault(art.key, []).append(phase)

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

    def _home_placed(self, home: str) -> bool:
        member = self.state.memberships.get(home)
        key = member.container if member is not None else home
        return self.state.artifacts[key].trace_id is not None

    def _settle(self, *, force: bool) -> None:
        """Place what can be placed now and build the spans that became final: called right after
        each event (and by `finalize`), so a span never depends on where a batch ended."""
        if self.dirty:
            for key in sorted(self.dirty):
                self._place(key, force=force)
            self.dirty.clear()

    def _place(self, key: str, *, force: bool) -> bool:
        """Fix an artifact's trace and parent once its ancestors are known (or when forced); the
        artifacts that waited for it follow at once."""
        art = self.state.artifacts.get(key)
        if art is None:
            return False
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
            if art.trace_id is not None:  # placed meanwhile, as one that waited for its parent
                return True
            parent = self.state.artifacts[parent_key]
            art.trace_id, art.parent_span = parent.trace_id, self._parent_span(art, parent)
        elif force or (parent_key is None and art.kind != "intent" and not art.bare):
            art.trace_id = ids.derived_trace_id(scope, "root", art.key)
        else:
            if parent_key is not None:
                waiting = self.state.waiting.setdefault(parent_key, [])
                if key not in waiting:
                    waiting.append(key)
            return False
        self.state.unplaced.discard(key)
        self.changed.add(key)
        self._announce(art)
        for member in self.state.members_pending.pop(key, ()):
            self._spans.append(self._member_span(self.state.memberships[member]))
        for phase in self.state.phases.pop(key, ()):
            self._spans.append(self._phase_span(phase, art))
        for child in self.state.waiting.pop(key, ()):
            self._place(child, force=force)
        return True

    def _parent_span(self, art: Artifact, parent: Artifact) -> str:
        """Assertions sit under the run they were evaluated in."""
        if art.kind == "assertion" and art.run:
            return self._phase_span_id(parent, f"run{art.run}")
        return parent.span_id

    def _phase_span_id(self, art: Artifact, label: str) -> str:
        return ids.span_id(self.state.scope, "phase", art.key, label)

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

    def _phase_span(self, phase: Phase, owner: Artifact) -> SpanRecord:
        assert owner.trace_id is not None
        attrs = phase.attrs
        attrs.update(self._relation_attrs(owner))
        return SpanRecord(
            trace_id=owner.trace_id,
            span_id=phase.span_id,
            parent_span_id=owner.span_id,
            name=phase.name,
            start_ns=phase.start_ns,
            end_ns=phase.end_ns,
            error=phase.error,
            status_message=phase.status_message,
            attributes=attrs,
        )

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

    def _announce(self, art: Artifact) -> None:
        """The artifact's one span, built now that its place is known; never sent again."""
        assert art.trace_id is not None
        art.announced = True
        attrs = dict(art.attrs)
        attrs.update(self._relation_attrs(art))
        if art.kind not in _LONG_LIVED:  # an instant is final as it happens
            attrs["intent.artifact.state"] = "closed"
        if art.placeholder:
            attrs["intent.artifact.placeholder"] = True
        if art.bare:
            attrs["intent.artifact.bare"] = True
        if art.file is not None:
            attrs["intent.artifact.file"] = art.file
        if art.kind == "cluster":
            attrs["intent.cluster.trace"] = f"cluster-{ids.uuid_form(art.trace_id)}"
        instant_end = art.end_ns if art.kind not in _LONG_LIVED and art.end_ns is not None else art.first_ns
        self._spans.append(
            SpanRecord(
                trace_id=art.trace_id,
                span_id=art.span_id,
                parent_span_id=art.parent_span,
                name=art.name,
                start_ns=art.first_ns,
                end_ns=max(instant_end, art.first_ns),
                error=art.error and art.kind not in _LONG_LIVED,
                status_message=art.status_message if art.kind not in _LONG_LIVED else None,
                attributes=attrs,
            )
        )

    def _member_span(self, member: Membership) -> SpanRecord:
        sig = self.state.artifacts[member.signal]
        container = self.state.artifacts[member.container]
        self._place(sig.key, force=True)
        assert sig.trace_id is not None and container.trace_id is not None
        attrs = dict(member.attrs)
        origin = "orphan" if sig.kind == "signal" else "root"
        links = [SpanLink(sig.trace_id, sig.span_id, {"intent.link": origin})]
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


def _duration_ns(ev: Event) -> int:
    """A completion's own account of how long its run took (`duration`, seconds), else 0."""
    duration = ev.payload.get("duration")
    if (
        isinstance(duration, int | float)
        and not isinstance(duration, bool)
        and 0 < duration < _MAX_DURATION_S
    ):
        return int(duration * 1e9)
    return 0


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


def _standalone_status(ev: Event) -> tuple[bool, str | None]:
    """ERROR for a system error, a failing evaluation verdict and a denied approval."""
    if ev.type == "system.error":
        return True, _error_text(ev)
    if ev.type == "observation.evaluated" and _says(ev, ("verdict", "result", "status"), _FAIL_WORDS):
        return True, _error_text(ev) or _first(ev, ("verdict", "result", "status"))
    if ev.type in _APPROVAL_DECISIONS:
        denied = _says(ev, ("decision", "status", "outcome", "result", "verdict"), _DENIED_WORDS)
        if denied or ev.payload.get("approved") is False:
            return True, _error_text(ev) or "denied"
    return False, None


def _says(ev: Event, keys: tuple[str, ...], words: frozenset[str]) -> bool:
    value = _first(ev, keys)
    return value is not None and value.strip().lower() in words


def _first(ev: Event, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = ev.payload.get(key)
        if isinstance(value, str):
            return value
    return None


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
