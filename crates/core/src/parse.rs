//! Both Intent line shapes → one `ParsedEvent`; anything unusable → a reason.
//!
//! Envelope: {"event": "spec.created", "timestamp": …, "span_id", "parent_id", "ref",
//! "trace_id", "source", "actor", "data": {…}}. Flat: {"event_type": …, "contract_id": …,
//! …top-level fields}. Both are read through one lookup (top level first, then `data`),
//! so a writer that mixes them is read too.

mod fields;
mod ids;
mod kind;

use std::borrow::Cow;

use crate::json::{self, Json, Object};
use fields::{Fields, Index, Key};

use crate::pytext::{float_repr, normpath, py_strip, strip_bytes};
use crate::timestamps::{Stamp, parse_timestamp};
pub use ids::clean_id_text;
pub use kind::{Kind, kind_of_id, kind_of_type};

/// A line longer than this (1 MiB) is rejected, not parsed.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// At most this many ids are read from a `signals` / `contracts` list.
const MAX_LISTED_IDS: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    Envelope,
    Flat,
    /// Derived from an artifact file's front matter (made in Python), not read from the log.
    FrontMatter,
}

impl Shape {
    /// `Event.shape` in Python.
    pub fn value(self) -> &'static str {
        match self {
            Shape::Envelope => "envelope",
            Shape::Flat => "flat",
            Shape::FrontMatter => "front-matter",
        }
    }
}

/// One event of the log. Its texts are borrowed from the line where the JSON string held
/// them as written (no escape): the engine copies only what it keeps.
#[derive(Clone, Debug)]
pub struct ParsedEvent<'a> {
    pub event_type: Cow<'a, str>,
    pub time_ns: i64,
    pub kind: Kind,
    pub artifact_id: Option<Cow<'a, str>>,
    /// BLAKE2b-128 of the stripped line, as 32 hex digits.
    pub event_id: String,
    pub shape: Shape,
    pub parent_id: Option<Cow<'a, str>>,
    pub intent_id: Option<Cow<'a, str>>,
    pub spec_id: Option<Cow<'a, str>>,
    pub contract_id: Option<Cow<'a, str>>,
    pub cluster_id: Option<Cow<'a, str>>,
    pub signal_id: Option<Cow<'a, str>>,
    pub trace_hint: Option<Cow<'a, str>>,
    pub source: Option<Cow<'a, str>>,
    pub actor: Option<Cow<'a, str>>,
    pub trust: Option<f64>,
    pub autonomy_level: Option<Cow<'static, str>>,
    pub title: Option<Cow<'a, str>>,
    pub file: Option<Cow<'a, str>>,
    pub signals: Vec<String>,
    pub contracts: Vec<String>,
    pub payload: Object<'a>,
}

#[derive(Debug)]
pub enum Parsed<'a> {
    Blank,
    Event(Box<ParsedEvent<'a>>),
    Rejected(String),
}

/// A stable id for one line: the same bytes give the same id on every machine.
pub fn event_id_of(raw: &[u8]) -> String {
    let digest = blake2b_simd::Params::new().hash_length(16).hash(strip_bytes(raw));
    digest.to_hex().as_str().to_owned() // not `to_string`: no formatting machinery
}

/// One line (without its newline) → an event, a rejection with its reason, or blank.
pub fn parse_line(raw: &[u8]) -> Parsed<'_> {
    let stripped = strip_bytes(raw);
    if stripped.is_empty() {
        return Parsed::Blank;
    }
    match parse(stripped) {
        Ok(event) => Parsed::Event(Box::new(event)),
        Err(reason) => Parsed::Rejected(reason),
    }
}

