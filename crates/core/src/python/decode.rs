//! `decode_spans`: an OTLP traces request → the store's span rows (see store/decode.py).

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyString, PyTuple, PyType};

use super::CollectorPaused;
use crate::decode::{LogRecord, Span, Value, any_value, decode_logs, decode_traces, key_value_of};
use crate::identity::ids::hex;
use crate::wire::{Field, fields};

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
/// intent id), …], rejected count, [reason, …])`; a row is a `row_type` (store/rows.py's
/// `SpanRow`), the tuple the writer inserts.
#[pyfunction]
pub fn decode_spans<'py>(
    body: &Bound<'py, PyBytes>,
    received_ns: u64,
    resource_info: &Bound<'py, PyAny>,
    row_type: &Bound<'py, PyType>,
) -> PyResult<Decoded<'py>> {
    let py = body.py();
    let bytes = body.as_bytes();
    let resources = py
        .detach(|| decode_traces(bytes))
        .map_err(|what| decode_error(py, what))?;
    let _paused = CollectorPaused::new(py); // rows hold no cycles
    let promotions = PyList::empty(py);
    let (mut rejected, mut reasons) = (0u64, Vec::new());
    let mut out = Vec::with_capacity(resources.len());
    for resource in resources {
        let info = resource_info.call1((PyBytes::new(py, &resource.resource),))?;
        let service = info.getattr("service")?;
        let resource_id = info.getattr("id")?;
        let rows = PyList::empty(py);
        for span in &resource.items {
            if let Some(reason) = refusal(span) {
                rejected += 1;
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
                continue;
            }
            let row = span_row(py, span, &service, &resource_id, received_ns, &promotions)?;
            rows.append(named_row(row_type, row)?)?;
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
        .map(|value| value.map(|v| python_value(py, v, 0)).transpose())
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

/// `row_type(*values)` for a tuple subclass (a NamedTuple) without its Python `__new__`:
/// `tuple.__new__(row_type, values)`, all in C. Left untracked by the garbage collector when no
/// value can hold a reference (as CPython leaves a plain tuple of such values; a subclass's it
/// keeps tracked), so that collections do not traverse the rows of every batch in flight.
fn named_row<'py>(row_type: &Bound<'py, PyType>, values: Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
    static TUPLE_NEW: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = row_type.py();
    let new = TUPLE_NEW.get_or_try_init(py, || {
        py.get_type::<PyTuple>().getattr("__new__").map(Bound::unbind)
    })?;
    // SAFETY: attached (the token proves it); the pointers are live objects
    let atomic = values
        .iter()
        .all(|value| unsafe { ffi::PyObject_GC_IsTracked(value.as_ptr()) } == 0);
    let row = new.bind(py).call1((row_type, values))?;
    if atomic {
        // SAFETY: a live GC object; it cannot be part of a cycle, holding no tracked object
        unsafe { ffi::PyObject_GC_UnTrack(row.as_ptr().cast()) };
    }
    Ok(row)
}

/// `[row_type(*values) for values in rows]`, as `named_row` makes them: rows that were pickled
/// as plain tuples (store/decode.py's `Batch`), named again.
#[pyfunction]
pub fn named_rows<'py>(
    row_type: &Bound<'py, PyType>,
    rows: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyList>> {
    let py = row_type.py();
    let _paused = CollectorPaused::new(py); // rows hold no cycles
    let out = PyList::empty(py);
    for values in rows.iter() {
        out.append(named_row(row_type, values.cast_into::<PyTuple>()?)?)?;
    }
    Ok(out)
}

/// A decoded `AnyValue` as decode.py's `any_value` has it: scalars as themselves, bytes as
/// hex, arrays as lists and key-value lists as dicts (None past the depth limit).
fn python_value<'py>(py: Python<'py>, value: Value, depth: usize) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Str(text) => PyString::new(py, text).into_any(),
        Value::Bool(flag) => PyBool::new(py, flag).to_owned().into_any(),
        Value::Int(n) => n.into_pyobject(py)?.into_any(),
        Value::Double(x) => PyFloat::new(py, x).into_any(),
        Value::Bytes(raw) => PyString::new(py, &hex(raw)).into_any(),
        Value::Nested(_) if depth >= MAX_ATTR_DEPTH => py.None().into_bound(py),
        Value::Nested(any_value) => nested_object(py, any_value, depth + 1)?,
    })
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

/// protobuf's DecodeError, as the official parser raises it for a malformed body.
fn decode_error(py: Python<'_>, what: &str) -> PyErr {
    let class = py
        .import("google.protobuf.message")
        .and_then(|module| module.getattr("DecodeError"))
        .and_then(|class| class.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => PyErr::from_type(class, format!("malformed OTLP request: {what}")),
        Err(error) => error,
    }
}

