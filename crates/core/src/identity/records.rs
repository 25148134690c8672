//! The records an artifact is told by: its announcing and member spans, its log records, and
//! an event's status and severity read from its words.

use std::borrow::Cow;

use super::attrs::{Attrs, Value, one_line, summary_line};
use super::engine::{Engine, art, art_mut};
use super::ids::{self, SpanId, TraceId};
use super::model::*;
use super::place::parent_key;
use crate::json::Json;
use crate::parse::{Kind, ParsedEvent};
use crate::pytext::{float_repr, py_strip, str_repr};

const RELATIONS_CACHE: usize = 20_000;

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

impl Engine {
    /// intent.id / intent.spec.id / intent.contract.id of the artifact and its ancestors,
    /// fixed when it is placed (cached, as the engine always has: a relation learnt later
    /// does not change what its records say, until the cache is next emptied).
    /// None where records are only counted and shown (`logs_counted`: the report reads no
    /// relation, and nothing else there asks).
    pub(super) fn relation_attrs(&mut self, key: &str) -> Cow<'_, Attrs> {
        if self.logs_counted {
            return Cow::Owned(Attrs::default());
        }
        if let Some(&at) = self.relations.get(key) {
            return Cow::Borrowed(&self.relation_sets[at as usize]);
        }
        let mut attrs = Attrs::default();
        let mut node = self.artifacts.get(key);
        for _ in 0..5 {
            let Some(art) = node else { break };
            if let (Some(name), Some(id)) = (relation_attr(art.kind), &art.id)
                && attrs.get(name).is_none()
            {
                attrs.push(name, &**id);
            }
            node = parent_key(art).and_then(|parent| self.artifacts.get(parent));
        }
        if art!(self, key).trace_id.is_some() {
            // placed: its ancestors are fixed for good
            if self.relations.len() >= RELATIONS_CACHE {
                self.relations.clear();
                self.relation_sets.clear();
            }
            self.relations
                .insert(key.to_string(), self.relation_sets.len() as u32);
            self.relation_sets.push(attrs);
            return Cow::Borrowed(&self.relation_sets[self.relation_sets.len() - 1]);
        }
        Cow::Owned(attrs)
    }

    /// The artifact's one span, built now that its place is known; never sent again.
    pub(super) fn announce(&mut self, key: &str) {
        let art = art_mut!(self, key);
        art.announced = true;
        let kind = art.kind;
        // what it was announced with is needed no more, but a signal's or a spec's
        // memberships copy it later
        let mut attrs = art.attrs.announce(Announced::kept(kind));
        attrs.update(&self.relation_attrs(key));
        let art = art!(self, key);
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
            attrs.set("intent.artifact.file", &**file);
        }
        let trace_id = placed(art.trace_id);
        if kind == Kind::Cluster {
            attrs.set(
                "intent.cluster.trace",
                format!("cluster-{}", ids::uuid_form(&ids::hex(&trace_id))),
            );
        }
        let instant_end = match art.end_ns {
            Some(end_ns) if instant => end_ns,
            _ => art.first_ns,
        };
        let span = SpanRecord {
            trace_id,
            span_id: art.span_id,
            parent_span_id: art.parent_span,
            name: art.name().into_owned(),
            start_ns: art.first_ns,
            end_ns: instant_end.max(art.first_ns),
            error: art.error && instant,
            status_message: if instant {
                art.status_message.as_deref().map(str::to_string)
            } else {
                None
            },
            attributes: attrs,
            links: vec![],
        };
        self.spans.push(span);
    }

    pub(super) fn member_span(&mut self, member_key: &str) -> SpanRecord {
        let Some(stored) = self.memberships.get_mut(member_key) else {
            panic!("no membership {member_key:?}")
        };
        // its span is built once, now: its copy of the signal's attributes is needed no more
        let mut attrs = std::mem::take(&mut stored.attrs);
        let member = stored.clone();
        self.place(member.signal(), true);
        let sig = art!(self, member.signal());
        let (sig_trace, sig_span, sig_name) = (sig.trace_id, sig.span_id, sig.name().into_owned());
        let sig_cluster = sig.cluster.clone();
        let origin = if sig.kind == Kind::Signal {
            "orphan"
        } else {
            "root"
        };
        // where spans are only shown (`logs_counted`), no link: the report reads none
        let mut links = if self.logs_counted {
            vec![]
        } else {
            vec![link(sig_trace, sig_span, origin)]
        };
        if member.intent_role {
            attrs.update(&self.relation_attrs(member.container()));
            attrs.set("intent.backfilled", Value::Bool(true));
            let cluster_member = sig_cluster.filter(|_| !self.logs_counted).and_then(|cluster| {
                self.memberships
                    .get(&Membership::key_of(member.signal(), &cluster, false))
                    .cloned()
            });
            if let Some(cluster_member) = cluster_member {
                self.place(cluster_member.container(), true);
                let cluster = art!(self, cluster_member.container());
                links.push(link(cluster.trace_id, cluster_member.span_id, "cluster"));
            }
        } else {
            let id = art!(self, member.container())
                .id
                .as_deref()
                .unwrap_or_default()
                .to_string();
            attrs.set("intent.cluster.id", id);
        }
        attrs.set("intent.artifact.state", "closed");
        let container = art!(self, member.container());
        SpanRecord {
            trace_id: placed(container.trace_id),
            span_id: member.span_id,
            parent_span_id: Some(container.span_id),
            name: sig_name,
            start_ns: member.time_ns,
            end_ns: member.time_ns,
            error: false,
            status_message: None,
            attributes: attrs,
            links,
        }
    }

    pub(super) fn log_record(
        &mut self,
        ev: &ParsedEvent,
        position: &Position,
        observed_ns: Option<i64>,
    ) -> LogRecord {
        let observed_ns = observed_ns.unwrap_or(ev.time_ns);
        if self.logs_counted {
            return LogRecord {
                time_ns: ev.time_ns,
                observed_ns,
                ..Default::default()
            };
        }
        let mut attrs = self.take_event_attrs(ev);
        // none of these is an event attribute's name
        attrs.push("event.name", ev.event_type.as_ref());
        attrs.push("intent.event.id", ev.event_id.as_str());
        attrs.push("intent.event.file", &*position.file);
        attrs.push("intent.event.line", Value::Int(position.line));
        attrs.push("intent.event.offset", Value::Int(position.offset));
        let (severity_number, severity_text) = severity(ev);
        LogRecord {
            time_ns: ev.time_ns,
            observed_ns,
            trace_id: TraceId::default(),
            span_id: SpanId::default(),
            severity_number,
            severity_text: severity_text.to_string(),
            body: summary_line(ev),
            attributes: attrs,
        }
    }

    /// Where the log record of an event at `home` goes, once `home` is placed: its trace and
    /// span (its artifact's, or its membership's).
    pub(super) fn log_place(&self, home: &str) -> Option<(TraceId, SpanId)> {
        let (owner, member_span) = match self.membership(home) {
            Some(member) => (member.container(), Some(member.span_id)),
            None => (home, None),
        };
        let art = art!(self, owner);
        Some((art.trace_id?, member_span.unwrap_or(art.span_id)))
    }

    /// The log record of a waiting event, at its place (`log_place`).
    pub(super) fn finish_log(
        &mut self,
        item: PendingLog,
        (trace_id, span_id): (TraceId, SpanId),
    ) -> LogRecord {
        let mut record = item.record;
        record.trace_id = trace_id;
        record.span_id = span_id;
        let owner = match self.membership(&item.home) {
            Some(member) => member.container().to_string(),
            None => item.home,
        };
        for (name, value) in &self.relation_attrs(&owner).0 {
            record.attributes.set_default(name, value);
        }
        record
    }
}

