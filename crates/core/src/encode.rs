//! Span, log and metric records → OTLP `Export*ServiceRequest` protobuf bytes.
//!
//! Only the fields our records use are written, in field-number order, so the same record
//! always encodes to the same bytes. Spans and logs write a few fields even at their
//! default value (a span's name, times and status, a log's body), as the requests this
//! project has always sent did: the bytes of a redelivered batch do not change.

use std::borrow::Cow;

use crate::wire::{
    LEN, put_bytes, put_double, put_fixed64, put_message, put_message_in, put_tagged, put_varint,
    put_varint_field, tag, varint_len,
};

/// UTF-8 text as the caller holds it (borrowed where it can be).
pub type Text<'a> = Cow<'a, [u8]>;

pub enum AnyValue<'a> {
    Str(Text<'a>),
    Bool(bool),
    Int(i64),
    Double(f64),
}

pub struct KeyValue<'a> {
    pub key: Text<'a>,
    pub value: AnyValue<'a>,
}

/// A record's attributes as their holder keeps them, each written as one `KeyValue`
/// (`put_key_value`): the engine's are written from its own records, with no list of
/// `KeyValue`s built first.
pub trait Attributes {
    fn put(&self, out: &mut Vec<u8>, field: u8);
}

impl Attributes for Vec<KeyValue<'_>> {
    fn put(&self, out: &mut Vec<u8>, field: u8) {
        put_attributes(out, field, self);
    }
}

pub struct Link<A> {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub attributes: A,
}

pub struct Span<'a, A = Vec<KeyValue<'a>>> {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub name: Text<'a>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: A,
    pub links: Vec<Link<A>>,
    /// `Some(message)` for status ERROR (an empty message is left out), `None` for UNSET.
    pub error: Option<Text<'a>>,
}

pub struct Log<'a, A = Vec<KeyValue<'a>>> {
    pub time_ns: u64,
    pub observed_ns: u64,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub severity_number: i32,
    pub severity_text: Text<'a>,
    pub body: Text<'a>,
    pub attributes: A,
    /// `LogRecord.event_name`; empty leaves the field out.
    pub event_name: Text<'a>,
}

pub struct Histogram<'a> {
    pub count: u64,
    pub sum: f64,
    pub bucket_counts: &'a [u64],
    pub explicit_bounds: &'a [f64],
}

pub enum PointValue<'a> {
    /// A cumulative monotonic sum.
    Counter(i64),
    Gauge(f64),
    /// A cumulative explicit-bucket histogram.
    Histogram(Histogram<'a>),
}

pub struct MetricPoint<'a> {
    pub name: Text<'a>,
    pub description: Text<'a>,
    pub unit: Text<'a>,
    pub labels: Vec<KeyValue<'a>>,
    pub value: PointValue<'a>,
}

/// What every request of one resource starts with: the encoded `Resource` and
/// `InstrumentationScope` fields, computed once per resource.
pub struct Envelope {
    resource: Vec<u8>,
    scope: Vec<u8>,
}

impl Envelope {
    pub fn new(resource: &[KeyValue], scope_name: &str, scope_version: &str) -> Envelope {
        let mut resource_field = Vec::new();
        put_message(&mut resource_field, 1, |out| put_attributes(out, 1, resource));
        let mut scope = Vec::new();
        put_message(&mut scope, 1, |out| {
            put_str(out, 1, scope_name.as_bytes());
            put_str(out, 2, scope_version.as_bytes());
        });
        Envelope {
            resource: resource_field,
            scope,
        }
    }

    /// What a request holding `items_len` bytes of items starts with: one
    /// `Resource{Spans,Logs,Metrics}` → one `Scope*` → the items. The three signals nest the
    /// same way (resource = 1, scope list = 2, scope = 1, items = 2). Sized up front, so the
    /// items are copied once, after it, and never moved to make room for a length.
    pub fn head(&self, items_len: usize) -> Vec<u8> {
        let scope_len = self.scope.len() + items_len;
        let resource_len = self.resource.len() + 1 + varint_len(scope_len as u64) + scope_len;
        let mut out = Vec::with_capacity(resource_len - items_len + 11);
        out.push(tag(1, LEN));
        put_varint(&mut out, resource_len as u64);
        out.extend_from_slice(&self.resource);
        out.push(tag(2, LEN));
        put_varint(&mut out, scope_len as u64);
        out.extend_from_slice(&self.scope);
        out
    }