/// What `decode_log_records` returns: per resource its info and rows; rejections.
type DecodedLogs<'py> = (
    Vec<(Bound<'py, PyAny>, Bound<'py, PyList>)>,
    u64,
    Vec<&'static str>,
);

const CLAUDE_SERVICE: &str = "claude-code";
const CLAUDE_PREFIX: &str = "claude_code.";
/// Nested attribute values deeper than this are kept as None (`_MAX_ATTR_DEPTH` of decode.py).
const MAX_ATTR_DEPTH: usize = 8;

/// `body`: a serialized `ExportLogsServiceRequest` the official parser accepted. Returns
/// `([(resource_info, [row, …]), …], rejected count, [reason, …])`; a row is a `row_type`
/// (store/rows.py's `LogRow`), the tuple the writer inserts (its attributes as sorted JSON,
/// by orjson as before).
#[pyfunction]
pub fn decode_log_records<'py>(
    body: &Bound<'py, PyBytes>,
    received_ns: u64,
    resource_info: &Bound<'py, PyAny>,
    row_type: &Bound<'py, PyType>,
) -> PyResult<DecodedLogs<'py>> {
    let py = body.py();
    let bytes = body.as_bytes();
    let resources = py
        .detach(|| decode_logs(bytes))
        .map_err(|what| decode_error(py, what))?;
    let _paused = CollectorPaused::new(py); // rows hold no cycles
    let (mut rejected, mut reasons) = (0u64, Vec::new());
    let mut out = Vec::with_capacity(resources.len());
    for resource in resources {
        let info = resource_info.call1((PyBytes::new(py, &resource.resource),))?;
        let rows = PyList::empty(py);
        for record in &resource.items {
            if record.time_ns > MAX_STORABLE || record.observed_ns > MAX_STORABLE {
                rejected += 1;
                let reason = "log record with a time of 2^63 ns or later";
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
                continue;
            }
            rows.append(named_row(row_type, log_row(py, record, &info, received_ns)?)?)?;
        }
        out.push((info, rows));
    }
    Ok((out, rejected, reasons))
}

fn log_row<'py>(
    py: Python<'py>,
    record: &LogRecord,
    info: &Bound<'py, PyAny>,
    received_ns: u64,
) -> PyResult<Bound<'py, PyTuple>> {
    let attrs = attributes(py, &record.attributes, 0)?;
    let attr_text = |key: &str| -> PyResult<Bound<'py, PyAny>> { text(py, attrs.get_item(key)?.as_ref()) };
    let body_value = any_value_object(py, record.body, 0)?;
    let body: String = match body_value.cast::<PyString>() {
        Ok(text) => text.to_str()?.to_string(),
        Err(_) => json(py, &body_value, false)?,
    };
    let service: String = info.getattr("service")?.extract()?;
    let event_name = event_name(py, record, &attrs, &body, service == CLAUDE_SERVICE)?;
    let event_name = match event_name {
        Some(name) => Some(name),
        None => optional_string(attr_text("intent.event.type")?)?,
    };
    let category = if attrs.contains("intent.event.id")? || attrs.contains("intent.event.type")? {
        "intent"
    } else if service == CLAUDE_SERVICE
        || event_name
            .as_deref()
            .is_some_and(|n| n.starts_with(CLAUDE_PREFIX))
    {
        "claude"
    } else {
        "other"
    };
    let time_ns = [record.time_ns, record.observed_ns, received_ns]
        .into_iter()
        .find(|t| *t != 0)
        .unwrap_or(0);
    let trace_id = nonzero_hex(record.trace_id, 16);
    let span_id = nonzero_hex(record.span_id, 8);
    let attrs_json = json(py, attrs.as_any(), true)?;
    let resource_id: i64 = info.getattr("id")?.extract()?;
    let key = match optional_string(attr_text("intent.event.id")?)? {
        Some(key) => key,
        None => {
            let shown = |id: &Option<String>| id.clone().unwrap_or_else(|| "None".into());
            let text = format!(
                "{resource_id}\0{time_ns}\0{}\0{}\0{body}\0{attrs_json}",
                shown(&trace_id),
                shown(&span_id)
            );
            blake2b_simd::Params::new()
                .hash_length(16)
                .hash(text.as_bytes())
                .to_hex()
                .to_string()
        }
    };
    let none = || py.None().into_bound(py);
    let optional = |text: Option<String>| text.map_or_else(none, |t| PyString::new(py, &t).into_any());
    PyTuple::new(
        py,
        [
            PyString::new(py, &key).into_any(),
            PyString::new(py, category).into_any(),
            time_ns.into_pyobject(py)?.into_any(),
            if record.observed_ns == 0 {
                none()
            } else {
                record.observed_ns.into_pyobject(py)?.into_any()
            },
            optional(trace_id),
            optional(span_id),
            record.severity_number.into_pyobject(py)?.into_any(),
            optional((!record.severity_text.is_empty()).then(|| record.severity_text.to_string())),
            PyString::new(py, &body).into_any(),
            optional(event_name),
            info.getattr("service")?,
            info.getattr("id")?,
            attr_text("intent.artifact.id")?,
            attr_text("intent.artifact.type")?,
            attr_text("intent.source")?,
            attr_text("intent.actor")?,
            attr_text("intent.id")?,
            attr_text("intent.autonomy_level")?,
            attr_text("session.id")?,
            PyString::new(py, &attrs_json).into_any(),
        ],
    )
}

