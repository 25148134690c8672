//! Protobuf wire primitives: varints, fixed-width and length-delimited fields, written and read.
//!
//! Written by hand rather than through generated message types: our records are borrowed
//! straight from Python objects (or, later, from the Rust engine) and written once, so a
//! message struct per span would only be an extra copy. Every field number we write is
//! below 16, so a tag is one byte.

/// `(field << 3) | wire type`, for fields 1–15.
pub const fn tag(field: u8, wire_type: u8) -> u8 {
    (field << 3) | wire_type
}

pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;

/// A protobuf varint: 7 bits a byte, low bits first. An int64 is written as its u64 bits.
pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    // a byte at a time: copying a slice of varying length is a call to memcpy
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub fn put_fixed64(out: &mut Vec<u8>, field: u8, value: u64) {
    out.push(tag(field, FIXED64));
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn put_double(out: &mut Vec<u8>, field: u8, value: f64) {
    put_fixed64(out, field, value.to_bits());
}

pub fn put_varint_field(out: &mut Vec<u8>, field: u8, value: u64) {
    put_tagged(out, tag(field, VARINT), value);
}

pub fn put_bytes(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    put_tagged(out, tag(field, LEN), bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A tag and a varint (a field's number and its value or length): the usual one- and
/// two-byte varints appended whole, with one capacity check rather than one a byte. A
/// record's attributes are mostly such fields (half of the encoder's instructions).
#[inline]
pub fn put_tagged(out: &mut Vec<u8>, tag: u8, value: u64) {
    if value < 0x80 {
        out.extend_from_slice(&[tag, value as u8]);
    } else if value < 0x4000 {
        out.extend_from_slice(&[tag, value as u8 | 0x80, (value >> 7) as u8]);
    } else {
        out.push(tag);
        put_varint(out, value);
    }
}

/// A length-delimited field whose body `write` appends. Room for a one-byte length (a body
/// under 128 bytes, most of ours) is kept in front; a longer body moves to make room for
/// the rest of its length, which is cheaper than sizing every nested message twice.
pub fn put_message(out: &mut Vec<u8>, field: u8, write: impl FnOnce(&mut Vec<u8>)) {
    put_message_in(out, field, 1, write);
}

/// `put_message` with `room` bytes kept for the length (1–10): a body whose length takes
/// another number of bytes moves once to fit it.
pub fn put_message_in(out: &mut Vec<u8>, field: u8, room: usize, write: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag(field, LEN));
    let at = out.len();
    out.extend_from_slice(&[0; 10][..room]);
    write(out);
    let (prefix, size) = varint_bytes((out.len() - at - room) as u64);
    if size == room {
        out[at..at + room].copy_from_slice(&prefix[..size]);
    } else {
        out.splice(at..at + room, prefix[..size].iter().copied());
    }
}

/// A varint's bytes and how many there are, without allocating.
fn varint_bytes(mut n: u64) -> ([u8; 10], usize) {
    let mut bytes = [0; 10];
    let mut size = 0;
    while n >= 0x80 {
        bytes[size] = (n as u8 & 0x7F) | 0x80;
        n >>= 7;
        size += 1;
    }
    bytes[size] = n as u8;
    (bytes, size + 1)
}

/// How many bytes `n` takes as a varint.
pub fn varint_len(n: u64) -> usize {
    varint_bytes(n).1
}

/// One field of a protobuf message as written: its number and its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
    /// A group (proto2's wire types 3 and 4): its fields, skipped by every reader here. No OTLP
    /// field is a group, but the official parser accepts one as an unknown field, so must we.
    Group(&'a [u8]),
}

/// How deep groups may nest (the official parser's recursion limit): deeper is malformed,
/// never a stack overflow.
const MAX_GROUP_DEPTH: usize = 100;

/// The fields of one message, in the order written; malformed bytes end it with an error.
pub struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

pub fn fields(bytes: &[u8]) -> Fields<'_> {
    Fields { bytes, at: 0 }
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at).ok_or("truncated varint")?;
            self.at += 1;
            value |= u64::from(byte & 0x7F) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err("varint longer than ten bytes")
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], &'static str> {
        let end = self.at.checked_add(length).ok_or("field length overflows")?;
        let slice = self.bytes.get(self.at..end).ok_or("truncated field")?;
        self.at = end;
        Ok(slice)
    }

    fn field(&mut self) -> Result<(u32, Field<'a>), &'static str> {
        self.field_within(0)
    }

    /// A field, `depth` groups deep.
    fn field_within(&mut self, depth: usize) -> Result<(u32, Field<'a>), &'static str> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| "field number out of range")?;
        let value = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => Field::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().map_err(|_| "truncated fixed64")?,
            )),
            2 => {
                let length = usize::try_from(self.varint()?).map_err(|_| "field length overflows")?;
                Field::Bytes(self.take(length)?)
            }
            3 => Field::Group(self.group(number, depth + 1)?),
            4 => return Err("end of a group never begun"),
            5 => Field::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().map_err(|_| "truncated fixed32")?,
            )),
            _ => return Err("unsupported wire type"),
        };
        Ok((number, value))
    }

    /// The fields of group `number` up to its end tag (which is read, not returned).
    fn group(&mut self, number: u32, depth: usize) -> Result<&'a [u8], &'static str> {
        if depth > MAX_GROUP_DEPTH {
            return Err("groups nested too deep");
        }
        let start = self.at;
        loop {
            let before = self.at;
            let key = self.varint()?;
            if key & 7 == 4 {
                return if key >> 3 == u64::from(number) {
                    Ok(&self.bytes[start..before])
                } else {
                    Err("a group ends with another's end tag")
                };
            }
            self.at = before;
            self.field_within(depth)?;
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Field<'a>), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            self.at = self.bytes.len(); // nothing after a malformed field is read
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, n);
        out
    }

    #[test]
    fn varints_as_protobuf_writes_them() {
        assert_eq!(varint(0), [0]);
        assert_eq!(varint(127), [127]);
        assert_eq!(varint(128), [0x80, 1]);
        assert_eq!(varint(300), [0xAC, 0x02]);
        assert_eq!(
            varint(-1i64 as u64),
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
    }

    #[test]
    fn a_tag_and_its_varint_are_written_as_long_as_counted() {
        for n in [0, 1, 127, 128, 16_383, 16_384, 1 << 35, u64::MAX >> 1, u64::MAX] {
            assert_eq!(varint_len(n), varint(n).len(), "{n}");
            let mut tagged = Vec::new();
            put_tagged(&mut tagged, 0x0A, n);
            assert_eq!(tagged[1..], varint(n), "{n}");
        }
    }

    #[test]
    fn fields_read_back_what_was_written() {
        let mut out = Vec::new();
        put_varint_field(&mut out, 1, 300);
        put_fixed64(&mut out, 7, u64::MAX);
        put_bytes(&mut out, 5, b"name");
        out.extend_from_slice(&[tag(8, 5), 1, 0, 0, 0]);
        let read: Vec<_> = fields(&out).collect::<Result<_, _>>().unwrap_or_default();
        assert_eq!(
            read,
            [
                (1, Field::Varint(300)),
                (7, Field::Fixed64(u64::MAX)),
                (5, Field::Bytes(b"name")),
                (8, Field::Fixed32(1))
            ]
        );
        assert!(fields(&[0x0A, 0x05, b'a']).any(|f| f.is_err())); // a length past the end
        assert!(fields(&[0x0B]).any(|f| f.is_err())); // a group
        assert!(fields(&[0x08, 0xFF]).any(|f| f.is_err())); // a varint cut short
    }

    #[test]
    fn a_group_is_read_whole_and_skipped_as_the_official_parser_does() {
        // field 1 as a group holding field 2 = 5 and an empty group 3, then field 4 = 1
        let bytes = [0x0b, 0x10, 0x05, 0x1b, 0x1c, 0x0c, 0x20, 0x01];
        let read: Vec<_> = fields(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            read,
            vec![
                (1, Field::Group(&[0x10, 0x05, 0x1b, 0x1c])),
                (4, Field::Varint(1))
            ]
        );
    }

    #[test]
    fn a_group_left_open_or_closed_by_another_or_nested_too_deep_is_malformed() {
        for bytes in [&[0x0b, 0x10, 0x05][..], &[0x0b, 0x14], &[0x0c], &[0x0b; 200]] {
            assert!(fields(bytes).any(|field| field.is_err()), "{bytes:?}");
        }
    }

    #[test]
    fn a_nested_message_gets_its_length_in_front() {
        let mut out = vec![0xAA];
        put_message(&mut out, 2, |body| body.extend_from_slice(&[7; 200]));
        assert_eq!(&out[..4], &[0xAA, 0x12, 0xC8, 0x01]);
        assert_eq!(out.len(), 4 + 200);
        let mut empty = Vec::new();
        put_message(&mut empty, 15, |_| {});
        assert_eq!(empty, [0x7A, 0x00]);
    }

    #[test]
    fn a_message_written_with_more_or_less_room_for_its_length_is_the_same_bytes() {
        for size in [0, 127, 128, 16_383, 16_384, 3_000_000] {
            let write = |body: &mut Vec<u8>| body.extend(std::iter::repeat_n(7, size));
            let mut expected = vec![tag(3, LEN)];
            put_varint(&mut expected, size as u64);
            write(&mut expected);
            for room in [1, 2, 3, 10] {
                let mut out = Vec::new();
                put_message_in(&mut out, 3, room, write);
                assert!(out == expected, "size {size}, room {room}");
            }
        }
    }
}
