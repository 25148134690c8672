//! The trace identity engine: each event gets its place in a trace.
//!
//! | moment                       | trace                                                        |
//! |------------------------------|--------------------------------------------------------------|
//! | signal created               | an orphan: a trace of its own                                |
//! | signals clustered            | the provisional `cluster-{uuid}` trace, under the cluster span |
//! | cluster → intent (promotion) | the intent's trace (its UUID, else one derived from its id); |
//! |                              | every member signal is backfilled into it, linked to its     |
//! |                              | orphan and cluster spans                                     |
//! | spec                         | the intent's trace, parent = the intent span                 |
//! | contract                     | the intent's trace, parent = the spec span                   |
//! | contract execution, asserts  | the intent's trace, parent = the contract (run) span         |
//!
//! Identity: the file a line names (`data.file`) is its artifact's identity where given: one
//! id from one file is one artifact whatever its title says, the same id from two files is
//! two artifacts, and a line naming no file joins the newest artifact of its id.
//!
//! Export: **a span id is sent once, final.** Backends keep the first copy of a span (Tempo)
//! or every copy (Jaeger), and an ended OpenTelemetry span is immutable, so nothing is re-sent:
//! - each artifact is *announced* by one span, built the moment its place (trace and parent)
//!   is known, from what it was announced with; children parent to it at once;
//! - a phase with a real duration is a span of its own, built when the phase ends, under the
//!   artifact: each contract run (started → completed), a spec's, an intent's and a cluster's
//!   lifecycle (announced → closed);
//! - everything else an artifact lives through travels as its log records.
//!
//! Every span is built right after the event that fixes it (a sequence point), never at
//! `drain`, so how a history is cut into batches, killed or resumed never changes a byte.
//!
//! Written first in Python (the test suite still specifies it through the bindings); this
//! port keeps its semantics byte for byte, including the relation cache below.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashSet};

use super::attrs::{Attrs, Value, event_attributes, one_line, summary_line};
use super::ids;
use super::metrics::{MetricState, level_of};
use super::model::*;
use super::table::Table;
use crate::json::Json;
use crate::parse::{Kind, ParsedEvent, Shape};
use crate::pytext::{float_repr, py_strip};

const MENTION_PREFIX: &str = "knowledge."; // events that only mention artifacts
const RELATIONS_CACHE: usize = 20_000;
const INTENT_CLOSERS: [&str; 6] = [
    "intent.completed",
    "intent.closed",
    "intent.rejected",
    "intent.abandoned",
    "intent.archived",
    "intent.done",
];
const INTENT_FAILURES: [&str; 2] = ["intent.rejected", "intent.abandoned"];
const SPEC_CLOSERS: [&str; 3] = ["spec.completed", "spec.done", "spec.closed"];
const SPEC_IN_PROGRESS: [&str; 2] = ["spec.approved", "spec.executing"];
const CONTRACT_PASS: [&str; 2] = ["contract.verified", "contract.passed"];
const FAIL_WORDS: [&str; 7] = [
    "fail",
    "failed",
    "failure",
    "error",
    "errored",
    "red",
    "regressed",
];
const DENIED_WORDS: [&str; 7] = [
    "denied", "deny", "rejected", "reject", "declined", "refused", "no",
];
const APPROVAL_DECISIONS: [&str; 2] = ["approval.decided", "intent.approval.decided"];
const MAX_DURATION_S: f64 = 1e8;

fn signal_inactive(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "signal.clustered" => "clustered",
        "signal.promoted" => "promoted",
        "signal.dismissed" => "dismissed",
        "signal.resolved" => "resolved",
        "signal.archived" => "archived",
        _ => return None,
    })
}

/// Intents, specs, contracts and clusters: their state lives in phases.
fn long_lived(kind: Kind) -> bool {
    matches!(kind, Kind::Intent | Kind::Spec | Kind::Contract | Kind::Cluster)
}

fn relation_attr(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Intent => Some("intent.id"),
        Kind::Spec => Some("intent.spec.id"),
        Kind::Contract => Some("intent.contract.id"),
        _ => None,
    }
}

fn parent_key(art: &Artifact) -> Option<&String> {
    match art.kind {
        Kind::Spec => art.intent.as_ref(),
        Kind::Contract => art.spec.as_ref(),
        Kind::Assertion => art.contract.as_ref(),
        Kind::Decision | Kind::Other => art
            .contract
            .as_ref()
            .or(art.spec.as_ref())
            .or(art.intent.as_ref()),
        _ => None,
    }
}

/// What changed since the last save, by table: keys and their rows. `seq` numbers the save
/// (`Engine::confirm` says it is committed).
#[derive(Debug, Default)]
pub struct Changes {
    pub seq: u64,
    pub artifacts: Vec<(String, Vec<u8>)>,
    pub memberships: Vec<(String, Vec<u8>)>,
    pub activity: Vec<String>, // intents whose `intent_last_ns` entry changed
    pub files: Vec<(String, Vec<u8>)>,
    pub derived: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Default)]
pub struct Engine {
    pub scope: String,
    pub artifacts: Table<Artifact>,
    pub memberships: Table<Membership>,
    pub unplaced: HashSet<String>, // artifact keys whose trace is not fixed yet
    pub waiting: HashMap<String, Vec<String>>, // parent key → unplaced children
    pub members_pending: HashMap<String, Vec<String>>, // container key → memberships
    pub phases: HashMap<String, Vec<Phase>>, // owner key → closed phases, unplaced
    pub claimed: HashMap<String, String>, // trace id → intent/cluster key
    pub pending: Vec<PendingLog>,
    pub metrics: MetricState,
    pub files: Table<Vec<String>>, // a file → the keys of the artifacts announced from it
    pub events_seen: u64,          // lines of the log
    pub derived_ignored: u64,      // derived events about artifacts the log never announced
    pub derived_taken: Table<()>,  // derived event ids
    pub changed_activity: HashSet<String>,
    saves: u64,                        // saves taken (`take_changed`)
    dirty: BTreeSet<String>,           // unplaced artifact keys whose place may have become known
    spans: Vec<SpanRecord>,            // built at sequence points, handed over by `drain`
    attrs: Attrs,                      // attributes of the event being processed
    relations: HashMap<String, Attrs>, // placed artifact key → relation attrs
}

type Key = String;

/// An artifact the engine knows exists (borrowing only the table, not the whole engine).
macro_rules! art {
    ($engine:expr, $key:expr) => {{
        let key: &str = $key;
        $engine
            .artifacts
            .get(key)
            .unwrap_or_else(|| panic!("no artifact {key:?}"))
    }};
}

/// The same, for a change (saved with the next save).
macro_rules! art_mut {
    ($engine:expr, $key:expr) => {{
        let key: &str = $key;
        $engine
            .artifacts
            .get_mut(key)
            .unwrap_or_else(|| panic!("no artifact {key:?}"))
    }};
}

impl Engine {
    pub fn new(scope: &str) -> Self {
        Engine {
            scope: scope.to_string(),
            ..Default::default()
        }
    }

    // ------------------------------------------------------------------ input
    pub fn process(&mut self, ev: ParsedEvent, position: &Position, observed_ns: Option<i64>) {
        if ev.shape == Shape::FrontMatter {
            self.process_derived(ev, position, observed_ns);
            return;
        }
        self.events_seen += 1; // a line of the log
        self.metrics
            .count_event(&ev.event_type, ev.source.as_deref(), ev.time_ns);
        self.process_one(&ev, position, observed_ns);
    }

    fn process_one(&mut self, ev: &ParsedEvent, position: &Position, observed_ns: Option<i64>) {
        self.attrs = event_attributes(ev);
        let home = match ev.kind {
            Kind::Signal => self.on_signal(ev),
            Kind::Cluster => self.on_cluster(ev),
            Kind::Intent => self.on_intent(ev),
            Kind::Spec => self.on_spec(ev),
            Kind::Contract => self.on_contract(ev),
            Kind::Assertion => self.on_assertion(ev),
            Kind::Decision => self.on_decision(ev),
            Kind::Other => self.on_other(ev),
        };
        // an intent's staleness is about its work: not a mention, not a file's (copied) time
        if !ev.event_type.starts_with(MENTION_PREFIX) && ev.shape != Shape::FrontMatter {
            self.note_activity(&home, ev.time_ns);
        }
        let record = self.log_record(ev, position, observed_ns);
        self.pending.push(PendingLog { home, record });
        self.settle(false);
    }