/// The record's `event_name`, else its `event.name` attribute, else the first word of a
/// body that starts with Claude Code's prefix; Claude Code's names get the prefix.
fn event_name(
    py: Python<'_>,
    record: &LogRecord,
    attrs: &Bound<'_, PyDict>,
    body: &str,
    claude: bool,
) -> PyResult<Option<String>> {
    let mut name = if record.event_name.is_empty() {
        optional_string(text(py, attrs.get_item("event.name")?.as_ref())?)?
    } else {
        Some(record.event_name.to_string())
    };
    if name.is_none() && body.starts_with(CLAUDE_PREFIX) {
        name = body
            .split(crate::pytext::is_py_space)
            .find(|word| !word.is_empty())
            .map(str::to_string);
    }
    if claude
        && let Some(known) = &name
        && !known.starts_with(CLAUDE_PREFIX)
    {
        name = Some(format!("{CLAUDE_PREFIX}{known}"));
    }
    Ok(name)
}

fn optional_string(value: Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if value.is_none() {
        Ok(None)
    } else {
        Ok(Some(value.extract()?))
    }
}

fn nonzero_hex(id: &[u8], length: usize) -> Option<String> {
    (id.len() == length && id.iter().any(|b| *b != 0)).then(|| hex(id))
}

/// Attributes as decode.py's `attributes` reads them: the last of a repeated key in its
/// first place, nested values cut at `MAX_ATTR_DEPTH`.
fn attributes<'py>(py: Python<'py>, pairs: &[(&str, &[u8])], depth: usize) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (key, value) in pairs {
        out.set_item(*key, any_value_object(py, value, depth)?)?;
    }
    Ok(out)
}

/// An `AnyValue`'s bytes as a Python value (None when it holds none).
fn any_value_object<'py>(py: Python<'py>, bytes: &[u8], depth: usize) -> PyResult<Bound<'py, PyAny>> {
    match any_value(bytes).map_err(|what| decode_error(py, what))? {
        None => Ok(py.None().into_bound(py)),
        Some(value) => python_value(py, value, depth),
    }
}

/// An array (field 5) or key-value list (field 6) `AnyValue`, one level deeper.
fn nested_object<'py>(py: Python<'py>, any_value: &[u8], depth: usize) -> PyResult<Bound<'py, PyAny>> {
    let malformed = |what| decode_error(py, what);
    let mut last = None;
    for field in fields(any_value) {
        if let (number @ (5 | 6), Field::Bytes(list)) = field.map_err(malformed)? {
            last = Some((number, list));
        }
    }
    let Some((number, list)) = last else {
        return Ok(py.None().into_bound(py));
    };
    let items: Vec<&[u8]> = fields(list)
        .filter_map(|field| match field {
            Ok((1, Field::Bytes(item))) => Some(Ok(item)),
            Ok(_) => None,
            Err(what) => Some(Err(what)),
        })
        .collect::<Result<_, _>>()
        .map_err(malformed)?;
    if number == 5 {
        let values = items
            .iter()
            .map(|item| any_value_object(py, item, depth))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(PyList::new(py, values)?.into_any());
    }
    let pairs = items
        .iter()
        .map(|item| key_value_of(item))
        .collect::<Result<Vec<_>, _>>()
        .map_err(malformed)?;
    Ok(attributes(py, &pairs, depth)?.into_any())
}

/// `orjson.dumps(value, default=str)` (keys sorted when asked), as text.
fn json(py: Python<'_>, value: &Bound<'_, PyAny>, sort_keys: bool) -> PyResult<String> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static SORT_KEYS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let orjson = || py.import("orjson");
    let dumps = DUMPS
        .get_or_try_init(py, || orjson()?.getattr("dumps").map(Bound::unbind))?
        .bind(py);
    let kwargs = PyDict::new(py);
    // orjson tells its keywords by identity: they must be the interned strings
    kwargs.set_item(intern!(py, "default"), py.get_type::<PyString>())?;
    if sort_keys {
        let option =
            SORT_KEYS.get_or_try_init(py, || orjson()?.getattr("OPT_SORT_KEYS").map(Bound::unbind))?;
        kwargs.set_item(intern!(py, "option"), option.bind(py))?;
    }
    let encoded = dumps.call((value,), Some(&kwargs))?;
    Ok(String::from_utf8_lossy(encoded.cast::<PyBytes>()?.as_bytes()).into_owned())
}
