//! A keyed table of the engine's state that keeps a working set in memory.
//!
//! Without a store, every entry stays in memory (tests). With one (the tail's SQLite state, or
//! `inspect`'s rows in memory: `MemoryRows`), once more than `limit` entries are in memory, `trim` (between batches) lets the least recently
//! used of those whose newest version is committed go: dropped, and read back from the store
//! when next needed. One changed since (not saved, or saved by a write not yet confirmed as
//! committed) stays until `confirm`: a bound of `limit` plus what the saves in flight wrote,
//! and nothing encoded twice. A store the table writes itself (`MemoryRows`) takes what
//! `trim` lets go, encoded then, if changed since its row: nothing waits for a save. A Bloom
//! filter of the keys let go answers "never seen" without a lookup.
//!
//! Reads take `&self` and may load an entry. The entries in memory are read without a lock:
//! only `&mut self` changes their map. One read back from the store through `&self` goes into
//! a second map, behind a mutex, boxed and only ever dropped or moved into the first through
//! `&mut self`, so its address holds while any reference to it lives (the pattern of an
//! append-only map).

use foldhash::{HashMap, HashMapExt};
use hashbrown::hash_map::RawEntryMut;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::codec::{Glanced, Row};

mod rows;
pub use rows::MemoryRows;

/// A committed row by its key.
pub type RowReader = Box<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync>;

/// Every committed key of a table, each handed to the function it is given as it is read.
pub type KeyReader = Box<dyn Fn(&mut dyn FnMut(&str)) + Send + Sync>;

/// Every committed row of a table, each handed to the function it is given with its key.
pub type RowsReader = Box<dyn Fn(&mut dyn FnMut(&str, &[u8])) + Send + Sync>;

/// Rows a table writes itself: keys and their rows, replacing any row of the same key.
pub type RowsWriter = Box<dyn Fn(Vec<(String, Box<[u8]>)>) + Send + Sync>;

/// The committed rows of one table: a row by key, and every key; every row, where the store
/// holds them at hand (else each key's row is read); `write`, where the table writes what it
/// lets go itself (else a save writes what changed, and `confirm` says it is committed).
pub struct Store {
    pub row: RowReader,
    pub keys: KeyReader,
    pub rows: Option<RowsReader>,
    pub write: Option<RowsWriter>,
}

struct Slot<V> {
    value: V,
    used: AtomicU64, // the trim epoch it was last used in
}

/// An entry in memory. What changed since the last save is told by `written`, not by a set of
/// keys kept besides (a copy of every key changed: of every key, for a table never saved), and
/// found by a pass over the entries in memory (the tail keeps a few thousand).
struct Held<V> {
    slot: Box<Slot<V>>,
    written: u64, // the save that wrote its newest version (0: read from the store; CHANGED)
}

const CHANGED: u64 = u64::MAX; // changed since the last save: no save has written it yet

const FILTER_BITS: usize = 1 << 26; // 8 MiB: about 1% false positives at five million keys
const EVICT_FRACTION: usize = 5; // a trim lets a fifth of the working set go beyond the excess

/// A Bloom filter of the keys that may be committed, one for all the tables of a store: one
/// sized for the largest table alone left two thirds of three such filters empty (a 1 GB log:
/// 3.1M artifacts, 1.2M memberships, 0.8M files). Each table hashes its keys with a seed of
/// its own (a membership is keyed by its member's artifact key).
#[derive(Clone)]
pub struct KeyFilter {
    bits: Arc<Mutex<Vec<u64>>>,
    seed: u64,
}

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter {
            // zeroed: its pages are not resident until a key lands in them
            bits: Arc::new(Mutex::new(vec![0; FILTER_BITS / 64])),
            seed: 0,
        }
    }
}

impl KeyFilter {
    /// The same filter, for the keys of the table named `table`.
    pub fn for_table(&self, table: &str) -> Self {
        KeyFilter {
            bits: self.bits.clone(),
            seed: foldhash::quality::FixedState::with_seed(0).hash_one(table),
        }
    }

    fn slots(&self, key: &str) -> [usize; 3] {
        let h = foldhash::quality::FixedState::with_seed(self.seed).hash_one(key);
        let step = (h >> 32) | 1; // double hashing: slots h, h + step, h + 2 step
        let mask = (FILTER_BITS - 1) as u64;
        [0, 1, 2].map(|i| (h.wrapping_add(i * step) & mask) as usize)
    }

