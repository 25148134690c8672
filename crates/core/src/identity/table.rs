//! A keyed table of the engine's state that keeps a working set in memory.
//!
//! Without a store, every entry stays in memory (`inspect`, tests). With one (the tail), once
//! more than `limit` entries are in memory, `trim` (between batches) lets the least recently
//! used go: an entry whose newest version is committed is dropped and read back from the
//! store when next needed; one changed since (not saved, or saved by a write not yet
//! confirmed as committed) is kept as its compact row (`cold`) until `confirm`. A Bloom
//! filter of the keys let go answers "never seen" without a lookup.
//!
//! Reads take `&self` and may load an entry: entries are boxed and only ever dropped through
//! `&mut self`, so a loaded entry's address holds while any reference to it lives (the
//! pattern of an append-only map); the map itself is behind a mutex.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::codec::Row;

/// A committed row by its key.
pub type RowReader = Box<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync>;

/// The committed rows of one table: a row by key, and every key.
pub struct Store {
    pub row: RowReader,
    pub keys: Box<dyn Fn() -> Vec<String> + Send + Sync>,
}

struct Slot<V> {
    value: V,
    used: AtomicU64, // the trim epoch it was last used in
}

const FILTER_BITS: usize = 1 << 25; // 4 MiB: about 2% false positives at three million keys
const EVICT_FRACTION: usize = 5; // a trim lets a fifth of the working set go beyond the excess

struct KeyFilter(Vec<u64>);

impl KeyFilter {
    fn new() -> Self {
        KeyFilter(vec![0; FILTER_BITS / 64])
    }

    fn slots(key: &str) -> [usize; 3] {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let h = hasher.finish();
        let mask = (FILTER_BITS - 1) as u64;
        [
            h & mask,
            (h >> 25) & mask,
            ((h >> 50) ^ h.wrapping_mul(0x9E37_79B1)) & mask,
        ]
        .map(|s| s as usize)
    }

    fn add(&mut self, key: &str) {
        for slot in Self::slots(key) {
            self.0[slot / 64] |= 1 << (slot % 64);
        }
    }

    fn may_hold(&self, key: &str) -> bool {
        Self::slots(key)
            .iter()
            .all(|slot| self.0[slot / 64] >> (slot % 64) & 1 == 1)
    }
}

struct Spill {
    scope: String,
    limit: usize,
    store: Store,
    outside: KeyFilter,                // keys that may be cold or committed
    cold: HashMap<String, Vec<u8>>,    // let go before their newest version was committed
    unconfirmed: HashMap<String, u64>, // key → the save that wrote it, until confirmed
    epoch: u64,
}

pub struct Table<V> {
    hot: Mutex<HashMap<String, Box<Slot<V>>>>,
    changed: HashSet<String>,
    spill: Option<Spill>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            hot: Mutex::new(HashMap::new()),
            changed: HashSet::new(),
            spill: None,
        }
    }
}

impl<V> std::fmt::Debug for Table<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let in_memory = self.hot.lock().map_or(0, |hot| hot.len());
        write!(f, "Table({in_memory} in memory)")
    }
}

impl<V: Row> Table<V> {
    /// A table that keeps about `limit` entries in memory, the rest in `store` (committed) or
    /// as rows. `saved`: the store already holds rows (a restart), whose keys are noted.
    pub fn spilling(scope: &str, limit: usize, store: Store, saved: bool) -> Self {
        let mut outside = KeyFilter::new();
        if saved {
            for key in (store.keys)() {
                outside.add(&key);
            }
        }
        let spill = Spill {
            scope: scope.to_string(),
            limit,
            store,
            outside,
            cold: HashMap::new(),
            unconfirmed: HashMap::new(),
            epoch: 0,
        };
        Table {
            spill: Some(spill),
            ..Default::default()
        }
    }

    fn hot_len(&self) -> usize {
        self.hot.lock().map_or(0, |hot| hot.len())
    }

    fn epoch(&self) -> u64 {
        self.spill.as_ref().map_or(0, |s| s.epoch)
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        let epoch = self.epoch();
        {
            let hot = self.hot.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = hot.get(key) {
                slot.used.store(epoch, Ordering::Relaxed);
                let value: *const V = &slot.value;
                // SAFETY: boxed, so the address is stable; dropped only through `&mut self`
                return Some(unsafe { &*value });
            }
        }
        let value = self.load(key)?;
        let mut hot = self.hot.lock().unwrap_or_else(|e| e.into_inner());
        let slot = hot.entry(key.to_string()).or_insert_with(|| {
            Box::new(Slot {
                value,
                used: AtomicU64::new(epoch),
            })
        });
        let value: *const V = &slot.value;
        // SAFETY: as above
        Some(unsafe { &*value })
    }

