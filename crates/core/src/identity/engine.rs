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
//! port keeps its semantics byte for byte, including the relation cache (`records.rs`). The
//! engine is split by responsibility: input and output here, `handlers` (what each kind of
//! event does), `derived` (what a file's front matter says), `artifacts` (finding, making,
//! relating, closing), `place` (trace and parent), `records` (spans and log records told
//! about an artifact).

use std::collections::BTreeSet;

use foldhash::{HashMap, HashSet};

use super::attrs::{Attrs, Value, event_attributes, shown_attributes};
use super::ids;
use super::metrics::MetricState;
use super::model::*;
use super::table::{KeyFilter, MemoryRows, Store, Table};
use crate::parse::{Kind, ParsedEvent, Shape};

/// The tables a store holds, in the order `spill` and `take_changed` give them.
pub const TABLES: [&str; 4] = ["artifacts", "memberships", "files", "derived"];

pub(super) const MENTION_PREFIX: &str = "knowledge."; // events that only mention artifacts

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
    /// An artifact file → its kind and the title its front matter gives (`derived.rs`).
    pub file_titles: HashMap<String, (Kind, String)>,
    pub changed_activity: HashSet<String>,
    /// Log records are counted, never read, and spans only shown (`inspect`): a log record is
    /// made bare, its time and place only — no attributes, body or severity held while it waits
    /// for its artifact's place; no record carries relation attributes (`relation_attrs`),
    /// and of an event's attributes an artifact keeps only those shown (`shown_attributes`).
    pub logs_counted: bool,
    saves: u64,                         // saves taken (`take_changed`)
    pub(super) dirty: BTreeSet<String>, // unplaced artifact keys whose place may have become known
    pub(super) spans: Vec<SpanRecord>,  // built at sequence points, handed over by `drain`
    drained: Vec<PendingLog>,           // `drain_each`'s spare queue (empty), for its memory
    attrs: Option<Attrs>,               // the event's attributes, once asked for (`event_attrs`)
    // placed artifact key → its relation attrs' place in `relation_sets` (a hit is one lookup)
    pub(super) relations: HashMap<String, u32>,
    pub(super) relation_sets: Vec<Attrs>,
    pub(super) run_span: Option<(Key, u32, ids::SpanId)>, // the newest run's span asked for (`under`)
}

pub(super) type Key = String;

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
pub(super) use {art, art_mut};

impl Engine {
    pub fn new(scope: &str) -> Self {
        Engine {
            scope: scope.to_string(),
            ..Default::default()
        }
    }

    /// Each table keeps about `limit` entries in memory, the rest in the store `of` gives for
    /// its number in `TABLES`, with the filter of the keys it let go (if any). `saved`: the
    /// stores already hold rows (a restart).
    pub fn spill(
        &mut self,
        limit: usize,
        saved: bool,
        mut of: impl FnMut(usize) -> (Store, Option<KeyFilter>),
    ) {
        let scope = self.scope.clone();
        let (store, outside) = of(0);
        self.artifacts = Table::spilling(&scope, limit, store, saved, outside);
        let (store, outside) = of(1);
        self.memberships = Table::spilling(&scope, limit, store, saved, outside);
        let (store, outside) = of(2);
        self.files = Table::spilling(&scope, limit, store, saved, outside);
        let (store, outside) = of(3);
        self.derived_taken = Table::spilling(&scope, limit, store, saved, outside);
    }

    /// Each table keeps about `limit` entries in memory, the rest as rows in memory (the
    /// state codec's), written as the trims let them go: a read with no store (`inspect`)
    /// whose memory does not grow with every artifact of the history.
    pub fn keep_rows(&mut self, limit: usize) {
        // no key filter: the rows' map answers "never seen" as fast
        self.spill(limit, false, |_| (MemoryRows::default().store(), None));
    }

    // ------------------------------------------------------------------ input
    pub fn process(&mut self, mut ev: ParsedEvent, position: &Position, observed_ns: Option<i64>) {
        self.title_by_file(&mut ev);
        if ev.shape == Shape::FrontMatter {
            self.process_derived(ev, position, observed_ns);
            return;
        }
        self.events_seen += 1; // a line of the log
        self.metrics
            .count_event(&ev.event_type, ev.source.as_deref(), ev.time_ns);
        self.process_one(&ev, position, observed_ns);
    }