    /// The artifacts a file's front matter speaks for: every one the log announced from that
    /// file (writers have given one file several ids over time), else the one of its id the
    /// log announced without a file. Never one the log did not announce, nor an undefined intent.
    fn derived_targets(&self, ev: &ParsedEvent) -> Vec<Key> {
        let mut keys = self
            .files
            .get(ev.file.as_deref().unwrap_or(""))
            .cloned()
            .unwrap_or_default();
        if keys.is_empty()
            && let Some(id) = &ev.artifact_id
        {
            keys = match self.existing(ev.kind, id) {
                Some(newest) if art!(self, &newest).file.is_none() => vec![newest],
                _ => vec![],
            };
        }
        keys.into_iter()
            .filter(|key| {
                let art = art!(self, key);
                art.kind == ev.kind && !art.bare && (art.kind != Kind::Intent || art.defined)
            })
            .collect()
    }

    fn process_derived(&mut self, mut ev: ParsedEvent, position: &Position, observed_ns: Option<i64>) {
        if self.derived_taken.contains(&ev.event_id) {
            return; // a file's change is said once
        }
        self.derived_taken.insert(ev.event_id.clone(), ());
        if ev.kind != Kind::Intent
            && let Some(intent_id) = &ev.intent_id
        {
            let defined = self
                .existing(Kind::Intent, intent_id)
                .is_some_and(|k| art!(self, &k).defined);
            if !defined {
                ev.intent_id = None; // the file names an intent the log never proposed: no link
            }
        }
        let targets = self.derived_targets(&ev);
        if targets.is_empty() {
            self.derived_ignored += 1;
        }
        for key in &targets {
            let mut one = ev.clone();
            let art = art!(self, key);
            one.artifact_id = art.id.clone();
            one.file = art.file.clone();
            if targets.len() > 1 {
                one.event_id = ids::derived_trace_id(&[&ev.event_id, key]); // a log record for each
            }
            let before = art.clone();
            let spans = self.spans.len();
            self.process_one(&one, position, observed_ns);
            if self.spans.len() == spans && self.unchanged_but_for_time(key, &before) {
                self.pending.pop(); // the file says what the log already said: nothing to tell
            }
        }
    }

    /// The artifact is as it was, but for the newest time it was seen at.
    fn unchanged_but_for_time(&self, key: &str, before: &Artifact) -> bool {
        let mut now = art!(self, key).clone();
        now.last_ns = before.last_ns;
        now == *before
    }

    fn note_activity(&mut self, home: &str, time_ns: i64) {
        // a signal's own events (announced again, rescored) are not work on the intent it fed;
        // its promotion is (that event's home is its place in the intent's trace)
        if self
            .artifacts
            .get(home)
            .is_some_and(|art| art.kind == Kind::Signal)
        {
            return;
        }
        if let Some(owner) = self.owning_intent(home) {
            let intent = art!(self, &owner);
            if intent.defined && !intent.closed {
                self.metrics.intent_activity(&owner, time_ns);
                self.changed_activity.insert(owner);
            }
        }
    }

    // ----------------------------------------------------------------- output
    /// Spans built so far and logs whose place is known; the rest keep waiting.
    pub fn drain(&mut self) -> Output {
        let spans = std::mem::take(&mut self.spans);
        let mut logs = Vec::new();
        let mut waiting = Vec::new();
        for item in std::mem::take(&mut self.pending) {
            if self.home_placed(&item.home) {
                logs.push(self.finish_log(item));
            } else {
                waiting.push(item);
            }
        }
        self.pending = waiting;
        self.artifacts.trim();
        self.memberships.trim();
        self.files.trim();
        self.derived_taken.trim();
        Output { spans, logs }
    }

    /// Place everything still waiting, with what is known (placeholders for parents never seen).
    pub fn finalize(&mut self) -> Output {
        self.dirty.extend(self.unplaced.iter().cloned());
        self.settle(true);
        self.drain()
    }

    /// Where the newest artifact of this kind and id sits, once it is placed; for a running
    /// contract, its current run.
    pub fn context(&mut self, kind: Kind, artifact_id: &str) -> Option<TraceContext> {
        let key = self.existing(kind, artifact_id)?;
        art!(self, &key).trace_id.as_ref()?;
        let relations = self.relation_attrs(&key);
        let art = art!(self, &key);
        let (span_id, parent) = if art.kind == Kind::Contract && art.running {
            (
                self.phase_span_id(art, &format!("run{}", art.runs)),
                Some(art.span_id.clone()),
            )
        } else {
            (art.span_id.clone(), art.parent_span.clone())
        };
        let text = |name: &str| relations.get(name).and_then(Value::as_str).map(str::to_string);
        Some(TraceContext {
            trace_id: art.trace_id.clone().unwrap_or_default(),
            span_id,
            parent_span_id: parent,
            intent_id: text("intent.id"),
            spec_id: text("intent.spec.id"),
            contract_id: text("intent.contract.id"),
        })
    }

    /// What changed since the last call: what a durable save must write.
    pub fn take_changed(&mut self) -> Changes {
        let mut activity: Vec<String> = self.changed_activity.drain().collect();
        activity.sort();
        self.saves += 1;
        let seq = self.saves;
        Changes {
            seq,
            artifacts: self.artifacts.take_changed(seq),
            memberships: self.memberships.take_changed(seq),
            activity,
            files: self.files.take_changed(seq),
            derived: self.derived_taken.take_changed(seq),
        }
    }

    /// The save `seq` (`Changes::seq`) and those before it are committed: what they wrote
    /// may be read back from the store rather than kept.
    pub fn confirm(&mut self, seq: u64) {
        self.artifacts.confirm(seq);
        self.memberships.confirm(seq);
        self.files.confirm(seq);
        self.derived_taken.confirm(seq);
    }

    /// Log records waiting for their artifact's place are dropped (a read model that never
    /// sends them).
    pub fn clear_pending(&mut self) {
        self.pending.clear();
    }

    // -------------------------------------------------------------- artifacts
    /// The artifact an event names: by its file where the event is its own and names one,
    /// else the newest artifact of the id.
    fn artifact(&mut self, kind: Kind, raw_id: Option<&str>, ev: &ParsedEvent, key: Option<String>) -> Key {
        let Some(raw_id) = raw_id else {
            // names nothing: its file, where it gives one, is all its identity
            let own_file = ev.file.as_ref().filter(|_| ev.kind == kind);
            let anonymous = match own_file {
                Some(file) => format!("{}:@{file}", kind.value()),
                None => format!("{}:~{}", kind.value(), ev.event_id),
            };
            if self.artifacts.contains(&anonymous) {
                return anonymous;
            }
            self.new_artifact(&anonymous, kind, None, ev);
            if let Some(file) = own_file {
                self.set_file(&anonymous, file);
            }
            return anonymous;
        };
        let alias = key.unwrap_or_else(|| format!("{}:{raw_id}", kind.value()));
        let own_file = ev
            .file
            .as_ref()
            .filter(|_| ev.kind == kind && ev.artifact_id.as_deref() == Some(raw_id));
        let Some(first) = self.artifacts.get(&alias) else {
            self.new_artifact(&alias, kind, Some(raw_id), ev);
            if let Some(file) = own_file {
                art_mut!(self, &alias).files = Some(vec![(file.clone(), alias.clone())]);
                self.set_file(&alias, file);
            }
            return alias;
        };
        let mut newest = first.latest.clone().unwrap_or_else(|| alias.clone());
        let Some(file) = own_file else {
            return newest;
        };
        let mut files = first.files.clone().unwrap_or_default();
        if let Some((_, known)) = files.iter().find(|(f, _)| f == file) {
            return known.clone();
        }
        if art!(self, &newest).file.is_some() {
            // the same id from another file: another artifact
            let first = art_mut!(self, &alias);
            first.occurrences += 1;
            newest = format!("{alias}#{}", first.occurrences);
            first.latest = Some(newest.clone());
            self.new_artifact(&newest, kind, Some(raw_id), ev);
        }
        self.set_file(&newest, file); // announced before without a file: this is its file
        files.push((file.clone(), newest.clone()));
        art_mut!(self, &alias).files = Some(files);
        self.touch(&alias);
        newest
    }

    fn set_file(&mut self, key: &str, file: &str) {
        art_mut!(self, key).file = Some(file.to_string());
        let mut keys = self.files.get(file).cloned().unwrap_or_default();
        keys.push(key.to_string());
        self.files.insert(file.to_string(), keys);
    }

