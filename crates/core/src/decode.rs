//! `ExportTraceServiceRequest` / `ExportLogsServiceRequest` bytes → what the store keeps of
//! each span and log record.
//!
//! Read straight from the request's bytes: no message objects, and each span's own bytes
//! are kept as they came (no re-encoding). The request is expected to have been checked
//! as protobuf already (the receiver lets the official parser refuse a malformed body);
//! anything this reader still cannot read is an error, never a panic.

use crate::wire::{Field, fields};

/// The span attributes the store keeps in columns, in this order.
pub const COLUMNS: [&str; 9] = [
    "intent.artifact.state",
    "intent.artifact.type",
    "intent.artifact.id",
    "intent.id",
    "intent.contract.id",
    "intent.title",
    "intent.backfilled",
    "intent.phase",
    "session.id",
];

/// An attribute value as the store reads it (`AnyValue`, its last oneof field).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    /// An array or key-value list: its `AnyValue` bytes, for the caller to read as it needs.
    Nested(&'a [u8]),
}

#[derive(Debug, Default)]
pub struct Span<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub parent_span_id: &'a [u8],
    pub name: &'a str,
    pub kind: i32,
    pub start_ns: u64,
    pub end_ns: u64,
    pub status_code: i32,
    pub status_message: &'a str,
    /// The `COLUMNS` attributes, where present (the last of a repeated key).
    pub columns: [Option<Value<'a>>; 9],
    pub link_trace_ids: Vec<&'a [u8]>,
    /// The span's own protobuf, as it came.
    pub raw: &'a [u8],
}

#[derive(Debug, Default)]
pub struct LogRecord<'a> {
    pub time_ns: u64,
    pub observed_ns: u64,
    pub severity_number: i32,
    pub severity_text: &'a str,
    /// The body's `AnyValue` bytes (empty when it has none).
    pub body: &'a [u8],
    /// Every attribute: its key and its `AnyValue` bytes, in the order written.
    pub attributes: Vec<(&'a str, &'a [u8])>,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub event_name: &'a str,
}

/// The items (spans or log records) under one resource, and the resource's bytes (empty
/// when it was left out).
#[derive(Debug)]
pub struct Resource<T> {
    pub resource: Vec<u8>,
    pub items: Vec<T>,
}

pub fn decode_traces(body: &[u8]) -> Result<Vec<Resource<Span<'_>>>, &'static str> {
    decode_request(body, read_span)
}

pub fn decode_logs(body: &[u8]) -> Result<Vec<Resource<LogRecord<'_>>>, &'static str> {
    decode_request(body, read_log)
}

/// Both requests nest alike: request → resource (1) and scope lists (2) → scope → items (2).
fn decode_request<'a, T>(
    body: &'a [u8],
    read_item: impl Fn(&'a [u8]) -> Result<T, &'static str>,
) -> Result<Vec<Resource<T>>, &'static str> {
    let mut out = Vec::new();
    for field in fields(body) {
        let (1, Field::Bytes(resource_x)) = field? else {
            continue;
        };
        let mut resource = Resource {
            resource: Vec::new(),
            items: Vec::new(),
        };
        for field in fields(resource_x) {
            match field? {
                // a message field written twice is one message, merged: its bytes concatenate
                (1, Field::Bytes(bytes)) => resource.resource.extend_from_slice(bytes),
                (2, Field::Bytes(scope_x)) => {
                    for field in fields(scope_x) {
                        if let (2, Field::Bytes(item)) = field? {
                            resource.items.push(read_item(item)?);
                        }
                    }
                }
                _ => {}
            }
        }
        out.push(resource);
    }
    Ok(out)
}

fn read_log(raw: &[u8]) -> Result<LogRecord<'_>, &'static str> {
    let mut log = LogRecord::default();
    for field in fields(raw) {
        match field? {
            (1, Field::Fixed64(time)) => log.time_ns = time,
            (2, Field::Varint(severity)) => log.severity_number = severity as i32,
            (3, Field::Bytes(text)) => log.severity_text = utf8(text)?,
            (5, Field::Bytes(body)) => log.body = body,
            (6, Field::Bytes(key_value)) => log.attributes.push(key_value_of(key_value)?),
            (9, Field::Bytes(id)) => log.trace_id = id,
            (10, Field::Bytes(id)) => log.span_id = id,
            (11, Field::Fixed64(observed)) => log.observed_ns = observed,
            (12, Field::Bytes(name)) => log.event_name = utf8(name)?,
            _ => {}
        }
    }
    Ok(log)
}

/// A `KeyValue`: its key and its value's bytes (empty when it has none).
pub fn key_value_of(bytes: &[u8]) -> Result<(&str, &[u8]), &'static str> {
    let (mut key, mut value): (&str, &[u8]) = ("", &[]);
    for field in fields(bytes) {
        match field? {
            (1, Field::Bytes(k)) => key = utf8(k)?,
            (2, Field::Bytes(v)) => value = v,
            _ => {}
        }
    }
    Ok((key, value))
}

