//! The document `inspect --json` prints: every trace under the kind of its root artifact
//! (`intents`, `specs`, …), keyed by the artifact's id (`#2` for another artifact of a reused
//! id), with its spans depth-first; the orphan signals; the counts. Members written elsewhere
//! (the metrics, the unusable lines) are given as JSON and take their place among the keys.

use std::borrow::Cow;
use std::io::{self, Write};

use foldhash::{HashMap, HashSet};

use super::pretty::Pretty;
use super::{Collector, Span, SpanId, Texts, TraceId};
use crate::identity::Engine;
use crate::identity::codec::Glance;
use crate::identity::model::Text;
use crate::parse::Kind;

/// The trace groups, by the kind of their root artifact.
const GROUPS: [(Kind, &str); 7] = [
    (Kind::Intent, "intents"),
    (Kind::Cluster, "clusters"),
    (Kind::Spec, "specs"),
    (Kind::Contract, "contracts"),
    (Kind::Assertion, "assertions"),
    (Kind::Decision, "decisions"),
    (Kind::Other, "other_events"),
];

enum Member<'a> {
    Json(&'a [u8]),
    Count(u64),
    Group(Vec<Shown>), // trace roots, by key
    Orphans(Vec<Shown>),
}

/// What the document shows of an artifact that roots a trace or is an orphan signal.
struct Shown {
    key: String,
    id_at: usize, // where the id begins in `key`, after its kind (a group is sorted by it)
    kind: Kind,
    id: Option<Text>,
    file: Option<Text>,
    cluster: Option<Text>,
    inactive: Option<Text>,
    title: Option<Text>, // `title`
    span_id: SpanId,
    trace_id: TraceId,
    placeholder: bool,
    closed: bool,
}

impl Shown {
    fn of(art: &Glance, trace_id: TraceId) -> Self {
        Shown {
            key: art.key.into(),
            id_at: art.key.find(':').map_or(0, |colon| colon + 1),
            kind: art.kind,
            id: art.id.map(Text::from),
            file: art.file.map(Text::from),
            cluster: art.cluster.as_deref().map(Text::from),
            inactive: art.inactive.map(Text::from),
            title: title(art).map(Text::from),
            span_id: art.span_id,
            trace_id,
            placeholder: art.placeholder,
            closed: art.closed,
        }
    }

    /// A group's key: the root's id, or its key's (`#2` for another artifact of its id).
    fn group_key(&self) -> &str {
        &self.key[self.id_at..]
    }
}

/// What a span's artifact (the one it announces) shows in its entry: open or closed, and
/// its newest title (a number in `Placed::titles`).
#[derive(Clone, Copy)]
struct Newest {
    closed: bool,
    title: Option<u32>,
}

/// What the document needs of the placed artifacts, gathered in one pass over them: an
/// artifact is read (decoded, if the table let it go) and dropped, not held.
struct Placed {
    by_span: Vec<Option<Newest>>, // as `spans`
    titles: Texts,
    groups: [Vec<Shown>; GROUPS.len()], // as GROUPS
    orphans: Vec<Shown>,
}

fn placed(engine: &Engine, collector: &Collector) -> Placed {
    let mut found = Placed {
        by_span: vec![None; collector.spans.len()],
        titles: Texts::default(),
        groups: Default::default(),
        orphans: Vec::new(),
    };
    engine.artifacts.each(|art| {
        let Some(trace_id) = art.trace_id else { return };
        if let Some(index) = collector.place_of(&art.span_id) {
            let title = art.title.map(|title| found.titles.number(title));
            found.by_span[index as usize] = Some(Newest {
                closed: art.closed,
                title,
            });
        }
        if art.parented {
            return; // not the root of a trace
        }
        if art.kind == Kind::Signal {
            if !art.in_intent {
                found.orphans.push(Shown::of(&art, trace_id));
            }
            return;
        }
        if let Some(group) = GROUPS.iter().position(|(kind, _)| *kind == art.kind) {
            found.groups[group].push(Shown::of(&art, trace_id));
        }
    });
    // the table hands its artifacts in no particular order (a span announces one artifact)
    for group in &mut found.groups {
        group.sort_unstable_by(|a, b| a.group_key().cmp(b.group_key()));
    }
    found.orphans.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    found
}

