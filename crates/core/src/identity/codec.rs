//! The engine state's durable form: one compact binary row per artifact, membership and file,
//! and one row for the rest (`core`). Varints, ids as raw bytes, span ids recomputed from the
//! key rather than stored, common attribute keys as one byte: no JSON, no merged attribute
//! dicts (an artifact's announced attributes are dropped once it is announced, but a signal's
//! or a spec's, which its memberships copy later).

use std::collections::BTreeMap;

use foldhash::{HashMap, HashSet};

use super::attrs::{Attrs, Value, one_line};
use super::engine::Engine;
use super::ids;
use super::metrics::{Histogram, MetricState};
use super::model::*;
use crate::parse::Kind;

/// Written first in the core row; a state of another version is read again from the log.
pub const STATE_VERSION: u64 = 6;

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
/// A key code saying the text that follows comes after `intent.data.`.
const DATA_PREFIX_CODE: u64 = KNOWN_KEYS.len() as u64 + 1;
const DATA_PREFIX: &str = "intent.data.";
const INTENT: &str = "intent:";
const SPEC: &str = "spec:";
const CONTRACT: &str = "contract:";
const CLUSTER: &str = "cluster:";
const SIGNAL: &str = "signal:";
/// A value tag saying the value is the row's known value of this index (tags below are types).
const KNOWN_VALUE: u64 = 5;

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

    pub fn opt_int(&mut self, value: Option<i64>) {
        match value {
            None => self.uint(0),
            Some(value) => {
                self.uint(1);
                self.int(value);
            }
        }
    }

    pub fn float(&mut self, value: f64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    /// A hex id as its bytes (half the size); anything else as text.
    pub fn opt_id(&mut self, id: Option<&str>) {
        match id {
            None => self.uint(0),
            Some(id) if id.len() % 2 == 0 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
                self.uint(1);
                let bytes: Vec<u8> = (0..id.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&id[i..i + 2], 16).unwrap_or(0))
                    .collect();
                self.uint(bytes.len() as u64);
                self.0.extend_from_slice(&bytes);
            }
            Some(id) => {
                self.uint(2);
                self.text(id);
            }
        }
    }

    /// An artifact key whose kind the field says (`intent:INT-1` in `intent`): the `kind:`
    /// prefix is left out when it is there (the low bit says so).
    pub fn opt_key(&mut self, key: Option<&str>, prefix: &str) {
        match key {
            None => self.uint(0),
            Some(key) => {
                let (text, flag) = key.strip_prefix(prefix).map_or((key, 1), |rest| (rest, 0));
                self.uint(((text.len() as u64 + 1) << 1) | flag);
                self.0.extend_from_slice(text.as_bytes());
            }
        }
    }

    pub fn keys(&mut self, keys: &[String], prefix: &str) {
        self.uint(keys.len() as u64);
        for key in keys {
            self.opt_key(Some(key), prefix);
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
            match KNOWN_KEYS.iter().position(|known| known == key) {
                Some(index) => self.uint(index as u64 + 1),
                None => match key.strip_prefix(DATA_PREFIX) {
                    Some(rest) => {
                        self.uint(DATA_PREFIX_CODE);
                        self.text(rest);
                    }
                    None => {
                        self.uint(0);
                        self.text(key);
                    }
                },
            }
            let same = known
                .iter()
                .position(|k| matches!((k, value), (Some(k), Value::Str(v)) if k == v));
            match value {
                Value::Str(_) if same.is_some() => self.uint(KNOWN_VALUE + same.unwrap_or(0) as u64),
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

    fn len(&mut self) -> ReadResult<usize> {
        usize::try_from(self.uint()?).map_err(|e| e.to_string())
    }

    pub fn text(&mut self) -> ReadResult<String> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
    }

    pub fn opt_text(&mut self) -> ReadResult<Option<String>> {
        let n = self.len()?;
        if n == 0 {
            return Ok(None);
        }
        let bytes = self.take(n - 1)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|e| e.to_string())
    }

    pub fn opt_int(&mut self) -> ReadResult<Option<i64>> {
        Ok(if self.uint()? == 0 {
            None
        } else {
            Some(self.int()?)
        })
    }

    pub fn float(&mut self) -> ReadResult<f64> {
        let bytes = self.take(8)?;
        Ok(f64::from_le_bytes(bytes.try_into().map_err(|_| "float")?))
    }

    pub fn opt_id(&mut self) -> ReadResult<Option<String>> {
        match self.uint()? {
            0 => Ok(None),
            1 => {
                let n = self.len()?;
                Ok(Some(ids::hex(self.take(n)?)))
            }
            _ => self.text().map(Some),
        }
    }

    pub fn opt_key(&mut self, prefix: &str) -> ReadResult<Option<String>> {
        let code = self.uint()?;
        if code == 0 {
            return Ok(None);
        }
        let n = usize::try_from((code >> 1) - 1).map_err(|e| e.to_string())?;
        let text = String::from_utf8(self.take(n)?.to_vec()).map_err(|e| e.to_string())?;
        Ok(Some(if code & 1 == 1 {
            text
        } else {
            format!("{prefix}{text}")
        }))
    }

    pub fn keys(&mut self, prefix: &str) -> ReadResult<Vec<String>> {
        let n = self.len()?;
        (0..n)
            .map(|_| Ok(self.opt_key(prefix)?.unwrap_or_default()))
            .collect()
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
        let mut attrs = Attrs(Vec::with_capacity(n));
        for _ in 0..n {
            let code = self.uint()?;
            let key = match code {
                0 => self.text()?,
                DATA_PREFIX_CODE => format!("{DATA_PREFIX}{}", self.text()?),
                _ => KNOWN_KEYS
                    .get(code as usize - 1)
                    .ok_or("unknown attribute key")?
                    .to_string(),
            };
            let value = match self.uint()? {
                0 => Value::Str(self.text()?),
                1 => Value::Int(self.int()?),
                2 => Value::Float(self.float()?),
                3 => Value::Bool(false),
                4 => Value::Bool(true),
                tag => {
                    let index = (tag - KNOWN_VALUE) as usize;
                    let value = known
                        .get(index)
                        .copied()
                        .flatten()
                        .ok_or("unknown attribute value")?;
                    Value::Str(value.to_string())
                }
            };
            attrs.0.push((key, value));
        }
        Ok(attrs)
    }
}