fn parse(raw: &[u8]) -> Result<ParsedEvent<'_>, String> {
    if raw.len() > MAX_LINE_BYTES {
        return Err(format!(
            "line is {} bytes, over the {MAX_LINE_BYTES}-byte limit",
            raw.len()
        ));
    }
    let doc = json::parse(raw).map_err(|error| format!("invalid JSON: {error}"))?;
    let Json::Object(mut doc) = doc else {
        return Err(format!("a line must be a JSON object, not {}", doc.python_type()));
    };
    // the parser reads only the two line shapes: never FrontMatter
    let shape = if doc.contains_key("event") {
        Shape::Envelope
    } else {
        Shape::Flat
    };
    let type_key = if shape == Shape::Envelope {
        "event"
    } else {
        "event_type"
    };
    let event_type = match doc.get(type_key) {
        Some(Json::Str(text)) => taken(text, not_blank),
        _ => None,
    }
    .ok_or("no event type: neither a string 'event' nor 'event_type'")?;
    let payload = match shape {
        Shape::Envelope => match doc.remove("data") {
            Some(Json::Object(data)) => data,
            None | Some(Json::Null) => Object::default(),
            Some(other) => Object(vec![(Cow::Borrowed("value"), other)]),
        },
        Shape::Flat | Shape::FrontMatter => {
            doc.remove("event_type");
            Object::default() // a flat line is its own payload: taken from `doc` once read
        }
    };
    let mut event = read_event(&doc, &payload, shape, event_type, raw)?;
    event.payload = if shape == Shape::Flat { doc } else { payload };
    Ok(event)
}

fn read_event<'a>(
    doc: &Object<'a>,
    data: &Object<'a>,
    shape: Shape,
    event_type: Cow<'a, str>,
    raw: &[u8],
) -> Result<ParsedEvent<'a>, String> {
    let fields = Fields {
        doc: Index::new(doc),
        data: (shape == Shape::Envelope).then(|| Index::new(data)),
    };
    let (doc, payload) = (&fields.doc, fields.payload());
    let time_ns = parse_timestamp(stamp(&fields)?)?;
    let kind = kind_of_type(&event_type);
    let refs = references(doc, &fields);
    let artifact_id = artifact_id(kind, doc, &refs, &fields);
    let trust = trust(&fields);
    let autonomy_level = autonomy(fields.get(Key::AutonomyLevel))
        .or_else(|| trust.map(autonomy_level_of))
        .map(Cow::Borrowed);
    let actor = text(doc.get(Key::Actor))
        .or_else(|| text(payload.get(Key::Agent)))
        .or_else(|| text(payload.get(Key::Author)));
    let [signal_id, cluster_id, intent_id, spec_id, contract_id, ..] = refs;
    // a title that only repeats the file (an Action that found no heading) is no title
    let file = file(fields.get(Key::File));
    Ok(ParsedEvent {
        event_type,
        time_ns,
        kind,
        artifact_id,
        event_id: event_id_of(raw),
        shape,
        parent_id: clean_id(doc.get(Key::ParentId)),
        intent_id,
        spec_id,
        contract_id,
        cluster_id,
        signal_id,
        trace_hint: text(fields.get(Key::TraceId)),
        source: source(fields.get(Key::Source)),
        actor,
        trust,
        autonomy_level,
        title: title(&fields).filter(|title| Some(py_strip(title)) != file.as_deref()),
        file,
        signals: id_list(payload.get(Key::Signals)),
        contracts: id_list(payload.get(Key::Contracts)),
        payload: Object::default(),
    })
}

/// `timestamp`, else the first truthy of `ts`, `time`, `created_at` (the last even if falsy).
fn stamp<'o>(fields: &Fields<'o, '_>) -> Result<Stamp<'o>, String> {
    let value = match fields.get(Key::Timestamp) {
        Some(value) if !matches!(value, Json::Null) => Some(value),
        _ => [Key::Ts, Key::Time]
            .iter()
            .filter_map(|key| fields.get(*key))
            .find(|value| value.truthy())
            .or_else(|| fields.get(Key::CreatedAt)),
    };
    Ok(match value {
        None | Some(Json::Null) => {
            return Err("no timestamp ('timestamp', 'ts', 'time' or 'created_at')".into());
        }
        Some(Json::Str(text)) => Stamp::Text(text),
        Some(Json::Bool(flag)) => Stamp::Bool(*flag),
        Some(Json::Int(n)) => Stamp::Int(*n),
        Some(Json::Float(x)) => Stamp::Float(*x),
        Some(other) => Stamp::Other(other.python_type()),
    })
}

