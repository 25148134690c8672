//! A row's fields that are mostly absent (an artifact has some thirty, and a handful set): a
//! mask of those present, then only theirs, in the order written.

use std::cell::Cell;

use super::bytes::{ReadResult, Reader, Writer};

pub struct Sparse {
    mask: u64,
    bit: u32,
    /// The head, then the fields: written into a buffer kept from row to row (making and
    /// growing one for each row were two of a row's three allocations), the row copied out.
    scratch: Writer,
    head_len: usize,
}

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl Sparse {
    /// A row that begins with what `head` writes.
    pub fn new(head: impl FnOnce(&mut Writer)) -> Self {
        let mut scratch = Writer(SCRATCH.take());
        scratch.0.clear();
        head(&mut scratch);
        Sparse {
            mask: 0,
            bit: 0,
            head_len: scratch.0.len(),
            scratch,
        }
    }

    /// The next field: written by `write` when present.
    pub fn put<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Writer, T)) {
        if let Some(value) = value {
            self.mask |= 1 << self.bit;
            write(&mut self.scratch, value);
        }
        self.bit += 1;
    }

    /// The row: the head, the mask, the fields present.
    pub fn finish(self) -> Vec<u8> {
        let (head, body) = self.scratch.0.split_at(self.head_len);
        // exactly: a table boxes the row, which would shrink (reallocate) a roomier one
        let mask_len = (u64::BITS - (self.mask | 1).leading_zeros()).div_ceil(7) as usize;
        let mut row = Writer(Vec::with_capacity(head.len() + mask_len + body.len()));
        row.0.extend_from_slice(head);
        row.uint(self.mask);
        row.0.extend_from_slice(body);
        debug_assert_eq!(row.0.len(), row.0.capacity());
        SCRATCH.set(self.scratch.0);
        row.0
    }
}

/// Reads what `Sparse` wrote, field by field in the same order.
pub struct SparseReader<'a> {
    mask: u64,
    bit: u32,
    body: Reader<'a>,
}

impl<'a> SparseReader<'a> {
    /// The mask and the fields after it, from where `head` is.
    pub fn new(mut head: Reader<'a>) -> ReadResult<Self> {
        Ok(SparseReader {
            mask: head.uint()?,
            bit: 0,
            body: head,
        })
    }

    /// The next field: read by `read` when present.
    pub fn next<T>(&mut self, read: impl FnOnce(&mut Reader<'a>) -> ReadResult<T>) -> ReadResult<Option<T>> {
        let present = self.bit < 64 && self.mask >> self.bit & 1 == 1;
        self.bit += 1;
        if present {
            read(&mut self.body).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A value when it is not its field's usual one (not written then).
pub fn unless<T: PartialEq>(value: T, usual: T) -> Option<T> {
    (value != usual).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_fields_present_are_written() {
        let mut s = Sparse::new(|head| head.uint(7));
        s.put(None::<u64>, Writer::uint);
        s.put(Some("x"), Writer::text);
        s.put(unless(0u64, 0), Writer::uint);
        s.put(unless(300u64, 0), Writer::uint);
        let row = s.finish();
        assert_eq!(row, [7, 0b1010, 1, b'x', 0xac, 0x02]);
        let mut head = Reader::new(&row);
        assert_eq!(head.uint(), Ok(7));
        let mut r = SparseReader::new(head).unwrap();
        assert_eq!(r.next(Reader::uint), Ok(None));
        assert_eq!(r.next(Reader::text), Ok(Some("x".to_string())));
        assert_eq!(r.next(Reader::uint), Ok(None));
        assert_eq!(r.next(Reader::uint), Ok(Some(300)));
        assert_eq!(r.next(Reader::uint), Ok(None), "past the fields written: absent");
    }
}
