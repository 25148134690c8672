//! The bytes of a state row: varints, texts, ids as raw bytes, attributes with their common
//! keys as one byte.

use std::borrow::Cow;
use std::sync::LazyLock;

use foldhash::HashMap;

use crate::identity::attrs::{Attrs, Name, Value};
use crate::identity::ids;

/// Attribute keys written as one byte (their index + 1); 0 means the key follows as text.
const KNOWN_KEYS: [&str; 24] = [
    "intent.event.type",
    "intent.artifact.type",
    "intent.artifact.id",
    "intent.source",
    "intent.actor",
    "intent.trust.score",
    "intent.autonomy_level",
    "intent.title",
    "event.name",
    "intent.event.id",
    "intent.event.file",
    "intent.event.line",
    "intent.event.offset",
    "intent.id",
    "intent.spec.id",
    "intent.contract.id",
    "intent.artifact.state",
    "intent.phase",
    "intent.phase.end_event",
    "intent.contract.run",
    "intent.contract.result",
    "intent.data._truncated",
    "intent.backfilled",
    "intent.cluster.id",
];
/// A known key's code (its index + 1): one hash lookup, where a scan of the list compared
/// most keys of every row with most of the list.
fn known_key_code(key: &str) -> Option<u64> {
    static CODES: LazyLock<HashMap<&'static str, u64>> = LazyLock::new(|| {
        KNOWN_KEYS
            .iter()
            .zip(1..)
            .map(|(key, code)| (*key, code))
            .collect()
    });
    CODES.get(key).copied()
}

/// A key code saying the text that follows comes after `intent.data.`.
const DATA_PREFIX_CODE: u64 = KNOWN_KEYS.len() as u64 + 1;
const DATA_PREFIX: &str = "intent.data.";
/// A value tag saying the value is the row's known value of this index (tags below are types).
const KNOWN_VALUE: u64 = 5;
/// What `Writer::time` scales a time by, by code (the last code: nanoseconds).
const TIME_UNITS: [i64; 3] = [1_000_000_000, 1_000_000, 1_000];

fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        _ => digit - b'a' + 10,
    }
}

