//! The `intent.*` attributes spans and log records carry, built from one event, with the
//! text rules of Python (lengths in code points) and orjson (lists as compact JSON).

use std::borrow::Cow;

use crate::json::{Json, Object, plain_run};
use crate::parse::ParsedEvent;

pub const MAX_VALUE_CHARS: usize = 1024;
pub const MAX_DATA_KEYS: usize = 64;
const MAX_DEPTH: usize = 3;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Str(text.to_string())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Str(text)
    }
}

/// An attribute's name: the names the engine writes are static text, never allocated; a
/// payload's keys (`intent.data.<key>`) are owned.
pub type Name = Cow<'static, str>;

/// Attributes in insertion order, as a Python dict keeps them: setting a key again keeps
/// its place and takes the new value (the order is part of the bytes sent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attrs(pub Vec<(Name, Value)>);

impl Attrs {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn set(&mut self, key: impl Into<Name>, value: impl Into<Value>) {
        let (key, value) = (key.into(), value.into());
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn set_default(&mut self, key: &Name, value: &Value) {
        if self.get(key).is_none() {
            self.0.push((key.clone(), value.clone()));
        }
    }

    pub fn update(&mut self, other: &Attrs) {
        for (key, value) in &other.0 {
            self.set(key.clone(), value.clone());
        }
    }

