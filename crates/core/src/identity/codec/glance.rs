//! What a pass over every artifact (the document's) reads of one. An artifact let go is read
//! from its row for that alone: its texts as they lie there, past its attributes, files and
//! lists without making them, and no further than its own name.

use std::borrow::Cow;

use super::bytes::{ReadResult, Reader};
use super::sparse::SparseReader;
use super::{CLUSTER, Glanced, flag, kind_of};
use crate::identity::ids::{self, SpanId, TraceId};
use crate::identity::model::{Artifact, span_name};
use crate::parse::Kind;

#[derive(Debug, PartialEq)]
pub struct Glance<'a> {
    pub key: &'a str,
    pub kind: Kind,
    pub id: Option<&'a str>,
    pub span_id: SpanId,
    pub trace_id: Option<TraceId>,
    pub parented: bool, // its span has a parent: it roots no trace
    pub in_intent: bool,
    pub title: Option<&'a str>,
    pub file: Option<&'a str>,
    pub cluster: Option<Cow<'a, str>>,
    pub inactive: Option<&'a str>,
    own_name: Option<&'a str>,
    pub closed: bool,
    pub placeholder: bool,
}

impl Glance<'_> {
    /// Its span's name (`Artifact::name`).
    pub fn name(&self) -> Cow<'_, str> {
        span_name(self.own_name, self.kind, self.id, self.file)
    }
}

impl Glanced for Artifact {
    type Glance<'a> = Glance<'a>;

    fn glance(&self) -> Glance<'_> {
        Glance {
            key: &self.key,
            kind: self.kind,
            id: self.id.as_deref(),
            span_id: self.span_id,
            trace_id: self.trace_id,
            parented: self.parent_span.is_some(),
            in_intent: self.intent.is_some(),
            title: self.title.as_deref(),
            file: self.file.as_deref(),
            cluster: self.cluster.as_deref().map(Cow::Borrowed),
            inactive: self.inactive.as_deref(),
            own_name: self.own_name.as_deref(),
            closed: self.closed,
            placeholder: self.placeholder,
        }
    }

    /// The fields in `artifact_row`'s order, those not looked at passed over.
    fn glance_row<'a>(scope: &str, key: &'a str, row: &'a [u8]) -> ReadResult<Glance<'a>> {
        let mut head = Reader::new(row);
        let kind = kind_of(head.uint()?)?;
        let bits = head.uint()?;
        head.time()?;
        let mut s = SparseReader::new(head)?;
        let id = s.next(Reader::str)?;
        let trace_id = s.next(Reader::id_bytes)?;
        s.next(Reader::time)?; // end
        s.next(Reader::time)?; // last
        let title = s.next(Reader::str)?;
        let parented = s.next(Reader::id_bytes::<8>)?.is_some();
        let in_intent = s.next(Reader::skip_key)?.is_some();
        s.next(Reader::skip_key)?; // contract
        s.next(Reader::skip_key)?; // spec
        let cluster = s.next(|r| r.key_str(CLUSTER))?;
        let file = s.next(Reader::str)?;
        s.next(Reader::skip_attrs)?;
        s.next(|r| {
            for _ in 0..r.len()? {
                r.opt_str()?; // a file, or the same as its own
                r.opt_str()?; // its occurrence's key, or the same
            }
            Ok(())
        })?;
        s.next(Reader::str)?; // status message
        s.next(Reader::uint)?; // run
        s.next(Reader::skip_keys)?; // members
        let inactive = s.next(Reader::str)?;
        s.next(Reader::float)?; // trust
        s.next(Reader::str)?; // level
        for _ in 0..3 {
            s.next(Reader::skip_keys)?; // contracts, listed, passed
        }
        s.next(Reader::time)?; // defined
        s.next(Reader::time)?; // first spec
        let own_name = s.next(Reader::str)?;
        Ok(Glance {
            key,
            kind,
            id,
            span_id: ids::span_id(&[scope, "artifact", key]),
            trace_id,
            parented,
            in_intent,
            title,
            file,
            cluster,
            inactive,
            own_name,
            closed: flag(bits, 2),
            placeholder: flag(bits, 6),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::attrs::Attrs;
    use crate::identity::codec::artifact_row;
    use crate::identity::model::{Announced, Lists};

    #[test]
    fn a_row_glanced_at_shows_what_its_artifact_does() {
        let mut attrs = Attrs::default();
        attrs.set("intent.data.note", "x");
        attrs.set("intent.artifact.id", "EV-1");
        let key = "other:EV-1";
        let mut art = Artifact {
            key: key.into(),
            kind: Kind::Other,
            id: Some("EV-1".into()),
            span_id: ids::span_id(&["s", "artifact", key]),
            title: Some("A title".into()),
            file: Some("a.md".into()),
            attrs: Announced::Open(attrs),
            files: Some(Box::new([("b.md".into(), "other:EV-1#2".into())])),
            trace_id: Some(ids::derived_trace_id(&["x"])),
            parent_span: Some(ids::span_id(&["p"])),
            intent: Some("intent:INT-1".into()),
            spec: Some("SPEC-1".into()), // a key without its prefix
            cluster: Some("cluster:CL-1".into()),
            lists: Lists::of(
                vec!["contract:C".into()],
                vec![],
                vec!["C2".into()],
                vec!["signal:S".into()],
            ),
            status_message: Some("boom".into()),
            inactive: Some("resolved".into()),
            level: Some("L2".into()),
            trust: Some(0.5),
            own_name: Some("system.error".into()),
            closed: true,
            placeholder: true,
            ..Default::default()
        };
        for cluster in [Some("cluster:CL-1"), Some("CL-2"), None] {
            art.cluster = cluster.map(Into::into);
            let row = artifact_row(&art);
            assert_eq!(Artifact::glance_row("s", key, &row), Ok(art.glance()));
        }
        assert_eq!(art.glance().name(), "system.error");
        art.own_name = None;
        assert_eq!(art.glance().name(), art.name());
    }
}
