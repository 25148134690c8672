//! What kind of artifact an event is about: by its type, or by its id's usual shape.

use super::fields::Key;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Kind {
    Signal,
    Cluster,
    Intent,
    Spec,
    Contract,
    Assertion,
    Decision,
    #[default]
    Other,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Signal,
        Kind::Cluster,
        Kind::Intent,
        Kind::Spec,
        Kind::Contract,
        Kind::Assertion,
        Kind::Decision,
        Kind::Other,
    ];

    /// The `ArtifactKind` value Python knows it by.
    pub fn value(self) -> &'static str {
        match self {
            Kind::Signal => "signal",
            Kind::Cluster => "cluster",
            Kind::Intent => "intent",
            Kind::Spec => "spec",
            Kind::Contract => "contract",
            Kind::Assertion => "assertion",
            Kind::Decision => "decision",
            Kind::Other => "other",
        }
    }

    /// The typed id field that names an artifact of this kind (`signal_id`, …).
    pub fn typed_id_field(self) -> Option<&'static str> {
        self.typed_id_key().map(Key::name)
    }

    pub(super) fn typed_id_key(self) -> Option<Key> {
        match self {
            Kind::Signal => Some(Key::SignalId),
            Kind::Cluster => Some(Key::ClusterId),
            Kind::Intent => Some(Key::IntentId),
            Kind::Spec => Some(Key::SpecId),
            Kind::Contract => Some(Key::ContractId),
            Kind::Assertion => Some(Key::AssertionId),
            Kind::Decision => Some(Key::DecisionId),
            Kind::Other => None,
        }
    }

    /// Where real writers link an artifact of this kind beside the typed field (`data.intent`).
    pub(super) fn link_key(self) -> Option<Key> {
        match self {
            Kind::Signal => Some(Key::Signal),
            Kind::Cluster => Some(Key::Cluster),
            Kind::Intent => Some(Key::Intent),
            Kind::Spec => Some(Key::Spec),
            Kind::Contract => Some(Key::Contract),
            _ => None,
        }
    }
}

/// Event type prefix → artifact kind, longest prefix first. An approval of an intent is an
/// event *about* the intent (a span under it), not one of its own: it must not redefine it.
const KIND_BY_PREFIX: [(&str, Kind); 8] = [
    ("contract.assertion.", Kind::Assertion),
    ("intent.approval.", Kind::Other),
    ("signal.", Kind::Signal),
    ("cluster.", Kind::Cluster),
    ("intent.", Kind::Intent),
    ("spec.", Kind::Spec),
    ("contract.", Kind::Contract),
    ("decision.", Kind::Decision),
];

pub fn kind_of_type(event_type: &str) -> Kind {
    KIND_BY_PREFIX
        .iter()
        .find(|(prefix, _)| event_type.starts_with(prefix))
        .map_or(Kind::Other, |(_, kind)| *kind)
}

/// The kind an id's usual shape says (`SIG-`, `CL-`/`CLU-`/`CLUSTER-`, `INT-`, `SPEC-`,
/// `CON-`/`CONTRACT-`, `assert…`, `DEC-`; `_` works as `-`; any case), used to tell which
/// of span_id / ref / parent_id names what.
pub fn kind_of_id(id: &str) -> Option<Kind> {
    let bytes = id.as_bytes();
    let starts = |prefix: &str| {
        bytes
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    let tagged = |prefix: &str| starts(prefix) && matches!(bytes.get(prefix.len()), Some(b'-' | b'_'));
    if tagged("sig") {
        Some(Kind::Signal)
    } else if tagged("cl") || tagged("clu") || tagged("cluster") {
        Some(Kind::Cluster)
    } else if tagged("int") {
        Some(Kind::Intent)
    } else if tagged("spec") {
        Some(Kind::Spec)
    } else if tagged("con") || tagged("contract") {
        Some(Kind::Contract)
    } else if starts("assert") {
        Some(Kind::Assertion)
    } else if tagged("dec") {
        Some(Kind::Decision)
    } else {
        None
    }
}