fn link(trace_id: Option<TraceId>, span_id: SpanId, origin: &str) -> SpanLink {
    let mut attributes = Attrs::default();
    attributes.set("intent.link", origin);
    SpanLink {
        trace_id: placed(trace_id),
        span_id,
        attributes,
    }
}

/// The trace of an artifact a record is built for: placed by then (all zeros, an id OTel
/// calls invalid, were it not).
pub(super) fn placed(trace_id: Option<TraceId>) -> TraceId {
    trace_id.unwrap_or_default()
}

/// Python's `str()` of a JSON value, as the messages were first written.
pub(super) fn py_str(value: &Json) -> String {
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
        Json::Str(text) => str_repr(text),
        Json::Array(items) => format!("[{}]", items.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Json::Object(object) => format!(
            "{{{}}}",
            object
                .0
                .iter()
                .map(|(k, v)| format!("{}: {}", str_repr(k), py_repr(v)))
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
pub(super) fn duration_ns(ev: &ParsedEvent) -> i64 {
    match is_number(ev.payload.get("duration")) {
        Some(seconds) if 0.0 < seconds && seconds < MAX_DURATION_S => (seconds * 1e9) as i64,
        _ => 0,
    }
}

fn lowered_in(text: &str, words: &[&str]) -> bool {
    words.contains(&py_strip(text).to_lowercase().as_str())
}

pub(super) fn contract_result(ev: &ParsedEvent) -> Option<&'static str> {
    let event_type = ev.event_type.as_ref();
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
pub(super) fn standalone_status(ev: &ParsedEvent) -> (bool, Option<String>) {
    let event_type = ev.event_type.as_ref();
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

pub(super) fn error_text(ev: &ParsedEvent) -> Option<String> {
    ["error", "message", "reason"]
        .iter()
        .find_map(|key| match ev.payload.get(key) {
            Some(Json::Str(text)) if !py_strip(text).is_empty() => Some(one_line(text, 200)),
            _ => None,
        })
}

fn severity(ev: &ParsedEvent) -> (i32, &'static str) {
    let event_type = ev.event_type.as_ref();
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
