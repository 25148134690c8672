//! A JSON reader for event lines: a tree that borrows its text from the line.
//!
//! Written for this job rather than taken from serde_json: an event line is read once,
//! a few of its keys are looked up, and the rest is handed to Python. Objects are small
//! vectors in their written order (a repeated key keeps its first place and its last
//! value, as a Python dict would), strings without escapes borrow the line, and numbers
//! keep JSON's own distinction: digits alone within 64 bits are an int (`-0` too),
//! anything else a float. A float too large for a double is refused. Nesting stops at
//! 1024 levels. On 20,000 generated lines: 0.4 µs a line on a quiet machine; measured side
//! by side on a busy one, 1.0 µs where serde_json's order-keeping `Value` took 5.1 µs.

use foldhash::HashMap;
use std::borrow::Cow;

/// Deeper nesting than this is refused (orjson's limit, the reader this one replaced).
pub const MAX_DEPTH: usize = 1024;
/// An object with more keys than this finds repeated keys through a hash map.
const LINEAR_KEYS: usize = 16;
/// Room made for the members of a document's outermost object.
const TOP_MEMBERS: usize = 16;

#[derive(Clone, Debug, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// An object's members in the order they were written.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Object<'a>(pub Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Object<'a> {
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Takes a member out, keeping the others in order.
    pub fn remove(&mut self, key: &str) -> Option<Json<'a>> {
        let index = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(index).1)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Json<'_> {
    /// The Python type this value becomes, for messages.
    pub fn python_type(&self) -> &'static str {
        match self {
            Json::Null => "NoneType",
            Json::Bool(_) => "bool",
            Json::Int(_) => "int",
            Json::Float(_) => "float",
            Json::Str(_) => "str",
            Json::Array(_) => "list",
            Json::Object(_) => "dict",
        }
    }

    /// Python's truth value of what this becomes.
    pub fn truthy(&self) -> bool {
        match self {
            Json::Null => false,
            Json::Bool(flag) => *flag,
            Json::Int(n) => *n != 0,
            Json::Float(x) => *x != 0.0,
            Json::Str(text) => !text.is_empty(),
            Json::Array(items) => !items.is_empty(),
            Json::Object(object) => !object.is_empty(),
        }
    }
}

