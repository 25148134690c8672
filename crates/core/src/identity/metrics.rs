//! Counters, histograms and gauges of the `intent.*` metrics, accumulated as events are
//! processed. The engine calls each method once per artifact (its flags say what was already
//! counted), so reading a history in one go or in pieces, or again after a restart from a
//! checkpoint, gives the same numbers.

use std::collections::BTreeMap;

use foldhash::{HashSet, HashSetExt};

use crate::parse::autonomy_level_of;

// Label cardinality bounds: a hostile file must not mint unbounded series.
pub const MAX_EVENT_TYPES: usize = 200;
pub const MAX_SOURCES: usize = 50;
pub const OVERFLOW: &str = "_other";
pub const UNKNOWN: &str = "unknown";
pub const UNSCORED: &str = "unscored";
/// Trust summed as integers: exact, whatever the order.
pub const TRUST_UNITS: f64 = 1e9;

const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;
pub const CYCLE_TIME_BUCKETS: [f64; 6] = [HOUR, 4.0 * HOUR, DAY, 3.0 * DAY, 7.0 * DAY, 14.0 * DAY];
pub const TRUST_BUCKETS: [f64; 6] = [0.1, 0.2, 0.4, 0.6, 0.85, 1.0];

#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>, // one per bucket, plus +Inf
    pub total: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Self {
        Histogram {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len() + 1],
            total: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, value: f64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value); // bisect_left
        self.counts[bucket] += 1;
        self.total += value;
        self.count += 1;
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricState {
    pub signals: BTreeMap<String, i64>, // source → count
    pub specs: i64,
    pub intents: i64,
    pub contracts: BTreeMap<String, i64>, // result → count
    pub assertions: BTreeMap<String, i64>,
    pub events: BTreeMap<String, i64>, // "type\0source" → count
    pub first_event_ns: i64,
    pub last_event_ns: i64,
    pub intent_last_ns: BTreeMap<String, i64>, // intent key → newest event
    pub signal_to_intent: Histogram,
    pub intent_to_spec: Histogram,
    pub spec_to_complete: Histogram,
    pub trust: Histogram,
    // Gauges, kept up to date at each transition so a snapshot never scans the state.
    pub active_levels: BTreeMap<String, i64>, // autonomy level → active signals
    pub active_trust_units: i64,
    pub active_trusted: i64,
    pub open_specs: i64,
    pub specs_in_progress: i64,
    pub running_contracts: i64,
    pub intents_active: i64,
    pub event_types: HashSet<String>, // label values in use
    pub sources: HashSet<String>,
}

impl Default for MetricState {
    fn default() -> Self {
        MetricState {
            signals: BTreeMap::new(),
            specs: 0,
            intents: 0,
            contracts: BTreeMap::new(),
            assertions: BTreeMap::new(),
            events: BTreeMap::new(),
            first_event_ns: 0,
            last_event_ns: 0,
            intent_last_ns: BTreeMap::new(),
            signal_to_intent: Histogram::new(&CYCLE_TIME_BUCKETS),
            intent_to_spec: Histogram::new(&CYCLE_TIME_BUCKETS),
            spec_to_complete: Histogram::new(&CYCLE_TIME_BUCKETS),
            trust: Histogram::new(&TRUST_BUCKETS),
            active_levels: BTreeMap::new(),
            active_trust_units: 0,
            active_trusted: 0,
            open_specs: 0,
            specs_in_progress: 0,
            running_contracts: 0,
            intents_active: 0,
            event_types: HashSet::new(),
            sources: HashSet::new(),
        }
    }
}

fn bump(map: &mut BTreeMap<String, i64>, key: &str, by: i64) {
    match map.get_mut(key) {
        Some(count) => *count += by,
        None => {
            map.insert(key.to_string(), by);
        }
    }
}

/// `bump` by one of the key `first\0second`, joined on the stack when short: every event
/// counts one, and a key made on the heap for a lookup was most of that count's cost.
fn bump_pair(map: &mut BTreeMap<String, i64>, first: &str, second: &str) {
    let mut joined = [0; 128];
    let len = first.len() + 1 + second.len();
    if len > joined.len() {
        return bump(map, &[first, "\x00", second].concat(), 1);
    }
    joined[..first.len()].copy_from_slice(first.as_bytes());
    joined[first.len() + 1..len].copy_from_slice(second.as_bytes());
    bump(
        map,
        std::str::from_utf8(&joined[..len]).expect("two texts and a NUL"),
        1,
    );
}

