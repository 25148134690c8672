//! `inspect`'s report: what the engine made of a history, as one JSON document.
//!
//! As the engine drains, the `Collector` keeps of each span only what the report shows (its
//! ids, name, times, status and five attributes; texts interned: a backfilled signal repeats
//! its orphan's name and title), counts the log records, and notes a span id sent twice. At
//! the end `document::write` lists every trace under its root artifact's kind, with the
//! artifacts' newest titles and states from the engine, in the bytes `orjson.dumps(doc,
//! OPT_SORT_KEYS | OPT_INDENT_2)` gave (`pretty`).

pub mod document;
pub mod pretty;

use foldhash::HashMap;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use std::hash::BuildHasher;

use crate::identity::attrs::Value;
use crate::identity::model::{Output, SpanRecord};

pub use crate::identity::ids::{SpanId, TraceId};

/// Texts by number, each kept once in one buffer: JSON fragments of attribute values, and span
/// names. Number 0 is `null`.
#[derive(Debug)]
pub struct Texts {
    bytes: String,
    ends: Vec<usize>,        // text n ends at ends[n], starts where text n - 1 ends
    numbers: HashTable<u32>, // each text's number, found by its text (4 bytes a slot)
    hashing: foldhash::fast::RandomState,
    scratch: Vec<u8>,
    words: Vec<(String, u32)>, // `word`s seen: a text and its number
}

/// How many `word`s are kept (a span's types, states and phases are a dozen).
const MAX_WORDS: usize = 16;

impl Default for Texts {
    fn default() -> Self {
        let mut texts = Texts {
            bytes: String::new(),
            ends: Vec::new(),
            numbers: HashTable::new(),
            hashing: Default::default(),
            scratch: Vec::new(),
            words: Vec::new(),
        };
        texts.number("null");
        texts
    }
}

impl Texts {
    pub const NULL: u32 = 0;

    fn number(&mut self, text: &str) -> u32 {
        let (bytes, ends, hashing) = (&self.bytes, &self.ends, &self.hashing);
        let of = |number: &u32| text_of(bytes, ends, *number);
        let number = ends.len() as u32;
        let hash = hashing.hash_one(text);
        match self.numbers.entry(
            hash,
            |known| of(known) == text,
            |known| hashing.hash_one(of(known)),
        ) {
            Entry::Occupied(known) => *known.get(),
            Entry::Vacant(place) => {
                place.insert(number);
                self.bytes.push_str(text);
                self.ends.push(self.bytes.len());
                number
            }
        }
    }

    /// An attribute's value as its JSON.
    fn value(&mut self, value: &Value) -> u32 {
        self.json(|out| pretty::value(out, value))
    }

    /// A text as its JSON string (`null` when absent).
    fn string(&mut self, text: Option<&str>) -> u32 {
        text.map_or(Self::NULL, |text| self.json(|out| pretty::string(out, text)))
    }

    /// The JSON `write` writes, by number.
    fn json(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> u32 {
        let mut json = std::mem::take(&mut self.scratch);
        json.clear();
        write(&mut json);
        // SAFETY: `pretty`'s writers write a str's own text and ASCII alone
        let number = self.number(unsafe { std::str::from_utf8_unchecked(&json) });
        self.scratch = json;
        number
    }

    /// `value` of an attribute that takes few values (a span's type, state, phase): found by
    /// its own text among the words seen, not encoded and hashed again.
    fn word(&mut self, value: &Value) -> u32 {
        if let Value::Str(text) = value
            && let Some(&(_, number)) = self.words.iter().find(|(word, _)| word == text)
        {
            return number;
        }
        let number = self.value(value);
        if let Value::Str(text) = value
            && self.words.len() < MAX_WORDS
        {
            self.words.push((text.clone(), number));
        }
        number
    }

    #[inline]
    pub fn get(&self, number: u32) -> &str {
        text_of(&self.bytes, &self.ends, number)
    }
}

/// Text `number` of `Texts` (its `bytes` and `ends`).
#[inline]
fn text_of<'a>(bytes: &'a str, ends: &[usize], number: u32) -> &'a str {
    let n = number as usize;
    let start = if n == 0 { 0 } else { ends[n - 1] };
    &bytes[start..ends[n]]
}

/// What the report shows of one span.
#[derive(Debug)]
pub struct Span {
    pub id: SpanId,
    pub parent: Option<SpanId>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub name: u32, // the text itself (children are ordered by it)
    pub error: bool,
    pub backfilled: bool,
    // as JSON: its attributes `intent.artifact.id`, `.type`, `.state`, `intent.phase`,
    // `intent.title`, and its status message
    pub artifact_id: u32,
    pub kind: u32,
    pub state: u32,
    pub phase: u32,
    pub title: u32,
    pub status_message: u32,
}

/// The report's part of everything the engine drained.
#[derive(Debug, Default)]
pub struct Collector {
    pub spans: Vec<Span>,
    pub traces: HashMap<TraceId, Vec<u32>>, // a trace's spans, as drained
    index: HashTable<u32>,                  // each span's place in `spans`, found by its id
    hashing: foldhash::fast::RandomState,
    pub resent: u64, // span ids drained a second time (never expected: the first copy is kept)
    pub logs: u64,
    pub texts: Texts,
}