#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn uint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    pub fn int(&mut self, value: i64) {
        self.uint(((value << 1) ^ (value >> 63)) as u64);
    }

    pub fn text(&mut self, text: &str) {
        self.uint(text.len() as u64);
        self.0.extend_from_slice(text.as_bytes());
    }

    /// None as 0, else the length + 1 and the text.
    pub fn opt_text(&mut self, text: Option<&str>) {
        match text {
            None => self.uint(0),
            Some(text) => {
                self.uint(text.len() as u64 + 1);
                self.0.extend_from_slice(text.as_bytes());
            }
        }
    }

    pub fn float(&mut self, value: f64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    /// A hex id as its bytes (half the size), anything else as text: one varint says which
    /// and how long (odd: that many bytes; even: a text of half its length, less one).
    pub fn id(&mut self, id: &str) {
        let hex = id.len().is_multiple_of(2) && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if hex {
            self.uint((id.len() as u64 / 2) << 1 | 1);
            let digits = id.as_bytes().chunks_exact(2);
            self.0
                .extend(digits.map(|pair| nibble(pair[0]) << 4 | nibble(pair[1])));
        } else {
            self.uint((id.len() as u64 + 1) << 1);
            self.0.extend_from_slice(id.as_bytes());
        }
    }

    /// An id held as its bytes, as `id` writes its hex digits.
    pub fn id_bytes(&mut self, id: &[u8]) {
        self.uint((id.len() as u64) << 1 | 1);
        self.0.extend_from_slice(id);
    }

    /// None as 0, else as `id` (never 0).
    pub fn opt_id(&mut self, id: Option<&str>) {
        match id {
            None => self.uint(0),
            Some(id) => self.id(id),
        }
    }

    /// A time in nanoseconds, or a span of them: scaled down by the largest of a second, a
    /// millisecond or a microsecond it is a whole number of (the low two bits say which), so
    /// a time to the second takes 5 bytes, not 9.
    pub fn time(&mut self, ns: i64) {
        let (code, unit) = TIME_UNITS
            .iter()
            .enumerate()
            .find(|(_, unit)| ns % **unit == 0)
            .map_or((TIME_UNITS.len(), 1), |(code, unit)| (code, *unit));
        let scaled = ns / unit;
        let zigzag = ((scaled << 1) ^ (scaled >> 63)) as u64;
        let mut value = u128::from(zigzag) << 2 | code as u128;
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    /// A text where an owner's own value is likely: 0 for that value, else as `opt_text`.
    pub fn or_same(&mut self, text: &str, own: Option<&str>) {
        self.opt_text(Some(text).filter(|text| Some(*text) != own));
    }

    /// An artifact key whose kind the field says (`intent:INT-1` in `intent`): the `kind:`
    /// prefix is left out when it is there (the low bit says so).
    pub fn key(&mut self, key: &str, prefix: &str) {
        let (text, flag) = key.strip_prefix(prefix).map_or((key, 1), |rest| (rest, 0));
        self.uint((text.len() as u64) << 1 | flag);
        self.0.extend_from_slice(text.as_bytes());
    }

    pub fn keys(&mut self, keys: &[String], prefix: &str) {
        self.uint(keys.len() as u64);
        for key in keys {
            self.key(key, prefix);
        }
    }

    pub fn texts(&mut self, items: &[String]) {
        self.uint(items.len() as u64);
        for item in items {
            self.text(item);
        }
    }

    pub fn attrs(&mut self, attrs: &Attrs) {
        self.attrs_of(attrs, &[]);
    }

    /// Attributes, a value equal to one of `known` written as its index (an artifact's own
    /// id, kind, title and file, which its announced attributes repeat).
    pub fn attrs_of(&mut self, attrs: &Attrs, known: &[Option<&str>]) {
        self.uint(attrs.0.len() as u64);
        for (key, value) in &attrs.0 {
            self.attr_key(&RowKey::of(key));
            match value {
                Value::Str(text) => self.text_or_known(text, known),
                other => self.value(other),
            }
        }
    }

    /// Attributes packed by `attrs`, written again as `attrs_of` writes them, copied from row
    /// to row without an `Attrs` made of them on the way.
    pub fn repacked_attrs_of(&mut self, packed: &[u8], known: &[Option<&str>]) -> ReadResult<()> {
        let mut reader = Reader::new(packed);
        let n = reader.len()?;
        self.uint(n as u64);
        for _ in 0..n {
            let (key, value) = reader.attr()?;
            self.attr_key(&key);
            match value {
                RowValue::Str(text) => self.text_or_known(text, known),
                RowValue::Other(value) => self.value(&value),
                RowValue::Known(_) => return Err("unknown attribute value".into()), // none packed
            }
        }
        Ok(())
    }

    fn attr_key(&mut self, key: &RowKey) {
        match key {
            RowKey::Known(index) => self.uint(*index as u64 + 1),
            RowKey::Data(rest) => {
                self.uint(DATA_PREFIX_CODE);
                self.text(rest);
            }
            RowKey::Other(key) => {
                self.uint(0);
                self.text(key);
            }
        }
    }

    /// A text, as the index of the first of `known` equal to it if one is.
    fn text_or_known(&mut self, text: &str, known: &[Option<&str>]) {
        match known.iter().position(|k| *k == Some(text)) {
            Some(index) => self.uint(KNOWN_VALUE + index as u64),
            None => {
                self.uint(0);
                self.text(text);
            }
        }
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Str(text) => {
                self.uint(0);
                self.text(text);
            }
            Value::Int(n) => {
                self.uint(1);
                self.int(*n);
            }
            Value::Float(x) => {
                self.uint(2);
                self.float(*x);
            }
            Value::Bool(flag) => self.uint(3 + u64::from(*flag)),
        }
    }
}

/// Reads what `Writer` wrote; a short or malformed row is an error, never a panic.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

