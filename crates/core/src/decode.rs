//! `ExportTraceServiceRequest` bytes → what the store keeps of each span.
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

/// The spans under one resource, and the resource's bytes (empty when it was left out).
#[derive(Debug, Default)]
pub struct ResourceSpans<'a> {
    pub resource: Vec<u8>,
    pub spans: Vec<Span<'a>>,
}

pub fn decode_traces(body: &[u8]) -> Result<Vec<ResourceSpans<'_>>, &'static str> {
    let mut out = Vec::new();
    for field in fields(body) {
        if let (1, Field::Bytes(resource_spans)) = field? {
            out.push(read_resource_spans(resource_spans)?);
        }
    }
    Ok(out)
}

fn read_resource_spans(bytes: &[u8]) -> Result<ResourceSpans<'_>, &'static str> {
    let mut out = ResourceSpans::default();
    for field in fields(bytes) {
        match field? {
            // a message field written twice is one message, merged: its bytes concatenate
            (1, Field::Bytes(resource)) => out.resource.extend_from_slice(resource),
            (2, Field::Bytes(scope_spans)) => {
                for field in fields(scope_spans) {
                    if let (2, Field::Bytes(span)) = field? {
                        out.spans.push(read_span(span)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
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
    let (mut key, mut value): (&[u8], Option<&[u8]>) = (&[], None);
    for field in fields(key_value) {
        match field? {
            (1, Field::Bytes(k)) => key = k,
            (2, Field::Bytes(v)) => value = Some(v),
            _ => {}
        }
    }
    if let Some(slot) = COLUMNS.iter().position(|column| column.as_bytes() == key) {
        columns[slot] = match value {
            Some(value) => any_value(value)?,
            None => None,
        };
    }
    Ok(())
}

/// The last oneof field of an `AnyValue`, or None when it has none.
fn any_value(bytes: &[u8]) -> Result<Option<Value<'_>>, &'static str> {
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
        let body = Envelope::new(&[], "s", "1").trace_request(&spans);
        let decoded = decode_traces(&body).unwrap_or_default();
        assert_eq!(decoded.len(), 1);
        let span = &decoded[0].spans[0];
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