/// Which artifact of each kind (indexed as `Kind::ALL`) this line names: typed `*_id`
/// fields first, then `data.intent`-style links, then the shapes of span_id / ref / parent_id.
fn references<'a>(doc: &Index<'_, 'a>, fields: &Fields<'_, 'a>) -> [Option<Cow<'a, str>>; 8] {
    let mut refs: [Option<Cow<'a, str>>; 8] = Default::default();
    for (slot, kind) in refs.iter_mut().zip(Kind::ALL) {
        *slot = kind.typed_id_key().and_then(|key| clean_id(fields.get(key)));
        if slot.is_none() {
            *slot = kind.link_key().and_then(|key| match fields.get(key) {
                Some(value @ Json::Str(_)) => clean_id(Some(value)),
                _ => None,
            });
        }
    }
    for key in [Key::SpanId, Key::Ref, Key::ParentId] {
        if let Some(id) = clean_id(doc.get(key))
            && let Some(kind) = kind_of_id(&id)
            && refs[kind as usize].is_none()
        {
            refs[kind as usize] = Some(id);
        }
    }
    refs
}

fn artifact_id<'a>(
    kind: Kind,
    doc: &Index<'_, 'a>,
    refs: &[Option<Cow<'a, str>>; 8],
    fields: &Fields<'_, 'a>,
) -> Option<Cow<'a, str>> {
    if kind == Kind::Assertion {
        return clean_id(fields.get(Key::AssertionId)).or_else(|| clean_id(fields.get(Key::AssertionName)));
    }
    if let Some(id) = &refs[kind as usize] {
        return Some(id.clone());
    }
    if kind == Kind::Other {
        return None;
    }
    // An envelope id that has no recognisable shape is still this event's artifact,
    // unless its shape says it is some other kind.
    [Key::SpanId, Key::Ref]
        .into_iter()
        .filter_map(|key| clean_id(doc.get(key)))
        .find(|id| kind_of_id(id).is_none())
}

/// What `pick` takes of a string: borrowed from the line when the string is (it had no
/// escapes), else copied.
fn taken<'a>(text: &Cow<'a, str>, pick: fn(&str) -> Option<&str>) -> Option<Cow<'a, str>> {
    match text {
        Cow::Borrowed(line) => pick(line).map(Cow::Borrowed),
        Cow::Owned(text) => pick(text).map(|part| Cow::Owned(part.to_string())),
    }
}

/// `text.strip()`, None when that is empty.
fn not_blank(text: &str) -> Option<&str> {
    Some(py_strip(text)).filter(|stripped| !stripped.is_empty())
}

/// An id as written (a number as Python writes it), or None when it names nothing.
fn clean_id<'a>(value: Option<&Json<'a>>) -> Option<Cow<'a, str>> {
    let text = match value? {
        Json::Str(text) => return taken(text, clean_id_text),
        Json::Int(n) => n.to_string(),
        Json::Float(x) => float_repr(*x),
        _ => return None,
    };
    clean_id_text(&text).map(|id| Cow::Owned(id.to_string()))
}

/// `str(value).strip()`, None for null, objects, arrays and empty text.
fn text<'a>(value: Option<&Json<'a>>) -> Option<Cow<'a, str>> {
    let written = match value? {
        Json::Str(text) => return taken(text, not_blank),
        Json::Int(n) => n.to_string(),
        Json::Float(x) => float_repr(*x),
        Json::Bool(flag) => return Some(Cow::Borrowed(if *flag { "True" } else { "False" })),
        _ => return None,
    };
    Some(Cow::Owned(written)) // a number's digits are never blank
}

/// What names a writer: a text as itself, an object by its first text among these keys.
fn source<'a>(value: Option<&Json<'a>>) -> Option<Cow<'a, str>> {
    match value? {
        Json::Object(object) => ["name", "type", "kind", "surface", "tool", "system", "id"]
            .iter()
            .find_map(|key| text(object.get(key))),
        other => text(Some(other)),
    }
}