/// A whole JSON document (surrounding JSON whitespace allowed), or what is wrong and where.
pub fn parse(bytes: &[u8]) -> Result<Json<'_>, String> {
    let mut reader = Reader { bytes, at: 0 };
    let value = reader.value(0)?;
    reader.skip_whitespace();
    if reader.at != bytes.len() {
        return Err(reader.error("unexpected content after the document"));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.at)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), String> {
        self.skip_whitespace();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, String> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("unexpected end of data")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character, expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &str, value: Json<'a>) -> Result<Json<'a>, String> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("unexpected character, expected a JSON value"))
        }
    }

    fn nested(&self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, String> {
        self.nested(depth)?;
        self.at += 1; // [
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("unexpected character, expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, String> {
        self.nested(depth)?;
        self.at += 1; // {
        // a line's own members (five to ten): room for them at once, not grown 4 → 8 → 16
        let mut members = Members::with_capacity(if depth == 1 { TOP_MEMBERS } else { 0 });
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(members.into_object()));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("unexpected character, expected a string key"));
            }
            let key = self.string()?;
            self.expect(b':', "unexpected character, expected ':' after key")?;
            let value = self.value(depth)?;
            members.insert(key, value);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(members.into_object()));
                }
                _ => return Err(self.error("unexpected character, expected ',' or '}'")),
            }
        }
    }

    /// A string at `"`: borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        self.at += 1; // "
        let start = self.at;
        let Some((length, ascii)) = plain_run(&self.bytes[start..]) else {
            return Err(self.error("unexpected end of data in a string"));
        };
        self.at = start + length;
        if self.peek() == Some(b'"') {
            let text = if ascii {
                // SAFETY: ASCII bytes alone are valid UTF-8
                unsafe { std::str::from_utf8_unchecked(&self.bytes[start..self.at]) }
            } else {
                self.utf8(start, self.at)?
            };
            self.at += 1;
            return Ok(Cow::Borrowed(text));
        }
        let mut owned = String::from(self.utf8(start, self.at)?);
        loop {
            match self.peek() {
                None => return Err(self.error("unexpected end of data in a string")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Cow::Owned(owned));
                }
                Some(b'\\') => {
                    self.at += 1;
                    self.escape(&mut owned)?;
                }
                Some(byte) if byte < 0x20 => {
                    return Err(self.error("unexpected control character in a string"));
                }
                Some(_) => {
                    let run_start = self.at;
                    while self
                        .peek()
                        .is_some_and(|b| !matches!(b, b'"' | b'\\') && b >= 0x20)
                    {
                        self.at += 1;
                    }
                    owned.push_str(self.utf8(run_start, self.at)?);
                }
            }
        }
    }

    fn utf8(&self, start: usize, end: usize) -> Result<&'a str, String> {
        std::str::from_utf8(&self.bytes[start..end])
            .map_err(|e| format!("text is not valid UTF-8 at byte {}", start + e.valid_up_to()))
    }

    /// After a backslash: one escape appended to `out`.
    fn escape(&mut self, out: &mut String) -> Result<(), String> {
        let Some(byte) = self.peek() else {
            return Err(self.error("unexpected end of data in a string"));
        };
        self.at += 1;
        let c = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => self.unicode_escape()?,
            _ => return Err(self.error("invalid escape sequence in a string")),
        };
        out.push(c);
        Ok(())
    }

    /// `\uXXXX`, a surrogate pair joined; a lone surrogate is refused.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.bytes[self.at..].starts_with(b"\\u") {
                    return Err(self.error("lone surrogate in a string"));
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("lone surrogate in a string"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone surrogate in a string")),
            code => code,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid unicode escape"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.error("unexpected end of data"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.error("invalid unicode escape"))?;
        let code = u32::from_str_radix(text, 16).map_err(|_| self.error("invalid unicode escape"))?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.error("invalid unicode escape")); // from_str_radix takes a leading '+'
        }
        self.at += 4;
        Ok(code)
    }

    /// `-?(0|[1-9]digits)(.digits)?([eE][+-]?digits)?`
    fn number(&mut self) -> Result<Json<'a>, String> {
        let start = self.at;
        self.at += usize::from(self.peek() == Some(b'-'));
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return Err(self.error("number with leading zero is not allowed"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("no digit in a number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.required_digits()?;
            integer = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.required_digits()?;
            integer = false;
        }
        // only ASCII digits, signs, '.', 'e' were consumed
        let text = std::str::from_utf8(&self.bytes[start..self.at]).map_err(|_| self.error("bad number"))?;
        let as_int = || {
            text.parse::<i64>()
                .map(i128::from)
                .or_else(|_| text.parse::<u64>().map(i128::from))
        };
        if integer && let Ok(n) = as_int() {
            return Ok(Json::Int(n));
        }
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Json::Float(x)),
            _ => Err(format!(
                "number is infinity when parsed as double at byte {start}"
            )),
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn required_digits(&mut self) -> Result<(), String> {
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(self.error("a number needs digits here"));
        }
        self.digits();
        Ok(())
    }
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `word` below `n` (≤ 0x80); exact up to the first such byte
/// in memory order, which is all `plain_run` reads of it.
fn bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS
}

/// How many bytes of `text` come before the first `"`, `\\` or control character (None when
/// there is none), and whether they are all ASCII: eight bytes at a time, the bytes of a
/// string being most of a line (and of a report's document, `attrs::orjson_escaped`).
#[inline]
pub(crate) fn plain_run(text: &[u8]) -> Option<(usize, bool)> {
    let mut seen = 0u64; // every byte read, or-ed: its high bits say whether any is not ASCII
    let mut chunks = text.chunks_exact(8);
    let mut read = 0;
    for chunk in chunks.by_ref() {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        if let Some((at, ascii)) = run_end(word, seen) {
            return Some((read + at, ascii));
        }
        seen |= word;
        read += 8;
    }
    // the last bytes as one more word, padded with spaces (which stop nothing)
    let rest = chunks.remainder();
    let mut last = [b' '; 8];
    last[..rest.len()].copy_from_slice(rest);
    run_end(u64::from_le_bytes(last), seen).map(|(at, ascii)| (read + at, ascii))
}

/// Where in `word` the first `"`, `\\` or control character is, if any, and whether the
/// bytes before it (and those `seen` before the word) are all ASCII.
fn run_end(word: u64, seen: u64) -> Option<(usize, bool)> {
    let stops = bytes_below(word ^ (ONES * u64::from(b'"')), 1)
        | bytes_below(word ^ (ONES * u64::from(b'\\')), 1)
        | bytes_below(word, 0x20);
    if stops == 0 {
        return None;
    }
    let at = (stops.trailing_zeros() / 8) as usize;
    let before = if at == 0 {
        0
    } else {
        word & (u64::MAX >> (64 - 8 * at))
    };
    Some((at, (seen | before) & HIGHS == 0))
}

/// An object being read: a repeated key keeps its first place and takes the last value.
struct Members<'a> {
    pairs: Vec<(Cow<'a, str>, Json<'a>)>,
    index: Option<HashMap<Cow<'a, str>, usize>>, // built once the object outgrows a linear search
}

impl<'a> Members<'a> {
    fn with_capacity(capacity: usize) -> Self {
        Members {
            pairs: Vec::with_capacity(capacity),
            index: None,
        }
    }