    fn new_artifact(&mut self, key: &str, kind: Kind, raw_id: Option<&str>, ev: &ParsedEvent) {
        let label = raw_id.map_or_else(|| "(no id)".to_string(), |id| one_line(id, 80));
        let own = ev.kind == kind;
        // An artifact first named by another kind's event (a spec listing its contracts)
        // starts bare; its first own event fills it in, if its span is not announced yet.
        let art = Artifact {
            key: key.to_string(),
            kind,
            id: raw_id.map(str::to_string),
            span_id: ids::span_id(&[&self.scope, "artifact", key]),
            first_ns: ev.time_ns,
            last_ns: ev.time_ns,
            name: format!("{} {label}", kind.value()),
            attrs: self.own_attrs(kind, raw_id, own),
            title: if own { ev.title.clone() } else { None },
            bare: !own,
            occurrences: 1,
            ..Default::default()
        };
        self.artifacts.insert(key.to_string(), art);
        self.unplaced.insert(key.to_string());
        self.touch(key);
    }

    fn touch(&mut self, key: &str) {
        if art_mut!(self, key).trace_id.is_none() {
            // only an artifact not yet placed may have become placeable
            self.dirty.insert(key.to_string());
        }
    }

    /// Note an event of or about an artifact; its own first event fills in a bare artifact.
    fn seen(&mut self, key: &str, ev: &ParsedEvent) {
        let art = art_mut!(self, key);
        art.last_ns = art.last_ns.max(ev.time_ns);
        if ev.kind == art.kind {
            if art.bare && !art.announced {
                self.unbare(key, ev);
            }
            if let Some(title) = &ev.title {
                art_mut!(self, key).title = Some(title.clone());
            }
        }
        self.touch(key);
    }

    fn unbare(&mut self, key: &str, ev: &ParsedEvent) {
        let (kind, id) = {
            let art = art!(self, key);
            (art.kind, art.id.clone())
        };
        let attrs = self.own_attrs(kind, id.as_deref(), true);
        let art = art_mut!(self, key);
        art.bare = false;
        art.first_ns = ev.time_ns;
        art.attrs = attrs;
    }

    /// What an artifact's span is announced with: its own event's attributes (a bare one: none).
    fn own_attrs(&self, kind: Kind, raw_id: Option<&str>, own: bool) -> Attrs {
        let mut attrs = if own { self.attrs.clone() } else { Attrs::default() };
        attrs.set("intent.artifact.type", kind.value());
        if let Some(id) = raw_id {
            attrs.set("intent.artifact.id", id);
        }
        attrs
    }

    fn intent(&mut self, raw_id: &str, ev: &ParsedEvent, defining: bool) -> Key {
        let key = self.artifact(Kind::Intent, Some(raw_id), ev, None);
        if defining && !art!(self, &key).defined {
            self.define_intent(&key, ev);
        }
        self.seen(&key, ev);
        key
    }

    fn define_intent(&mut self, key: &str, ev: &ParsedEvent) {
        if art!(self, key).bare && ev.kind == Kind::Intent {
            self.unbare(key, ev);
        } else if art!(self, key).bare {
            // promoted before it was proposed: the promotion may carry its title
            let art = art_mut!(self, key);
            art.first_ns = ev.time_ns;
            if let Some(Json::Str(title)) = ev.payload.get("intent_title")
                && !py_strip(title).is_empty()
            {
                art.attrs.set("intent.title", one_line(title, 1024));
                art.title = Some(title.to_string());
            }
        }
        let art = art_mut!(self, key);
        art.defined = true;
        if !art.closed {
            self.metrics.intents_active += 1;
        }
        let art = art_mut!(self, key);
        art.defined_ns = Some(ev.time_ns);
        self.metrics.intents += 1;
        if let Some(hinted) = ids::trace_id_from_hint(ev.trace_hint.as_deref())
            && !self.claimed.contains_key(&hinted)
        {
            self.claimed.insert(hinted.clone(), key.to_string());
            art_mut!(self, key).claimed_trace = Some(hinted);
        }
        for signal in art!(self, key).members.clone() {
            self.observe_signal_to_intent(&format!("intent-member:{signal}@{key}"));
        }
        self.observe_intent_to_spec(key);
    }

    /// The intent an event names: by id, else by a trace id an intent has claimed.
    fn intent_for(&mut self, ev: &ParsedEvent, create: bool) -> Option<Key> {
        if let Some(intent_id) = &ev.intent_id {
            if create {
                return Some(self.intent(intent_id, ev, false));
            }
            return self.existing(Kind::Intent, intent_id);
        }
        let hinted = ids::trace_id_from_hint(ev.trace_hint.as_deref())?;
        self.claimed
            .get(&hinted)
            .filter(|owner| owner.starts_with("intent:"))
            .cloned()
    }

    fn existing(&self, kind: Kind, raw_id: &str) -> Option<Key> {
        let first = self.artifacts.get(&format!("{}:{raw_id}", kind.value()))?;
        Some(first.latest.clone().unwrap_or_else(|| first.key.clone()))
    }

    // --------------------------------------------------------------- handlers
    fn on_signal(&mut self, ev: &ParsedEvent) -> Key {
        let t = ev.time_ns;
        let creation = ev.event_type.ends_with(".created") || ev.event_type.ends_with(".captured");
        if ev.artifact_id.is_none() && !creation {
            return self.on_signal_without_id(ev);
        }
        let sig = self.artifact(Kind::Signal, ev.artifact_id.as_deref(), ev, None);
        self.count_signal(&sig, ev.source.as_deref());
        self.seen(&sig, ev);
        if ev.trust.is_some() || ev.autonomy_level.is_some() {
            self.rescore(&sig, ev);
        }
        if let Some(reason) = signal_inactive(&ev.event_type) {
            self.deactivate(&sig, reason);
        }
        let mut home = sig.clone();
        if ev.event_type == "signal.clustered"
            && let Some(cluster_id) = &ev.cluster_id
        {
            let cluster = self.cluster(cluster_id, ev);
            home = self.join(&sig, &cluster, false, t);
            self.join_members(ev, &cluster, false, Some(&sig));
            if let Some(intent) = art!(self, &cluster).intent.clone() {
                self.join(&sig, &intent, true, t);
            }
        }
        if ev.event_type == "signal.promoted"
            && let Some(intent_id) = &ev.intent_id
        {
            let intent = self.intent(intent_id, ev, true);
            if let Some(cluster_id) = &ev.cluster_id {
                let cluster = self.cluster(cluster_id, ev);
                self.promote_cluster(&cluster, &intent, ev);
            }
            home = self.join(&sig, &intent, true, t);
            self.join_members(ev, &intent, true, Some(&sig));
        }
        home
    }

    /// A signal event naming no signal: it says something of its intent or cluster, if any.
    /// Only a creation event makes an anonymous signal; anything else would count a signal
    /// that was never created.
    fn on_signal_without_id(&mut self, ev: &ParsedEvent) -> Key {
        if ev.event_type == "signal.promoted"
            && let Some(intent_id) = &ev.intent_id
        {
            let intent = self.intent(intent_id, ev, true);
            if let Some(cluster_id) = &ev.cluster_id {
                let cluster = self.cluster(cluster_id, ev);
                self.promote_cluster(&cluster, &intent, ev);
            }
            self.join_members(ev, &intent, true, None);
            return intent;
        }
        if let Some(cluster_id) = &ev.cluster_id {
            let cluster = self.cluster(cluster_id, ev);
            if ev.event_type == "signal.clustered" {
                self.join_members(ev, &cluster, false, None);
            }
            return cluster;
        }
        self.on_other(ev)
    }

    /// Signals a line lists in `signals: [...]` join the cluster or intent it names.
    fn join_members(&mut self, ev: &ParsedEvent, container: &str, intent_role: bool, skip: Option<&str>) {
        for signal_id in &ev.signals {
            let sig = self.artifact(Kind::Signal, Some(signal_id), ev, None);
            if skip == Some(sig.as_str()) {
                continue;
            }
            self.count_signal(&sig, ev.source.as_deref());
            self.join(&sig, container, intent_role, ev.time_ns);
        }
    }

    fn count_signal(&mut self, key: &str, source: Option<&str>) {
        if art!(self, key).counted {
            return;
        }
        self.metrics.signal_created(source);
        let sig = art_mut!(self, key);
        sig.counted = true;
        sig.closed = true; // a signal is an instant: its observation
        sig.end_ns = Some(sig.first_ns);
        if sig.inactive.is_none() {
            let (level, trust) = (level_of(sig.level.as_deref(), sig.trust), sig.trust);
            self.metrics.active_signal(&level, trust, 1);
        }
    }