fn title<'a>(fields: &Fields<'_, 'a>) -> Option<Cow<'a, str>> {
    let payload = fields.payload();
    [
        Key::Title,
        Key::Name,
        Key::Summary,
        Key::AssertionName,
        Key::Question,
    ]
    .into_iter()
    .find_map(|key| match payload.get(key) {
        Some(Json::Str(text)) => taken(text, title_line),
        _ => None,
    })
    .or_else(|| findings(payload.get(Key::Findings)))
    .or_else(|| source_file_name(fields))
}

/// A title as written; one written over several lines (an Action's block of a file's
/// headings) is its first line that is not blank, stripped: a title is one line. None when
/// blank.
pub fn title_line(text: &str) -> Option<&str> {
    if !text.contains(['\n', '\r']) {
        return not_blank(text).map(|_| text);
    }
    text.split(['\n', '\r']).find_map(not_blank)
}

/// An untitled event that counts its findings (a lint's) is titled by their number.
fn findings<'a>(value: Option<&Json<'a>>) -> Option<Cow<'a, str>> {
    match value? {
        Json::Int(1) => Some(Cow::Borrowed("1 finding")),
        Json::Int(n) => Some(Cow::Owned(format!("{n} findings"))),
        _ => None,
    }
}

/// An untitled event whose `data.source` is a path (an ingest's), beside the event's own
/// source, is titled by the file's name; the event's own (a flat line's, or `data`'s with
/// none above) names its writer, as does a source that is no path.
fn source_file_name<'a>(fields: &Fields<'_, 'a>) -> Option<Cow<'a, str>> {
    let value = fields.payload().get(Key::Source)?;
    match value {
        Json::Str(path) if Some(value) != fields.get(Key::Source) => taken(path, file_name),
        _ => None,
    }
}

/// The last part of a path, None when it has one part or ends in a separator.
fn file_name(path: &str) -> Option<&str> {
    let (_, name) = py_strip(path).rsplit_once(['/', '\\'])?;
    not_blank(name)
}

fn file<'a>(value: Option<&Json<'a>>) -> Option<Cow<'a, str>> {
    match value {
        Some(Json::Str(path)) => artifact_file(path).map(Cow::Owned),
        _ => None,
    }
}

/// The artifact's file (`data.file`), normalised so `./.intent/x.md` and `.intent/x.md` are
/// one file; None when blank.
pub fn artifact_file(path: &str) -> Option<String> {
    let path = py_strip(path);
    if path.is_empty() {
        return None;
    }
    if written_normal(path) {
        return Some(path.to_string()); // most are (`.intent/specs/S.md`): nothing to fold
    }
    let normal = normpath(&path.replace('\\', "/"));
    Some(normal.strip_prefix("./").map_or(normal.clone(), str::to_string))
}

