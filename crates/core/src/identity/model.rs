//! The engine's state and output: artifacts, memberships, closed phases, span and log records.

use std::borrow::Cow;

use super::attrs::{Attrs, Name, Value, push_one_line};
use super::codec::bytes::{Reader, Writer};
use super::ids::{SpanId, TraceId};
use crate::parse::Kind;

/// Text an artifact keeps and does not grow: a `String` without its capacity (16 bytes, not 24).
pub type Text = Box<str>;

/// One span-worthy thing. `key` is unique: kind, id and occurrence (one per file).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Artifact {
    pub key: String,
    pub kind: Kind,
    pub id: Option<Text>,
    pub span_id: SpanId,
    pub first_ns: i64,
    pub last_ns: i64,
    /// Its span's name when not the usual one (`usual_name`): a standalone event's type.
    pub own_name: Option<Text>,
    pub attrs: Announced,
    pub title: Option<Text>, // the newest title: a new title renames, never splits
    pub file: Option<Text>,
    pub files: Option<Box<[(Text, Text)]>>, // first occurrence: file → occurrence key
    pub latest: Option<Text>,               // first occurrence: key of the newest occurrence
    pub occurrences: u32,
    pub intent: Option<Text>,   // owning intent key (specs, standalone events)
    pub spec: Option<Text>,     // contracts
    pub contract: Option<Text>, // assertions, execution events
    pub cluster: Option<Text>,
    pub defined: bool, // intents: an event of their own (or a promotion) has been seen
    pub defined_ns: Option<i64>,
    pub claimed_trace: Option<Text>, // intents and clusters: a UUID from the events
    pub trace_id: Option<TraceId>,   // set once placed; never changes after
    pub parent_span: Option<SpanId>,
    pub announced: bool,
    pub closed: bool,
    pub end_ns: Option<i64>,
    pub error: bool,
    pub status_message: Option<Text>,
    pub runs: u32, // contracts: runs begun (started, or completed without a start)
    pub running: bool,
    pub run_start_ns: Option<i64>,
    pub approved: bool,
    /// Specs' contracts, intents' and clusters' signals: most artifacts have none.
    pub lists: Option<Box<Lists>>,
    pub inactive: Option<Text>, // signals: why no longer active
    pub trust: Option<f64>,
    pub level: Option<Text>,
    pub first_spec_ns: Option<i64>, // intents: when their first spec appeared
    pub placeholder: bool,
    pub in_progress: bool, // specs: approved or executing, not complete
    pub counted: bool,     // signals, specs: counted in their `*.total` metric
    pub observed: bool,    // intents, specs: their cycle time observed
    pub bare: bool,        // known only because another artifact's event named it
    pub evaluations: u32,  // assertions: evaluations in the same run
    pub run: u32,          // assertions: the contract run they were evaluated in
}

/// What an artifact's span is announced with: built up until it is announced, then dropped,
/// but a signal's or a spec's kept for the memberships that copy them later — packed as the
/// state's rows write attributes (a signal's nine take ~290 bytes, not ~700 as an `Attrs`).
#[derive(Clone, Debug)]
pub enum Announced {
    Open(Attrs),
    Packed(Box<[u8]>),
}

impl Default for Announced {
    fn default() -> Self {
        Announced::Open(Attrs::default())
    }
}

/// Equal when they hold the same attributes, packed or not.
impl PartialEq for Announced {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Announced::Packed(a), Announced::Packed(b)) => a == b,
            _ => self.get() == other.get(),
        }
    }
}

impl Announced {
    /// Whether an artifact of this kind keeps what it was announced with.
    pub fn kept(kind: Kind) -> bool {
        matches!(kind, Kind::Signal | Kind::Spec)
    }

    /// As an artifact holds them: packed once it is announced, if its kind keeps them.
    pub fn of(attrs: Attrs, packed: bool) -> Self {
        if packed {
            Announced::Packed(pack(&attrs))
        } else {
            Announced::Open(attrs)
        }
    }

    pub fn get(&self) -> Cow<'_, Attrs> {
        match self {
            Announced::Open(attrs) => Cow::Borrowed(attrs),
            Announced::Packed(bytes) => {
                let attrs = Reader::new(bytes).attrs();
                Cow::Owned(attrs.unwrap_or_else(|e| panic!("attributes packed unreadable: {e}")))
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Announced::Open(attrs) => attrs.0.is_empty(),
            Announced::Packed(bytes) => bytes.first() == Some(&0), // a count of none
        }
    }

    /// Set one, packed again if it was.
    pub fn set(&mut self, key: impl Into<Name>, value: impl Into<Value>) {
        match self {
            Announced::Open(attrs) => attrs.set(key, value),
            Announced::Packed(_) => {
                let mut attrs = self.get().into_owned();
                attrs.set(key, value);
                *self = Announced::Packed(pack(&attrs));
            }
        }
    }

    /// Announced: what it held, and kept packed if `kept`, else nothing kept.
    pub fn announce(&mut self, kept: bool) -> Attrs {
        let attrs = match std::mem::take(self) {
            Announced::Open(attrs) => attrs,
            packed => packed.get().into_owned(),
        };
        if kept {
            *self = Announced::Packed(pack(&attrs));
        }
        attrs
    }
}

fn pack(attrs: &Attrs) -> Box<[u8]> {
    let mut w = Writer::default();
    w.attrs(attrs);
    w.0.into_boxed_slice()
}

/// The lists an artifact may keep, behind one pointer: only specs, intents and clusters
/// have any, so the others keep eight bytes instead of four lists (96).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lists {
    pub contracts: Vec<String>, // specs: contracts attached
    pub listed: Vec<String>,    // specs: contracts the spec itself lists
    pub passed: Vec<String>,    // specs: contracts passed
    pub members: Vec<String>,   // intents and clusters: signal keys
}