/// The whole document, then a newline, to `sink`; `given`: members as JSON (orjson's, with
/// `OPT_INDENT_2 | OPT_SORT_KEYS`).
pub fn write(
    collector: &Collector,
    engine: &Engine,
    given: &[(String, Vec<u8>)],
    sink: &mut dyn Write,
) -> io::Result<()> {
    let mut placed = placed(engine, collector);
    let mut members: Vec<(&str, Member)> = vec![
        ("events", Member::Count(engine.events_seen)),
        ("spans", Member::Count(collector.spans.len() as u64)),
        ("spans_resent", Member::Count(collector.resent)),
        ("logs", Member::Count(collector.logs)),
        ("orphans", Member::Orphans(std::mem::take(&mut placed.orphans))),
    ];
    for ((_, name), group) in GROUPS.iter().zip(std::mem::take(&mut placed.groups)) {
        members.push((name, Member::Group(group)));
    }
    members.extend(given.iter().map(|(key, json)| (key.as_str(), Member::Json(json))));
    members.sort_by(|a, b| a.0.cmp(b.0));
    if let Some(twice) = members.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(io::Error::other(format!(
            "the report's {:?} given twice",
            twice[0].0
        )));
    }
    let mut doc = Pretty::new(sink);
    doc.open(b'{');
    for (key, member) in members {
        doc.key(key);
        match member {
            Member::Json(json) => doc.json(json),
            Member::Count(n) => doc.int(n as i64),
            Member::Orphans(orphans) => {
                doc.open(b'[');
                for art in orphans {
                    doc.item();
                    orphan(&mut doc, &art);
                }
                doc.close(b']');
            }
            Member::Group(traces) => {
                doc.open(b'{');
                for root in traces {
                    doc.key(root.group_key());
                    trace(&mut doc, collector, &placed, &root)?;
                    doc.spill()?;
                }
                doc.close(b'}');
            }
        }
    }
    doc.close(b'}');
    doc.raw("\n");
    doc.finish()
}

/// The newest title; a standalone event is known by its type.
fn title<'a>(art: &'a Glance) -> Option<Cow<'a, str>> {
    match art.title {
        Some(title) if !title.is_empty() => Some(Cow::Borrowed(title)),
        _ => (art.kind == Kind::Other).then(|| art.name()),
    }
}

fn state(closed: bool) -> &'static str {
    if closed { "closed" } else { "open" }
}

fn orphan(doc: &mut Pretty, art: &Shown) {
    doc.open(b'{');
    doc.name("cluster");
    let cluster = art.cluster.as_deref().filter(|c| !c.is_empty());
    doc.opt_str(cluster.map(|c| c.strip_prefix("cluster:").unwrap_or(c)));
    doc.name("file");
    doc.opt_str(art.file.as_deref());
    doc.name("id");
    doc.opt_str(art.id.as_deref());
    doc.name("key");
    doc.str(&art.key);
    doc.name("span_id");
    doc.hex(&art.span_id);
    doc.name("status");
    doc.str(
        art.inactive
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("active"),
    );
    doc.name("title");
    doc.opt_str(art.title.as_deref());
    doc.name("trace_id");
    doc.hex(&art.trace_id);
    doc.close(b'}');
}

fn trace(doc: &mut Pretty, collector: &Collector, placed: &Placed, root: &Shown) -> io::Result<()> {
    let id = root.trace_id;
    let spans = collector.traces.get(&id).map_or(&[][..], Vec::as_slice);
    doc.open(b'{');
    doc.name("artifacts");
    doc.open(b'[');
    for (index, depth) in tree(collector, spans) {
        doc.item();
        let span = &collector.spans[index as usize];
        let newest = placed.by_span[index as usize];
        entry(doc, &collector.texts, span, depth, newest, &placed.titles);
    }
    doc.close(b']');
    doc.name("file");
    doc.opt_str(root.file.as_deref());
    doc.name("placeholder");
    doc.bool(root.placeholder);
    doc.name("state");
    doc.str(state(root.closed));
    doc.name("title");
    doc.opt_str(root.title.as_deref());
    doc.name("trace_id");
    doc.hex(&id);
    doc.name("type");
    doc.str(root.kind.value());
    doc.close(b'}');
    Ok(())
}

