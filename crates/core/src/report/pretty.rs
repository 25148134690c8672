//! JSON laid out as `orjson.dumps(…, option=OPT_INDENT_2)` lays it out: each member and item
//! on a line of its own, two spaces a level, `"key": value`, empty containers as `{}` and
//! `[]`; strings with orjson's escapes, floats in its layout. Written into a buffer handed
//! to the sink a megabyte at a time.

use std::io::{self, Write};

use crate::identity::attrs::{Value, decimal, orjson_escaped, orjson_float};
use crate::identity::ids::hex_into;
use crate::json::plain_run;

const CHUNK: usize = 1 << 20;

/// What goes before an item: a comma, a new line, its indentation (from one slice of this,
/// up to 30 levels deep; deeper ones are written in pieces).
const INDENT: &[u8; 64] = b",\n                                                              ";

pub struct Pretty<'w> {
    buf: Vec<u8>,
    sink: &'w mut dyn Write,
    depth: usize,
    empty: bool, // nothing written yet in the innermost open container
}

impl<'w> Pretty<'w> {
    pub fn new(sink: &'w mut dyn Write) -> Self {
        Pretty {
            buf: Vec::with_capacity(CHUNK + CHUNK / 4),
            sink,
            depth: 0,
            empty: false,
        }
    }

    /// `{` or `[`.
    #[inline]
    pub fn open(&mut self, bracket: u8) {
        self.buf.push(bracket);
        self.depth += 1;
        self.empty = true;
    }

    /// `}` or `]`, on a line of its own unless the container is empty.
    #[inline]
    pub fn close(&mut self, bracket: u8) {
        self.depth -= 1;
        if !self.empty {
            self.newline();
        }
        self.buf.push(bracket);
        self.empty = false;
    }

    /// The next item of an array begins.
    #[inline]
    pub fn item(&mut self) {
        let comma = usize::from(self.empty); // INDENT's comma skipped
        self.empty = false;
        self.indent(comma);
    }

    /// The next member of an object begins: its key.
    pub fn key(&mut self, key: &str) {
        self.item();
        string(&mut self.buf, key);
        self.buf.extend_from_slice(b": ");
    }

    /// The next member of an object begins, one the report names itself: text with nothing
    /// to escape (most keys of the document), written as it is. Inlined: its text's length
    /// known, it is copied without a call (15 names a span).
    #[inline]
    pub fn name(&mut self, name: &'static str) {
        debug_assert!(plain_run(name.as_bytes()).is_none(), "{name:?} needs escapes");
        self.item();
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\": ");
    }

    #[inline]
    fn newline(&mut self) {
        self.indent(1);
    }

    /// `INDENT` from `skip` on: a comma or not, a new line, two spaces a level.
    #[inline]
    fn indent(&mut self, skip: usize) {
        let end = 2 + 2 * self.depth;
        if end < INDENT.len() {
            // 63 bytes copied whatever the depth, then cut: a copy of known length, no call
            let at = self.buf.len();
            self.buf.extend_from_slice(&INDENT[skip..skip + 63]);
            self.buf.truncate(at + end - skip);
        } else {
            self.buf.extend_from_slice(&b",\n"[skip..]);
            self.buf.resize(self.buf.len() + 2 * self.depth, b' ');
        }
    }

    /// A value orjson wrote at the top level (with `OPT_INDENT_2`), indented to sit here.
    /// A JSON text has no raw newline but between its lines.
    pub fn json(&mut self, json: &[u8]) {
        for (i, line) in json.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                self.newline();
            }
            self.buf.extend_from_slice(line);
        }
    }

    /// A JSON text as it is (a scalar).
    #[inline]
    pub fn raw(&mut self, json: &str) {
        self.buf.extend_from_slice(json.as_bytes());
    }

    pub fn str(&mut self, text: &str) {
        string(&mut self.buf, text);
    }

    pub fn opt_str(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.str(text),
            None => self.raw("null"),
        }
    }

    pub fn int(&mut self, n: i64) {
        int(&mut self.buf, n);
    }

    pub fn float(&mut self, x: f64) {
        if x == 0.0 && x.is_sign_positive() {
            self.raw("0.0"); // most spans' duration (an instant), without orjson_float's String
        } else {
            self.buf.extend_from_slice(orjson_float(x).as_bytes());
        }
    }

    /// Bytes (an id) as a string of lower-case hex.
    pub fn hex(&mut self, bytes: &[u8]) {
        self.buf.push(b'"');
        hex_into(bytes, &mut self.buf);
        self.buf.push(b'"');
    }

    #[inline]
    pub fn bool(&mut self, flag: bool) {
        self.raw(if flag { "true" } else { "false" });
    }

    /// What is buffered goes to the sink once it is a chunk.
    pub fn spill(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.sink.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// The rest goes to the sink.
    pub fn finish(self) -> io::Result<()> {
        self.sink.write_all(&self.buf)?;
        self.sink.flush()
    }
}

