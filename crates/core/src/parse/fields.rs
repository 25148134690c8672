//! The members of a line that `parse` reads, found in one pass over each object: some forty
//! lookups a line, each a walk comparing names along its members, became one pass over them.

use crate::json::{Json, Object};

/// A name `parse` looks up, by its place in an `Index`: a lookup is an array's item, with no
/// name compared (some forty lookups a line).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Key {
    Timestamp,
    Ts,
    Time,
    CreatedAt,
    SignalId,
    ClusterId,
    IntentId,
    SpecId,
    ContractId,
    AssertionId,
    DecisionId,
    Signal,
    Cluster,
    Intent,
    Spec,
    Contract,
    AssertionName,
    SpanId,
    Ref,
    ParentId,
    Actor,
    Agent,
    Author,
    TraceId,
    Source,
    TrustScore,
    Trust,
    Score,
    AutonomyLevel,
    Title,
    Name,
    Summary,
    Question,
    File,
    Signals,
    Contracts,
}

/// How many keys there are.
const SLOTS: usize = Key::Contracts as usize + 1;

impl Key {
    /// The name as written in a line.
    pub fn name(self) -> &'static str {
        NAMES[self as usize]
    }
}

/// Each key's name, in the keys' order.
const NAMES: [&str; SLOTS] = [
    "timestamp",
    "ts",
    "time",
    "created_at",
    "signal_id",
    "cluster_id",
    "intent_id",
    "spec_id",
    "contract_id",
    "assertion_id",
    "decision_id",
    "signal",
    "cluster",
    "intent",
    "spec",
    "contract",
    "assertion_name",
    "span_id",
    "ref",
    "parent_id",
    "actor",
    "agent",
    "author",
    "trace_id",
    "source",
    "trust_score",
    "trust",
    "score",
    "autonomy_level",
    "title",
    "name",
    "summary",
    "question",
    "file",
    "signals",
    "contracts",
];

/// The key of a name `parse` looks up; None for any other name.
fn key(name: &str) -> Option<Key> {
    Some(match name {
        "timestamp" => Key::Timestamp,
        "ts" => Key::Ts,
        "time" => Key::Time,
        "created_at" => Key::CreatedAt,
        "signal_id" => Key::SignalId,
        "cluster_id" => Key::ClusterId,
        "intent_id" => Key::IntentId,
        "spec_id" => Key::SpecId,
        "contract_id" => Key::ContractId,
        "assertion_id" => Key::AssertionId,
        "decision_id" => Key::DecisionId,
        "signal" => Key::Signal,
        "cluster" => Key::Cluster,
        "intent" => Key::Intent,
        "spec" => Key::Spec,
        "contract" => Key::Contract,
        "assertion_name" => Key::AssertionName,
        "span_id" => Key::SpanId,
        "ref" => Key::Ref,
        "parent_id" => Key::ParentId,
        "actor" => Key::Actor,
        "agent" => Key::Agent,
        "author" => Key::Author,
        "trace_id" => Key::TraceId,
        "source" => Key::Source,
        "trust_score" => Key::TrustScore,
        "trust" => Key::Trust,
        "score" => Key::Score,
        "autonomy_level" => Key::AutonomyLevel,
        "title" => Key::Title,
        "name" => Key::Name,
        "summary" => Key::Summary,
        "question" => Key::Question,
        "file" => Key::File,
        "signals" => Key::Signals,
        "contracts" => Key::Contracts,
        _ => return None,
    })
}

/// An object's members by key, as `Object::get` finds them (the first of a repeated name).
pub struct Index<'o, 'a> {
    slots: [Option<&'o Json<'a>>; SLOTS],
}

impl<'o, 'a> Index<'o, 'a> {
    #[inline] // made where it is kept: its slots are not copied out and in
    pub fn new(object: &'o Object<'a>) -> Self {
        let mut slots = [None; SLOTS];
        for (name, value) in &object.0 {
            if let Some(key) = key(name)
                && slots[key as usize].is_none()
            {
                slots[key as usize] = Some(value);
            }
        }
        Index { slots }
    }

    pub fn get(&self, key: Key) -> Option<&'o Json<'a>> {
        self.slots[key as usize]
    }
}

/// The merged lookup of both shapes: in an envelope a top-level value wins over `data`'s,
/// except a null one; a flat line is its own lookup.
pub struct Fields<'o, 'a> {
    pub doc: Index<'o, 'a>,
    pub data: Option<Index<'o, 'a>>,
}

impl<'o, 'a> Fields<'o, 'a> {
    pub fn get(&self, key: Key) -> Option<&'o Json<'a>> {
        match self.doc.get(key) {
            Some(value) if !matches!(value, Json::Null) || self.data.is_none() => Some(value),
            _ => self.data.as_ref().and_then(|data| data.get(key)),
        }
    }

    /// What the event says beside its envelope: `data`, or a flat line itself.
    pub fn payload(&self) -> &Index<'o, 'a> {
        self.data.as_ref().unwrap_or(&self.doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn an_index_finds_what_a_walk_finds() {
        let object = Object(
            [("ts", 1), ("x", 2), ("title", 3), ("ts", 4), ("y", 5)]
                .map(|(k, n)| (Cow::Borrowed(k), Json::Int(n)))
                .to_vec(),
        );
        let index = Index::new(&object);
        for name in NAMES {
            let found = key(name).expect("a key of each name");
            assert_eq!(found.name(), name);
            assert_eq!(index.get(found), object.get(name), "{name}");
        }
        assert_eq!(index.get(Key::Ts), Some(&Json::Int(1)));
        assert_eq!(key("x"), None);
    }

    #[test]
    fn a_null_at_the_top_gives_way_to_data() {
        let doc = Object(vec![(Cow::Borrowed("source"), Json::Null)]);
        let data = Object(vec![(Cow::Borrowed("source"), Json::Str(Cow::Borrowed("mcp")))]);
        let fields = Fields {
            doc: Index::new(&doc),
            data: Some(Index::new(&data)),
        };
        assert_eq!(fields.get(Key::Source), data.get("source"));
        assert_eq!(fields.payload().get(Key::Source), data.get("source"));
    }
}