/// A path that normalising leaves as it is: no `\`, no empty, `.` or `..` part (which also
/// rules out a leading or trailing `/`).
fn written_normal(path: &str) -> bool {
    !path.contains('\\') && path.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

/// The ids a list names (`signals`, `contracts`): strings only, placeholders and repeats
/// dropped, from its first 256 items.
fn id_list(value: Option<&Json>) -> Vec<String> {
    let Some(Json::Array(items)) = value else {
        return Vec::new();
    };
    let mut ids: Vec<String> = Vec::new();
    for item in items.iter().take(MAX_LISTED_IDS) {
        if let Json::Str(text) = item
            && let Some(id) = clean_id_text(text)
            && !ids.iter().any(|seen| seen == id)
        {
            ids.push(id.to_string());
        }
    }
    ids
}

/// The first of `trust_score`, `trust`, `score` that reads as a number in 0…1.
fn trust(fields: &Fields) -> Option<f64> {
    [Key::TrustScore, Key::Trust, Key::Score]
        .into_iter()
        .find_map(|key| {
            let number = match fields.get(key)? {
                Json::Int(n) => *n as f64,
                Json::Float(x) => *x,
                Json::Str(text) => python_float(text)?,
                _ => return None,
            };
            (number.is_finite() && (0.0..=1.0).contains(&number)).then_some(number)
        })
}

/// `float(text)`: surrounding whitespace allowed, `_` between digits allowed.
fn python_float(text: &str) -> Option<f64> {
    let text = py_strip(text);
    let bytes = text.as_bytes();
    let digit_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let underscores_between_digits = bytes
        .iter()
        .enumerate()
        .all(|(i, b)| *b != b'_' || (i > 0 && digit_at(i - 1) && digit_at(i + 1)));
    if !underscores_between_digits {
        return None;
    }
    text.replace('_', "").parse().ok()
}

/// L0–L4 written as `L2`, `l2`, `2` or 2; anything else says nothing.
fn autonomy(value: Option<&Json>) -> Option<&'static str> {
    const LEVELS: [&str; 5] = ["L0", "L1", "L2", "L3", "L4"];
    let written = match value? {
        Json::Str(text) => py_strip(text).to_uppercase(),
        Json::Int(n) => n.to_string(),
        Json::Float(x) => float_repr(*x),
        _ => return None,
    };
    let level = if written.len() == 1 {
        format!("L{written}")
    } else {
        written
    };
    LEVELS.iter().find(|known| **known == level).copied()
}