    /// A whole request holding `items`.
    pub fn request(&self, items: &[u8]) -> Vec<u8> {
        let mut out = self.head(items.len());
        out.extend_from_slice(items);
        out
    }

    /// An `ExportMetricsServiceRequest` of `metrics`; requests for several resources
    /// concatenate into one.
    pub fn metrics_request(&self, metrics: &Metrics) -> Vec<u8> {
        let mut items = Vec::new();
        for metric in &metrics.metrics {
            put_message(&mut items, 2, |out| put_metric(out, metric));
        }
        self.request(&items)
    }
}

/// Room for a record's length: most records take 128 B to 16 KiB, a two-byte varint; one
/// of another size moves once to fit its length.
const RECORD_LENGTH_ROOM: usize = 2;

/// Appends one span as a `ScopeSpans.spans` item; `Envelope::head` starts their request.
pub fn put_span<A: Attributes>(out: &mut Vec<u8>, span: &Span<A>) {
    put_message_in(out, 2, RECORD_LENGTH_ROOM, |out| {
        put_bytes(out, 1, &span.trace_id);
        put_bytes(out, 2, &span.span_id);
        if let Some(parent) = &span.parent_span_id {
            put_bytes(out, 4, parent);
        }
        put_bytes(out, 5, &span.name);
        put_varint_field(out, 6, 1); // SPAN_KIND_INTERNAL
        put_fixed64(out, 7, span.start_ns);
        put_fixed64(out, 8, span.end_ns);
        span.attributes.put(out, 9);
        for link in &span.links {
            put_message(out, 13, |out| {
                put_bytes(out, 1, &link.trace_id);
                put_bytes(out, 2, &link.span_id);
                link.attributes.put(out, 4);
            });
        }
        put_message(out, 15, |status| {
            if let Some(message) = &span.error {
                put_str(status, 2, message);
                put_varint_field(status, 3, 2); // STATUS_CODE_ERROR
            }
        });
    });
}

/// Appends one log record as a `ScopeLogs.log_records` item; `Envelope::head` starts their request.
pub fn put_log<A: Attributes>(out: &mut Vec<u8>, log: &Log<A>) {
    put_message_in(out, 2, RECORD_LENGTH_ROOM, |out| {
        put_fixed64(out, 1, log.time_ns);
        if log.severity_number != 0 {
            put_varint_field(out, 2, log.severity_number as i64 as u64);
        }
        put_str(out, 3, &log.severity_text);
        put_message(out, 5, |body| put_bytes(body, 1, &log.body));
        log.attributes.put(out, 6);
        out.push(tag(8, 5)); // flags, fixed32: 1 = sampled
        out.extend_from_slice(&1u32.to_le_bytes());
        put_bytes(out, 9, &log.trace_id);
        put_bytes(out, 10, &log.span_id);
        put_fixed64(out, 11, log.observed_ns);
        put_str(out, 12, &log.event_name);
    });
}

/// A string field, left out when empty (proto3's default).
fn put_str(out: &mut Vec<u8>, field: u8, text: &[u8]) {
    if !text.is_empty() {
        put_bytes(out, field, text);
    }
}

fn put_attributes(out: &mut Vec<u8>, field: u8, attributes: &[KeyValue]) {
    for attribute in attributes {
        put_key_value(out, field, &attribute.key, &attribute.value);
    }
}

/// One `KeyValue` message, its lengths known before it is written (nothing moves).
pub fn put_key_value(out: &mut Vec<u8>, field: u8, key: &[u8], value: &AnyValue) {
    let value_len = any_value_len(value);
    let length = field_len(key.len()) + field_len(value_len);
    put_tagged(out, tag(field, LEN), length as u64);
    put_bytes(out, 1, key);
    put_tagged(out, tag(2, LEN), value_len as u64);
    put_any_value(out, value);
}

/// The size of a length-delimited field (fields 1–15) holding `len` bytes.
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn any_value_len(value: &AnyValue) -> usize {
    match value {
        AnyValue::Str(text) => field_len(text.len()),
        AnyValue::Bool(_) => 2,
        AnyValue::Int(n) => 1 + varint_len(*n as u64),
        AnyValue::Double(_) => 9,
    }
}

fn put_any_value(out: &mut Vec<u8>, value: &AnyValue) {
    match value {
        AnyValue::Str(text) => put_bytes(out, 1, text),
        AnyValue::Bool(flag) => put_varint_field(out, 2, u64::from(*flag)),
        AnyValue::Int(n) => put_varint_field(out, 3, *n as u64),
        AnyValue::Double(x) => put_double(out, 4, *x),
    }
}