    fn rescore(&mut self, key: &str, ev: &ParsedEvent) {
        let sig = art_mut!(self, key);
        let active = sig.counted && sig.inactive.is_none();
        if active {
            let (level, trust) = (level_of(sig.level.as_deref(), sig.trust), sig.trust);
            self.metrics.active_signal(&level, trust, -1);
        }
        let sig = art_mut!(self, key);
        if let Some(trust) = ev.trust {
            if sig.trust.is_none() {
                self.metrics.trust.observe(trust);
            }
            sig.trust = Some(trust);
        }
        if let Some(level) = &ev.autonomy_level {
            sig.level = Some(level.to_string());
        }
        if active {
            let (level, trust) = (level_of(sig.level.as_deref(), sig.trust), sig.trust);
            self.metrics.active_signal(&level, trust, 1);
        }
    }

    fn deactivate(&mut self, key: &str, reason: &str) {
        let sig = art_mut!(self, key);
        if sig.inactive.is_some() {
            return;
        }
        if sig.counted {
            let (level, trust) = (level_of(sig.level.as_deref(), sig.trust), sig.trust);
            self.metrics.active_signal(&level, trust, -1);
        }
        art_mut!(self, key).inactive = Some(reason.to_string());
        self.touch(key);
    }

    fn cluster(&mut self, raw_id: &str, ev: &ParsedEvent) -> Key {
        let key = self.artifact(Kind::Cluster, Some(raw_id), ev, None);
        let cluster = art!(self, &key);
        if cluster.claimed_trace.is_none()
            && !cluster.announced
            && let Some(hinted) = ids::cluster_trace_from_hint(ev.trace_hint.as_deref())
            && !self.claimed.contains_key(&hinted)
        {
            self.claimed.insert(hinted.clone(), key.clone());
            art_mut!(self, &key).claimed_trace = Some(hinted);
        }
        self.seen(&key, ev);
        key
    }

    fn promote_cluster(&mut self, cluster: &str, intent: &str, ev: &ParsedEvent) {
        if art!(self, cluster).intent.is_none() {
            art_mut!(self, cluster).intent = Some(intent.to_string());
            self.close(cluster, ev, false);
        }
        for signal in art!(self, cluster).members.clone() {
            self.join(&signal, intent, true, ev.time_ns);
        }
    }

    /// A signal appears in the container's trace too: in its cluster or intent (the
    /// backfill), or a spec already sent as a trace of its own in the intent it later names.
    fn join(&mut self, sig: &str, container: &str, intent_role: bool, time_ns: i64) -> Key {
        let role = if intent_role { "intent" } else { "cluster" };
        let key = format!("{role}-member:{sig}@{container}");
        if self.memberships.contains(&key) {
            return key;
        }
        let signal = art!(self, sig);
        let member = Membership {
            key: key.clone(),
            signal: sig.to_string(),
            container: container.to_string(),
            intent_role,
            time_ns: if intent_role { signal.first_ns } else { time_ns },
            span_id: ids::span_id(&[&self.scope, "member", &key]),
            attrs: signal.attrs.clone(),
            observed: false,
        };
        let signal_kind = signal.kind;
        self.memberships.insert(key.clone(), member);
        if art!(self, container).trace_id.is_some() {
            let span = self.member_span(&key);
            self.spans.push(span);
        } else {
            self.members_pending
                .entry(container.to_string())
                .or_default()
                .push(key.clone());
        }
        if signal_kind != Kind::Signal {
            return key; // a spec joining the intent its file names: a copy, nothing more
        }
        art_mut!(self, container).members.push(sig.to_string());
        self.touch(container);
        if intent_role {
            let signal = art_mut!(self, sig);
            if signal.intent.is_none() {
                signal.intent = Some(container.to_string());
            }
            self.deactivate(sig, "promoted");
            if art!(self, container).defined {
                self.observe_signal_to_intent(&key);
            }
        } else if art!(self, sig).cluster.is_none() {
            art_mut!(self, sig).cluster = Some(container.to_string());
        }
        self.touch(sig);
        key
    }

    fn observe_signal_to_intent(&mut self, member_key: &str) {
        let Some(member) = self.memberships.get(member_key) else {
            panic!("no membership {member_key:?}")
        };
        let Some(defined_ns) = art!(self, &member.container).defined_ns else {
            return;
        };
        if member.observed {
            return;
        }
        let first_ns = art!(self, &member.signal).first_ns;
        if let Some(member) = self.memberships.get_mut(member_key) {
            member.observed = true;
        }
        self.metrics.observe_signal_to_intent(defined_ns - first_ns);
    }

    fn observe_intent_to_spec(&mut self, key: &str) {
        let intent = art!(self, key);
        let (Some(first_spec_ns), Some(defined_ns)) = (intent.first_spec_ns, intent.defined_ns) else {
            return;
        };
        if intent.observed {
            return;
        }
        art_mut!(self, key).observed = true;
        self.metrics.observe_intent_to_spec(first_spec_ns - defined_ns);
    }

    fn on_intent(&mut self, ev: &ParsedEvent) -> Key {
        let Some(id) = &ev.artifact_id else {
            return self.on_other(ev);
        };
        let intent = self.intent(id, ev, true);
        for signal_id in &ev.signals {
            let sig = self.artifact(Kind::Signal, Some(signal_id), ev, None);
            self.count_signal(&sig, ev.source.as_deref());
            self.join(&sig, &intent, true, ev.time_ns);
        }
        if let Some(cluster_id) = &ev.cluster_id {
            let cluster = self.cluster(cluster_id, ev);
            self.promote_cluster(&cluster, &intent, ev);
        }
        if INTENT_CLOSERS.contains(&ev.event_type.as_str()) {
            self.close(&intent, ev, INTENT_FAILURES.contains(&ev.event_type.as_str()));
        }
        intent
    }

    fn on_spec(&mut self, ev: &ParsedEvent) -> Key {
        let spec = self.artifact(Kind::Spec, ev.artifact_id.as_deref(), ev, None);
        self.seen(&spec, ev);
        if !art!(self, &spec).counted {
            let art = art_mut!(self, &spec);
            art.counted = true;
            let open = !art.closed;
            self.metrics.specs += 1;
            self.metrics.open_specs += i64::from(open);
        }
        let intent = self.intent_for(ev, true);
        if let Some(intent) = intent
            && art!(self, &spec).intent.is_none()
        {
            if art!(self, &spec).trace_id.is_some() {
                // already a trace of its own: it joins, linked to it
                self.join(&spec, &intent, true, ev.time_ns);
            }
            art_mut!(self, &spec).intent = Some(intent.clone());
            if art!(self, &intent).first_spec_ns.is_none() {
                let first_ns = art!(self, &spec).first_ns;
                art_mut!(self, &intent).first_spec_ns = Some(first_ns);
                self.observe_intent_to_spec(&intent);
            }
        }
        if SPEC_IN_PROGRESS.contains(&ev.event_type.as_str()) {
            art_mut!(self, &spec).approved = true;
            self.in_progress(&spec);
        }
        for contract_id in &ev.contracts {
            let contract = self.artifact(Kind::Contract, Some(contract_id), ev, None);
            if !art!(self, &spec).listed.contains(&contract) {
                art_mut!(self, &spec).listed.push(contract.clone());
            }
            self.attach_contract(&contract, &spec);
        }
        if SPEC_CLOSERS.contains(&ev.event_type.as_str()) {
            self.complete_spec(&spec, ev);
        }
        spec
    }

    fn attach_contract(&mut self, contract: &str, spec: &str) {
        if art!(self, contract).spec.is_none() {
            art_mut!(self, contract).spec = Some(spec.to_string());
            self.touch(contract);
        }
        if !art!(self, spec).contracts.iter().any(|c| c == contract) {
            art_mut!(self, spec).contracts.push(contract.to_string());
            self.touch(spec);
        }
        if art!(self, contract).runs > 0 {
            self.in_progress(spec);
        }
    }

    /// A spec approved or executing counts in `specs.in_progress` until it completes.
    fn in_progress(&mut self, spec: &str) {
        let art = art!(self, spec);
        if !art.in_progress && !art.closed {
            art_mut!(self, spec).in_progress = true;
            self.metrics.specs_in_progress += 1;
            self.touch(spec);
        }
    }

    fn on_contract(&mut self, ev: &ParsedEvent) -> Key {
        let contract = self.artifact(Kind::Contract, ev.artifact_id.as_deref(), ev, None);
        self.seen(&contract, ev);
        if let Some(spec_id) = &ev.spec_id {
            let spec = self.artifact(Kind::Spec, Some(spec_id), ev, None);
            self.attach_contract(&contract, &spec);
        }
        if ev.event_type == "contract.started" {
            self.start_run(&contract, ev);
        }
        if let Some(result) = contract_result(ev) {
            self.finish_run(&contract, ev, result);
        }
        contract
    }

