//! `decode_spans`: an OTLP traces request → the store's span rows (see store/decode.py).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyList, PyString, PyTuple, PyType};

use crate::decode::{Span, Value, decode_traces};

const ZERO_TRACE: [u8; 16] = [0; 16];
const ZERO_SPAN: [u8; 8] = [0; 8];
/// OTLP times are unsigned 64-bit, SQLite integers signed: from 2^63 on they cannot be stored.
const MAX_STORABLE: u64 = i64::MAX as u64;

// indexes into `COLUMNS`
const STATE: usize = 0;
const ARTIFACT_TYPE: usize = 1;
const ARTIFACT_ID: usize = 2;
const INTENT: usize = 3;
const CONTRACT: usize = 4;
const TITLE: usize = 5;
const BACKFILLED: usize = 6;
const PHASE: usize = 7;
const SESSION: usize = 8;

/// What `decode_spans` returns: per resource its info and rows; promotions; rejections.
type Decoded<'py> = (
    Vec<(Bound<'py, PyAny>, Bound<'py, PyList>)>,
    Bound<'py, PyList>,
    u64,
    Vec<&'static str>,
);

/// `body`: a serialized `ExportTraceServiceRequest` the official parser accepted.
/// `resource_info(resource_bytes)` gives each resource's `ResourceInfo` (its `service` and
/// `id` go into the rows). Returns `([(resource_info, [row, …]), …], [(orphan trace id,
/// intent id), …], rejected count, [reason, …])`; a row is the tuple `writer` inserts.
#[pyfunction]
pub fn decode_spans<'py>(
    body: &Bound<'py, PyBytes>,
    received_ns: u64,
    resource_info: &Bound<'py, PyAny>,
) -> PyResult<Decoded<'py>> {
    let py = body.py();
    let bytes = body.as_bytes();
    let resources = py
        .detach(|| decode_traces(bytes))
        .map_err(|what| decode_error(py, what))?;
    let promotions = PyList::empty(py);
    let (mut rejected, mut reasons) = (0u64, Vec::new());
    let mut out = Vec::with_capacity(resources.len());
    for resource in resources {
        let info = resource_info.call1((PyBytes::new(py, &resource.resource),))?;
        let service = info.getattr("service")?;
        let resource_id = info.getattr("id")?;
        let rows = PyList::empty(py);
        for span in &resource.spans {
            if let Some(reason) = refusal(span) {
                rejected += 1;
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
                continue;
            }
            rows.append(span_row(
                py,
                span,
                &service,
                &resource_id,
                received_ns,
                &promotions,
            )?)?;
        }
        out.push((info, rows));
    }
    Ok((out, promotions, rejected, reasons))
}

/// Why a span cannot be stored, or None.
fn refusal(span: &Span) -> Option<&'static str> {
    if span.trace_id.len() != 16 || span.trace_id == ZERO_TRACE {
        Some("span without a valid 16-byte trace id")
    } else if span.span_id.len() != 8 || span.span_id == ZERO_SPAN {
        Some("span without a valid 8-byte span id")
    } else if span.start_ns > MAX_STORABLE || span.end_ns > MAX_STORABLE {
        Some("span with a start or end time of 2^63 ns or later")
    } else {
        None
    }
}