fn kind_code(kind: Kind) -> u64 {
    Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u64
}

fn kind_of(code: u64) -> ReadResult<Kind> {
    Kind::ALL
        .get(code as usize)
        .copied()
        .ok_or_else(|| format!("unknown kind {code}"))
}

fn flags(values: &[bool]) -> u64 {
    values
        .iter()
        .enumerate()
        .fold(0, |acc, (i, flag)| acc | (u64::from(*flag) << i))
}

fn flag(bits: u64, i: usize) -> bool {
    bits >> i & 1 == 1
}

/// The name an artifact of this kind and id is given when it is made (`signal SIG-1`).
fn usual_name(kind: Kind, id: Option<&str>) -> String {
    let label = id.map_or_else(|| "(no id)".to_string(), |id| one_line(id, 80));
    format!("{} {label}", kind.value())
}

/// What an artifact's announced attributes repeat of its own fields.
fn known_values<'a>(
    kind: Kind,
    id: &'a Option<String>,
    title: &'a Option<String>,
    file: &'a Option<String>,
) -> [Option<&'a str>; 4] {
    [
        id.as_deref(),
        Some(kind.value()),
        title.as_deref(),
        file.as_deref(),
    ]
}

/// What the keyed tables hold, as their rows.
pub trait Row: Sized {
    fn encode(&self) -> Vec<u8>;
    fn decode(scope: &str, key: &str, row: &[u8]) -> ReadResult<Self>;
}

impl Row for Artifact {
    fn encode(&self) -> Vec<u8> {
        artifact_row(self)
    }

    fn decode(scope: &str, key: &str, row: &[u8]) -> ReadResult<Self> {
        read_artifact(scope, key, row)
    }
}

impl Row for Membership {
    fn encode(&self) -> Vec<u8> {
        membership_row(self)
    }

    fn decode(scope: &str, key: &str, row: &[u8]) -> ReadResult<Self> {
        read_membership(scope, key, row)
    }
}

/// A file's artifact keys.
impl Row for Vec<String> {
    fn encode(&self) -> Vec<u8> {
        keys_row(self)
    }