    fn insert(&mut self, key: Cow<'a, str>, value: Json<'a>) {
        let found = match &self.index {
            Some(index) => index.get(&key).copied(),
            None => self.pairs.iter().position(|(k, _)| *k == key),
        };
        if let Some(i) = found {
            self.pairs[i].1 = value;
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.pairs.len());
        } else if self.pairs.len() == LINEAR_KEYS {
            let mut index: HashMap<Cow<'a, str>, usize> = self
                .pairs
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            index.insert(key.clone(), self.pairs.len());
            self.index = Some(index);
        }
        self.pairs.push((key, value));
    }

    fn into_object(self) -> Object<'a> {
        Object(self.pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Json<'_> {
        parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(bytes: &[u8]) -> String {
        parse(bytes).expect_err("refused")
    }

    #[test]
    fn numbers_as_python_has_them() {
        assert_eq!(ok("-0"), Json::Int(0));
        assert_eq!(ok("-0.0"), Json::Float(-0.0));
        assert_eq!(ok("18446744073709551615"), Json::Int(18_446_744_073_709_551_615));
        assert_eq!(
            ok("18446744073709551616"),
            Json::Float(18_446_744_073_709_551_616.0)
        );
        assert_eq!(
            ok("-9223372036854775809"),
            Json::Float(-9_223_372_036_854_775_809.0)
        );
        assert_eq!(ok("1E2"), Json::Float(100.0));
        assert_eq!(ok("1e-400"), Json::Float(0.0));
        assert!(err(b"1e309").contains("infinity"));
        assert!(err(format!("1{}", "0".repeat(400)).as_bytes()).contains("infinity"));
        for bad in [&b"01"[..], b"-", b"1.", b".5", b"+1", b"1.5e", b"NaN", b"1e+"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn strings_with_and_without_escapes() {
        assert_eq!(ok(r#""plain""#), Json::Str(Cow::Borrowed("plain")));
        assert_eq!(
            ok(r#""a\"b\\c\/\n\u00e9\uD83D\uDE00""#),
            Json::Str(Cow::Owned("a\"b\\c/\né😀".into()))
        );
        for bad in [
            &br#""\udc00""#[..],
            br#""\ud800""#,
            br#""\ud800\u0041""#,
            br#""\x""#,
            br#""\u+041""#,
            b"\"a\tb\"",
            b"\"\xff\"",
            b"\"abc",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_string_ends_at_its_first_quote_backslash_or_control_character() {
        // each stop at each place of an eight-byte word and beyond, after ASCII or not
        for length in 0..20 {
            for stop in [b'"', b'\\', 0x00, 0x1f] {
                for filler in ["a", "é"] {
                    let mut text = filler.repeat(length).into_bytes();
                    let at = text.len();
                    text.extend([stop, b'x', b'"', 0x80]);
                    let expected = (at, filler == "a" || length == 0);
                    assert_eq!(plain_run(&text), Some(expected), "{length} {stop} {filler}");
                }
            }
        }
        assert_eq!(plain_run(b"no end in sight"), None);
        assert_eq!(plain_run("0123456\u{e9}\"".as_bytes()), Some((9, false)));
        assert_eq!(plain_run(b" !#[]~\x7f\""), Some((7, true))); // neighbours of the stops
    }

    #[test]
    fn a_repeated_key_keeps_its_place_and_its_last_value() {
        let Json::Object(object) = ok(r#"{"a":1,"b":2,"a":3}"#) else {
            panic!()
        };
        assert_eq!(
            object.0,
            [
                (Cow::Borrowed("a"), Json::Int(3)),
                (Cow::Borrowed("b"), Json::Int(2))
            ]
        );
        let many: Vec<String> = (0..40).map(|i| format!(r#""k{}":{i}"#, i % 20)).collect();
        let text = format!("{{{}}}", many.join(","));
        let Json::Object(object) = ok(&text) else { panic!() };
        assert_eq!(object.0.len(), 20);
        assert_eq!(object.get("k3"), Some(&Json::Int(23)));
    }

    #[test]
    fn structure_errors_say_where() {
        assert_eq!(
            err(b"[1,]"),
            "unexpected character, expected a JSON value at byte 3"
        );
        assert!(err(br#"{"a":1,}"#).contains("string key"));
        assert!(err(b"1 2").contains("after the document"));
        assert!(err(br#"{"a" 1}"#).contains("':'"));
        assert!(err(b"nul").contains("expected a JSON value"));
        assert!(err(b"").contains("end of data"));
        assert_eq!(ok(" [ ] "), Json::Array(Vec::new()));
    }

    #[test]
    fn nesting_stops_at_1024_levels() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(nested(1024).as_bytes()).is_ok());
        assert!(err(nested(1025).as_bytes()).contains("deeper than 1024"));
        assert!(err("[".repeat(200_000).as_bytes()).contains("deeper"));
    }
}
