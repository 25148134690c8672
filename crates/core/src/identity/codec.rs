//! The engine state's durable form: one compact binary row per artifact, membership and file,
//! and one row for the rest (`core`). Varints, ids as raw bytes, span ids recomputed from the
//! key rather than stored, common attribute keys as one byte, only the fields set, times
//! scaled to their unit and as distances from the first: no JSON, no merged attribute dicts
//! (an artifact's announced attributes are dropped once it is announced, but a signal's or a
//! spec's, which its memberships copy later).

pub(super) mod bytes;
mod glance;
mod sparse;
mod state;

use super::ids;
use super::model::*;
use crate::parse::Kind;
use bytes::{ReadResult, Reader, Writer};
pub use glance::Glance;
use sparse::{Sparse, SparseReader, unless};
pub use state::{STATE_VERSION, core_row, header, read_core};

const INTENT: &str = "intent:";
const SPEC: &str = "spec:";
const CONTRACT: &str = "contract:";
const CLUSTER: &str = "cluster:";
const SIGNAL: &str = "signal:";

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

/// What an artifact's announced attributes repeat of its own fields.
fn known_values<'a>(
    kind: Kind,
    id: &'a Option<Text>,
    title: &'a Option<Text>,
    file: &'a Option<Text>,
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

/// What a pass over every entry of a table reads of one (`Table::each`): of an entry let go,
/// read from its row for that alone.
pub trait Glanced: Row {
    type Glance<'a>
    where
        Self: 'a;
    fn glance(&self) -> Self::Glance<'_>;
    fn glance_row<'a>(scope: &str, key: &'a str, row: &'a [u8]) -> ReadResult<Self::Glance<'a>>;
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

/// A list when it holds something (not written else).
fn listed(list: &[String]) -> Option<&[String]> {
    (!list.is_empty()).then_some(list)
}

/// Kind, flags and first time, then the fields set: the most often set first, so that the
/// mask of those present stays short; times after the first as their distance from it.
pub fn artifact_row(art: &Artifact) -> Vec<u8> {
    let mut s = Sparse::new(|head| {
        head.uint(kind_code(art.kind));
        head.uint(flags(&[
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
        head.time(art.first_ns);
    });
    let since = |ns: Option<i64>| ns.map(|ns| ns.wrapping_sub(art.first_ns));
    s.put(art.id.as_deref(), Writer::text);
    s.put(art.trace_id.as_ref(), |w, id| w.id_bytes(id));
    s.put(since(art.end_ns), Writer::time);
    s.put(unless(art.last_ns.wrapping_sub(art.first_ns), 0), Writer::time);
    s.put(art.title.as_deref(), Writer::text);
    s.put(art.parent_span.as_ref(), |w, id| w.id_bytes(id));
    for (relation, prefix) in [
        (&art.intent, INTENT),
        (&art.contract, CONTRACT),
        (&art.spec, SPEC),
        (&art.cluster, CLUSTER),
    ] {
        s.put(relation.as_deref(), |w, key| w.key(key, prefix));
    }
    s.put(art.file.as_deref(), Writer::text);
    let known = known_values(art.kind, &art.id, &art.title, &art.file);
    s.put(
        (!art.attrs.is_empty()).then_some(&art.attrs),
        |w, attrs| match attrs {
            Announced::Open(attrs) => w.attrs_of(attrs, &known),
            Announced::Packed(packed) => w
                .repacked_attrs_of(packed, &known)
                .unwrap_or_else(|e| panic!("attributes packed unreadable: {e}")),
        },
    );
    s.put(art.files.as_ref(), |w, files| {
        w.uint(files.len() as u64);
        for (file, key) in files {
            w.or_same(file, art.file.as_deref());
            w.or_same(key, Some(&art.key));
        }
    });
    s.put(art.status_message.as_deref(), Writer::text);
    s.put(unless(u64::from(art.run), 0), Writer::uint);
    s.put(listed(&art.lists().members), |w, keys| w.keys(keys, SIGNAL));
    s.put(art.inactive.as_deref(), Writer::text);
    s.put(art.trust, Writer::float);
    s.put(art.level.as_deref(), Writer::text);
    let lists = art.lists();
    for list in [&lists.contracts, &lists.listed, &lists.passed] {
        s.put(listed(list), |w, keys| w.keys(keys, CONTRACT));
    }
    s.put(since(art.defined_ns), Writer::time);
    s.put(since(art.first_spec_ns), Writer::time);
    // the usual name and the kind's prefix made only for the few rows that have these
    s.put(
        art.own_name
            .as_deref()
            .filter(|name| *name != usual_name(art.kind, art.id.as_deref(), art.file.as_deref())),
        Writer::text,
    );
    s.put(art.latest.as_deref(), |w, key| w.key(key, &own_prefix(art.kind)));
    s.put(unless(u64::from(art.occurrences), 1), Writer::uint);
    s.put(art.claimed_trace.as_deref(), Writer::id);
    s.put(unless(u64::from(art.runs), 0), Writer::uint);
    s.put(since(art.run_start_ns), Writer::time);
    s.put(unless(u64::from(art.evaluations), 0), Writer::uint);
    s.finish()
}

/// What starts the key of an artifact of `kind`.
fn own_prefix(kind: Kind) -> String {
    format!("{}:", kind.value())
}

/// A count as the engine holds it (32 bits), `default` when not written.
fn count(written: Option<u64>, default: u32) -> ReadResult<u32> {
    written.map_or(Ok(default), |n| {
        u32::try_from(n).map_err(|_| format!("state row count {n} too large"))
    })
}

pub fn read_artifact(scope: &str, key: &str, row: &[u8]) -> ReadResult<Artifact> {
    let mut head = Reader::new(row);
    let kind = kind_of(head.uint()?)?;
    let bits = head.uint()?;
    let first_ns = head.time()?;
    let at = |since: Option<i64>| since.map(|since| first_ns.wrapping_add(since));
    let mut s = SparseReader::new(head)?;
    let id = s.next(Reader::text)?.map(Text::from);
    let trace_id = s.next(Reader::id_bytes)?;
    let end_ns = at(s.next(Reader::time)?);
    let last_ns = first_ns.wrapping_add(s.next(Reader::time)?.unwrap_or(0));
    let title = s.next(Reader::text)?.map(Text::from);
    let parent_span = s.next(Reader::id_bytes)?;
    let intent = s.next(|r| r.key(INTENT))?.map(Text::from);
    let contract = s.next(|r| r.key(CONTRACT))?.map(Text::from);
    let spec = s.next(|r| r.key(SPEC))?.map(Text::from);
    let cluster = s.next(|r| r.key(CLUSTER))?.map(Text::from);
    let file = s.next(Reader::text)?.map(Text::from);
    let known = known_values(kind, &id, &title, &file);
    let attrs = s.next(|r| r.attrs_of(&known))?.unwrap_or_default();
    let files = s.next(|r| {
        let n = r.len()?;
        (0..n)
            .map(|_| Ok((r.or_same(file.as_deref())?.into(), r.or_same(Some(key))?.into())))
            .collect::<ReadResult<Box<[_]>>>()
    })?;
    let status_message = s.next(Reader::text)?.map(Text::from);
    let run = count(s.next(Reader::uint)?, 0)?;
    let members = s.next(|r| r.keys(SIGNAL))?.unwrap_or_default();
    let inactive = s.next(Reader::text)?.map(Text::from);
    let trust = s.next(Reader::float)?;
    let level = s.next(Reader::text)?.map(Text::from);
    let contracts = s.next(|r| r.keys(CONTRACT))?.unwrap_or_default();
    let listed = s.next(|r| r.keys(CONTRACT))?.unwrap_or_default();
    let passed = s.next(|r| r.keys(CONTRACT))?.unwrap_or_default();
    let defined_ns = at(s.next(Reader::time)?);
    let first_spec_ns = at(s.next(Reader::time)?);
    let own_name = s.next(Reader::text)?.map(Text::from);
    let latest = s.next(|r| r.key(&own_prefix(kind)))?.map(Text::from);
    let occurrences = count(s.next(Reader::uint)?, 1)?;
    let claimed_trace = s.next(Reader::id)?.map(Text::from);
    let runs = count(s.next(Reader::uint)?, 0)?;
    let run_start_ns = at(s.next(Reader::time)?);
    let evaluations = count(s.next(Reader::uint)?, 0)?;
    Ok(Artifact {
        key: key.to_string(),
        kind,
        id,
        span_id: ids::span_id(&[scope, "artifact", key]),
        first_ns,
        last_ns,
        own_name,
        attrs: Announced::of(attrs, flag(bits, 1) && Announced::kept(kind)),
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
        defined_ns,
        claimed_trace,
        trace_id,
        parent_span,
        announced: flag(bits, 1),
        closed: flag(bits, 2),
        end_ns,
        error: flag(bits, 3),
        status_message,
        runs,
        running: flag(bits, 4),
        run_start_ns,
        approved: flag(bits, 5),
        lists: Lists::of(contracts, listed, passed, members),
        inactive,
        trust,
        level,
        first_spec_ns,
        placeholder: flag(bits, 6),
        in_progress: flag(bits, 7),
        counted: flag(bits, 8),
        observed: flag(bits, 9),
        bare: flag(bits, 10),
        evaluations,
        run,
    })
}

/// Its signal and container, which its key names (`cluster-member:{signal}@{container}`): the
/// signal's length says where the key splits, so neither is written again. (A 0 there, a
/// row that wrote them out, is read if its key names them too.)
pub fn membership_row(member: &Membership) -> Vec<u8> {
    let mut w = Writer::default();
    w.uint(flags(&[member.intent_role, member.observed]));
    w.uint(u64::from(member.signal_len) + 1);
    w.time(member.time_ns);
    w.attrs(&member.attrs);
    w.0
}

pub fn read_membership(scope: &str, key: &str, row: &[u8]) -> ReadResult<Membership> {
    let mut r = Reader::new(row);
    let bits = r.uint()?;
    let intent_role = flag(bits, 0);
    let named = key.strip_prefix(Membership::prefix(intent_role));
    let signal_len = match r.len()? {
        0 => {
            let (signal, container) = (r.text()?, r.text()?);
            (key == Membership::key_of(&signal, &container, intent_role)).then_some(signal.len())
        }
        n => named
            .filter(|rest| rest.get(..n - 1).is_some() && rest.get(n..).is_some())
            .map(|_| n - 1),
    };
    let signal_len = signal_len.ok_or("a membership key that names no signal")?;
    Ok(Membership {
        key: key.to_string(),
        signal_len: u32::try_from(signal_len).map_err(|e| e.to_string())?,
        intent_role,
        observed: flag(bits, 1),
        time_ns: r.time()?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::attrs::{Attrs, Value};

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
            title: Some("Flaky".into()),
            attrs: Announced::Open(attrs),
            files: Some(Box::new([("a.md".into(), "signal:SIG-1".into())])),
            trace_id: Some(ids::derived_trace_id(&["x"])),
            claimed_trace: Some("not hex".into()),
            counted: true,
            bare: true,
            trust: Some(0.7),
            lists: Lists::of(vec![], vec![], vec![], vec!["a".into(), "signal:b".into()]),
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
    fn a_membership_row_reads_back_whole_its_key_split_where_its_signal_ends() {
        for (signal, container, intent_role) in [
            ("signal:@a@b.md", "cluster:C", false),
            ("signal:S", "intent:I", true),
        ] {
            let key = &Membership::key_of(signal, container, intent_role);
            let mut attrs = Attrs::default();
            attrs.set("intent.event.type", "signal.created");
            let member = Membership {
                key: key.into(),
                signal_len: signal.len() as u32,
                intent_role,
                time_ns: 1_700_000_000_000_000_000,
                span_id: ids::span_id(&["s", "member", key]),
                attrs,
                observed: true,
            };
            let row = membership_row(&member);
            assert!(!row.windows(8).any(|w| w == b"signal:S"), "the key names it");
            let read = read_membership("s", key, &row);
            assert_eq!(
                (
                    read.as_ref().map(Membership::signal),
                    read.as_ref().map(Membership::container)
                ),
                (Ok(signal), Ok(container))
            );
            assert_eq!(read, Ok(member));
        }
    }
}