    pub(super) fn process_one(&mut self, ev: &ParsedEvent, position: &Position, observed_ns: Option<i64>) {
        self.attrs = None;
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

    /// The attributes of the event being processed, for a handler to keep: made when first
    /// asked for. Where records are only counted and shown (`inspect`), a log record needs
    /// none and a handler only what a report shows (`shown_attributes`).
    pub(super) fn event_attrs(&mut self, ev: &ParsedEvent) -> Attrs {
        if self.logs_counted {
            return shown_attributes(ev);
        }
        self.attrs.get_or_insert_with(|| event_attributes(ev)).clone()
    }

    /// The log record's attributes: the event's, taken (handlers have taken their copies).
    pub(super) fn take_event_attrs(&mut self, ev: &ParsedEvent) -> Attrs {
        self.attrs.take().unwrap_or_else(|| event_attributes(ev))
    }

    fn note_activity(&mut self, home: &str, time_ns: i64) {
        let Some(intent) = self.owning_intent(home) else {
            return;
        };
        if intent.defined && !intent.closed {
            let owner = intent.key.clone();
            self.metrics.intent_activity(&owner, time_ns);
            self.changed_activity.insert(owner);
        }
    }

    // ----------------------------------------------------------------- output
    /// Spans built so far and logs whose place is known; the rest keep waiting.
    pub fn drain(&mut self) -> Output {
        let (mut spans, mut logs) = (Vec::new(), Vec::new());
        self.drain_each(|span| spans.push(span), |log| logs.push(log));
        Output { spans, logs }
    }

    /// `drain`, each record handed to `span` or `log` in turn. The queues keep their memory
    /// for the next batch: grown afresh for every batch, they cost page faults on fresh pages.
    pub fn drain_each(&mut self, span: impl FnMut(SpanRecord), mut log: impl FnMut(LogRecord)) {
        self.spans.drain(..).for_each(span);
        let mut pending = std::mem::replace(&mut self.pending, std::mem::take(&mut self.drained));
        for item in pending.drain(..) {
            match self.log_place(&item.home) {
                Some(place) => log(self.finish_log(item, place)),
                None => self.pending.push(item),
            }
        }
        self.drained = pending;
        self.artifacts.trim();
        self.memberships.trim();
        self.files.trim();
        self.derived_taken.trim();
    }

    /// Place everything still waiting, with what is known (placeholders for parents never
    /// seen): the end of a finite read, before its last `drain`.
    pub fn place_all(&mut self) {
        self.dirty.extend(self.unplaced.iter().cloned());
        self.settle(true);
    }

    /// `place_all`, then `drain`.
    pub fn finalize(&mut self) -> Output {
        self.place_all();
        self.drain()
    }

    /// Where the newest artifact of this kind and id sits, once it is placed; for a running
    /// contract, its current run.
    pub fn context(&mut self, kind: Kind, artifact_id: &str) -> Option<TraceContext> {
        let key = self.existing(kind, artifact_id)?;
        art!(self, &key).trace_id.as_ref()?;
        let relations = self.relation_attrs(&key).into_owned();
        let art = art!(self, &key);
        let (span_id, parent) = if art.kind == Kind::Contract && art.running {
            (
                self.phase_span_id(art, &Self::run_label(art.runs)),
                Some(art.span_id),
            )
        } else {
            (art.span_id, art.parent_span)
        };
        let text = |name: &str| relations.get(name).and_then(Value::as_str).map(str::to_string);
        Some(TraceContext {
            trace_id: ids::hex_or_empty(art.trace_id.as_ref()),
            span_id: ids::hex(&span_id),
            parent_span_id: parent.map(|id| ids::hex(&id)),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::codec;
    use crate::identity::table::{KeyFilter, Store};
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
    fn counted_logs_are_as_many_in_the_same_places_but_bare_and_spans_show_the_same() {
        let (_, mut full) = read(&HISTORY);
        let mut engine = Engine::new("");
        engine.logs_counted = true;
        for (i, line) in HISTORY.iter().enumerate() {
            feed(&mut engine, line, i as i64 + 1);
        }
        let mut counted = engine.finalize();
        // what the report reads of a span's attributes (`Collector::take_span`): the rest,
        // relations and links included, is not made
        let shown = [
            "intent.backfilled",
            "intent.artifact.id",
            "intent.artifact.type",
            "intent.artifact.state",
            "intent.phase",
            "intent.title",
        ];
        assert!(full.spans.iter().any(|s| s.attributes.get("intent.id").is_some()));
        assert!(full.spans.iter().any(|s| !s.links.is_empty()));
        assert!(counted.spans.iter().all(|s| s.links.is_empty()));
        for span in full.spans.iter_mut().chain(&mut counted.spans) {
            span.links.clear();
            span.attributes
                .0
                .retain(|(name, _)| shown.contains(&name.as_ref()));
            span.attributes.0.sort_by(|a, b| a.0.cmp(&b.0));
        }
        assert!(full.spans.iter().all(|s| s.attributes.0.len() >= 2));
        assert_eq!(counted.spans, full.spans);
        assert_eq!(counted.logs.len(), full.logs.len());
        for (bare, log) in counted.logs.iter().zip(&full.logs) {
            assert_eq!((bare.time_ns, &bare.span_id), (log.time_ns, &log.span_id));
            assert!(bare.body.is_empty() && !log.body.is_empty());
        }
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
        let outside = KeyFilter::default();
        let keys = |name| Some(outside.for_table(name));
        second.artifacts = Table::spilling("", 1, store_of(changes.artifacts), true, keys("a"));
        second.memberships = Table::spilling("", 1, store_of(changes.memberships), true, keys("m"));
        second.files = Table::spilling("", 1, store_of(changes.files), true, keys("f"));
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
            keys: Box::new(move |each| keys.iter().for_each(|key| each(key))),
            rows: None,
            write: None,
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