fn span_row<'py>(
    py: Python<'py>,
    span: &Span,
    service: &Bound<'py, PyAny>,
    resource_id: &Bound<'py, PyAny>,
    received_ns: u64,
    promotions: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyTuple>> {
    let values: Vec<Option<Bound<'py, PyAny>>> = span
        .columns
        .iter()
        .map(|value| value.map(|v| python_value(py, v)).transpose())
        .collect::<PyResult<_>>()?;
    let texts: Vec<Bound<'py, PyAny>> = values
        .iter()
        .map(|value| text(py, value.as_ref()))
        .collect::<PyResult<_>>()?;
    let column = |index: usize| texts[index].clone();
    let trace_id = PyString::new(py, &hex(span.trace_id));
    let parent = if span.parent_span_id.len() == 8 {
        PyString::new(py, &hex(span.parent_span_id)).into_any()
    } else {
        py.None().into_bound(py)
    };
    let intent = column(INTENT);
    let backfilled = values[BACKFILLED]
        .as_ref()
        .is_some_and(|v| v.is_exact_instance_of::<PyBool>() && v.is_truthy().unwrap_or(false));
    if backfilled {
        // a signal copied into its intent's trace: the orphan trace it links to is promoted
        for linked in span.link_trace_ids.iter().filter(|id| id.len() == 16) {
            promotions.append((hex(linked), &intent))?;
        }
    }
    let closed = values[STATE]
        .as_ref()
        .is_some_and(|v| v.eq("closed").unwrap_or(false));
    let message = if span.status_message.is_empty() {
        py.None().into_bound(py)
    } else {
        PyString::new(py, span.status_message).into_any()
    };
    PyTuple::new(
        py,
        [
            trace_id.into_any(),
            PyString::new(py, &hex(span.span_id)).into_any(),
            parent,
            PyString::new(py, span.name).into_any(),
            service.clone(),
            resource_id.clone(),
            span.kind.into_pyobject(py)?.into_any(),
            span.start_ns.into_pyobject(py)?.into_any(),
            span.end_ns.max(span.start_ns).into_pyobject(py)?.into_any(),
            span.status_code.into_pyobject(py)?.into_any(),
            message,
            u8::from(closed).into_pyobject(py)?.into_any(),
            column(ARTIFACT_TYPE),
            column(ARTIFACT_ID),
            intent,
            column(CONTRACT),
            column(SESSION),
            column(TITLE),
            PyBytes::new(py, span.raw).into_any(),
            received_ns.into_pyobject(py)?.into_any(),
            column(PHASE),
        ],
    )
}

/// An attribute value as the Python decoder has it (`store.decode.any_value` for the rare
/// array or key-value list, and for the string oneof left empty).
fn python_value<'py>(py: Python<'py>, value: Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Str(text) => PyString::new(py, text).into_any(),
        Value::Bool(flag) => PyBool::new(py, flag).to_owned().into_any(),
        Value::Int(n) => n.into_pyobject(py)?.into_any(),
        Value::Double(x) => PyFloat::new(py, x).into_any(),
        Value::Bytes(raw) => PyString::new(py, &hex(raw)).into_any(),
        Value::Nested(any_value) => nested_value(py, any_value)?,
    })
}

fn nested_value<'py>(py: Python<'py>, any_value: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    static ANY_VALUE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static DECODE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let message = ANY_VALUE
        .get_or_try_init(py, || {
            py.import("opentelemetry.proto.common.v1.common_pb2")?
                .getattr("AnyValue")
                .map(Bound::unbind)
        })?
        .bind(py)
        .call_method1("FromString", (PyBytes::new(py, any_value),))?;
    DECODE
        .get_or_try_init(py, || {
            py.import("intent_observe.store.decode")?
                .getattr("any_value")
                .map(Bound::unbind)
        })?
        .bind(py)
        .call1((message,))
}

/// `_text` of store/decode.py: None for None and for an empty text, else `str(value)`.
fn text<'py>(py: Python<'py>, value: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    let Some(value) = value else {
        return Ok(py.None().into_bound(py));
    };
    if value.is_none() {
        return Ok(py.None().into_bound(py));
    }
    let written = value.str()?;
    Ok(if written.is_empty()? {
        py.None().into_bound(py)
    } else {
        written.into_any()
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| {
            [
                DIGITS[usize::from(b >> 4)] as char,
                DIGITS[usize::from(b & 15)] as char,
            ]
        })
        .collect()
}

/// protobuf's DecodeError, as the official parser raises it for a malformed body.
fn decode_error(py: Python<'_>, what: &str) -> PyErr {
    let class = py
        .import("google.protobuf.message")
        .and_then(|module| module.getattr("DecodeError"))
        .and_then(|class| class.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => PyErr::from_type(class, format!("malformed OTLP traces request: {what}")),
        Err(error) => error,
    }
}