impl Collector {
    pub fn take(&mut self, out: &Output) {
        self.logs += out.logs.len() as u64;
        for span in &out.spans {
            self.take_span(span);
        }
    }

    /// The place in `spans` of the span of this id.
    pub fn place_of(&self, id: &SpanId) -> Option<u32> {
        let spans = &self.spans;
        let found = self
            .index
            .find(self.hashing.hash_one(id), |&at| spans[at as usize].id == *id);
        found.copied()
    }

    pub fn take_span(&mut self, span: &SpanRecord) {
        let (id, trace, parent) = (span.span_id, span.trace_id, span.parent_span_id);
        let (spans, hashing) = (&self.spans, &self.hashing);
        let id_at = |at: &u32| &spans[*at as usize].id;
        let place = self.index.entry(
            hashing.hash_one(id),
            |at| *id_at(at) == id,
            |at| hashing.hash_one(id_at(at)),
        );
        match place {
            Entry::Occupied(_) => {
                self.resent += 1;
                return;
            }
            Entry::Vacant(place) => place.insert(spans.len() as u32),
        };
        let texts = &mut self.texts;
        let mut kept = Span {
            id,
            parent,
            start_ns: span.start_ns,
            end_ns: span.end_ns,
            name: texts.number(&span.name),
            error: span.error,
            backfilled: false,
            artifact_id: Texts::NULL,
            kind: Texts::NULL,
            state: Texts::NULL,
            phase: Texts::NULL,
            title: Texts::NULL,
            status_message: texts.string(span.status_message.as_deref()),
        };
        // the attributes read in one pass: a name is set once on a span
        for (key, value) in &span.attributes.0 {
            match key.as_ref() {
                "intent.backfilled" => kept.backfilled = truthy(value),
                "intent.artifact.id" => kept.artifact_id = texts.value(value),
                "intent.artifact.type" => kept.kind = texts.word(value),
                "intent.artifact.state" => kept.state = texts.word(value),
                "intent.phase" => kept.phase = texts.word(value),
                "intent.title" => kept.title = texts.value(value),
                _ => {}
            }
        }
        self.traces
            .entry(trace)
            .or_default()
            .push(self.spans.len() as u32);
        self.spans.push(kept);
    }
}

/// Python's `bool(value)`.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Str(text) => !text.is_empty(),
        Value::Int(n) => *n != 0,
        Value::Float(x) => *x != 0.0,
        Value::Bool(flag) => *flag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::attrs::Attrs;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        Attrs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string().into(), v.clone()))
                .collect(),
        )
    }

    fn span(id: u8, name: &str, attributes: Attrs) -> SpanRecord {
        SpanRecord {
            trace_id: [0x0a; 16],
            span_id: [0, 0, 0, 0, 0, 0, 0, id],
            parent_span_id: None,
            name: name.into(),
            start_ns: 1,
            end_ns: 2,
            error: false,
            status_message: None,
            attributes,
            links: vec![],
        }
    }

    #[test]
    fn a_span_is_kept_once_with_its_texts_shared() {
        let title = || ("intent.title", Value::from("a \"title\""));
        let out = Output {
            spans: vec![
                span(0xa1, "signal S", attrs(&[title()])),
                span(
                    0xa2,
                    "signal S",
                    attrs(&[title(), ("intent.backfilled", Value::Bool(true))]),
                ),
                span(0xa1, "again", attrs(&[])),
            ],
            logs: vec![],
        };
        let mut collector = Collector::default();
        collector.take(&out);
        assert_eq!((collector.spans.len(), collector.resent), (2, 1));
        let place = |last: u8| collector.place_of(&[0, 0, 0, 0, 0, 0, 0, last]);
        assert_eq!((place(0xa1), place(0xa2), place(0xa3)), (Some(0), Some(1), None));
        let [first, second] = &collector.spans[..] else {
            panic!()
        };
        assert_eq!((first.name, first.title), (second.name, second.title));
        assert_eq!(collector.texts.get(first.title), r#""a \"title\"""#);
        assert_eq!(collector.texts.get(first.phase), "null");
        assert!(!first.backfilled && second.backfilled);
    }

    #[test]
    fn a_word_is_the_text_its_value_is() {
        let mut texts = Texts::default();
        let words = ["signal", "closed", "signal", "a \"quoted\" word", "closed"].map(Value::from);
        let numbers: Vec<u32> = words.iter().map(|w| texts.word(w)).collect();
        assert_eq!((numbers[0], numbers[1]), (numbers[2], numbers[4]));
        for (word, number) in words.iter().zip(numbers) {
            assert_eq!(number, texts.value(word));
        }
        let three = texts.word(&Value::Int(3));
        assert_eq!(texts.get(three), "3");
        for n in 0..40 {
            let word = Value::from(format!("w{n}"));
            let number = texts.word(&word);
            assert_eq!(texts.get(number), format!("\"w{n}\""));
        }
        assert_eq!(texts.words.len(), MAX_WORDS);
    }
}