    fn bits(&self) -> std::sync::MutexGuard<'_, Vec<u64>> {
        self.bits.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, key: &str) {
        let mut bits = self.bits();
        for slot in self.slots(key) {
            bits[slot / 64] |= 1 << (slot % 64);
        }
    }

    fn may_hold(&self, key: &str) -> bool {
        let bits = self.bits();
        self.slots(key)
            .iter()
            .all(|slot| bits[slot / 64] >> (slot % 64) & 1 == 1)
    }
}

struct Spill {
    scope: String,
    limit: usize,
    store: Store,
    outside: Option<KeyFilter>, // keys that may be committed (None: the store answers as fast)
    confirmed: u64,             // the newest save known committed
    epoch: u64,
    trim_above: usize, // in memory beyond this, `trim` runs: grown by a fifth of `limit` since the last
}

impl Spill {
    /// An entry let go: its committed row.
    fn load<V: Row>(&self, key: &str) -> Option<V> {
        if self
            .outside
            .as_ref()
            .is_some_and(|outside| !outside.may_hold(key))
        {
            return None;
        }
        let row = (self.store.row)(key)?;
        let value = V::decode(&self.scope, key, &row);
        Some(value.unwrap_or_else(|e| panic!("identity state row {key:?} unreadable: {e}")))
    }
}

/// hashbrown's map, for its raw entry: a change finds its entry, or where a missing one goes,
/// with one hash of the key (std's `get_mut` cannot fall back to loading on a miss)
type Hot<V> = hashbrown::HashMap<String, Held<V>, foldhash::fast::RandomState>;

pub struct Table<V> {
    hot: Hot<V>,
    loaded: Mutex<HashMap<String, Held<V>>>, // read back through `&self`, not yet in `hot`
    spill: Option<Spill>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            hot: Hot::default(),
            loaded: Mutex::new(HashMap::new()),
            spill: None,
        }
    }
}

impl<V> std::fmt::Debug for Table<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Table({} in memory)", self.hot_len())
    }
}

impl<V> Table<V> {
    fn loaded(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held<V>>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Before a change: what reads loaded joins the entries in memory.
    fn settle(&mut self) {
        let loaded = self.loaded.get_mut().unwrap_or_else(|e| e.into_inner());
        if !loaded.is_empty() {
            self.hot.extend(loaded.drain());
        }
    }

    fn hot_len(&self) -> usize {
        self.hot.len() + self.loaded().len()
    }
}

impl<V: Row> Table<V> {
    /// A table that keeps about `limit` entries in memory, the rest in `store` (committed) or
    /// as rows, their keys noted in `outside` (if any). `saved`: the store already holds rows
    /// (a restart), whose keys are noted.
    pub fn spilling(
        scope: &str,
        limit: usize,
        store: Store,
        saved: bool,
        outside: Option<KeyFilter>,
    ) -> Self {
        if let Some(outside) = outside.as_ref().filter(|_| saved) {
            (store.keys)(&mut |key| outside.add(key));
        }
        let spill = Spill {
            scope: scope.to_string(),
            limit,
            store,
            outside,
            confirmed: 0,
            epoch: 0,
            trim_above: limit,
        };
        Table {
            spill: Some(spill),
            ..Default::default()
        }
    }

    fn epoch(&self) -> u64 {
        self.spill.as_ref().map_or(0, |s| s.epoch)
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        let epoch = self.epoch();
        if let Some(held) = self.hot.get(key) {
            held.slot.used.store(epoch, Ordering::Relaxed);
            return Some(&held.slot.value);
        }
        self.spill.as_ref()?; // nothing let go
        let found = self.loaded().get(key).map(|held| &raw const held.slot.value);
        let value = match found {
            Some(value) => value,
            None => {
                // not locked while the store reads: it may call back into Python
                let value = self.spill.as_ref()?.load(key)?;
                let mut loaded = self.loaded();
                let held = loaded.entry(key.to_string()).or_insert_with(|| Held {
                    slot: Box::new(Slot {
                        value,
                        used: AtomicU64::new(epoch),
                    }),
                    written: 0,
                });
                &raw const held.slot.value
            }
        };
        // SAFETY: boxed, so the address is stable; dropped or moved only through `&mut self`
        Some(unsafe { &*value })
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// For a change: the entry is saved with the next save.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let epoch = self.epoch();
        let held = match self.hot.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(entry) => entry.into_mut(),
            RawEntryMut::Vacant(entry) => {
                // read back through `&self` since, or let go: in memory again, to change
                let loaded = self.loaded.get_mut().unwrap_or_else(|e| e.into_inner());
                let held = match loaded.remove(key) {
                    Some(held) => held,
                    None => Held {
                        slot: Box::new(Slot {
                            value: self.spill.as_ref()?.load(key)?,
                            used: AtomicU64::new(epoch),
                        }),
                        written: 0,
                    },
                };
                entry.insert(key.to_string(), held).1
            }
        };
        *held.slot.used.get_mut() = epoch;
        held.written = CHANGED;
        Some(&mut held.slot.value)
    }