    fn decode(_scope: &str, _key: &str, row: &[u8]) -> ReadResult<Self> {
        read_keys(row)
    }
}

/// A derived event taken: the key is all there is.
impl Row for () {
    fn encode(&self) -> Vec<u8> {
        Vec::new()
    }

    fn decode(_scope: &str, _key: &str, _row: &[u8]) -> ReadResult<Self> {
        Ok(())
    }
}

pub fn artifact_row(art: &Artifact) -> Vec<u8> {
    let mut w = Writer::default();
    w.uint(kind_code(art.kind));
    w.uint(flags(&[
        art.defined,
        art.announced,
        art.closed,
        art.error,
        art.running,
        art.approved,
        art.placeholder,
        art.in_progress,
        art.counted,
        art.observed,
        art.bare,
    ]));
    w.opt_text(art.id.as_deref());
    w.int(art.first_ns);
    w.int(art.last_ns - art.first_ns);
    let usual = usual_name(art.kind, art.id.as_deref());
    w.opt_text(Some(art.name.as_str()).filter(|name| *name != usual));
    w.opt_text(art.title.as_deref());
    w.opt_text(art.file.as_deref());
    w.attrs_of(
        &art.attrs,
        &known_values(art.kind, &art.id, &art.title, &art.file),
    );
    match &art.files {
        None => w.uint(0),
        Some(files) => {
            w.uint(files.len() as u64 + 1);
            for (file, key) in files {
                w.text(file);
                w.text(key);
            }
        }
    }
    w.opt_key(art.latest.as_deref(), &format!("{}:", art.kind.value()));
    w.uint(art.occurrences);
    for (relation, prefix) in [
        (&art.intent, INTENT),
        (&art.spec, SPEC),
        (&art.contract, CONTRACT),
        (&art.cluster, CLUSTER),
    ] {
        w.opt_key(relation.as_deref(), prefix);
    }
    w.opt_int(art.defined_ns);
    w.opt_id(art.claimed_trace.as_deref());
    w.opt_id(art.trace_id.as_deref());
    w.opt_id(art.parent_span.as_deref());
    w.opt_int(art.end_ns);
    w.opt_text(art.status_message.as_deref());
    w.uint(art.runs);
    w.opt_int(art.run_start_ns);
    for list in [&art.contracts, &art.listed, &art.passed] {
        w.keys(list, CONTRACT);
    }
    w.keys(&art.members, SIGNAL);
    w.opt_text(art.inactive.as_deref());
    match art.trust {
        None => w.uint(0),
        Some(trust) => {
            w.uint(1);
            w.float(trust);
        }
    }
    w.opt_text(art.level.as_deref());
    w.opt_int(art.first_spec_ns);
    w.uint(art.evaluations);
    w.uint(art.run);
    w.0
}

pub fn read_artifact(scope: &str, key: &str, row: &[u8]) -> ReadResult<Artifact> {
    let mut r = Reader::new(row);
    let kind = kind_of(r.uint()?)?;
    let bits = r.uint()?;
    let id = r.opt_text()?;
    let first_ns = r.int()?;
    let last_ns = first_ns + r.int()?;
    let name = r.opt_text()?.unwrap_or_else(|| usual_name(kind, id.as_deref()));
    let title = r.opt_text()?;
    let file = r.opt_text()?;
    let attrs = r.attrs_of(&known_values(kind, &id, &title, &file))?;
    let files = match r.len()? {
        0 => None,
        n => Some(
            (1..n)
                .map(|_| Ok((r.text()?, r.text()?)))
                .collect::<ReadResult<Vec<_>>>()?,
        ),
    };
    let latest = r.opt_key(&format!("{}:", kind.value()))?;
    let occurrences = r.uint()?;
    let (intent, spec) = (r.opt_key(INTENT)?, r.opt_key(SPEC)?);
    let (contract, cluster) = (r.opt_key(CONTRACT)?, r.opt_key(CLUSTER)?);
    Ok(Artifact {
        key: key.to_string(),
        kind,
        id,
        span_id: ids::span_id(&[scope, "artifact", key]),
        first_ns,
        last_ns,
        name,
        attrs,
        title,
        file,
        files,
        latest,
        occurrences,
        intent,
        spec,
        contract,
        cluster,
        defined: flag(bits, 0),
        defined_ns: r.opt_int()?,
        claimed_trace: r.opt_id()?,
        trace_id: r.opt_id()?,
        parent_span: r.opt_id()?,
        announced: flag(bits, 1),
        closed: flag(bits, 2),
        end_ns: r.opt_int()?,
        error: flag(bits, 3),
        status_message: r.opt_text()?,
        runs: r.uint()?,
        running: flag(bits, 4),
        run_start_ns: r.opt_int()?,
        approved: flag(bits, 5),
        contracts: r.keys(CONTRACT)?,
        listed: r.keys(CONTRACT)?,
        passed: r.keys(CONTRACT)?,
        members: r.keys(SIGNAL)?,
        inactive: r.opt_text()?,
        trust: if r.uint()? == 0 { None } else { Some(r.float()?) },
        level: r.opt_text()?,
        first_spec_ns: r.opt_int()?,
        placeholder: flag(bits, 6),
        in_progress: flag(bits, 7),
        counted: flag(bits, 8),
        observed: flag(bits, 9),
        bare: flag(bits, 10),
        evaluations: r.uint()?,
        run: r.uint()?,
    })
}