/// The value itself while fewer than `limit` values are in use, else the overflow label.
fn bounded_label<'v>(value: &'v str, known: &mut HashSet<String>, limit: usize) -> &'v str {
    if known.contains(value) {
        return value;
    }
    if known.len() < limit {
        known.insert(value.to_string());
        return value;
    }
    OVERFLOW
}

/// A signal's autonomy level for the gauges: written, else from its trust, else unscored.
pub fn level_of(level: Option<&str>, trust: Option<f64>) -> String {
    match (level, trust) {
        (Some(level), _) => level.to_string(),
        (None, Some(trust)) => autonomy_level_of(trust).to_string(),
        (None, None) => UNSCORED.to_string(),
    }
}

fn seconds(delta_ns: i64) -> f64 {
    delta_ns.max(0) as f64 / 1e9
}

impl MetricState {
    pub fn count_event(&mut self, event_type: &str, source: Option<&str>, time_ns: i64) {
        let event_type = bounded_label(event_type, &mut self.event_types, MAX_EVENT_TYPES);
        let source = bounded_label(source.unwrap_or(UNKNOWN), &mut self.sources, MAX_SOURCES);
        bump_pair(&mut self.events, event_type, source);
        self.last_event_ns = self.last_event_ns.max(time_ns);
        let first = if self.first_event_ns == 0 {
            time_ns
        } else {
            self.first_event_ns
        };
        self.first_event_ns = first.min(time_ns);
    }

    pub fn signal_created(&mut self, source: Option<&str>) {
        let label = bounded_label(source.unwrap_or(UNKNOWN), &mut self.sources, MAX_SOURCES);
        bump(&mut self.signals, label, 1);
    }

    pub fn contract_result(&mut self, result: &str) {
        bump(&mut self.contracts, result, 1);
    }

    pub fn assertion_result(&mut self, result: &str) {
        bump(&mut self.assertions, result, 1);
    }

    pub fn intent_activity(&mut self, intent_key: &str, time_ns: i64) {
        match self.intent_last_ns.get_mut(intent_key) {
            Some(last) => *last = (*last).max(time_ns),
            None if time_ns > 0 => {
                self.intent_last_ns.insert(intent_key.to_string(), time_ns);
            }
            None => {}
        }
    }

    /// Add (+1) or remove (-1) one active signal from the gauges.
    pub fn active_signal(&mut self, level: &str, trust: Option<f64>, sign: i64) {
        bump(&mut self.active_levels, level, sign);
        if let Some(trust) = trust {
            self.active_trust_units += sign * (trust * TRUST_UNITS).round_ties_even() as i64;
            self.active_trusted += sign;
        }
    }

    pub fn observe_signal_to_intent(&mut self, delta_ns: i64) {
        self.signal_to_intent.observe(seconds(delta_ns));
    }

    pub fn observe_intent_to_spec(&mut self, delta_ns: i64) {
        self.intent_to_spec.observe(seconds(delta_ns));
    }

    pub fn observe_spec_to_complete(&mut self, delta_ns: i64) {
        self.spec_to_complete.observe(seconds(delta_ns));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_beyond_the_bound_overflow() {
        let mut m = MetricState::default();
        for i in 0..MAX_SOURCES + 2 {
            m.signal_created(Some(&format!("s{i}")));
        }
        assert_eq!(m.signals.get(OVERFLOW), Some(&2));
        assert_eq!(m.signals.len(), MAX_SOURCES + 1);
    }

    #[test]
    fn histograms_bucket_as_bisect_left() {
        let mut h = Histogram::new(&TRUST_BUCKETS);
        for value in [0.1, 0.15, 1.0, 2.0] {
            h.observe(value);
        }
        assert_eq!(h.counts, vec![1, 1, 0, 0, 0, 1, 1]);
        assert_eq!(h.count, 4);
    }
}