    /// A name known not to be set yet: appended without looking.
    pub fn push(&mut self, key: &'static str, value: impl Into<Value>) {
        debug_assert!(self.get(key).is_none(), "{key} set twice");
        self.0.push((Name::Borrowed(key), value.into()));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Python's `len(text)`: code points.
pub fn chars(text: &str) -> usize {
    text.chars().count()
}

pub fn bounded(text: &str, limit: usize) -> String {
    let mut out = String::new();
    push_bounded(&mut out, text, limit);
    out
}

/// `bounded`, appended to `out`.
fn push_bounded(out: &mut String, text: &str, limit: usize) {
    if text.len() <= limit {
        return out.push_str(text); // no more code points than bytes
    }
    match text.char_indices().nth(limit) {
        None => out.push_str(text),
        Some(_) => {
            let cut = text.char_indices().nth(limit - 1).map_or(text.len(), |(i, _)| i);
            out.push_str(&text[..cut]);
            out.push('…');
        }
    }
}

/// Display form of a user string: control characters escaped, length bounded.
pub fn one_line(text: &str, limit: usize) -> String {
    let mut out = String::new();
    push_one_line(&mut out, text, limit);
    out
}

/// `one_line`, appended to `out`.
pub fn push_one_line(out: &mut String, text: &str, limit: usize) {
    if !text.contains(['\r', '\n', '\t']) {
        return push_bounded(out, text, limit); // nothing to escape: no copies on the way
    }
    let flat = text.replace('\r', "\\r").replace('\n', "\\n").replace('\t', " ");
    push_bounded(out, &flat, limit)
}

/// `intent.data.<key>` attributes appended to `out`: nested objects dotted, lists as JSON,
/// long values bounded, at most `MAX_DATA_KEYS` of them.
fn push_payload(out: &mut Attrs, payload: &Object) {
    let mut name = String::with_capacity(64); // most names fit: grown once, not per key
    name.push_str("intent.data.");
    let mut flat = Flattening {
        out,
        name,
        base: 0,
        dotted: false,
    };
    flat.base = flat.out.len();
    flat.object(payload, 0);
}

/// A payload being flattened into attributes: one name grown and cut back along the path.
struct Flattening<'o> {
    out: &'o mut Attrs,
    name: String,
    /// How many attributes `out` had before the payload's.
    base: usize,
    /// Whether a key with a dot was seen: until then two paths cannot have one name, and an
    /// attribute is appended without looking for its name first.
    dotted: bool,
}

impl Flattening<'_> {
    fn object(&mut self, value: &Object, depth: usize) {
        let prefix = self.name.len();
        for (key, item) in &value.0 {
            if self.out.len() - self.base >= MAX_DATA_KEYS {
                self.out.set("intent.data._truncated", Value::Bool(true));
                return;
            }
            self.dotted |= key.as_bytes().contains(&b'.');
            self.name.truncate(prefix);
            self.name.push_str(key);
            let value = match item {
                Json::Str(text) => Value::Str(bounded(text, MAX_VALUE_CHARS)),
                // OTLP ints are 64-bit; larger JSON integers travel as text.
                Json::Int(n) => i64::try_from(*n).map_or_else(|_| Value::Str(n.to_string()), Value::Int),
                Json::Float(x) => Value::Float(*x),
                Json::Bool(flag) => Value::Bool(*flag),
                Json::Object(object) if depth < MAX_DEPTH => {
                    self.name.push('.');
                    self.object(object, depth + 1);
                    continue;
                }
                Json::Null => continue,
                other => Value::Str(bounded(&dumps_sorted(other), MAX_VALUE_CHARS)),
            };
            let name = Name::Owned(self.name.clone());
            if self.dotted {
                self.out.set(name, value);
            } else {
                self.out.0.push((name, value));
            }
        }
    }
}

/// Attributes that describe one event, whatever span or log record carries them.
pub fn event_attributes(ev: &ParsedEvent) -> Attrs {
    // room for the payload's and the log record's own attributes and its relations, added later
    let mut attrs = Attrs(Vec::with_capacity(8 + ev.payload.0.len() + 8));
    attrs.push("intent.event.type", ev.event_type.as_ref());
    push_artifact(&mut attrs, ev);
    if let Some(source) = &ev.source {
        attrs.push("intent.source", bounded(source, 256));
    }
    if let Some(actor) = &ev.actor {
        attrs.push("intent.actor", bounded(actor, 256));
    }
    if let Some(trust) = ev.trust {
        attrs.push("intent.trust.score", Value::Float(trust));
    }
    if let Some(level) = &ev.autonomy_level {
        attrs.push("intent.autonomy_level", level.as_ref());
    }
    push_title(&mut attrs, ev);
    push_payload(&mut attrs, &ev.payload); // every one `intent.data.`: none of the names above
    attrs
}

/// What a report shows of an event's attributes, where records are only counted and shown
/// (`inspect`): its artifact's type and id and its title, as `event_attributes` has them. The
/// rest (its type, source, actor, payload...) would be made, kept, copied and freed for nothing.
pub fn shown_attributes(ev: &ParsedEvent) -> Attrs {
    let mut attrs = Attrs(Vec::with_capacity(4));
    push_artifact(&mut attrs, ev);
    push_title(&mut attrs, ev);
    attrs
}

fn push_artifact(attrs: &mut Attrs, ev: &ParsedEvent) {
    attrs.push("intent.artifact.type", ev.kind.value());
    if let Some(id) = &ev.artifact_id {
        attrs.push("intent.artifact.id", bounded(id, 256));
    }
}

fn push_title(attrs: &mut Attrs, ev: &ParsedEvent) {
    if let Some(title) = &ev.title {
        attrs.push("intent.title", bounded(title, MAX_VALUE_CHARS));
    }
}

/// The log body: one readable line, e.g. `signal.created SIG-001 — Flaky login test`.
pub fn summary_line(ev: &ParsedEvent) -> String {
    let mut line = String::with_capacity(128);
    line.push_str(&ev.event_type);
    if let Some(id) = &ev.artifact_id {
        line.push(' ');
        push_one_line(&mut line, id, 80);
    }
    let detail = match ev.title.as_deref() {
        Some(title) if !title.is_empty() => Some(title),
        _ => first_text(
            &ev.payload,
            &["error", "reason", "verdict", "message", "description"],
        ),
    };
    if let Some(detail) = detail.filter(|d| !d.is_empty()) {
        line.push_str(" — ");
        push_one_line(&mut line, detail, 200);
    }
    line
}

/// The first of `keys` whose value is text that is not blank.
pub fn first_text<'p>(payload: &'p Object, keys: &[&str]) -> Option<&'p str> {
    keys.iter().find_map(|key| match payload.get(key) {
        Some(Json::Str(text)) if !crate::pytext::py_strip(text).is_empty() => Some(text.as_ref()),
        _ => None,
    })
}

