//! The engine state's durable form: one compact binary row per artifact, membership and file,
//! and one row for the rest (`core`). Varints, ids as raw bytes, span ids recomputed from the
//! key rather than stored, common attribute keys as one byte: no JSON, no merged attribute
//! dicts (an artifact's announced attributes are dropped once it is announced, but a signal's
//! or a spec's, which its memberships copy later).

mod bytes;
mod state;

use super::attrs::one_line;
use super::ids;
use super::model::*;
use crate::parse::Kind;
use bytes::{ReadResult, Reader, Writer};
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
}