static NO_LISTS: Lists = Lists {
    contracts: Vec::new(),
    listed: Vec::new(),
    passed: Vec::new(),
    members: Vec::new(),
};

impl Lists {
    /// `None` when all four are empty.
    pub fn of(
        contracts: Vec<String>,
        listed: Vec<String>,
        passed: Vec<String>,
        members: Vec<String>,
    ) -> Option<Box<Lists>> {
        let lists = Lists {
            contracts,
            listed,
            passed,
            members,
        };
        (lists != NO_LISTS).then(|| Box::new(lists))
    }
}

/// The name an artifact of this kind and id is given when it is made (`signal SIG-1`); one
/// with no id is named by its file's name (the file is what it is) where it has one.
pub fn usual_name(kind: Kind, id: Option<&str>, file: Option<&str>) -> String {
    let label = match (id, file) {
        (Some(id), _) => id,
        (None, Some(file)) => file.rsplit_once('/').map_or(file, |(_, name)| name),
        (None, None) => "(no id)",
    };
    let mut name = String::with_capacity(kind.value().len() + 1 + label.len());
    name.push_str(kind.value());
    name.push(' ');
    push_one_line(&mut name, label, 80);
    name
}

/// An artifact's span name: its own where it has one, else the usual one of its kind and id.
pub fn span_name<'a>(
    own_name: Option<&'a str>,
    kind: Kind,
    id: Option<&str>,
    file: Option<&str>,
) -> Cow<'a, str> {
    match own_name {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(usual_name(kind, id, file)),
    }
}

impl Artifact {
    /// Its span's name: made from its kind and id unless it has one of its own.
    pub fn name(&self) -> Cow<'_, str> {
        span_name(
            self.own_name.as_deref(),
            self.kind,
            self.id.as_deref(),
            self.file.as_deref(),
        )
    }

    pub fn lists(&self) -> &Lists {
        self.lists.as_deref().unwrap_or(&NO_LISTS)
    }

    /// For a push: made on the first (so an artifact without lists has `None`, never empty ones).
    pub fn lists_mut(&mut self) -> &mut Lists {
        self.lists.get_or_insert_default()
    }
}

/// A signal's appearance in a cluster's or an intent's trace (the backfill), keyed
/// `{role}-member:{signal}@{container}`: its signal and container are read from its key.
#[derive(Clone, Debug, PartialEq)]
pub struct Membership {
    pub key: String,
    pub signal_len: u32,   // where the key's signal ends
    pub intent_role: bool, // in an intent's trace, else a cluster's
    pub time_ns: i64,
    pub span_id: SpanId,
    /// The signal's announced attributes, until the membership's span is built.
    pub attrs: Attrs,
    pub observed: bool, // signal → intent cycle time observed
}

impl Membership {
    pub fn prefix(intent_role: bool) -> &'static str {
        if intent_role {
            "intent-member:"
        } else {
            "cluster-member:"
        }
    }

    /// Whether a key is a membership's (else an artifact's, `{kind}:…`): told without a lookup.
    pub fn is_key(key: &str) -> bool {
        key.starts_with(Self::prefix(true)) || key.starts_with(Self::prefix(false))
    }

    /// The key of a signal's membership in a container.
    pub fn key_of(signal: &str, container: &str, intent_role: bool) -> String {
        [Self::prefix(intent_role), signal, "@", container].concat()
    }

    fn named(&self) -> &str {
        &self.key[Self::prefix(self.intent_role).len()..]
    }

    pub fn signal(&self) -> &str {
        &self.named()[..self.signal_len as usize]
    }

    pub fn container(&self) -> &str {
        &self.named()[self.signal_len as usize + 1..]
    }
}

/// A closed phase of an artifact (a contract run, a lifecycle), waiting for its owner's place.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub owner: String,
    pub span_id: SpanId,
    pub name: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub error: bool,
    pub status_message: Option<String>,
    pub attrs: Attrs,
}

/// Ids as bytes, written as hex only where they leave for Python (the wire and the report
/// take the bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct SpanLink {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub attributes: Attrs,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpanRecord {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub error: bool,
    pub status_message: Option<String>,
    pub attributes: Attrs,
    pub links: Vec<SpanLink>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogRecord {
    pub time_ns: i64,
    pub observed_ns: i64,
    pub trace_id: TraceId, // its artifact's place, set when it leaves (`Engine::finish_log`)
    pub span_id: SpanId,
    pub severity_number: i32,
    pub severity_text: String,
    pub body: String,
    pub attributes: Attrs,
}

pub const SEVERITY_INFO: (i32, &str) = (9, "INFO");
pub const SEVERITY_WARN: (i32, &str) = (13, "WARN");
pub const SEVERITY_ERROR: (i32, &str) = (17, "ERROR");

#[derive(Clone, Debug, PartialEq)]
pub struct PendingLog {
    pub home: String, // artifact or membership key whose span the log belongs to
    pub record: LogRecord,
}

/// Where a line came from: the file's name borrowed for the lines of one read (not copied
/// for each line), owned for an event handed over from Python.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Position<'a> {
    pub file: Cow<'a, str>,
    pub line: i64,
    pub offset: i64,
}

/// An artifact's place: what a writer needs for `trace_id`/`parent_id` and a `TRACEPARENT`.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub intent_id: Option<String>,
    pub spec_id: Option<String>,
    pub contract_id: Option<String>,
}

#[derive(Debug, Default)]
pub struct Output {
    pub spans: Vec<SpanRecord>,
    pub logs: Vec<LogRecord>,
}