    fn start_run(&mut self, key: &str, ev: &ParsedEvent) {
        if art!(self, key).running {
            // started again before it completed: the old run ends here
            self.end_run(key, ev, "restarted", false, None);
        }
        let contract = art_mut!(self, key);
        contract.runs += 1;
        contract.running = true;
        contract.run_start_ns = Some(ev.time_ns);
        self.metrics.running_contracts += 1;
        if let Some(spec) = art!(self, key).spec.clone() {
            self.in_progress(&spec);
        }
    }

    fn finish_run(&mut self, key: &str, ev: &ParsedEvent, result: &str) {
        self.metrics.contract_result(result);
        if !art!(self, key).running {
            // completed with no start seen: a run of its own
            let contract = art_mut!(self, key);
            contract.runs += 1;
            contract.running = true;
            contract.run_start_ns = Some(ev.time_ns - duration_ns(ev));
            self.metrics.running_contracts += 1;
        }
        let failed = result == "fail";
        let message = error_text(ev).or_else(|| {
            failed.then(|| {
                let count = py_str(ev.payload.get("assertions_failed").unwrap_or(&Json::Null));
                one_line(&format!("{count} assertion(s) failed"), 200)
            })
        });
        self.end_run(key, ev, result, failed, message);
        if !failed && let Some(spec) = art!(self, key).spec.clone() {
            self.contract_passed(&spec, key, ev);
        }
    }

    fn end_run(&mut self, key: &str, ev: &ParsedEvent, outcome: &str, error: bool, message: Option<String>) {
        let contract = art!(self, key);
        let start = contract.run_start_ns.unwrap_or(ev.time_ns);
        let runs = contract.runs;
        let mut attrs = self.attrs.clone();
        attrs.set("intent.contract.run", Value::Int(runs as i64));
        attrs.set("intent.contract.result", outcome);
        let name = format!("{} · run {runs}", contract.name);
        self.add_phase(
            key,
            &format!("run{runs}"),
            name,
            start,
            ev.time_ns,
            error,
            message,
            attrs,
        );
        let contract = art_mut!(self, key);
        contract.running = false;
        contract.run_start_ns = None;
        contract.closed = true;
        contract.end_ns = Some(ev.time_ns.max(start));
        contract.error = error;
        self.metrics.running_contracts -= 1;
        self.touch(key);
    }

    fn contract_passed(&mut self, spec: &str, contract: &str, ev: &ParsedEvent) {
        if !art!(self, spec).passed.iter().any(|c| c == contract) {
            art_mut!(self, spec).passed.push(contract.to_string());
        }
        let art = art!(self, spec);
        if !art.listed.is_empty() && art.listed.iter().all(|c| art.passed.contains(c)) {
            self.complete_spec(spec, ev);
        }
    }

    fn complete_spec(&mut self, spec: &str, ev: &ParsedEvent) {
        if !art!(self, spec).closed {
            self.close(spec, ev, false);
            let first_ns = art!(self, spec).first_ns;
            self.metrics.observe_spec_to_complete(ev.time_ns - first_ns);
        }
    }

    fn on_assertion(&mut self, ev: &ParsedEvent) -> Key {
        let mut contract = None;
        if let Some(contract_id) = &ev.contract_id {
            let key = self.artifact(Kind::Contract, Some(contract_id), ev, None);
            self.seen(&key, ev);
            contract = Some(key);
        }
        let scope = contract.clone().unwrap_or_else(|| "~".to_string());
        let run = contract.as_ref().map_or(0, |c| art!(self, c).runs);
        let mut key = None;
        if let Some(id) = &ev.artifact_id {
            let mut own = format!("assertion:{scope}/run{run}/{id}");
            if let Some(earlier) = self.artifacts.get(&own)
                && earlier.first_ns != ev.time_ns
            {
                // evaluated again: a new span
                let evaluations = earlier.evaluations + 1;
                art_mut!(self, &own).evaluations = evaluations;
                self.touch(&own);
                own = format!("{own}#{}", evaluations + 1);
            }
            key = Some(own);
        }
        let assertion = self.artifact(Kind::Assertion, ev.artifact_id.as_deref(), ev, key);
        let art = art_mut!(self, &assertion);
        art.contract = contract;
        art.run = run;
        let failed = ev.event_type.ends_with(".failed");
        self.metrics
            .assertion_result(if failed { "fail" } else { "pass" });
        let error_value = match ev.payload.get("error") {
            Some(value) if value.truthy() => Some(value),
            _ => ev.payload.get("evidence"),
        };
        self.seen(&assertion, ev);
        let art = art_mut!(self, &assertion);
        if !art.closed {
            art.closed = true;
            art.end_ns = Some(ev.time_ns);
            art.error = failed;
            art.status_message = match error_value {
                Some(value) if failed && value.truthy() => Some(one_line(&py_str(value), 200)),
                _ => None,
            };
        }
        assertion
    }

    fn on_decision(&mut self, ev: &ParsedEvent) -> Key {
        let decision = self.artifact(Kind::Decision, ev.artifact_id.as_deref(), ev, None);
        self.seen(&decision, ev);
        self.relate(&decision, ev, true);
        let art = art_mut!(self, &decision);
        if !art.closed {
            art.closed = true;
            art.end_ns = Some(art.first_ns);
        }
        decision
    }

    fn on_cluster(&mut self, ev: &ParsedEvent) -> Key {
        let Some(id) = &ev.artifact_id else {
            return self.on_other(ev);
        };
        let cluster = self.cluster(id, ev);
        self.join_members(ev, &cluster, false, None);
        cluster
    }

    /// A standalone event: a span of its own, under the artifact it names, if any.
    fn on_other(&mut self, ev: &ParsedEvent) -> Key {
        let key = format!("event:{}", ev.event_id);
        if self.artifacts.contains(&key) {
            // the same line again (its id is the line's hash, or its own id repeated): one event,
            // whose span was announced once; the copy's log record joins it
            return key;
        }
        self.new_artifact(&key, Kind::Other, None, ev);
        art_mut!(self, &key).name = ev.event_type.clone();
        self.relate(&key, ev, !ev.event_type.starts_with(MENTION_PREFIX));
        let (error, message) = standalone_status(ev);
        let span = art_mut!(self, &key);
        span.closed = true;
        span.end_ns = Some(ev.time_ns);
        span.error = error;
        span.status_message = message;
        if ev.event_type == "trace.completed"
            && let Some(intent) = span.intent.clone()
        {
            self.close(&intent, ev, false);
        }
        key
    }

    /// Link an event's own span to the contract, spec or intent it names (an event that only
    /// mentions them links only to artifacts that exist).
    fn relate(&mut self, key: &str, ev: &ParsedEvent, create: bool) {
        if let Some(contract_id) = &ev.contract_id
            && let Some(contract) = self.named(Kind::Contract, contract_id, ev, create)
        {
            art_mut!(self, key).contract = Some(contract);
            return;
        }
        if let Some(spec_id) = &ev.spec_id
            && let Some(spec) = self.named(Kind::Spec, spec_id, ev, create)
        {
            art_mut!(self, key).spec = Some(spec);
            return;
        }
        if let Some(intent) = self.intent_for(ev, create) {
            art_mut!(self, key).intent = Some(intent);
        }
    }

    fn named(&mut self, kind: Kind, raw_id: &str, ev: &ParsedEvent, create: bool) -> Option<Key> {
        if !create {
            return self.existing(kind, raw_id);
        }
        let key = self.artifact(kind, Some(raw_id), ev, None);
        self.seen(&key, ev);
        Some(key)
    }

    /// A long-lived artifact completes: its lifecycle span, announced → now.
    fn close(&mut self, key: &str, ev: &ParsedEvent, error: bool) {
        if art!(self, key).closed {
            return;
        }
        self.closing(key);
        let art = art_mut!(self, key);
        let end_ns = ev.time_ns.max(art.first_ns);
        art.closed = true;
        art.end_ns = Some(end_ns);
        art.error = error;
        art.status_message = if error { error_text(ev) } else { None };
        let start = match (art.kind, art.defined_ns) {
            (Kind::Intent, Some(defined_ns)) => defined_ns,
            _ => art.first_ns,
        };
        let mut attrs = Attrs::default();
        attrs.set("intent.phase.end_event", ev.event_type.as_str());
        let name = format!("{} · lifecycle", art.name);
        let message = art.status_message.clone();
        self.add_phase(key, "lifecycle", name, start, end_ns, error, message, attrs);
        self.touch(key);
    }