    /// An entry let go: its row kept here, or the committed one.
    fn load(&self, key: &str) -> Option<V> {
        let spill = self.spill.as_ref()?;
        if !spill.outside.may_hold(key) {
            return None;
        }
        let row = match spill.cold.get(key) {
            Some(row) => row.clone(),
            None => (spill.store.row)(key)?,
        };
        let value = V::decode(&spill.scope, key, &row);
        Some(value.unwrap_or_else(|e| panic!("identity state row {key:?} unreadable: {e}")))
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// For a change: the entry is saved with the next save.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.get(key)?; // loaded if it was let go
        if !self.changed.contains(key) {
            self.changed.insert(key.to_string());
        }
        let epoch = self.epoch();
        let slot = self
            .hot
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(key)?;
        *slot.used.get_mut() = epoch;
        Some(&mut slot.value)
    }

    /// An entry as saved: not changed since.
    pub fn restore(&mut self, key: String, value: V) {
        let used = AtomicU64::new(self.epoch());
        self.hot
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, Box::new(Slot { value, used }));
    }

    pub fn insert(&mut self, key: String, value: V) {
        self.changed.insert(key.clone());
        self.restore(key, value);
    }

    /// Every key, sorted: in memory, let go, and committed.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: HashSet<String> = self
            .hot
            .lock()
            .map(|hot| hot.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(spill) = &self.spill {
            keys.extend(spill.cold.keys().cloned());
            keys.extend((spill.store.keys)());
        }
        let mut keys: Vec<String> = keys.into_iter().collect();
        keys.sort();
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
        let mut keys: Vec<String> = self.changed.drain().collect();
        keys.sort_unstable();
        let hot = self.hot.get_mut().unwrap_or_else(|e| e.into_inner());
        let cold = self.spill.as_ref().map(|spill| &spill.cold);
        let rows: Vec<(String, Vec<u8>)> = keys
            .into_iter()
            .filter_map(|key| {
                // a changed entry is in memory, or was let go as its row
                let row = match hot.get(&key) {
                    Some(slot) => slot.value.encode(),
                    None => cold?.get(&key)?.clone(),
                };
                Some((key, row))
            })
            .collect();
        if let Some(spill) = &mut self.spill {
            for (key, _) in &rows {
                spill.unconfirmed.insert(key.clone(), seq);
            }
        }
        rows
    }

    /// Save `seq` (and every one before it) is committed: its rows can be read back from the store.
    pub fn confirm(&mut self, seq: u64) {
        if let Some(spill) = &mut self.spill {
            spill.unconfirmed.retain(|_, written| *written > seq);
            let changed = &self.changed;
            let unconfirmed = &spill.unconfirmed;
            spill
                .cold
                .retain(|key, _| unconfirmed.contains_key(key) || changed.contains(key));
        }
    }

    /// Between batches: the least recently used entries beyond the limit are let go.
    pub fn trim(&mut self) {
        let Some(spill) = &mut self.spill else { return };
        let hot = self.hot.get_mut().unwrap_or_else(|e| e.into_inner());
        spill.epoch += 1;
        if hot.len() <= spill.limit {
            return;
        }
        let excess = (hot.len() - spill.limit + spill.limit / EVICT_FRACTION).min(hot.len());
        let mut by_use: Vec<(u64, &String)> = hot
            .iter()
            .map(|(key, slot)| (slot.used.load(Ordering::Relaxed), key))
            .collect();
        // the `excess` least recently used (ties by key), not the whole table in order
        if excess < by_use.len() {
            by_use.select_nth_unstable(excess);
        }
        let evicted: Vec<String> = by_use[..excess].iter().map(|(_, key)| (*key).clone()).collect();
        for key in evicted {
            let Some(slot) = hot.remove(&key) else { continue };
            if self.changed.contains(&key) || spill.unconfirmed.contains_key(&key) {
                spill.cold.insert(key.clone(), slot.value.encode());
            }
            spill.outside.add(&key);
        }
    }
}