/// `orjson.dumps(value, option=OPT_SORT_KEYS)`.
pub fn dumps_sorted(value: &Json) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Json) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Json::Int(n) => out.push_str(&n.to_string()),
        Json::Float(x) => out.push_str(&orjson_float(*x)),
        Json::Str(text) => write_string(out, text),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Json::Object(object) => {
            let mut members: Vec<_> = object.0.iter().collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    orjson_escaped(text, |piece| out.push_str(piece));
    out.push('"');
}

/// A string's content as orjson escapes it (`"` and `\\`, the short escapes, other control
/// characters as `\u00XX`), handed to `emit` in pieces: runs of its own text and escapes.
/// The runs are found eight bytes at a time (most text needs no escape).
pub fn orjson_escaped(text: &str, mut emit: impl FnMut(&str)) {
    let mut start = 0;
    while let Some((run, _)) = plain_run(&text.as_bytes()[start..]) {
        let at = start + run; // an escaped byte is ASCII: `at` is a character boundary
        emit(&text[start..at]);
        let b = text.as_bytes()[at];
        match b {
            b'"' => emit("\\\""),
            b'\\' => emit("\\\\"),
            b'\n' => emit("\\n"),
            b'\r' => emit("\\r"),
            b'\t' => emit("\\t"),
            0x08 => emit("\\b"),
            0x0c => emit("\\f"),
            _ => emit(&format!("\\u{b:04x}")),
        }
        start = at + 1;
    }
    emit(&text[start..]);
}

/// Below 2^53 every integer is a float of its own: a float there that has no fraction is
/// written as the integer it is.
const EXACT_INTEGERS: f64 = (1u64 << 53) as f64;

/// `n` in decimal digits, written at the end of `digits` (no formatting machinery: the
/// report writes two numbers a span).
pub fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &str {
    let mut at = digits.len();
    while n >= 10 {
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DECIMAL_PAIRS[(n % 100) as usize]);
        n /= 100;
    }
    if n > 0 || at == digits.len() {
        at -= 1;
        digits[at] = b'0' + n as u8;
    }
    // SAFETY: ASCII digits alone
    unsafe { std::str::from_utf8_unchecked(&digits[at..]) }
}

/// The two digits of each number below 100: `decimal` writes two at a time.
const DECIMAL_PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0; 2]; 100];
    let mut n = 0;
    while n < 100 {
        pairs[n] = [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
        n += 1;
    }
    pairs
};

