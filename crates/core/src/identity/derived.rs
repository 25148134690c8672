//! Derived events: what an artifact file's front matter says, told about the artifacts the
//! log announced from that file — once per change, and only where it says something new.

use super::engine::{Engine, Key, art};
use super::ids;
use super::model::*;
use crate::parse::{Kind, ParsedEvent};

impl Engine {
    /// The title an event's own artifact file gives in its front matter is the event's: it is
    /// what the author named the artifact, where a writer's line has only the file's headings
    /// (an update note above the name) or none.
    pub(super) fn title_by_file(&self, ev: &mut ParsedEvent) {
        if let Some(file) = &ev.file
            && let Some((kind, title)) = self.file_titles.get(file.as_ref())
            && *kind == ev.kind
        {
            ev.title = Some(title.clone().into());
        }
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

    pub(super) fn process_derived(
        &mut self,
        mut ev: ParsedEvent,
        position: &Position,
        observed_ns: Option<i64>,
    ) {
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
            one.artifact_id = art.id.as_deref().map(|id| id.to_string().into());
            one.file = art.file.as_deref().map(|file| file.to_string().into());
            if targets.len() > 1 {
                one.event_id = ids::hex(&ids::derived_trace_id(&[&ev.event_id, key])); // a log record for each
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
}