/// A trace's spans depth-first (roots first, children by start time, name and id), with
/// their depth. A span whose parent is not in the trace is one of its roots.
pub fn tree(collector: &Collector, spans: &[u32]) -> Vec<(u32, usize)> {
    let span = |i: u32| &collector.spans[i as usize];
    let ids: HashSet<SpanId> = spans.iter().map(|&i| span(i).id).collect();
    let mut children: HashMap<Option<SpanId>, Vec<u32>> = HashMap::default();
    for &i in spans {
        let parent = span(i).parent.filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(i);
    }
    let order = |i: &u32| {
        let s = span(*i);
        (s.start_ns, collector.texts.get(s.name), s.id)
    };
    for group in children.values_mut() {
        group.sort_by(|a, b| order(a).cmp(&order(b)));
    }
    let mut ordered = Vec::with_capacity(spans.len());
    let mut stack: Vec<(u32, usize)> = Vec::new();
    let push = |stack: &mut Vec<(u32, usize)>, parent: Option<SpanId>, depth: usize| {
        if let Some(group) = children.get(&parent) {
            stack.extend(group.iter().rev().map(|&i| (i, depth)));
        }
    };
    push(&mut stack, None, 0);
    while let Some((i, depth)) = stack.pop() {
        ordered.push((i, depth));
        push(&mut stack, Some(span(i).id), depth + 1);
    }
    ordered
}

/// `round(seconds, 6)` as Python rounds a float: to the nearest, ties to even, of its exact
/// binary value.
fn duration_s(span: &Span) -> f64 {
    let ns = span.end_ns as i128 - span.start_ns as i128;
    if ns == 0 {
        return 0.0; // an instant: most spans
    }
    let seconds = ns as f64 / 1e9;
    if 0 < ns && ns < SHORT_NS && ns % 1000 != 500 {
        // the float is within a nanosecond of the exact value here, so no closer to a tie
        // of the rounding: rounding the nanoseconds to microseconds gives the same decimal
        // (and `micros / 1e6`, one correctly rounded division, the same float as its text)
        let micros = (ns + 500) / 1000;
        return micros as f64 / 1e6;
    }
    format!("{seconds:.6}").parse().unwrap_or(seconds)
}

/// Durations below this (11.6 days) are floats of a nanosecond's precision or better.
const SHORT_NS: i128 = 1_000_000_000_000_000;

fn entry(doc: &mut Pretty, texts: &Texts, span: &Span, depth: usize, art: Option<Newest>, titles: &Texts) {
    doc.open(b'{');
    doc.name("backfilled");
    doc.bool(span.backfilled);
    doc.name("depth");
    doc.int(depth as i64);
    doc.name("duration_s");
    doc.float(duration_s(span));
    doc.name("id");
    doc.raw(texts.get(span.artifact_id));
    doc.name("name");
    doc.str(texts.get(span.name));
    doc.name("parent_span_id");
    match &span.parent {
        Some(parent) => doc.hex(parent),
        None => doc.raw("null"),
    }
    doc.name("phase");
    doc.raw(texts.get(span.phase));
    doc.name("span_id");
    doc.hex(&span.id);
    doc.name("start_ns");
    doc.int(span.start_ns);
    doc.name("state");
    match art {
        Some(art) => doc.str(state(art.closed)),
        None => doc.raw(texts.get(span.state)),
    }
    doc.name("status");
    doc.str(if span.error { "error" } else { "ok" });
    doc.name("status_message");
    doc.raw(texts.get(span.status_message));
    doc.name("title");
    match art.and_then(|a| a.title) {
        Some(title) => doc.str(titles.get(title)),
        None => doc.raw(texts.get(span.title)),
    }
    doc.name("type");
    doc.raw(texts.get(span.kind));
    doc.close(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lasting(ns: i64) -> Span {
        Span {
            id: [0; 8],
            parent: None,
            start_ns: 1_700_000_000_000_000_000,
            end_ns: 1_700_000_000_000_000_000 + ns,
            name: 0,
            error: false,
            backfilled: false,
            artifact_id: 0,
            kind: 0,
            state: 0,
            phase: 0,
            title: 0,
            status_message: 0,
        }
    }

    #[test]
    fn durations_round_to_microseconds_as_python_rounds_the_float() {
        let by_text = |ns: i64| {
            let seconds = ns as f64 / 1e9;
            format!("{seconds:.6}").parse::<f64>().unwrap()
        };
        let mut ns: i64 = 1;
        while ns < 2 * SHORT_NS as i64 {
            for near in [ns - 1, ns, ns + 1, ns + 499, ns + 500, ns + 501, ns * 7 + 3] {
                assert_eq!(duration_s(&lasting(near)), by_text(near), "{near} ns");
            }
            ns = ns * 3 + 1;
        }
        assert_eq!(duration_s(&lasting(0)), 0.0);
        assert_eq!(duration_s(&lasting(-1_500)), by_text(-1_500));
    }
}