    /// Gauges an artifact leaves when it completes.
    fn closing(&mut self, key: &str) {
        let art = art!(self, key);
        let m = &mut self.metrics;
        if art.kind == Kind::Spec {
            m.open_specs -= i64::from(art.counted);
            m.specs_in_progress -= i64::from(art.in_progress);
        } else if art.kind == Kind::Intent && art.defined {
            m.intents_active -= 1;
            m.intent_last_ns.remove(key);
            self.changed_activity.insert(key.to_string());
        }
    }

    #[allow(clippy::too_many_arguments)] // a phase's fields, as the record has them
    fn add_phase(
        &mut self,
        key: &str,
        label: &str,
        name: String,
        start_ns: i64,
        end_ns: i64,
        error: bool,
        message: Option<String>,
        mut attrs: Attrs,
    ) {
        let art = art!(self, key);
        attrs.set("intent.artifact.type", art.kind.value());
        if let Some(id) = &art.id {
            attrs.set("intent.artifact.id", id.as_str());
        }
        attrs.set(
            "intent.phase",
            if label.starts_with("run") { "run" } else { label },
        );
        attrs.set("intent.artifact.state", "closed");
        let phase = Phase {
            owner: key.to_string(),
            span_id: self.phase_span_id(art, label),
            name,
            start_ns: start_ns.min(end_ns),
            end_ns,
            error,
            status_message: message,
            attrs,
        };
        if art.trace_id.is_some() {
            let span = self.phase_span(phase, key);
            self.spans.push(span);
        } else {
            self.phases.entry(key.to_string()).or_default().push(phase);
        }
    }

    // -------------------------------------------------------------- placement
    fn owning_intent(&self, key: &str) -> Option<Key> {
        let Some(mut art) = self.artifacts.get(key) else {
            let member = self.memberships.get(key)?;
            return member.intent_role.then(|| member.container.clone());
        };
        for _ in 0..4 {
            if art.kind == Kind::Intent {
                return Some(art.key.clone());
            }
            let parent = art
                .intent
                .as_ref()
                .or(art.spec.as_ref())
                .or(art.contract.as_ref())?;
            art = art!(self, parent);
        }
        None
    }

    fn home_placed(&self, home: &str) -> bool {
        let key = self
            .memberships
            .get(home)
            .map_or(home, |member| member.container.as_str());
        art!(self, key).trace_id.is_some()
    }

    /// Place what can be placed now and build the spans that became final: called right
    /// after each event (and by `finalize`), so a span never depends on where a batch ended.
    fn settle(&mut self, force: bool) {
        for key in std::mem::take(&mut self.dirty) {
            self.place(&key, force);
        }
    }

    /// Fix an artifact's trace and parent once its ancestors are known (or when forced); the
    /// artifacts that waited for it follow at once.
    fn place(&mut self, key: &str, force: bool) -> bool {
        let Some(art) = self.artifacts.get(key) else {
            return false;
        };
        if art.trace_id.is_some() {
            return true;
        }
        let parent = parent_key(art).cloned();
        let (kind, defined, bare) = (art.kind, art.defined, art.bare);
        let scope = self.scope.clone();
        if matches!(kind, Kind::Signal | Kind::Cluster) || (kind == Kind::Intent && (defined || force)) {
            let trace = if kind == Kind::Signal {
                ids::derived_trace_id(&[&scope, "orphan", key])
            } else {
                art.claimed_trace
                    .clone()
                    .unwrap_or_else(|| ids::uuid_trace_id(&scope, kind.value(), key))
            };
            let art = art_mut!(self, key);
            art.placeholder = kind == Kind::Intent && !defined;
            art.trace_id = Some(trace);
        } else if let Some(parent) = parent.as_ref().filter(|p| self.place(p, force)) {
            if art!(self, key).trace_id.is_some() {
                return true; // placed meanwhile, as one that waited for its parent
            }
            let parent = art!(self, parent);
            let trace = parent.trace_id.clone();
            let parent_span = self.parent_span(art!(self, key), parent);
            let art = art_mut!(self, key);
            art.trace_id = trace;
            art.parent_span = Some(parent_span);
        } else if force || (parent.is_none() && kind != Kind::Intent && !bare) {
            art_mut!(self, key).trace_id = Some(ids::derived_trace_id(&[&scope, "root", key]));
        } else {
            if let Some(parent) = parent {
                let waiting = self.waiting.entry(parent).or_default();
                if !waiting.iter().any(|k| k == key) {
                    waiting.push(key.to_string());
                }
            }
            return false;
        }
        self.unplaced.remove(key);
        self.announce(key);
        for member in self.members_pending.remove(key).unwrap_or_default() {
            let span = self.member_span(&member);
            self.spans.push(span);
        }
        for phase in self.phases.remove(key).unwrap_or_default() {
            let span = self.phase_span(phase, key);
            self.spans.push(span);
        }
        for child in self.waiting.remove(key).unwrap_or_default() {
            self.place(&child, force);
        }
        true
    }

    /// Assertions sit under the run they were evaluated in.
    fn parent_span(&self, art: &Artifact, parent: &Artifact) -> String {
        if art.kind == Kind::Assertion && art.run > 0 {
            return self.phase_span_id(parent, &format!("run{}", art.run));
        }
        parent.span_id.clone()
    }

    fn phase_span_id(&self, art: &Artifact, label: &str) -> String {
        ids::span_id(&[&self.scope, "phase", &art.key, label])
    }

    fn phase_span(&mut self, phase: Phase, owner: &str) -> SpanRecord {
        let mut attrs = phase.attrs;
        attrs.update(&self.relation_attrs(owner));
        let owner = art!(self, owner);
        SpanRecord {
            trace_id: owner.trace_id.clone().unwrap_or_default(),
            span_id: phase.span_id,
            parent_span_id: Some(owner.span_id.clone()),
            name: phase.name,
            start_ns: phase.start_ns,
            end_ns: phase.end_ns,
            error: phase.error,
            status_message: phase.status_message,
            attributes: attrs,
            links: vec![],
        }
    }

    // ----------------------------------------------------------------- records
    /// intent.id / intent.spec.id / intent.contract.id of the artifact and its ancestors,
    /// fixed when it is placed (cached, as the engine always has: a relation learnt later
    /// does not change what its records say, until the cache is next emptied).
    fn relation_attrs(&mut self, key: &str) -> Attrs {
        if let Some(cached) = self.relations.get(key) {
            return cached.clone();
        }
        let mut attrs = Attrs::default();
        let mut node = self.artifacts.get(key);
        for _ in 0..5 {
            let Some(art) = node else { break };
            if let (Some(name), Some(id)) = (relation_attr(art.kind), &art.id) {
                attrs.set_default(name, &Value::Str(id.clone()));
            }
            node = parent_key(art).and_then(|parent| self.artifacts.get(parent));
        }
        if art!(self, key).trace_id.is_some() {
            // placed: its ancestors are fixed for good
            if self.relations.len() >= RELATIONS_CACHE {
                self.relations.clear();
            }
            self.relations.insert(key.to_string(), attrs.clone());
        }
        attrs
    }

    /// The artifact's one span, built now that its place is known; never sent again.
    fn announce(&mut self, key: &str) {
        let relations = self.relation_attrs(key);
        let art = art_mut!(self, key);
        art.announced = true;
        let kind = art.kind;
        // what it was announced with is needed no more, but a signal's or a spec's
        // memberships copy it later
        let mut attrs = if matches!(kind, Kind::Signal | Kind::Spec) {
            art.attrs.clone()
        } else {
            std::mem::take(&mut art.attrs)
        };
        attrs.update(&relations);
        let instant = !long_lived(kind);
        if instant {
            attrs.set("intent.artifact.state", "closed"); // an instant is final as it happens
        }
        if art.placeholder {
            attrs.set("intent.artifact.placeholder", Value::Bool(true));
        }
        if art.bare {
            attrs.set("intent.artifact.bare", Value::Bool(true));
        }
        if let Some(file) = &art.file {
            attrs.set("intent.artifact.file", file.as_str());
        }
        let trace_id = art.trace_id.clone().unwrap_or_default();
        if kind == Kind::Cluster {
            attrs.set(
                "intent.cluster.trace",
                format!("cluster-{}", ids::uuid_form(&trace_id)),
            );
        }
        let instant_end = match art.end_ns {
            Some(end_ns) if instant => end_ns,
            _ => art.first_ns,
        };
        let span = SpanRecord {
            trace_id,
            span_id: art.span_id.clone(),
            parent_span_id: art.parent_span.clone(),
            name: art.name.clone(),
            start_ns: art.first_ns,
            end_ns: instant_end.max(art.first_ns),
            error: art.error && instant,
            status_message: if instant { art.status_message.clone() } else { None },
            attributes: attrs,
            links: vec![],
        };
        self.spans.push(span);
    }