/// `2N` hex digits (either case) → their `N` bytes; None for anything else.
pub fn hex_bytes<const N: usize>(text: impl AsRef<[u8]>) -> Option<[u8; N]> {
    let text = text.as_ref();
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0;
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = (HEX_DIGITS[pair[0] as usize], HEX_DIGITS[pair[1] as usize]);
        bad |= high | low;
        *byte = high << 4 | low;
    }
    (bad & NOT_HEX == 0).then_some(out)
}

/// A byte's value as a hex digit, `NOT_HEX` for a byte that is none: a table, as the ids of
/// every span and log record are read on the way out.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};
const NOT_HEX: u8 = 0xF0;

/// Metric points encoded as they are added, each into its metric's data (one `Metric` per
/// name, in the order of its first point), so that no point is kept: a snapshot of thousands
/// of points (one per open intent) costs its encoding only.
pub struct Metrics {
    start_ns: u64,
    time_ns: u64,
    metrics: Vec<EncodedMetric>,
}

/// One `Metric`: what its first point said of it, and its points' encoding.
struct EncodedMetric {
    name: Vec<u8>,
    description: Vec<u8>,
    unit: Vec<u8>,
    kind: MetricKind,
    points: Vec<u8>,
}

#[derive(Clone, Copy)]
enum MetricKind {
    Gauge,
    Counter,
    Histogram,
}

impl Metrics {
    /// Points of cumulative sums and histograms count from `start_ns`; every point is of `time_ns`.
    pub fn new(start_ns: u64, time_ns: u64) -> Self {
        Metrics {
            start_ns,
            time_ns,
            metrics: Vec::new(),
        }
    }

    pub fn add(&mut self, point: &MetricPoint) {
        let at = match self.metrics.iter().position(|m| *m.name == *point.name) {
            Some(at) => at,
            None => {
                self.metrics.push(EncodedMetric {
                    name: point.name.to_vec(),
                    description: point.description.to_vec(),
                    unit: point.unit.to_vec(),
                    kind: match point.value {
                        PointValue::Gauge(_) => MetricKind::Gauge,
                        PointValue::Counter(_) => MetricKind::Counter,
                        PointValue::Histogram(_) => MetricKind::Histogram,
                    },
                    points: Vec::new(),
                });
                self.metrics.len() - 1
            }
        };
        let (start_ns, time_ns) = (self.start_ns, self.time_ns);
        put_message(&mut self.metrics[at].points, 1, |out| {
            put_point(out, point, start_ns, time_ns)
        });
    }
}

fn put_metric(out: &mut Vec<u8>, metric: &EncodedMetric) {
    put_str(out, 1, &metric.name);
    put_str(out, 2, &metric.description);
    put_str(out, 3, &metric.unit);
    let (field, cumulative, monotonic) = match metric.kind {
        MetricKind::Gauge => (5, false, false),
        MetricKind::Counter => (7, true, true),
        MetricKind::Histogram => (9, true, false),
    };
    put_message(out, field, |data| {
        data.extend_from_slice(&metric.points);
        if cumulative {
            put_varint_field(data, 2, 2); // AGGREGATION_TEMPORALITY_CUMULATIVE
        }
        if monotonic {
            put_varint_field(data, 3, 1);
        }
    });
}

fn put_point(out: &mut Vec<u8>, point: &MetricPoint, start_ns: u64, time_ns: u64) {
    match &point.value {
        PointValue::Gauge(value) => {
            put_fixed64_nonzero(out, 3, time_ns);
            put_double(out, 4, *value);
            put_attributes(out, 7, &point.labels);
        }
        PointValue::Counter(value) => {
            put_fixed64_nonzero(out, 2, start_ns);
            put_fixed64_nonzero(out, 3, time_ns);
            put_fixed64(out, 6, *value as u64); // as_int, sfixed64
            put_attributes(out, 7, &point.labels);
        }
        PointValue::Histogram(histogram) => {
            put_fixed64_nonzero(out, 2, start_ns);
            put_fixed64_nonzero(out, 3, time_ns);
            put_fixed64_nonzero(out, 4, histogram.count);
            put_double(out, 5, histogram.sum);
            put_packed(out, 6, histogram.bucket_counts.iter().map(|n| n.to_le_bytes()));
            put_packed(
                out,
                7,
                histogram
                    .explicit_bounds
                    .iter()
                    .map(|x| x.to_bits().to_le_bytes()),
            );
            put_attributes(out, 9, &point.labels);
        }
    }
}