pub fn membership_row(member: &Membership) -> Vec<u8> {
    let mut w = Writer::default();
    w.uint(flags(&[member.intent_role, member.observed]));
    w.text(&member.signal);
    w.text(&member.container);
    w.int(member.time_ns);
    w.attrs(&member.attrs);
    w.0
}

pub fn read_membership(scope: &str, key: &str, row: &[u8]) -> ReadResult<Membership> {
    let mut r = Reader::new(row);
    let bits = r.uint()?;
    Ok(Membership {
        key: key.to_string(),
        intent_role: flag(bits, 0),
        observed: flag(bits, 1),
        signal: r.text()?,
        container: r.text()?,
        time_ns: r.int()?,
        span_id: ids::span_id(&[scope, "member", key]),
        attrs: r.attrs()?,
    })
}

pub fn keys_row(keys: &[String]) -> Vec<u8> {
    let mut w = Writer::default();
    w.texts(keys);
    w.0
}

pub fn read_keys(row: &[u8]) -> ReadResult<Vec<String>> {
    Reader::new(row).texts()
}

fn put_map_of_lists(w: &mut Writer, map: &HashMap<String, Vec<String>>) {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort();
    w.uint(entries.len() as u64);
    for (key, values) in entries {
        w.text(key);
        w.texts(values);
    }
}

fn read_map_of_lists(r: &mut Reader) -> ReadResult<HashMap<String, Vec<String>>> {
    let n = r.len()?;
    (0..n).map(|_| Ok((r.text()?, r.texts()?))).collect()
}

fn put_counts(w: &mut Writer, counts: &BTreeMap<String, i64>) {
    w.uint(counts.len() as u64);
    for (key, count) in counts {
        w.text(key);
        w.int(*count);
    }
}

fn read_counts(r: &mut Reader) -> ReadResult<BTreeMap<String, i64>> {
    let n = r.len()?;
    (0..n).map(|_| Ok((r.text()?, r.int()?))).collect()
}

fn put_histogram(w: &mut Writer, h: &Histogram) {
    w.uint(h.counts.len() as u64);
    for count in &h.counts {
        w.uint(*count);
    }
    w.float(h.total);
    w.uint(h.count);
}

fn read_histogram(r: &mut Reader, bounds: &[f64]) -> ReadResult<Histogram> {
    let n = r.len()?;
    let counts = (0..n).map(|_| r.uint()).collect::<ReadResult<Vec<_>>>()?;
    if counts.len() != bounds.len() + 1 {
        return Err("histogram of another shape".into());
    }
    Ok(Histogram {
        bounds: bounds.to_vec(),
        counts,
        total: r.float()?,
        count: r.uint()?,
    })
}

fn put_set(w: &mut Writer, set: &HashSet<String>) {
    let mut items: Vec<String> = set.iter().cloned().collect();
    items.sort();
    w.texts(&items);
}

fn put_phase(w: &mut Writer, phase: &Phase) {
    w.opt_id(Some(&phase.span_id));
    w.text(&phase.name);
    w.int(phase.start_ns);
    w.int(phase.end_ns);
    w.uint(u64::from(phase.error));
    w.opt_text(phase.status_message.as_deref());
    w.attrs(&phase.attrs);
}