    fn member_span(&mut self, member_key: &str) -> SpanRecord {
        let Some(member) = self.memberships.get(member_key).cloned() else {
            panic!("no membership {member_key:?}")
        };
        self.place(&member.signal, true);
        let sig = art!(self, &member.signal);
        let (sig_trace, sig_span, sig_name) = (sig.trace_id.clone(), sig.span_id.clone(), sig.name.clone());
        let sig_cluster = sig.cluster.clone();
        let origin = if sig.kind == Kind::Signal {
            "orphan"
        } else {
            "root"
        };
        let mut attrs = member.attrs;
        let mut links = vec![link(sig_trace, sig_span, origin)];
        if member.intent_role {
            attrs.update(&self.relation_attrs(&member.container));
            attrs.set("intent.backfilled", Value::Bool(true));
            let cluster_member = sig_cluster.and_then(|cluster| {
                self.memberships
                    .get(&format!("cluster-member:{}@{cluster}", member.signal))
                    .cloned()
            });
            if let Some(cluster_member) = cluster_member {
                self.place(&cluster_member.container, true);
                let cluster = art!(self, &cluster_member.container);
                links.push(link(
                    cluster.trace_id.clone(),
                    cluster_member.span_id.clone(),
                    "cluster",
                ));
            }
        } else {
            let id = art!(self, &member.container).id.clone().unwrap_or_default();
            attrs.set("intent.cluster.id", id);
        }
        attrs.set("intent.artifact.state", "closed");
        if let Some(stored) = self.memberships.get_mut(member_key) {
            stored.attrs = Attrs::default(); // its span is built once: the copy is needed no more
        }
        let container = art!(self, &member.container);
        SpanRecord {
            trace_id: container.trace_id.clone().unwrap_or_default(),
            span_id: member.span_id,
            parent_span_id: Some(container.span_id.clone()),
            name: sig_name,
            start_ns: member.time_ns,
            end_ns: member.time_ns,
            error: false,
            status_message: None,
            attributes: attrs,
            links,
        }
    }

    fn log_record(&mut self, ev: &ParsedEvent, position: &Position, observed_ns: Option<i64>) -> LogRecord {
        // handlers have taken their copies; the log record keeps the original
        let mut attrs = std::mem::take(&mut self.attrs);
        attrs.set("event.name", ev.event_type.as_str());
        attrs.set("intent.event.id", ev.event_id.as_str());
        attrs.set("intent.event.file", position.file.as_str());
        attrs.set("intent.event.line", Value::Int(position.line));
        attrs.set("intent.event.offset", Value::Int(position.offset));
        let (severity_number, severity_text) = severity(ev);
        LogRecord {
            time_ns: ev.time_ns,
            observed_ns: observed_ns.unwrap_or(ev.time_ns),
            trace_id: String::new(),
            span_id: String::new(),
            severity_number,
            severity_text: severity_text.to_string(),
            body: summary_line(ev),
            attributes: attrs,
        }
    }

    fn finish_log(&mut self, item: PendingLog) -> LogRecord {
        let mut record = item.record;
        let (owner, span_id) = match self.memberships.get(&item.home) {
            Some(member) => (member.container.clone(), member.span_id.clone()),
            None => (item.home.clone(), art!(self, &item.home).span_id.clone()),
        };
        record.trace_id = art!(self, &owner).trace_id.clone().unwrap_or_default();
        record.span_id = span_id;
        for (name, value) in &self.relation_attrs(&owner).0 {
            record.attributes.set_default(name, value);
        }
        record
    }
}

fn link(trace_id: Option<String>, span_id: String, origin: &str) -> SpanLink {
    let mut attributes = Attrs::default();
    attributes.set("intent.link", origin);
    SpanLink {
        trace_id: trace_id.unwrap_or_default(),
        span_id,
        attributes,
    }
}

/// Python's `str()` of a JSON value, as the messages were first written.
fn py_str(value: &Json) -> String {
    match value {
        Json::Str(text) => text.to_string(),
        other => py_repr(other),
    }
}