pub type ReadResult<T> = Result<T, String>;

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> ReadResult<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("state row ends early (byte {})", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    pub fn uint(&mut self) -> ReadResult<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err("state row has a varint too long".into())
    }

    pub fn int(&mut self) -> ReadResult<i64> {
        let raw = self.uint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    pub(super) fn len(&mut self) -> ReadResult<usize> {
        usize::try_from(self.uint()?).map_err(|e| e.to_string())
    }

    fn utf8(&mut self, n: usize) -> ReadResult<&'a str> {
        std::str::from_utf8(self.take(n)?).map_err(|e| e.to_string())
    }

    /// A text as it lies in the row.
    pub fn str(&mut self) -> ReadResult<&'a str> {
        let n = self.len()?;
        self.utf8(n)
    }

    pub fn text(&mut self) -> ReadResult<String> {
        self.str().map(str::to_string)
    }

    /// What `Writer::opt_text` wrote, as it lies in the row.
    pub fn opt_str(&mut self) -> ReadResult<Option<&'a str>> {
        match self.len()? {
            0 => Ok(None),
            n => self.utf8(n - 1).map(Some),
        }
    }

    pub fn opt_text(&mut self) -> ReadResult<Option<String>> {
        Ok(self.opt_str()?.map(str::to_string))
    }

    pub fn float(&mut self) -> ReadResult<f64> {
        let bytes = self.take(8)?;
        Ok(f64::from_le_bytes(bytes.try_into().map_err(|_| "float")?))
    }

    pub fn id(&mut self) -> ReadResult<String> {
        let code = self.uint()?;
        let n = usize::try_from(code >> 1).map_err(|e| e.to_string())?;
        if code & 1 == 1 {
            return Ok(ids::hex(self.take(n)?));
        }
        let bytes = self.take(n.checked_sub(1).ok_or("state row has an empty id code")?)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
    }

    /// An id of `N` bytes, as `id_bytes` (or `id`, its hex digits) wrote it.
    pub fn id_bytes<const N: usize>(&mut self) -> ReadResult<[u8; N]> {
        if self.uint()? != (N as u64) << 1 | 1 {
            return Err(format!("state row has no {N}-byte id here"));
        }
        let bytes = self.take(N)?;
        Ok(bytes.try_into().map_err(|_| "state row cut short")?)
    }

    pub fn opt_id(&mut self) -> ReadResult<Option<String>> {
        if self.bytes.get(self.at) == Some(&0) {
            self.at += 1;
            return Ok(None);
        }
        self.id().map(Some)
    }

    pub fn time(&mut self) -> ReadResult<i64> {
        let mut value = 0u128;
        for shift in (0..128).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u128::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                let zigzag = u64::try_from(value >> 2).map_err(|_| "state row has a time too long")?;
                let scaled = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
                let unit = TIME_UNITS.get((value & 3) as usize).copied().unwrap_or(1);
                return scaled
                    .checked_mul(unit)
                    .ok_or_else(|| "state row has a time too large".into());
            }
        }
        Err("state row has a varint too long".into())
    }

    /// What `Writer::or_same` wrote.
    pub fn or_same(&mut self, own: Option<&str>) -> ReadResult<String> {
        match self.opt_text()? {
            Some(text) => Ok(text),
            None => own
                .map(str::to_string)
                .ok_or_else(|| "state row names an owner's value it lacks".into()),
        }
    }

    /// What `Writer::key` wrote, as it lies in the row: `prefix` is not there when it starts it.
    pub fn key_str(&mut self, prefix: &str) -> ReadResult<Cow<'a, str>> {
        let code = self.uint()?;
        let text = self.utf8(usize::try_from(code >> 1).map_err(|e| e.to_string())?)?;
        Ok(if code & 1 == 1 {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(format!("{prefix}{text}"))
        })
    }

    pub fn key(&mut self, prefix: &str) -> ReadResult<String> {
        self.key_str(prefix).map(Cow::into_owned)
    }

    pub fn keys(&mut self, prefix: &str) -> ReadResult<Vec<String>> {
        let n = self.len()?;
        (0..n).map(|_| self.key(prefix)).collect()
    }

    /// Past what `Writer::key` wrote.
    pub fn skip_key(&mut self) -> ReadResult<()> {
        let n = self.uint()? >> 1;
        self.take(usize::try_from(n).map_err(|e| e.to_string())?)?;
        Ok(())
    }

    /// Past what `Writer::keys` wrote.
    pub fn skip_keys(&mut self) -> ReadResult<()> {
        (0..self.len()?).try_for_each(|_| self.skip_key())
    }

    pub fn texts(&mut self) -> ReadResult<Vec<String>> {
        let n = self.len()?;
        (0..n).map(|_| self.text()).collect()
    }

    pub fn attrs(&mut self) -> ReadResult<Attrs> {
        self.attrs_of(&[])
    }

    pub fn attrs_of(&mut self, known: &[Option<&str>]) -> ReadResult<Attrs> {
        let n = self.len()?;
        // room for the two a membership's span adds to its copy (its state, its cluster's id)
        let mut attrs = Attrs(Vec::with_capacity(n + 2));
        for _ in 0..n {
            let (key, value) = self.attr()?;
            let key: Name = match key {
                RowKey::Known(index) => Cow::Borrowed(KNOWN_KEYS[index]),
                RowKey::Data(rest) => [DATA_PREFIX, rest].concat().into(),
                RowKey::Other(key) => key.to_string().into(),
            };
            let value = match value {
                RowValue::Str(text) => Value::Str(text.to_string()),
                RowValue::Known(index) => {
                    let value = known
                        .get(index)
                        .copied()
                        .flatten()
                        .ok_or("unknown attribute value")?;
                    Value::Str(value.to_string())
                }
                RowValue::Other(value) => value,
            };
            attrs.0.push((key, value));
        }
        Ok(attrs)
    }

    /// Past what `Writer::attrs_of` wrote: nothing made of it.
    pub fn skip_attrs(&mut self) -> ReadResult<()> {
        for _ in 0..self.len()? {
            self.attr()?;
        }
        Ok(())
    }

    /// One attribute as it lies in the row.
    fn attr(&mut self) -> ReadResult<(RowKey<'a>, RowValue<'a>)> {
        let key = match self.uint()? {
            0 => RowKey::Other(self.str()?),
            DATA_PREFIX_CODE => RowKey::Data(self.str()?),
            code if code as usize <= KNOWN_KEYS.len() => RowKey::Known(code as usize - 1),
            _ => return Err("unknown attribute key".into()),
        };
        let value = match self.uint()? {
            0 => RowValue::Str(self.str()?),
            1 => RowValue::Other(Value::Int(self.int()?)),
            2 => RowValue::Other(Value::Float(self.float()?)),
            3 => RowValue::Other(Value::Bool(false)),
            4 => RowValue::Other(Value::Bool(true)),
            tag => RowValue::Known((tag - KNOWN_VALUE) as usize),
        };
        Ok((key, value))
    }
}