fn read_phase(r: &mut Reader, owner: &str) -> ReadResult<Phase> {
    Ok(Phase {
        owner: owner.to_string(),
        span_id: r.opt_id()?.unwrap_or_default(),
        name: r.text()?,
        start_ns: r.int()?,
        end_ns: r.int()?,
        error: r.uint()? == 1,
        status_message: r.opt_text()?,
        attrs: r.attrs()?,
    })
}

fn put_log(w: &mut Writer, log: &LogRecord) {
    w.int(log.time_ns);
    w.int(log.observed_ns);
    w.int(i64::from(log.severity_number));
    w.text(&log.severity_text);
    w.text(&log.body);
    w.attrs(&log.attributes);
}

fn read_log(r: &mut Reader) -> ReadResult<LogRecord> {
    Ok(LogRecord {
        time_ns: r.int()?,
        observed_ns: r.int()?,
        trace_id: String::new(),
        span_id: String::new(),
        severity_number: i32::try_from(r.int()?).map_err(|e| e.to_string())?,
        severity_text: r.text()?,
        body: r.text()?,
        attributes: r.attrs()?,
    })
}

/// Everything but the keyed tables: version and scope first (`header`).
pub fn core_row(engine: &Engine) -> Vec<u8> {
    let mut w = Writer::default();
    w.uint(STATE_VERSION);
    w.text(&engine.scope);
    let mut claimed: Vec<_> = engine.claimed.iter().collect();
    claimed.sort();
    w.uint(claimed.len() as u64);
    for (trace, key) in claimed {
        w.opt_id(Some(trace));
        w.text(key);
    }
    put_map_of_lists(&mut w, &engine.members_pending);
    put_set(&mut w, &engine.unplaced);
    put_map_of_lists(&mut w, &engine.waiting);
    w.uint(engine.events_seen);
    w.uint(engine.derived_ignored);
    w.uint(engine.pending.len() as u64);
    for item in &engine.pending {
        w.text(&item.home);
        put_log(&mut w, &item.record);
    }
    let mut phases: Vec<_> = engine.phases.iter().collect();
    phases.sort_by(|a, b| a.0.cmp(b.0));
    w.uint(phases.len() as u64);
    for (owner, list) in phases {
        w.text(owner);
        w.uint(list.len() as u64);
        for phase in list {
            put_phase(&mut w, phase);
        }
    }
    let m = &engine.metrics;
    for counts in [
        &m.signals,
        &m.contracts,
        &m.assertions,
        &m.events,
        &m.active_levels,
    ] {
        put_counts(&mut w, counts);
    }
    for value in [
        m.specs,
        m.intents,
        m.first_event_ns,
        m.last_event_ns,
        m.active_trust_units,
        m.active_trusted,
        m.open_specs,
        m.specs_in_progress,
        m.running_contracts,
        m.intents_active,
    ] {
        w.int(value);
    }
    for h in [
        &m.signal_to_intent,
        &m.intent_to_spec,
        &m.spec_to_complete,
        &m.trust,
    ] {
        put_histogram(&mut w, h);
    }
    put_set(&mut w, &m.event_types);
    put_set(&mut w, &m.sources);
    w.0
}

/// The version and scope a core row was written with.
pub fn header(row: &[u8]) -> ReadResult<(u64, String)> {
    let mut r = Reader::new(row);
    Ok((r.uint()?, r.text()?))
}

