//! Finding, making, relating and closing the artifacts an event names.

use super::attrs::{Attrs, one_line};
use super::engine::{Engine, Key, art, art_mut};
use super::ids;
use super::model::*;
use super::records::error_text;
use crate::json::Json;
use crate::parse::{Kind, ParsedEvent, title_line};

impl Engine {
    /// The artifact an event names: by its file where the event is its own and names one,
    /// else the newest artifact of the id.
    pub(super) fn artifact(
        &mut self,
        kind: Kind,
        raw_id: Option<&str>,
        ev: &ParsedEvent,
        key: Option<String>,
    ) -> Key {
        let Some(raw_id) = raw_id else {
            // names nothing: its file, where it gives one, is all its identity
            let own_file = ev.file.as_ref().filter(|_| ev.kind == kind);
            let anonymous = match own_file {
                Some(file) => [kind.value(), ":@", file].concat(),
                None => [kind.value(), ":~", &ev.event_id].concat(),
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
        let alias = key.unwrap_or_else(|| [kind.value(), ":", raw_id].concat());
        let own_file = ev
            .file
            .as_ref()
            .filter(|_| ev.kind == kind && ev.artifact_id.as_deref() == Some(raw_id));
        let Some(first) = self.artifacts.get(&alias) else {
            self.first_of_id(&alias, kind, raw_id, ev, own_file.map(AsRef::as_ref));
            return alias;
        };
        let Some(file) = own_file else {
            return first.latest.as_deref().map_or(alias, str::to_string);
        };
        let files = first.files.as_deref().unwrap_or_default();
        if let Some((_, known)) = files.iter().find(|(f, _)| **f == **file) {
            return known.to_string();
        }
        let mut files = files.to_vec();
        let mut newest = first
            .latest
            .as_deref()
            .map_or_else(|| alias.clone(), str::to_string);
        if art!(self, &newest).file.is_some() {
            // the same id from another file: another artifact
            let first = art_mut!(self, &alias);
            first.occurrences += 1;
            newest = format!("{alias}#{}", first.occurrences);
            first.latest = Some(newest.as_str().into());
            self.new_artifact(&newest, kind, Some(raw_id), ev);
        }
        self.set_file(&newest, file); // announced before without a file: this is its file
        files.push((file.as_ref().into(), newest.as_str().into()));
        art_mut!(self, &alias).files = Some(files.into());
        self.touch(&alias);
        newest
    }

    /// The first artifact of an id (`alias` is its key), made from an event that names it;
    /// `own_file`: the file the event, its own, names.
    pub(super) fn first_of_id(
        &mut self,
        alias: &str,
        kind: Kind,
        raw_id: &str,
        ev: &ParsedEvent,
        own_file: Option<&str>,
    ) {
        self.new_artifact(alias, kind, Some(raw_id), ev);
        if let Some(file) = own_file {
            art_mut!(self, alias).files = Some(Box::new([(file.into(), alias.into())]));
            self.set_file(alias, file);
        }
    }

    fn set_file(&mut self, key: &str, file: &str) {
        art_mut!(self, key).file = Some(file.into());
        match self.files.get_mut(file) {
            Some(keys) => keys.push(key.to_string()),
            None => self.files.insert(file.to_string(), vec![key.to_string()]),
        }
    }

    pub(super) fn new_artifact(&mut self, key: &str, kind: Kind, raw_id: Option<&str>, ev: &ParsedEvent) {
        let own = ev.kind == kind;
        // An artifact first named by another kind's event (a spec listing its contracts)
        // starts bare; its first own event fills it in, if its span is not announced yet.
        let art = Artifact {
            key: key.to_string(),
            kind,
            id: raw_id.map(Text::from),
            span_id: ids::span_id(&[&self.scope, "artifact", key]),
            first_ns: ev.time_ns,
            last_ns: ev.time_ns,
            attrs: Announced::Open(self.own_attrs(kind, raw_id, own.then_some(ev))),
            title: if own {
                ev.title.as_deref().map(Text::from)
            } else {
                None
            },
            bare: !own,
            occurrences: 1,
            ..Default::default()
        };
        self.artifacts.insert(key.to_string(), art);
        self.unplaced.insert(key.to_string());
        self.unsettled(key);
    }

    pub(super) fn touch(&mut self, key: &str) {
        // only an artifact not yet placed may have become placeable; a look, not a change
        if art!(self, key).trace_id.is_none() {
            self.unsettled(key);
        }
    }

    /// An artifact not placed yet may have become placeable: `settle` looks.
    fn unsettled(&mut self, key: &str) {
        if !self.dirty.contains(key) {
            self.dirty.insert(key.to_string());
        }
    }

    /// Note an event of or about an artifact; its own first event fills in a bare artifact.
    pub(super) fn seen(&mut self, key: &str, ev: &ParsedEvent) {
        let art = art_mut!(self, key);
        art.last_ns = art.last_ns.max(ev.time_ns);
        let own = ev.kind == art.kind;
        if own
            && let Some(title) = &ev.title
            && art.title.as_deref() != Some(title.as_ref())
        {
            art.title = Some(title.as_ref().into());
        }
        let (unbare, placed) = (own && art.bare && !art.announced, art.trace_id.is_some());
        if unbare {
            self.unbare(key, ev);
        }
        if !placed {
            self.unsettled(key);
        }
    }

    fn unbare(&mut self, key: &str, ev: &ParsedEvent) {
        let (kind, id) = {
            let art = art!(self, key);
            (art.kind, art.id.clone())
        };
        let attrs = self.own_attrs(kind, id.as_deref(), Some(ev));
        let art = art_mut!(self, key);
        art.bare = false;
        art.first_ns = ev.time_ns;
        art.attrs = Announced::Open(attrs);
    }

    /// What an artifact's span is announced with: its own event's attributes (a bare one: none).
    fn own_attrs(&mut self, kind: Kind, raw_id: Option<&str>, own: Option<&ParsedEvent>) -> Attrs {
        let mut attrs = own.map_or_else(Attrs::default, |ev| self.event_attrs(ev));
        attrs.set("intent.artifact.type", kind.value());
        if let Some(id) = raw_id {
            attrs.set("intent.artifact.id", id);
        }
        attrs
    }

    pub(super) fn intent(&mut self, raw_id: &str, ev: &ParsedEvent, defining: bool) -> Key {
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
                && let Some(title) = title_line(title)
            {
                art.attrs.set("intent.title", one_line(title, 1024));
                art.title = Some(title.into());
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
            art_mut!(self, key).claimed_trace = Some(hinted.into());
        }
        for signal in art!(self, key).lists().members.clone() {
            self.observe_signal_to_intent(&format!("intent-member:{signal}@{key}"));
        }
        self.observe_intent_to_spec(key);
    }

    /// The intent an event names: by id, else by a trace id an intent has claimed.
    pub(super) fn intent_for(&mut self, ev: &ParsedEvent, create: bool) -> Option<Key> {
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

    pub(super) fn existing(&self, kind: Kind, raw_id: &str) -> Option<Key> {
        let first = self.artifacts.get(&[kind.value(), ":", raw_id].concat())?;
        Some(first.latest.as_deref().unwrap_or(&first.key).to_string())
    }

    /// Link an event's own span to the contract, spec or intent it names (an event that only
    /// mentions them links only to artifacts that exist).
    pub(super) fn relate(&mut self, key: &str, ev: &ParsedEvent, create: bool) {
        if let Some(contract_id) = &ev.contract_id
            && let Some(contract) = self.named(Kind::Contract, contract_id, ev, create)
        {
            art_mut!(self, key).contract = Some(contract.into());
            return;
        }
        if let Some(spec_id) = &ev.spec_id
            && let Some(spec) = self.named(Kind::Spec, spec_id, ev, create)
        {
            art_mut!(self, key).spec = Some(spec.into());
            return;
        }
        if let Some(intent) = self.intent_for(ev, create) {
            art_mut!(self, key).intent = Some(intent.into());
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
    pub(super) fn close(&mut self, key: &str, ev: &ParsedEvent, error: bool) {
        if art!(self, key).closed {
            return;
        }
        self.closing(key);
        let art = art_mut!(self, key);
        let end_ns = ev.time_ns.max(art.first_ns);
        art.closed = true;
        art.end_ns = Some(end_ns);
        art.error = error;
        art.status_message = if error {
            error_text(ev).map(Text::from)
        } else {
            None
        };
        let start = match (art.kind, art.defined_ns) {
            (Kind::Intent, Some(defined_ns)) => defined_ns,
            _ => art.first_ns,
        };
        let mut attrs = Attrs::default();
        attrs.set("intent.phase.end_event", ev.event_type.as_ref());
        let name = format!("{} · lifecycle", art.name());
        let message = art.status_message.as_deref().map(str::to_string);
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
    pub(super) fn add_phase(
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
            attrs.set("intent.artifact.id", &**id);
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
}
