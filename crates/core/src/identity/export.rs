//! Span and log records → the OTLP wire form (`crate::encode`), the bytes the Python encoder
//! writes for the same records, without building Python objects in between.

use std::borrow::Cow;

use super::attrs::{Attrs, Value};
use super::model::{LogRecord, SpanRecord};
use crate::encode::{AnyValue, Attributes, Link, Log, Span, put_key_value, put_log, put_span};
use crate::pytext::float_repr;

/// The engine's attributes, written as they are held.
impl Attributes for &Attrs {
    fn put(&self, out: &mut Vec<u8>, field: u8) {
        for (key, value) in &self.0 {
            let value = match value {
                Value::Str(text) => AnyValue::Str(Cow::Borrowed(text.as_bytes())),
                Value::Int(n) => AnyValue::Int(*n),
                Value::Float(x) => AnyValue::Double(*x),
                Value::Bool(flag) => AnyValue::Bool(*flag),
            };
            put_key_value(out, field, key.as_bytes(), &value);
        }
    }
}

/// Appends one encoded `Span` message.
pub fn put_span_record(out: &mut Vec<u8>, span: &SpanRecord) {
    let mut links = Vec::with_capacity(span.links.len());
    for link in &span.links {
        links.push(Link {
            trace_id: link.trace_id,
            span_id: link.span_id,
            attributes: &link.attributes,
        });
    }
    let record = Span {
        trace_id: span.trace_id,
        span_id: span.span_id,
        parent_span_id: span.parent_span_id,
        name: Cow::Borrowed(span.name.as_bytes()),
        start_ns: span.start_ns as u64,
        end_ns: span.end_ns as u64,
        attributes: &span.attributes,
        links,
        error: span
            .error
            .then(|| Cow::Borrowed(span.status_message.as_deref().unwrap_or("").as_bytes())),
    };
    put_span(out, &record);
}

/// Appends one encoded `LogRecord` message; its event name is its `event.name` attribute.
pub fn put_log_record(out: &mut Vec<u8>, log: &LogRecord) {
    let event_name = match log.attributes.get("event.name") {
        Some(Value::Str(text)) => Cow::Borrowed(text.as_bytes()),
        Some(Value::Int(n)) if *n != 0 => Cow::Owned(n.to_string().into_bytes()),
        Some(Value::Float(x)) if *x != 0.0 => Cow::Owned(float_repr(*x).into_bytes()),
        Some(Value::Bool(true)) => Cow::Borrowed(&b"True"[..]),
        _ => Cow::Borrowed(&b""[..]),
    };
    let record = Log {
        time_ns: log.time_ns as u64,
        observed_ns: log.observed_ns as u64,
        trace_id: log.trace_id,
        span_id: log.span_id,
        severity_number: log.severity_number,
        severity_text: Cow::Borrowed(log.severity_text.as_bytes()),
        body: Cow::Borrowed(log.body.as_bytes()),
        attributes: &log.attributes,
        event_name,
    };
    put_log(out, &record);
}