/// The engine a core row describes, with empty tables (the caller fills them in).
pub fn read_core(row: &[u8]) -> ReadResult<Engine> {
    let mut r = Reader::new(row);
    let version = r.uint()?;
    if version != STATE_VERSION {
        return Err(format!("identity state version {version} is not {STATE_VERSION}"));
    }
    let mut engine = Engine::new(&r.text()?);
    let n = r.len()?;
    for _ in 0..n {
        let trace = r.opt_id()?.unwrap_or_default();
        engine.claimed.insert(trace, r.text()?);
    }
    engine.members_pending = read_map_of_lists(&mut r)?;
    engine.unplaced = r.texts()?.into_iter().collect();
    engine.waiting = read_map_of_lists(&mut r)?;
    engine.events_seen = r.uint()?;
    engine.derived_ignored = r.uint()?;
    let n = r.len()?;
    for _ in 0..n {
        let home = r.text()?;
        engine.pending.push(PendingLog {
            home,
            record: read_log(&mut r)?,
        });
    }
    let n = r.len()?;
    for _ in 0..n {
        let owner = r.text()?;
        let count = r.len()?;
        let list = (0..count)
            .map(|_| read_phase(&mut r, &owner))
            .collect::<ReadResult<Vec<_>>>()?;
        engine.phases.insert(owner, list);
    }
    let m = &mut engine.metrics;
    m.signals = read_counts(&mut r)?;
    m.contracts = read_counts(&mut r)?;
    m.assertions = read_counts(&mut r)?;
    m.events = read_counts(&mut r)?;
    m.active_levels = read_counts(&mut r)?;
    for value in [
        &mut m.specs,
        &mut m.intents,
        &mut m.first_event_ns,
        &mut m.last_event_ns,
        &mut m.active_trust_units,
        &mut m.active_trusted,
        &mut m.open_specs,
        &mut m.specs_in_progress,
        &mut m.running_contracts,
        &mut m.intents_active,
    ] {
        *value = r.int()?;
    }
    let fresh = MetricState::default();
    m.signal_to_intent = read_histogram(&mut r, &fresh.signal_to_intent.bounds)?;
    m.intent_to_spec = read_histogram(&mut r, &fresh.intent_to_spec.bounds)?;
    m.spec_to_complete = read_histogram(&mut r, &fresh.spec_to_complete.bounds)?;
    m.trust = read_histogram(&mut r, &fresh.trust.bounds)?;
    m.event_types = r.texts()?.into_iter().collect();
    m.sources = r.texts()?.into_iter().collect();
    Ok(engine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_row_reads_back_whole() {
        let mut attrs = Attrs::default();
        attrs.set("intent.event.type", "signal.created");
        attrs.set("intent.data.note", "x");
        attrs.set("custom", Value::Float(0.5));
        attrs.set("intent.backfilled", Value::Bool(true));
        attrs.set("intent.event.line", Value::Int(-3));
        attrs.set("intent.artifact.id", "SIG-1"); // written as the row's own id
        attrs.set("intent.data.title", "Flaky"); // as its title
        attrs.set("intent.data.kind", "signal"); // as its kind
        let art = Artifact {
            key: "signal:SIG-1".into(),
            kind: Kind::Signal,
            id: Some("SIG-1".into()),
            span_id: ids::span_id(&["s", "artifact", "signal:SIG-1"]),
            first_ns: 1_700_000_000_000_000_000,
            last_ns: 1_700_000_000_000_000_500,
            name: "signal SIG-1".into(), // not written: the name it was made with
            title: Some("Flaky".into()),
            attrs,
            files: Some(vec![("a.md".into(), "signal:SIG-1".into())]),
            trace_id: Some(ids::derived_trace_id(&["x"])),
            claimed_trace: Some("not hex".into()),
            counted: true,
            bare: true,
            trust: Some(0.7),
            members: vec!["a".into(), "signal:b".into()],
            intent: Some("intent:INT-1".into()),
            latest: Some("signal:SIG-1#2".into()),
            end_ns: Some(-1),
            ..Default::default()
        };
        let row = artifact_row(&art);
        assert_eq!(
            row.windows(5).filter(|w| *w == b"Flaky").count(),
            1,
            "written once, as the title"
        );
        assert_eq!(read_artifact("s", &art.key, &row), Ok(art));
        assert!(read_artifact("s", "k", &row[..row.len() - 1]).is_err());
    }

    #[test]
    fn the_core_row_reads_back_whole() {
        let mut engine = Engine::new("repo");
        engine
            .claimed
            .insert(ids::derived_trace_id(&["t"]), "intent:INT-1".into());
        engine.unplaced.insert("spec:SPEC-1".into());
        engine.metrics.count_event("signal.created", None, 5);
        engine.metrics.trust.observe(0.3);
        let row = core_row(&engine);
        assert_eq!(header(&row), Ok((STATE_VERSION, "repo".to_string())));
        let back = read_core(&row).unwrap();
        assert_eq!(
            (back.claimed, back.unplaced, back.metrics),
            (engine.claimed, engine.unplaced, engine.metrics)
        );
    }
}