fn read_span(raw: &[u8]) -> Result<Span<'_>, &'static str> {
    let mut span = Span {
        raw,
        ..Span::default()
    };
    for field in fields(raw) {
        match field? {
            (1, Field::Bytes(id)) => span.trace_id = id,
            (2, Field::Bytes(id)) => span.span_id = id,
            (4, Field::Bytes(id)) => span.parent_span_id = id,
            (5, Field::Bytes(name)) => span.name = utf8(name)?,
            (6, Field::Varint(kind)) => span.kind = kind as i32,
            (7, Field::Fixed64(start)) => span.start_ns = start,
            (8, Field::Fixed64(end)) => span.end_ns = end,
            (9, Field::Bytes(key_value)) => read_column(&mut span.columns, key_value)?,
            (13, Field::Bytes(link)) => span.link_trace_ids.push(link_trace_id(link)?),
            (15, Field::Bytes(status)) => read_status(&mut span, status)?,
            _ => {}
        }
    }
    Ok(span)
}

fn read_status<'a>(span: &mut Span<'a>, status: &'a [u8]) -> Result<(), &'static str> {
    for field in fields(status) {
        match field? {
            (2, Field::Bytes(message)) => span.status_message = utf8(message)?,
            (3, Field::Varint(code)) => span.status_code = code as i32,
            _ => {}
        }
    }
    Ok(())
}

fn link_trace_id(link: &[u8]) -> Result<&[u8], &'static str> {
    let mut trace_id: &[u8] = &[];
    for field in fields(link) {
        if let (1, Field::Bytes(id)) = field? {
            trace_id = id;
        }
    }
    Ok(trace_id)
}

/// A `KeyValue` kept when its key is one of `COLUMNS`.
fn read_column<'a>(columns: &mut [Option<Value<'a>>; 9], key_value: &'a [u8]) -> Result<(), &'static str> {
    let (key, value) = key_value_of(key_value)?;
    if let Some(slot) = COLUMNS.iter().position(|column| *column == key) {
        columns[slot] = any_value(value)?;
    }
    Ok(())
}

/// The last oneof field of an `AnyValue`, or None when it has none.
pub fn any_value(bytes: &[u8]) -> Result<Option<Value<'_>>, &'static str> {
    let mut value = None;
    for field in fields(bytes) {
        value = match field? {
            (1, Field::Bytes(text)) => Some(Value::Str(utf8(text)?)),
            (2, Field::Varint(flag)) => Some(Value::Bool(flag != 0)),
            (3, Field::Varint(n)) => Some(Value::Int(n as i64)),
            (4, Field::Fixed64(bits)) => Some(Value::Double(f64::from_bits(bits))),
            (5 | 6, Field::Bytes(_)) => Some(Value::Nested(bytes)),
            (7, Field::Bytes(raw)) => Some(Value::Bytes(raw)),
            _ => value,
        };
    }
    Ok(value)
}

fn utf8(bytes: &[u8]) -> Result<&str, &'static str> {
    std::str::from_utf8(bytes).map_err(|_| "a string field is not valid UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{AnyValue, Envelope, KeyValue, Link, Span as Record, put_span};
    use std::borrow::Cow;

    fn attribute(key: &'static str, value: AnyValue<'static>) -> KeyValue<'static> {
        KeyValue {
            key: Cow::Borrowed(key.as_bytes()),
            value,
        }
    }

    #[test]
    fn what_the_encoder_writes_reads_back() {
        let record = Record {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: Some([3; 8]),
            name: Cow::Borrowed(b"contract CON-1"),
            start_ns: 5,
            end_ns: 9,
            attributes: vec![
                attribute("intent.artifact.state", AnyValue::Str(Cow::Borrowed(b"open"))),
                attribute("other", AnyValue::Int(1)),
                attribute("intent.backfilled", AnyValue::Bool(true)),
                attribute("intent.artifact.state", AnyValue::Str(Cow::Borrowed(b"closed"))),
            ],
            links: vec![Link {
                trace_id: [4; 16],
                span_id: [5; 8],
                attributes: Vec::new(),
            }],
            error: Some(Cow::Borrowed(b"boom")),
        };
        let mut spans = Vec::new();
        put_span(&mut spans, &record);
        let body = Envelope::new(&[], "s", "1").request(&spans);
        let decoded = decode_traces(&body).unwrap_or_default();
        assert_eq!(decoded.len(), 1);
        let span = &decoded[0].items[0];
        assert_eq!(
            (span.trace_id, span.span_id, span.parent_span_id),
            (&[1; 16][..], &[2; 8][..], &[3; 8][..])
        );
        assert_eq!(
            (span.name, span.kind, span.start_ns, span.end_ns),
            ("contract CON-1", 1, 5, 9)
        );
        assert_eq!((span.status_code, span.status_message), (2, "boom"));
        assert_eq!(span.columns[0], Some(Value::Str("closed"))); // the last of a repeated key
        assert_eq!(span.columns[6], Some(Value::Bool(true)));
        assert_eq!(span.link_trace_ids, [&[4; 16][..]]);
        assert!(spans.ends_with(span.raw));
    }

    #[test]
    fn malformed_bytes_are_an_error() {
        assert!(decode_traces(&[0x0A, 0x03, 0x12, 0x05, 0x12]).is_err());
        assert!(decode_traces(&[0x0A, 0x02, 0x12]).is_err());
        assert!(decode_traces(&[]).is_ok_and(|r| r.is_empty()));
    }
}