/// L0–L4 from a trust score, as the design page's table gives them (metrics/catalog.py).
pub fn autonomy_level_of(trust: f64) -> &'static str {
    match trust {
        t if t < 0.2 => "L0",
        t if t < 0.4 => "L1",
        t if t < 0.6 => "L2",
        t if t < 0.85 => "L3",
        _ => "L4",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> ParsedEvent<'_> {
        match parse_line(line.as_bytes()) {
            Parsed::Event(event) => *event,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn reason(line: &[u8]) -> String {
        match parse_line(line) {
            Parsed::Rejected(reason) => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_envelope_reads_top_level_first_then_data() {
        let e = event(
            r#"{"event":"spec.created","timestamp":"2026-03-30T14:45:00Z","span_id":"SPEC-042","parent_id":"INT-015","source":null,"data":{"source":"mcp","intent_id":"INT-015","title":"Auth","contracts":["CON-1","unknown","CON-1",7]}}"#,
        );
        assert_eq!((e.kind, e.shape), (Kind::Spec, Shape::Envelope));
        assert_eq!(e.artifact_id.as_deref(), Some("SPEC-042"));
        assert_eq!(e.intent_id.as_deref(), Some("INT-015"));
        assert_eq!(e.source.as_deref(), Some("mcp"));
        assert_eq!(e.contracts, ["CON-1"]);
        assert_eq!(
            e.payload.0.iter().map(|(k, _)| k.as_ref()).collect::<Vec<_>>(),
            ["source", "intent_id", "title", "contracts"]
        );
    }

    #[test]
    fn texts_are_borrowed_from_the_line_unless_escaped() {
        let e = event(
            r#"{"event":" spec.created ","timestamp":"2026-01-01","span_id":"SPEC-\u0034","actor":" ann ","data":{"title":" T ","intent_id":" INT-1 "}}"#,
        );
        assert!(matches!(e.event_type, Cow::Borrowed("spec.created")));
        assert!(matches!(e.actor, Some(Cow::Borrowed("ann"))));
        assert!(matches!(e.title, Some(Cow::Borrowed(" T "))));
        assert!(matches!(e.intent_id, Some(Cow::Borrowed(" INT-1 ")))); // one line: as written
        assert!(matches!(e.artifact_id, Some(Cow::Owned(ref id)) if id == "SPEC-4"));
    }

    #[test]
    fn a_flat_line_is_its_own_payload_without_its_type() {
        let e = event(
            r#"{"event_type":"contract.assertion.failed","contract_id":"CON-9","assertion_name":"lint","ts":0,"time":"2026-01-01"}"#,
        );
        assert_eq!((e.kind, e.shape), (Kind::Assertion, Shape::Flat));
        assert_eq!(e.artifact_id.as_deref(), Some("lint"));
        assert!(!e.payload.contains_key("event_type"));
        assert_eq!(e.payload.0.first().map(|(k, _)| k.as_ref()), Some("contract_id"));
    }

    #[test]
    fn ids_by_shape_numbers_as_python_writes_them() {
        assert_eq!(kind_of_id("clu-004"), Some(Kind::Cluster));
        assert_eq!(kind_of_id("CLUSTER_4"), Some(Kind::Cluster));
        assert_eq!(kind_of_id("clus-4"), None);
        assert_eq!(kind_of_id("assert7"), Some(Kind::Assertion));
        let e = event(r#"{"event":"signal.created","timestamp":1774923402,"span_id":1.0,"actor":true}"#);
        assert_eq!(e.artifact_id.as_deref(), Some("1.0"));
        assert_eq!(e.actor.as_deref(), Some("True"));
    }

    #[test]
    fn trust_and_autonomy() {
        let e = event(
            r#"{"event":"signal.scored","timestamp":"2026-01-01","data":{"trust":" 0.6_5 ","autonomy_level":1}}"#,
        );
        assert_eq!((e.trust, e.autonomy_level.as_deref()), (Some(0.65), Some("L1")));
        let e = event(r#"{"event":"signal.scored","timestamp":"2026-01-01","data":{"trust_score":0.9}}"#);
        assert_eq!(e.autonomy_level.as_deref(), Some("L4"));
    }

    #[test]
    fn a_path_written_normal_is_left_as_it_is() {
        let parts = ["a", ".intent", "é", "x.md", ".", "..", "", "b\\c", " "];
        for a in parts {
            for b in parts {
                for c in parts {
                    let path = [a, b, c].join("/");
                    if written_normal(&path) {
                        assert_eq!(normpath(&path), path);
                    }
                }
            }
        }
        assert!(written_normal(".intent/specs/S.md") && !written_normal("./x") && !written_normal("/x"));
    }

    #[test]
    fn files_are_normalised() {
        let e = event(
            r#"{"event":"spec.written","timestamp":"2026-01-01","data":{"file":" .\\.intent//specs/./S.md "}}"#,
        );
        assert_eq!(e.file.as_deref(), Some(".intent/specs/S.md"));
    }

    #[test]
    fn rejections_say_why() {
        assert!(reason(br#"{"event": "x.y", "timestamp": "2026"#).starts_with("invalid JSON"));
        assert_eq!(reason(b"[1]"), "a line must be a JSON object, not list");
        assert_eq!(reason(b"-0"), "a line must be a JSON object, not int");
        assert!(reason(br#"{"event": 42}"#).starts_with("no event type"));
        assert!(reason(br#"{"event": "x.y", "created_at": null}"#).starts_with("no timestamp"));
        assert!(reason(b"\xff\xfe").starts_with("invalid JSON"));
        assert!(reason(br#"{"a": "\ud800"}"#).starts_with("invalid JSON"));
        assert!(reason(br#"{"a": 1e309}"#).contains("infinity"));
        assert!(reason(format!(r#"{{"a": 1{}}}"#, "0".repeat(400)).as_bytes()).contains("infinity"));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(reason(deep.as_bytes()).contains("deeper than 1024"));
        let fine = format!(
            r#"{{"event":"x.y","timestamp":"2026-01-01","d":{}{}}}"#,
            "[".repeat(120),
            "]".repeat(120)
        );
        assert!(matches!(parse_line(fine.as_bytes()), Parsed::Event(_)));
        assert!(matches!(parse_line(b" \t\r"), Parsed::Blank));
    }

    #[test]
    fn event_ids_ignore_surrounding_whitespace() {
        assert_eq!(event_id_of(b"  {}\r"), event_id_of(b"{}"));
        assert_eq!(event_id_of(b"{}").len(), 32);
    }
}