fn put_fixed64_nonzero(out: &mut Vec<u8>, field: u8, value: u64) {
    if value != 0 {
        put_fixed64(out, field, value);
    }
}

/// A packed repeated 64-bit field, left out when empty.
fn put_packed(out: &mut Vec<u8>, field: u8, items: impl ExactSizeIterator<Item = [u8; 8]>) {
    if items.len() == 0 {
        return;
    }
    put_message(out, field, |out| {
        items.for_each(|item| out.extend_from_slice(&item))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_its_items_nested_in_a_resource_and_a_scope() {
        let envelope = Envelope::new(&[], "s", "1");
        for size in [0, 100, 200, 20_000] {
            let items = vec![7; size];
            let mut nested = Vec::new();
            put_message(&mut nested, 1, |resource| {
                resource.extend_from_slice(&envelope.resource);
                put_message(resource, 2, |scope| {
                    scope.extend_from_slice(&envelope.scope);
                    scope.extend_from_slice(&items);
                });
            });
            assert_eq!(envelope.request(&items), nested);
        }
    }

    fn text(s: &str) -> Text<'_> {
        Cow::Borrowed(s.as_bytes())
    }

    fn span(error: Option<Text<'static>>) -> Span<'static> {
        Span {
            trace_id: [0xAB; 16],
            span_id: [0xCD; 8],
            parent_span_id: None,
            name: text("x"),
            start_ns: 1,
            end_ns: 2,
            attributes: vec![KeyValue {
                key: text("k"),
                value: AnyValue::Int(-1),
            }],
            links: Vec::new(),
            error,
        }
    }

    #[test]
    fn a_span_with_an_unset_status_keeps_an_empty_status_field() {
        let mut out = Vec::new();
        put_span(&mut out, &span(None));
        assert!(out.ends_with(&[0x7A, 0x00]));
    }

    #[test]
    fn an_error_status_writes_its_message_then_its_code() {
        let mut out = Vec::new();
        put_span(&mut out, &span(Some(text("boom"))));
        assert!(out.ends_with(&[0x7A, 0x08, 0x12, 0x04, b'b', b'o', b'o', b'm', 0x18, 0x02]));
    }

    #[test]
    fn a_key_value_sized_up_front_is_the_nested_messages_written() {
        let long = "é".repeat(100);
        let values = [
            AnyValue::Str(text("")),
            AnyValue::Str(text("short")),
            AnyValue::Str(text(&long)),
            AnyValue::Str(Cow::Owned(vec![b'x'; 20_000])),
            AnyValue::Bool(false),
            AnyValue::Int(-1),
            AnyValue::Int(300),
            AnyValue::Double(0.5),
        ];
        for key in ["k", &"k".repeat(200)] {
            for value in &values {
                let mut nested = Vec::new();
                put_message(&mut nested, 9, |kv| {
                    put_bytes(kv, 1, key.as_bytes());
                    put_message(kv, 2, |out| put_any_value(out, value));
                });
                let mut out = Vec::new();
                put_key_value(&mut out, 9, key.as_bytes(), value);
                assert!(out == nested);
            }
        }
    }

    #[test]
    fn hex_ids_read_in_either_case_and_nothing_else() {
        assert_eq!(hex_bytes::<2>(b"0aFf"), Some([0x0A, 0xFF]));
        for bad in [&b"0aF"[..], b"0aFf0", b"0g00", b"+f00", b" f00"] {
            assert_eq!(hex_bytes::<2>(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_negative_int_is_a_ten_byte_varint() {
        let mut out = Vec::new();
        put_any_value(&mut out, &AnyValue::Int(-5));
        assert_eq!(out.len(), 11);
        assert_eq!(out[0], 0x18);
    }

    #[test]
    fn points_of_one_metric_share_one_metric_message() {
        let point = |value| MetricPoint {
            name: text("m"),
            description: text(""),
            unit: text("1"),
            labels: Vec::new(),
            value: PointValue::Counter(value),
        };
        let mut metrics = Metrics::new(0, 7);
        metrics.add(&point(1));
        metrics.add(&point(2));
        assert_eq!(metrics.metrics.len(), 1);
        let (mut one, mut two) = (Vec::new(), Vec::new());
        put_message(&mut one, 1, |out| put_point(out, &point(1), 0, 7));
        put_message(&mut two, 1, |out| put_point(out, &point(2), 0, 7));
        assert_eq!(metrics.metrics[0].points, [one, two].concat());
    }
}