fn py_repr(value: &Json) -> String {
    match value {
        Json::Null => "None".into(),
        Json::Bool(flag) => if *flag { "True" } else { "False" }.into(),
        Json::Int(n) => n.to_string(),
        Json::Float(x) => float_repr(*x),
        Json::Str(text) => {
            let quote = if text.contains('\'') && !text.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(quote);
            for c in text.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        out.push_str(&format!("\\x{:02x}", c as u32))
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        Json::Array(items) => format!("[{}]", items.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Json::Object(object) => format!(
            "{{{}}}",
            object
                .0
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(&Json::Str(k.clone())), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn is_number(value: Option<&Json>) -> Option<f64> {
    match value? {
        Json::Int(n) => Some(*n as f64),
        Json::Float(x) => Some(*x),
        _ => None,
    }
}

/// A completion's own account of how long its run took (`duration`, seconds), else 0.
fn duration_ns(ev: &ParsedEvent) -> i64 {
    match is_number(ev.payload.get("duration")) {
        Some(seconds) if 0.0 < seconds && seconds < MAX_DURATION_S => (seconds * 1e9) as i64,
        _ => 0,
    }
}

fn lowered_in(text: &str, words: &[&str]) -> bool {
    words.contains(&py_strip(text).to_lowercase().as_str())
}

fn contract_result(ev: &ParsedEvent) -> Option<&'static str> {
    let event_type = ev.event_type.as_str();
    if CONTRACT_PASS.contains(&event_type) {
        return Some("pass");
    }
    if event_type == "contract.failed" {
        return Some("fail");
    }
    if event_type != "contract.completed" {
        return None;
    }
    let verdict = |fail: bool| Some(if fail { "fail" } else { "pass" });
    if let Some(text) = first(ev, &["result", "status", "outcome", "verdict"]) {
        return verdict(lowered_in(text, &FAIL_WORDS));
    }
    if let Some(failed) = is_number(ev.payload.get("assertions_failed")) {
        return verdict(failed > 0.0);
    }
    if let Some(Json::Bool(passed)) = ev.payload.get("passed") {
        return verdict(!passed);
    }
    Some("pass")
}

/// ERROR for a system error, a failing evaluation verdict and a denied approval.
fn standalone_status(ev: &ParsedEvent) -> (bool, Option<String>) {
    let event_type = ev.event_type.as_str();
    if event_type == "system.error" {
        return (true, error_text(ev));
    }
    let verdict_keys = ["verdict", "result", "status"];
    if event_type == "observation.evaluated" && says(ev, &verdict_keys, &FAIL_WORDS) {
        return (
            true,
            error_text(ev).or_else(|| first(ev, &verdict_keys).map(str::to_string)),
        );
    }
    if APPROVAL_DECISIONS.contains(&event_type) {
        let denied = says(
            ev,
            &["decision", "status", "outcome", "result", "verdict"],
            &DENIED_WORDS,
        );
        if denied || ev.payload.get("approved") == Some(&Json::Bool(false)) {
            return (true, Some(error_text(ev).unwrap_or_else(|| "denied".to_string())));
        }
    }
    (false, None)
}

fn says(ev: &ParsedEvent, keys: &[&str], words: &[&str]) -> bool {
    first(ev, keys).is_some_and(|text| lowered_in(text, words))
}

fn first<'e>(ev: &'e ParsedEvent, keys: &[&str]) -> Option<&'e str> {
    keys.iter().find_map(|key| match ev.payload.get(key) {
        Some(Json::Str(text)) => Some(text.as_ref()),
        _ => None,
    })
}

fn error_text(ev: &ParsedEvent) -> Option<String> {
    ["error", "message", "reason"]
        .iter()
        .find_map(|key| match ev.payload.get(key) {
            Some(Json::Str(text)) if !py_strip(text).is_empty() => Some(one_line(text, 200)),
            _ => None,
        })
}

fn severity(ev: &ParsedEvent) -> (i32, &'static str) {
    let event_type = ev.event_type.as_str();
    if event_type == "system.error" || event_type == "contract.failed" {
        return SEVERITY_ERROR;
    }
    if event_type == "contract.completed" && contract_result(ev) == Some("fail") {
        return SEVERITY_ERROR;
    }
    let warn = [".failed", ".dismissed", ".expired", ".escalated", ".error_retry"];
    if warn.iter().any(|suffix| event_type.ends_with(suffix)) {
        return SEVERITY_WARN;
    }
    SEVERITY_INFO
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::codec;
    use crate::identity::table::Store;
    use crate::parse::{Parsed, parse_line};

    const HISTORY: [&str; 9] = [
        r#"{"event_type":"signal.created","signal_id":"SIG-1","title":"Flaky login","source":"cli","timestamp":"2026-01-01T00:00:00Z"}"#,
        r#"{"event_type":"signal.clustered","signal_id":"SIG-1","cluster_id":"CL-1","timestamp":"2026-01-01T01:00:00Z"}"#,
        r#"{"event_type":"signal.promoted","signal_id":"SIG-1","cluster_id":"CL-1","intent_id":"INT-1","timestamp":"2026-01-01T02:00:00Z"}"#,
        r#"{"event_type":"spec.created","spec_id":"SPEC-1","intent_id":"INT-1","contracts":["CON-1"],"timestamp":"2026-01-01T03:00:00Z"}"#,
        r#"{"event_type":"contract.started","contract_id":"CON-1","spec_id":"SPEC-1","timestamp":"2026-01-01T04:00:00Z"}"#,
        r#"{"event_type":"contract.assertion.failed","assertion_id":"A-1","contract_id":"CON-1","error":"boom","timestamp":"2026-01-01T04:30:00Z"}"#,
        r#"{"event_type":"contract.completed","contract_id":"CON-1","result":"pass","timestamp":"2026-01-01T05:00:00Z"}"#,
        r#"{"event_type":"spec.created","spec_id":"SPEC-2","file":"a.md","timestamp":"2026-01-01T06:00:00Z"}"#,
        r#"{"event_type":"spec.created","spec_id":"SPEC-2","file":"b.md","timestamp":"2026-01-01T07:00:00Z"}"#,
    ];

    fn feed(engine: &mut Engine, line: &str, number: i64) {
        let Parsed::Event(ev) = parse_line(line.as_bytes()) else {
            panic!("{line}")
        };
        let position = Position {
            file: "events.jsonl".into(),
            line: number,
            offset: 0,
        };
        engine.process(*ev, &position, Some(1));
    }

    fn read(lines: &[&str]) -> (Engine, Output) {
        let mut engine = Engine::new("");
        for (i, line) in lines.iter().enumerate() {
            feed(&mut engine, line, i as i64 + 1);
        }
        let out = engine.finalize();
        (engine, out)
    }

    fn span<'o>(out: &'o Output, name: &str) -> &'o SpanRecord {
        out.spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name}"))
    }

    #[test]
    fn a_signal_is_an_orphan_until_promoted_then_backfilled_into_the_intent() {
        let (engine, out) = read(&HISTORY[..3]);
        let orphan = span(&out, "signal SIG-1");
        assert_eq!(
            orphan.trace_id,
            ids::derived_trace_id(&["", "orphan", "signal:SIG-1"])
        );
        let intent = span(&out, "intent INT-1");
        assert_eq!(intent.trace_id, ids::uuid_trace_id("", "intent", "intent:INT-1"));
        let copies: Vec<_> = out.spans.iter().filter(|s| s.name == "signal SIG-1").collect();
        assert_eq!(copies.len(), 3, "orphan, cluster member, intent member");
        let backfilled = copies.iter().find(|s| s.trace_id == intent.trace_id).unwrap();
        assert_eq!(
            backfilled.attributes.get("intent.backfilled"),
            Some(&Value::Bool(true))
        );
        let links: Vec<_> = backfilled
            .links
            .iter()
            .map(|l| l.attributes.get("intent.link").cloned())
            .collect();
        assert_eq!(
            links,
            vec![Some(Value::from("orphan")), Some(Value::from("cluster"))]
        );
        assert_eq!(engine.metrics.signals.get("cli"), Some(&1));
        assert_eq!(engine.metrics.signal_to_intent.count, 1);
    }

    #[test]
    fn specs_contracts_runs_and_assertions_nest_under_the_intent() {
        let (_, out) = read(&HISTORY[..7]);
        let intent = span(&out, "intent INT-1");
        let spec = span(&out, "spec SPEC-1");
        let contract = span(&out, "contract CON-1");
        let run = span(&out, "contract CON-1 · run 1");
        let assertion = span(&out, "assertion A-1");
        assert_eq!(spec.parent_span_id.as_ref(), Some(&intent.span_id));
        assert_eq!(contract.parent_span_id.as_ref(), Some(&spec.span_id));
        assert_eq!(run.parent_span_id.as_ref(), Some(&contract.span_id));
        assert_eq!(
            assertion.parent_span_id.as_ref(),
            Some(&run.span_id),
            "under the run it was evaluated in"
        );
        assert!(assertion.error && assertion.status_message.as_deref() == Some("boom"));
        assert!(!run.error);
        let spec_done = span(&out, "spec SPEC-1 · lifecycle"); // its one listed contract passed
        assert_eq!(
            spec_done.attributes.get("intent.phase.end_event"),
            Some(&Value::from("contract.completed"))
        );
        assert!(out.spans.iter().all(|s| s.trace_id == intent.trace_id
            || s.name.starts_with("signal")
            || s.name.starts_with("cluster")));
    }

    #[test]
    fn one_id_from_two_files_is_two_artifacts() {
        let (engine, out) = read(&HISTORY[7..]);
        let keys: Vec<_> = ["spec:SPEC-2", "spec:SPEC-2#2"]
            .iter()
            .map(|k| engine.artifacts.get(k).unwrap())
            .collect();
        assert_eq!(keys[0].file.as_deref(), Some("a.md"));
        assert_eq!(keys[1].file.as_deref(), Some("b.md"));
        assert_ne!(keys[0].trace_id, keys[1].trace_id);
        assert_eq!(out.spans.iter().filter(|s| s.name == "spec SPEC-2").count(), 2);
        assert_eq!(engine.files.get("a.md"), Some(&vec!["spec:SPEC-2".to_string()]));
    }

    #[test]
    fn spans_do_not_depend_on_where_batches_end() {
        let (_, whole) = read(&HISTORY);
        let mut engine = Engine::new("");
        let mut spans = vec![];
        let mut logs = vec![];
        for (i, line) in HISTORY.iter().enumerate() {
            feed(&mut engine, line, i as i64 + 1);
            let out = engine.drain();
            spans.extend(out.spans);
            logs.extend(out.logs);
        }
        let out = engine.finalize();
        spans.extend(out.spans);
        logs.extend(out.logs);
        assert_eq!(spans, whole.spans);
        assert_eq!(logs.len(), whole.logs.len());
    }

    #[test]
    fn a_state_saved_and_read_back_carries_on_as_one_read() {
        let (_, whole) = read(&HISTORY);
        let mut first = Engine::new("");
        for (i, line) in HISTORY[..4].iter().enumerate() {
            feed(&mut first, line, i as i64 + 1);
        }
        let mut spans = first.drain().spans;
        let changes = first.take_changed();
        let mut second = codec::read_core(&codec::core_row(&first)).unwrap();
        // one entry a table in memory: every other one let go after each event, read back
        second.artifacts = Table::spilling("", 1, store_of(changes.artifacts), true);
        second.memberships = Table::spilling("", 1, store_of(changes.memberships), true);
        second.files = Table::spilling("", 1, store_of(changes.files), true);
        for (i, line) in HISTORY[4..].iter().enumerate() {
            feed(&mut second, line, i as i64 + 5);
            spans.extend(second.drain().spans);
        }
        spans.extend(second.finalize().spans);
        assert_eq!(spans, whole.spans);
    }

    fn store_of(rows: Vec<(String, Vec<u8>)>) -> Store {
        let rows: std::collections::HashMap<String, Vec<u8>> = rows.into_iter().collect();
        let keys: Vec<String> = rows.keys().cloned().collect();
        Store {
            row: Box::new(move |key| rows.get(key).cloned()),
            keys: Box::new(move || keys.clone()),
        }
    }

    #[test]
    fn a_knowledge_event_only_mentions_what_exists() {
        let (engine, _) = read(&[
            r#"{"event_type":"knowledge.queried","intent_id":"INT-9","timestamp":"2026-01-01T00:00:00Z"}"#,
        ]);
        assert!(engine.artifacts.get("intent:INT-9").is_none());
        assert_eq!(engine.events_seen, 1);
    }
}
