//! Placing an artifact: its trace and parent, once known, and the spans that wait on them.

use super::attrs::decimal;
use super::engine::{Engine, art, art_mut};
use super::ids::{self, SpanId, TraceId};
use super::model::*;
use super::records::placed;
use crate::encode::hex_bytes;
use crate::parse::Kind;
use foldhash::HashMap;

pub(super) fn parent_key(art: &Artifact) -> Option<&str> {
    match art.kind {
        Kind::Spec => art.intent.as_deref(),
        Kind::Contract => art.spec.as_deref(),
        Kind::Assertion => art.contract.as_deref(),
        Kind::Decision | Kind::Other => art
            .contract
            .as_deref()
            .or(art.spec.as_deref())
            .or(art.intent.as_deref()),
        _ => None,
    }
}

/// What waited in `map` for `key`: nothing, without hashing the key, when nothing waits at all.
fn waited<V>(map: &mut HashMap<String, Vec<V>>, key: &str) -> Vec<V> {
    if map.is_empty() {
        return Vec::new();
    }
    map.remove(key).unwrap_or_default()
}

impl Engine {
    /// The intent whose work an event at `key` (its home) is. A signal's own events (announced
    /// again, rescored) are not work on the intent it fed; its promotion is (that event's home
    /// is its place in the intent's trace, a membership).
    pub(super) fn owning_intent(&self, key: &str) -> Option<&Artifact> {
        if let Some(member) = self.membership(key) {
            return member.intent_role.then(|| art!(self, member.container()));
        }
        let mut art = self.artifacts.get(key)?;
        for _ in 0..4 {
            match art.kind {
                Kind::Intent => return Some(art),
                Kind::Signal => return None,
                _ => {}
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

    /// The membership a home is, if it is one: an artifact's key is never looked for among
    /// the memberships (a miss there costs as much as a hit, and most homes are artifacts).
    pub(super) fn membership(&self, home: &str) -> Option<&Membership> {
        Membership::is_key(home)
            .then(|| self.memberships.get(home))
            .flatten()
    }

    /// Place what can be placed now and build the spans that became final: called right
    /// after each event (and by `finalize`), so a span never depends on where a batch ended.
    pub(super) fn settle(&mut self, force: bool) {
        for key in std::mem::take(&mut self.dirty) {
            self.place(&key, force);
        }
    }

    /// Fix an artifact's trace and parent once its ancestors are known (or when forced); the
    /// artifacts that waited for it follow at once.
    pub(super) fn place(&mut self, key: &str, force: bool) -> bool {
        let Some(art) = self.artifacts.get(key) else {
            return false;
        };
        if art.trace_id.is_some() {
            return true;
        }
        let parent = parent_key(art).map(str::to_string);
        let (kind, defined, bare) = (art.kind, art.defined, art.bare);
        if matches!(kind, Kind::Signal | Kind::Cluster) || (kind == Kind::Intent && (defined || force)) {
            let trace = if kind == Kind::Signal {
                ids::derived_trace_id(&[&self.scope, "orphan", key])
            } else {
                // a claimed trace is a writer's hint, read as 32 hex digits
                art.claimed_trace
                    .as_deref()
                    .and_then(hex_bytes::<16>)
                    .unwrap_or_else(|| ids::uuid_trace_id(&self.scope, kind.value(), key))
            };
            let art = art_mut!(self, key);
            art.placeholder = kind == Kind::Intent && !defined;
            art.trace_id = Some(trace);
        } else if let Some(parent) = parent.as_ref().filter(|p| self.place(p, force)) {
            let art = art!(self, key);
            if art.trace_id.is_some() {
                return true; // placed meanwhile, as one that waited for its parent
            }
            let run = if art.kind == Kind::Assertion { art.run } else { 0 };
            let (trace, parent_span) = self.under(parent, run);
            let art = art_mut!(self, key);
            art.trace_id = trace;
            art.parent_span = Some(parent_span);
        } else if force || (parent.is_none() && kind != Kind::Intent && !bare) {
            let trace = ids::derived_trace_id(&[&self.scope, "root", key]);
            art_mut!(self, key).trace_id = Some(trace);
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
        for member in waited(&mut self.members_pending, key) {
            let span = self.member_span(&member);
            self.spans.push(span);
        }
        for phase in waited(&mut self.phases, key) {
            let span = self.phase_span(phase, key);
            self.spans.push(span);
        }
        for child in waited(&mut self.waiting, key) {
            self.place(&child, force);
        }
        true
    }

    /// The trace and span a child of `parent` sits under: the parent's, or its run `run` (an
    /// assertion's, when > 0). A run's id is a hash, the newest one kept: a run's assertions
    /// come one after another.
    fn under(&mut self, parent: &str, run: u32) -> (Option<TraceId>, SpanId) {
        let art = art!(self, parent);
        if run == 0 {
            return (art.trace_id, art.span_id);
        }
        if let Some((key, n, id)) = &self.run_span
            && (key.as_str(), *n) == (parent, run)
        {
            return (art.trace_id, *id);
        }
        let (trace, id) = (art.trace_id, self.phase_span_id(art, &Self::run_label(run)));
        self.run_span = Some((parent.to_string(), run, id));
        (trace, id)
    }

    /// A contract's run `run`: the label of its phase (`run3`).
    pub(super) fn run_label(run: u32) -> String {
        let mut digits = [0; 20];
        ["run", decimal(run.into(), &mut digits)].concat()
    }

    pub(super) fn phase_span_id(&self, art: &Artifact, label: &str) -> SpanId {
        ids::span_id(&[&self.scope, "phase", &art.key, label])
    }

    pub(super) fn phase_span(&mut self, phase: Phase, owner: &str) -> SpanRecord {
        let mut attrs = phase.attrs;
        attrs.update(&self.relation_attrs(owner));
        let owner = art!(self, owner);
        SpanRecord {
            trace_id: placed(owner.trace_id),
            span_id: phase.span_id,
            parent_span_id: Some(owner.span_id),
            name: phase.name,
            start_ns: phase.start_ns,
            end_ns: phase.end_ns,
            error: phase.error,
            status_message: phase.status_message,
            attributes: attrs,
            links: vec![],
        }
    }
}
