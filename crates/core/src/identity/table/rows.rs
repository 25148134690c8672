//! `inspect`'s rows in memory (`MemoryRows`): every row in one buffer, found by its key.
//!
//! A map of a `String` and a boxed row each (two blocks, 40 bytes of table a slot) was
//! a third of `inspect`'s memory and of its page faults on 100,000 events (60,000 artifact
//! rows); here a row is its key and bytes after the last one, and the table holds its offset.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::Store;

/// Rows kept in memory as a store (`inspect`'s): a table spilling to them holds its working set
/// as entries and the rest as rows, written as `trim` lets them go (`Engine::keep_rows`).
#[derive(Clone, Default)]
pub struct MemoryRows(Arc<Mutex<Rows>>);

impl MemoryRows {
    pub(super) fn rows(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn store(&self) -> Store {
        let (row, keys, rows, write) = (self.clone(), self.clone(), self.clone(), self.clone());
        Store {
            row: Box::new(move |key| row.rows().get(key).map(<[u8]>::to_vec)),
            keys: Box::new(move |each| keys.rows().each(|key, _| each(key))),
            rows: Some(Box::new(move |each| rows.rows().each(each))),
            write: Some(Box::new(move |let_go| {
                let mut rows = write.rows();
                let_go.iter().for_each(|(key, row)| rows.put(key, row));
            })),
        }
    }
}

/// Each row as `key length, row length` (4 bytes each, little-endian), its key, its bytes; a
/// key's newest row at the offset `index` holds. A row written again leaves its old bytes,
/// `stale`, until they are half the buffer: then the buffer is written anew, newest rows only.
#[derive(Default)]
pub struct Rows {
    bytes: Vec<u8>,
    index: HashTable<usize>,
    hashing: foldhash::fast::RandomState,
    stale: usize,
}

/// A row's head: its key's length and its own.
const HEAD: usize = 8;

/// The key and the row that begin at `at` (a key written from a `&str`).
fn record(bytes: &[u8], at: usize) -> (&str, &[u8]) {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes")) as usize;
    let (key_end, row_len) = (at + HEAD + word(at), word(at + 4));
    // SAFETY: `Rows::put` wrote these bytes from a `&str`
    let key = unsafe { std::str::from_utf8_unchecked(&bytes[at + HEAD..key_end]) };
    (key, &bytes[key_end..key_end + row_len])
}

fn span(bytes: &[u8], at: usize) -> std::ops::Range<usize> {
    let (key, row) = record(bytes, at);
    at..at + HEAD + key.len() + row.len()
}

impl Rows {
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        let hash = self.hashing.hash_one(key);
        let at = *self.index.find(hash, |&at| record(&self.bytes, at).0 == key)?;
        Some(record(&self.bytes, at).1)
    }

    /// `key`'s row, replacing any it had.
    pub fn put(&mut self, key: &str, row: &[u8]) {
        let at = self.bytes.len();
        let length = |n: usize| u32::try_from(n).expect("a row under 4 GiB").to_le_bytes();
        self.bytes.extend_from_slice(&length(key.len()));
        self.bytes.extend_from_slice(&length(row.len()));
        self.bytes.extend_from_slice(key.as_bytes());
        self.bytes.extend_from_slice(row);
        let (bytes, hashing) = (&self.bytes, &self.hashing);
        let entry = self.index.entry(
            hashing.hash_one(key),
            |&old| record(bytes, old).0 == key,
            |&other| hashing.hash_one(record(bytes, other).0),
        );
        match entry {
            Entry::Occupied(mut place) => {
                let old = std::mem::replace(place.get_mut(), at);
                self.stale += span(bytes, old).len();
                if self.stale > self.bytes.len() / 2 {
                    self.rewrite();
                }
            }
            Entry::Vacant(place) => {
                place.insert(at);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Every key and its row, in no particular order.
    pub fn each(&self, mut each: impl FnMut(&str, &[u8])) {
        for &at in &self.index {
            let (key, row) = record(&self.bytes, at);
            each(key, row);
        }
    }

    /// The newest rows alone into a buffer of their own.
    fn rewrite(&mut self) {
        let mut bytes = Vec::with_capacity(self.bytes.len() - self.stale);
        for at in self.index.iter_mut() {
            let moved = bytes.len();
            bytes.extend_from_slice(&self.bytes[span(&self.bytes, *at)]);
            *at = moved;
        }
        self.bytes = bytes;
        self.stale = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_written_again_is_read_as_its_newest_and_the_old_ones_are_dropped() {
        let mut rows = Rows::default();
        for round in 0..5u8 {
            for n in 0..100 {
                rows.put(&format!("k{n}"), &vec![round; n % 7]);
            }
            assert!(rows.stale <= rows.bytes.len() / 2, "round {round}");
        }
        rows.put("", b"empty key");
        assert_eq!(rows.get("k3"), Some(&[4, 4, 4][..]));
        assert_eq!(rows.get("k7"), Some(&[][..]));
        assert_eq!(rows.get(""), Some(&b"empty key"[..]));
        assert_eq!(rows.get("k100"), None);
        let mut seen = vec![];
        rows.each(|key, row| seen.push((key.to_string(), row.to_vec())));
        seen.sort();
        assert_eq!(seen.len(), 101);
        assert!(seen.iter().filter(|(k, _)| !k.is_empty()).all(|(k, row)| {
            let n: usize = k[1..].parse().unwrap();
            *row == vec![4; n % 7]
        }));
    }

    #[test]
    fn a_row_written_again_longer_or_shorter_counts_as_stale_what_it_leaves() {
        let mut rows = Rows::default();
        let live = |rows: &Rows| {
            rows.index
                .iter()
                .map(|&at| span(&rows.bytes, at).len())
                .sum::<usize>()
        };
        for round in 0..40usize {
            for (n, key) in ["k", "é", "キー", "k2"].iter().enumerate() {
                rows.put(key, &vec![n as u8; (round * 7 + n * 13) % 50]);
                assert_eq!(rows.bytes.len() - rows.stale, live(&rows), "{round} {key}");
            }
        }
        assert_eq!(rows.get("キー"), Some(&vec![2; (39 * 7 + 26) % 50][..]));
    }
}
