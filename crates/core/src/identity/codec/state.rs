//! The core row: everything of the engine state but its keyed tables.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashSet};

use super::bytes::{ReadResult, Reader, Writer};
use crate::identity::engine::Engine;
use crate::identity::metrics::{Histogram, MetricState};
use crate::identity::model::*;

/// Written first in the core row; a state of another version is read again from the log.
pub const STATE_VERSION: u64 = 7;

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
    w.id_bytes(&phase.span_id); // as `opt_id` wrote its hex digits
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
        span_id: r.id_bytes()?,
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
        trace_id: Default::default(), // set when it leaves
        span_id: Default::default(),
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
    use crate::identity::ids;

    #[test]
    fn the_core_row_reads_back_whole() {
        let mut engine = Engine::new("repo");
        engine
            .claimed
            .insert(ids::hex(&ids::derived_trace_id(&["t"])), "intent:INT-1".into());
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