/// A float as orjson writes it (ryu's layout): positional while the decimal point falls
/// within 16 digits before or 5 after, else `1.5e-7` / `1e+16`; not finite: `null`.
pub fn orjson_float(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    if x.fract() == 0.0 && x.abs() < EXACT_INTEGERS {
        // its shortest digits are the integer's own: no scientific form to lay out
        let sign = if x.is_sign_negative() { "-" } else { "" };
        return [sign, decimal(x.abs() as u64, &mut [0; 20]), ".0"].concat();
    }
    let scientific = format!("{x:e}"); // shortest round-trip digits
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let length = digits.len() as i32;
    let point = exponent + 1; // digits before the decimal point
    let k = point - length;
    let body = if k >= 0 && point <= 16 {
        format!("{digits}{}.0", "0".repeat(k as usize))
    } else if 0 < point && point <= 16 {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    } else if -5 < point && point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exponent_sign = if exponent < 0 { "-" } else { "+" };
        format!("{first}{fraction}e{exponent_sign}{}", exponent.unsigned_abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_orjson_writes_them() {
        let cases = [
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "0.00001"),
            (1e-6, "1e-6"),
            (1.5e-7, "1.5e-7"),
            (123.456, "123.456"),
            (1e22, "1e+22"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (f64::NAN, "null"),
            (0.0, "0.0"),
            (-3.0, "-3.0"),
            (9007199254740991.0, "9007199254740991.0"),
            (9007199254740992.0, "9007199254740992.0"), // 2^53: the other way, the same text
        ];
        for (value, expected) in cases {
            assert_eq!(orjson_float(value), expected, "{value}");
        }
    }

    #[test]
    fn decimals_of_every_width() {
        let mut digits = [0; 20];
        assert_eq!(decimal(0, &mut digits), "0");
        assert_eq!(decimal(7, &mut digits), "7");
        assert_eq!(decimal(1_000_000, &mut digits), "1000000");
        assert_eq!(decimal(u64::MAX, &mut digits), "18446744073709551615");
        for n in (0..1000).chain([99_999, 100_000, 1_700_000_000_123_456_789]) {
            assert_eq!(decimal(n, &mut digits), n.to_string());
        }
    }

    #[test]
    fn lists_are_compact_json_with_sorted_keys() {
        let value = crate::json::parse(br#"[1,{"b":1,"a":"\u007f\u0001\n\"\u00e9"},null,2.5]"#).unwrap();
        assert_eq!(
            dumps_sorted(&value),
            "[1,{\"a\":\"\u{7f}\\u0001\\n\\\"é\",\"b\":1},null,2.5]"
        );
    }

    #[test]
    fn bounds_count_code_points() {
        assert_eq!(bounded("ééé", 3), "ééé");
        assert_eq!(bounded("éééé", 3), "éé…");
        assert_eq!(one_line("a\nb\tc\r", 200), "a\\nb c\\r");
    }

    #[test]
    fn paths_with_one_dotted_name_make_one_attribute() {
        for (text, expected) in [
            (
                &br#"{"a.b":1,"x":0,"a":{"b":2}}"#[..],
                [("intent.data.a.b", 2), ("intent.data.x", 0)],
            ),
            (
                br#"{"a":{"b":1},"x":0,"a.b":2}"#,
                [("intent.data.a.b", 2), ("intent.data.x", 0)],
            ),
        ] {
            let Json::Object(object) = crate::json::parse(text).unwrap() else {
                panic!()
            };
            let mut attrs = Attrs::default();
            push_payload(&mut attrs, &object);
            let expected = expected.map(|(name, n)| (Name::Borrowed(name), Value::Int(n)));
            assert_eq!(attrs.0, expected);
        }
    }

    #[test]
    fn payload_flattening_stops_at_sixty_four_keys() {
        let mut text = String::from("{");
        for i in 0..70 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        text.push_str("\"deep\":{\"a\":{\"b\":{\"c\":{\"d\":1}}}}}");
        let Json::Object(object) = crate::json::parse(text.as_bytes()).unwrap() else {
            panic!()
        };
        let mut attrs = Attrs::default();
        push_payload(&mut attrs, &object);
        assert_eq!(attrs.len(), 65);
        assert_eq!(attrs.get("intent.data._truncated"), Some(&Value::Bool(true)));
        let Json::Object(deep) = crate::json::parse(br#"{"a":{"b":{"c":{"d":{"e":1}}}},"l":[1]}"#).unwrap()
        else {
            panic!()
        };
        let mut attrs = Attrs::default();
        push_payload(&mut attrs, &deep);
        assert_eq!(attrs.get("intent.data.a.b.c.d"), Some(&Value::from("{\"e\":1}")));
        assert_eq!(attrs.get("intent.data.l"), Some(&Value::from("[1]")));
    }
}