/// A string as orjson escapes it.
pub fn string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    orjson_escaped(text, |piece| out.extend_from_slice(piece.as_bytes()));
    out.push(b'"');
}

fn int(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(decimal(n.unsigned_abs(), &mut [0; 20]).as_bytes());
}

/// An attribute's value as orjson writes it.
pub fn value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Str(text) => string(out, text),
        Value::Int(n) => int(out, *n),
        Value::Float(x) => out.extend_from_slice(orjson_float(*x).as_bytes()),
        Value::Bool(flag) => out.extend_from_slice(if *flag { b"true" } else { b"false" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_containers_as_orjson_indents_them() {
        let mut sink = Vec::new();
        let mut doc = Pretty::new(&mut sink);
        doc.open(b'{');
        doc.key("a");
        doc.open(b'[');
        doc.item();
        doc.open(b'{');
        doc.name("x");
        doc.int(-1);
        doc.name("y");
        doc.json(b"{\n  \"z\": [\n    1\n  ]\n}");
        doc.close(b'}');
        doc.close(b']');
        doc.key("b");
        doc.open(b'{');
        doc.close(b'}');
        doc.key("c\n");
        doc.float(0.5);
        doc.close(b'}');
        doc.finish().unwrap();
        let expected = "{\n  \"a\": [\n    {\n      \"x\": -1,\n      \"y\": {\n        \"z\": [\n          1\n        ]\n      }\n    }\n  ],\n  \"b\": {},\n  \"c\\n\": 0.5\n}";
        assert_eq!(String::from_utf8(sink).unwrap(), expected);
    }

    #[test]
    fn deep_nesting_indented_past_the_prepared_indentation() {
        let mut sink = Vec::new();
        let mut doc = Pretty::new(&mut sink);
        for _ in 0..40 {
            doc.open(b'[');
            doc.item();
        }
        doc.int(1);
        doc.item();
        doc.int(2);
        for _ in 0..40 {
            doc.close(b']');
        }
        doc.finish().unwrap();
        let mut expected = String::new();
        for depth in 0..40 {
            expected += &format!("[\n{}", "  ".repeat(depth + 1));
        }
        expected += &format!("1,\n{}2", "  ".repeat(40));
        for depth in (0..40).rev() {
            expected += &format!("\n{}]", "  ".repeat(depth));
        }
        assert_eq!(String::from_utf8(sink).unwrap(), expected);
    }

    #[test]
    fn a_long_document_reaches_the_sink_a_chunk_at_a_time() {
        struct Writes(Vec<Vec<u8>>);
        impl Write for Writes {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                self.0.push(bytes.to_vec());
                Ok(bytes.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut sink = Writes(vec![]);
        let mut doc = Pretty::new(&mut sink);
        doc.open(b'[');
        let text = "x".repeat(1000);
        for _ in 0..3000 {
            doc.item();
            doc.str(&text);
            doc.spill().unwrap();
        }
        doc.close(b']');
        doc.finish().unwrap();
        let item = format!("\n  \"{text}\"");
        let expected = format!("[{}\n]", vec![item; 3000].join(","));
        assert!(sink.0.len() >= 3 && sink.0.iter().all(|w| w.len() <= CHUNK + 1100));
        assert_eq!(sink.0.concat(), expected.into_bytes());
    }

    #[test]
    fn numbers_as_orjson_writes_them() {
        let mut out = Vec::new();
        for number in [
            Value::Int(0),
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Float(-0.0),
        ] {
            value(&mut out, &number);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0 -9223372036854775808 9223372036854775807 -0.0 "
        );
    }

    #[test]
    fn strings_escaped_as_orjson_escapes_them() {
        let mut out = Vec::new();
        string(&mut out, "a\"b\\c\u{1}\u{1f}\u{8}\u{c}\t\r\n\u{7f}é\u{2028}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\u0001\\u001f\\b\\f\\t\\r\\n\u{7f}é\u{2028}\""
        );
    }
}