    pub fn insert(&mut self, key: String, value: V) {
        let used = AtomicU64::new(self.epoch());
        let held = Held {
            slot: Box::new(Slot { value, used }),
            written: CHANGED,
        };
        self.settle(); // its loaded copy, if any, is older
        self.hot.insert(key, held);
    }

    /// Every key, sorted: in memory, let go, and committed.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.hot.keys().cloned().collect();
        keys.extend(self.loaded().keys().cloned());
        if let Some(spill) = &self.spill {
            (spill.store.keys)(&mut |key| keys.push(key.to_string()));
        }
        // sorted, then the key both in memory and committed once: no set of every key besides
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    pub fn len(&self) -> usize {
        if self.spill.is_none() {
            self.hot_len()
        } else {
            self.keys().len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys changed since the last save and their rows, now noted as written by save `seq`.
    pub fn take_changed(&mut self, seq: u64) -> Vec<(String, Vec<u8>)> {
        // a changed entry stays in memory until its save is confirmed
        let mut rows: Vec<(String, Vec<u8>)> = self
            .hot
            .iter_mut()
            .filter(|(_, held)| held.written == CHANGED)
            .map(|(key, held)| {
                held.written = seq;
                (key.clone(), held.slot.value.encode())
            })
            .collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    /// Save `seq` (and every one before it) is committed: its rows can be read back from the store.
    pub fn confirm(&mut self, seq: u64) {
        if let Some(spill) = &mut self.spill {
            spill.confirmed = spill.confirmed.max(seq);
        }
    }

    /// Between batches: the least recently used committed entries beyond the limit are let go
    /// (with a store the table writes, any: what changed since its row is written as it goes).
    pub fn trim(&mut self) {
        self.settle();
        let (hot, Some(spill)) = (&mut self.hot, &mut self.spill) else {
            return;
        };
        spill.epoch += 1;
        if hot.len() <= spill.trim_above {
            return;
        }
        let (confirmed, writes) = (spill.confirmed, spill.store.write.is_some());
        let may_go = |held: &mut Held<V>| writes || held.written <= confirmed;
        let mut stamps: Vec<u64> = hot
            .values_mut()
            .filter_map(|held| may_go(held).then(|| *held.slot.used.get_mut()))
            .collect();
        let excess = hot.len() - spill.limit + spill.limit / EVICT_FRACTION;
        // the last stamp let go, and how many with it may go (ties), not the whole table in order
        let (last, mut at_last) = if excess < stamps.len() {
            let (older, &mut last, _) = stamps.select_nth_unstable(excess - 1);
            (last, excess - older.iter().filter(|&&used| used < last).count())
        } else {
            (u64::MAX, usize::MAX)
        };
        let let_go = hot.extract_if(|_, held| {
            let used = *held.slot.used.get_mut();
            let go = may_go(held) && (used < last || used == last && at_last > 0);
            at_last -= usize::from(go && used == last);
            go
        });
        let mut rows = vec![];
        for (key, held) in let_go {
            if let Some(outside) = &spill.outside {
                outside.add(&key);
            }
            if writes && held.written != 0 {
                rows.push((key, held.slot.value.encode().into_boxed_slice()));
            }
        }
        if let Some(write) = &spill.store.write {
            write(rows);
        }
        // entries not yet committed stay: what is left is not scanned again until it grows
        spill.trim_above = spill.limit.max(hot.len() + spill.limit / EVICT_FRACTION);
    }
}

impl<V: Glanced> Table<V> {
    /// Every entry, in no particular order, handed to `each` as a glance: one let go is read
    /// from its row for that, not loaded back (a document of every artifact holds one at a time).
    pub fn each(&self, mut each: impl FnMut(V::Glance<'_>)) {
        self.hot.values().for_each(|held| each(held.slot.value.glance()));
        let Some(spill) = &self.spill else { return };
        let loaded = self.loaded();
        loaded.values().for_each(|held| each(held.slot.value.glance()));
        let mut let_go = |key: &str, row: &[u8]| {
            if !self.hot.contains_key(key) && !loaded.contains_key(key) {
                let glance = V::glance_row(&spill.scope, key, row);
                each(glance.unwrap_or_else(|e| panic!("identity state row {key:?} unreadable: {e}")));
            }
        };
        match &spill.store.rows {
            Some(rows) => rows(&mut let_go),
            None => {
                // the keys first: a store may not read a row while it lists its keys
                let mut keys = vec![];
                (spill.store.keys)(&mut |key| keys.push(key.to_string()));
                for key in keys {
                    if let Some(row) = (spill.store.row)(&key) {
                        let_go(&key, &row);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::codec::bytes::ReadResult;

    type Committed = Arc<Mutex<HashMap<String, Vec<u8>>>>;

    impl Glanced for Vec<String> {
        type Glance<'a> = Vec<String>;

        fn glance(&self) -> Vec<String> {
            self.clone()
        }

        fn glance_row(scope: &str, key: &str, row: &[u8]) -> ReadResult<Vec<String>> {
            Self::decode(scope, key, row)
        }
    }

    fn table(limit: usize, committed: &Committed) -> Table<Vec<String>> {
        let (rows, keys) = (committed.clone(), committed.clone());
        let store = Store {
            row: Box::new(move |key| rows.lock().unwrap().get(key).cloned()),
            keys: Box::new(move |each| keys.lock().unwrap().keys().for_each(|key| each(key))),
            rows: None,
            write: None,
        };
        Table::spilling("", limit, store, false, Some(KeyFilter::default()))
    }

    fn insert(table: &mut Table<Vec<String>>, keys: std::ops::Range<usize>) {
        for n in keys {
            table.insert(format!("k{n}"), vec![format!("v{n}")]);
        }
    }

    #[test]
    fn only_committed_entries_are_let_go_and_read_back() {
        let committed = Committed::default();
        let mut table = table(5, &committed);
        insert(&mut table, 0..8);
        let rows = table.take_changed(1);
        table.trim();
        assert_eq!(table.hot_len(), 8, "saved, not yet committed: all stay");
        committed.lock().unwrap().extend(rows);
        table.confirm(1);
        table.get_mut("k0").unwrap().push("changed".into());
        insert(&mut table, 8..10);
        table.trim();
        // 10 in memory: 6 go (5 beyond the limit, and a fifth of it), of the 7 committed unchanged
        assert_eq!(table.hot_len(), 4);
        assert_eq!(table.get("k0").unwrap(), &["v0", "changed"]);
        assert_eq!(table.get("k3").unwrap(), &["v3"], "read back from the store");
        assert_eq!(table.len(), 10);
        let mut seen = 0;
        table.each(|_| seen += 1);
        assert_eq!(seen, 10, "in memory, and read from the store key by key");
    }

    #[test]
    fn each_hands_every_entry_once_those_let_go_as_temporaries() {
        let rows = MemoryRows::default();
        let mut table: Table<Vec<String>> = Table::spilling("", 2, rows.store(), false, None);
        insert(&mut table, 0..6);
        table.trim();
        let in_memory = table.hot_len();
        let mut seen = vec![];
        table.each(|value| seen.push(value[0].clone()));
        seen.sort();
        assert_eq!(seen, ["v0", "v1", "v2", "v3", "v4", "v5"]);
        assert_eq!(
            (in_memory, table.hot_len()),
            (2, 2),
            "four let go, none loaded back"
        );
        assert_eq!(table.get("k4").unwrap(), &["v4"], "read back from the rows");
    }

    #[test]
    fn a_table_writing_its_rows_writes_what_it_lets_go_changed_since() {
        let rows = MemoryRows::default();
        let mut table: Table<Vec<String>> = Table::spilling("", 2, rows.store(), false, None);
        insert(&mut table, 0..6);
        table.trim();
        assert_eq!((table.hot_len(), rows.rows().len()), (2, 4), "no save needed");
        table.get_mut("k0").unwrap().push("changed".into());
        table.get("k1").unwrap();
        for _ in 0..2 {
            table.trim(); // k0 and k1 are the newest used, the other two go first
        }
        insert(&mut table, 6..8);
        table.trim();
        assert!(!table.hot.contains_key("k0"), "let go again");
        assert_eq!(table.get("k0").unwrap(), &["v0", "changed"], "written as it went");
        assert_eq!(table.len(), 8);
    }

    #[test]
    fn tables_sharing_a_filter_keep_their_keys_apart() {
        let filter = KeyFilter::default();
        let (artifacts, memberships) = (filter.for_table("artifacts"), filter.for_table("memberships"));
        artifacts.add("intent:INT-1");
        assert!(artifacts.may_hold("intent:INT-1"));
        assert!(!memberships.may_hold("intent:INT-1"));
    }
}