/// An attribute's key as a row holds it.
enum RowKey<'a> {
    Known(usize),  // its index in `KNOWN_KEYS`
    Data(&'a str), // after `intent.data.`
    Other(&'a str),
}

impl<'a> RowKey<'a> {
    fn of(key: &'a str) -> Self {
        match known_key_code(key) {
            Some(code) => RowKey::Known(code as usize - 1),
            None => key
                .strip_prefix(DATA_PREFIX)
                .map_or(RowKey::Other(key), RowKey::Data),
        }
    }
}

/// An attribute's value as a row holds it: a text, the row's known value of an index, or
/// another value.
enum RowValue<'a> {
    Str(&'a str),
    Known(usize),
    Other(Value),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_and_whole_seconds_are_short() {
        let times = [
            0,
            1,
            -1,
            1_700_000_000_000_000_000,
            1_700_000_000_123_000_000,
            -5_000,
            i64::MAX,
            i64::MIN,
        ];
        let mut w = Writer::default();
        for ns in times {
            w.time(ns);
        }
        let mut r = Reader::new(&w.0);
        for ns in times {
            assert_eq!(r.time(), Ok(ns));
        }
        let mut second = Writer::default();
        second.time(1_700_000_000_000_000_000);
        assert_eq!(second.0.len(), 5);
    }

    #[test]
    fn ids_read_back_hex_as_bytes() {
        let ids = ["0af7651916cd43dd8448eb211c80319c", "", "not hex", "ABCD", "abc"];
        let mut w = Writer::default();
        for id in ids {
            w.id(id);
        }
        assert_eq!(w.0[0], 16 << 1 | 1);
        let mut r = Reader::new(&w.0);
        for id in ids {
            assert_eq!(r.id().as_deref(), Ok(id));
        }
    }
}
