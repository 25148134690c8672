//! The members of a line that `parse` reads, found in one pass over each object: some forty
//! lookups a line, each a walk comparing names along its members, became one pass over them.

use crate::json::{Json, Object};

/// The keys `parse` looks up, each with its name as written in a line: one list makes the
/// enum, the names in its order, and the lookup of a name.
macro_rules! keys {
    ($($key:ident = $name:literal,)*) => {
        /// A name `parse` looks up, by its place in an `Index`: a lookup is an array's item,
        /// with no name compared (some forty lookups a line).
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub enum Key {
            $($key,)*
        }

        /// Each key's name, in the keys' order.
        const NAMES: &[&str] = &[$($name,)*];

        /// The key of a name `parse` looks up; None for any other name.
        fn key(name: &str) -> Option<Key> {
            Some(match name {
                $($name => Key::$key,)*
                _ => return None,
            })
        }
    };
}

keys! {
    Timestamp = "timestamp",
    Ts = "ts",
    Time = "time",
    CreatedAt = "created_at",
    SignalId = "signal_id",
    ClusterId = "cluster_id",
    IntentId = "intent_id",
    SpecId = "spec_id",
    ContractId = "contract_id",
    AssertionId = "assertion_id",
    DecisionId = "decision_id",
    Signal = "signal",
    Cluster = "cluster",
    Intent = "intent",
    Spec = "spec",
    Contract = "contract",
    AssertionName = "assertion_name",
    SpanId = "span_id",
    Ref = "ref",
    ParentId = "parent_id",
    Actor = "actor",
    Agent = "agent",
    Author = "author",
    TraceId = "trace_id",
    Source = "source",
    TrustScore = "trust_score",
    Trust = "trust",
    Score = "score",
    AutonomyLevel = "autonomy_level",
    Title = "title",
    Name = "name",
    Summary = "summary",
    Question = "question",
    Findings = "findings",
    File = "file",
    Signals = "signals",
    Contracts = "contracts",
}

/// How many keys there are.
const SLOTS: usize = NAMES.len();

impl Key {
    /// The name as written in a line.
    pub fn name(self) -> &'static str {
        NAMES[self as usize]
    }
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
        for &name in NAMES {
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
