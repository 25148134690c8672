//! A batch's OTLP requests of one signal, drain after drain: each drain's records follow their
//! own envelope head (the encodings of a message, concatenated, are one message whose
//! repeated fields are appended), and a drain begins a new request when the open one holds
//! some and would pass the limit with it. The records are encoded in place, after room kept
//! for their head: nothing is copied before Python's bytes of each request.

use crate::encode::Envelope;

/// Items a section's head is sized for up front: a 16 KiB block of lines drains tens of
/// kilobytes a signal (a three-byte length); a section of another size moves once.
const TYPICAL_ITEMS: usize = 1 << 15;

/// The requests of one signal, one buffer kept from batch to batch (a batch's requests run
/// to megabytes: a fresh buffer costs more in growing and page faults than the encoding).
#[derive(Default)]
pub struct Requests {
    bytes: Vec<u8>,
    /// Where each request but the last ends in `bytes`.
    ends: Vec<usize>,
}

/// One drain's records being appended (`out`), their head written by `close`.
pub struct Section<'a> {
    requests: &'a mut Requests,
    envelope: &'a Envelope,
    limit: usize,
    start: usize,
    room: usize,
}

impl Requests {
    /// A section for `envelope`'s records, in a new request if the open one would pass
    /// `limit` bytes with it.
    pub fn section<'a>(&'a mut self, envelope: &'a Envelope, limit: usize) -> Section<'a> {
        let start = self.bytes.len();
        let room = envelope.head(TYPICAL_ITEMS).len();
        self.bytes.resize(start + room, 0);
        Section {
            requests: self,
            envelope,
            limit,
            start,
            room,
        }
    }

    /// Each request's bytes, in order.
    pub fn each(&self) -> impl Iterator<Item = &[u8]> {
        let last = (!self.bytes.is_empty()).then_some(self.bytes.len());
        let ends = self.ends.iter().copied().chain(last);
        ends.scan(0, |start, end| {
            Some(&self.bytes[std::mem::replace(start, end)..end])
        })
    }

    /// Empty again, its buffer kept.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

impl Section<'_> {
    /// Where the records are appended, each a `Scope*.{spans,log_records}` item.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.requests.bytes
    }

    /// The head written in front of the records; a section without records is taken back.
    pub fn close(self) {
        let Requests { bytes, ends } = self.requests;
        let (start, room) = (self.start, self.room);
        let items = bytes.len() - start - room;
        if items == 0 {
            bytes.truncate(start);
            return;
        }
        let head = self.envelope.head(items);
        if head.len() == room {
            bytes[start..start + room].copy_from_slice(&head);
        } else {
            bytes.splice(start..start + room, head);
        }
        let open = ends.last().copied().unwrap_or(0);
        if start > open && bytes.len() - open > self.limit {
            ends.push(start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{AnyValue, KeyValue};
    use std::borrow::Cow;

    fn envelope() -> Envelope {
        let service = KeyValue {
            key: Cow::Borrowed(b"service.name"),
            value: AnyValue::Str(Cow::Borrowed(b"test")),
        };
        Envelope::new(&[service], "scope", "1.0")
    }

    fn append(requests: &mut Requests, envelope: &Envelope, items: &[u8], limit: usize) {
        let mut section = requests.section(envelope, limit);
        section.out().extend_from_slice(items);
        section.close();
    }

    #[test]
    fn sections_are_their_requests_joined_up_to_the_limit() {
        let envelope = envelope();
        let drains = [
            vec![1; 10],
            vec![],
            vec![2; 300],
            vec![3; 40_000],
            vec![4; 5],
            vec![5; 1 << 17],
        ];
        let whole = |items: &[Vec<u8>]| -> Vec<u8> {
            items
                .iter()
                .filter(|i| !i.is_empty())
                .flat_map(|i| envelope.request(i))
                .collect()
        };
        let mut requests = Requests::default();
        for items in &drains {
            append(&mut requests, &envelope, items, 40_200);
        }
        let made: Vec<&[u8]> = requests.each().collect();
        let expected = [whole(&drains[..3]), whole(&drains[3..5]), whole(&drains[5..])];
        assert!(made == expected.iter().map(Vec::as_slice).collect::<Vec<_>>());
        requests.clear();
        assert_eq!(requests.each().count(), 0);
        append(&mut requests, &envelope, &[], usize::MAX);
        assert_eq!(requests.each().count(), 0);
        append(&mut requests, &envelope, &[7; 3], usize::MAX);
        assert!(requests.each().eq([envelope.request(&[7; 3]).as_slice()]));
    }
}
