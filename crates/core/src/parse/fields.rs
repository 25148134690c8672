//! The members of a line that `parse` reads, found in one pass over each object: some forty
//! lookups a line, each a walk comparing names along its members, became one pass over them.

use crate::json::{Json, Object};

/// How many names have a slot (`slot`).
const SLOTS: usize = 35;

/// The slot of a name `parse` looks up; None for any other name.
fn slot(name: &str) -> Option<usize> {
    Some(match name {
        "timestamp" => 0,
        "ts" => 1,
        "time" => 2,
        "created_at" => 3,
        "signal_id" => 4,
        "cluster_id" => 5,
        "intent_id" => 6,
        "spec_id" => 7,
        "contract_id" => 8,
        "assertion_id" => 9,
        "decision_id" => 10,
        "signal" => 11,
        "cluster" => 12,
        "intent" => 13,
        "spec" => 14,
        "contract" => 15,
        "assertion_name" => 16,
        "span_id" => 17,
        "ref" => 18,
        "parent_id" => 19,
        "actor" => 20,
        "agent" => 21,
        "author" => 22,
        "trace_id" => 23,
        "source" => 24,
        "trust_score" => 25,
        "trust" => 26,
        "score" => 27,
        "autonomy_level" => 28,
        "title" => 29,
        "name" => 30,
        "summary" => 31,
        "file" => 32,
        "signals" => 33,
        "contracts" => 34,
        _ => return None,
    })
}

/// An object's members by name, as `Object::get` finds them (the first of a repeated name).
pub struct Index<'o, 'a> {
    object: &'o Object<'a>,
    slots: [Option<&'o Json<'a>>; SLOTS],
}

impl<'o, 'a> Index<'o, 'a> {
    pub fn new(object: &'o Object<'a>) -> Self {
        let mut slots = [None; SLOTS];
        for (name, value) in &object.0 {
            if let Some(i) = slot(name)
                && slots[i].is_none()
            {
                slots[i] = Some(value);
            }
        }
        Index { object, slots }
    }

    pub fn get(&self, name: &str) -> Option<&'o Json<'a>> {
        match slot(name) {
            Some(i) => self.slots[i],
            None => self.object.get(name),
        }
    }
}

/// The merged lookup of both shapes: in an envelope a top-level value wins over `data`'s,
/// except a null one; a flat line is its own lookup.
pub struct Fields<'o, 'a> {
    pub doc: Index<'o, 'a>,
    pub data: Option<Index<'o, 'a>>,
}

impl<'o, 'a> Fields<'o, 'a> {
    pub fn get(&self, name: &str) -> Option<&'o Json<'a>> {
        match self.doc.get(name) {
            Some(value) if *value != Json::Null || self.data.is_none() => Some(value),
            _ => self.data.as_ref().and_then(|data| data.get(name)),
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
        for name in ["ts", "x", "title", "y", "timestamp", "nothing"] {
            assert_eq!(index.get(name), object.get(name), "{name}");
        }
    }

    #[test]
    fn a_null_at_the_top_gives_way_to_data() {
        let doc = Object(vec![(Cow::Borrowed("source"), Json::Null)]);
        let data = Object(vec![(Cow::Borrowed("source"), Json::Str(Cow::Borrowed("mcp")))]);
        let fields = Fields {
            doc: Index::new(&doc),
            data: Some(Index::new(&data)),
        };
        assert_eq!(fields.get("source"), data.get("source"));
        assert_eq!(fields.payload().get("source"), data.get("source"));
    }
}
