//! Lines → `Event` / `Rejected` objects of `intent_observe.model`.

use std::borrow::Cow;

use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyString, PyTuple};

use super::CollectorPaused;
use crate::json::{Json, Object};
use crate::lines::complete_lines;
use crate::parse::{self, Kind, Parsed, ParsedEvent};
use crate::timestamps::{Stamp, parse_timestamp as parse_stamp};

create_exception!(
    _core,
    TimestampError,
    PyValueError,
    "A timestamp that cannot be read, and why."
);

/// `Event`'s fields in the order its constructor takes them; checked against the dataclass
/// when the model is first used, so a field added in Python cannot be filled by position wrongly.
const EVENT_FIELDS: [&str; 23] = [
    "type",
    "time_ns",
    "kind",
    "artifact_id",
    "event_id",
    "position",
    "shape",
    "parent_id",
    "intent_id",
    "spec_id",
    "contract_id",
    "cluster_id",
    "signal_id",
    "trace_hint",
    "source",
    "actor",
    "trust",
    "autonomy_level",
    "title",
    "file",
    "signals",
    "contracts",
    "payload",
];

/// The Python classes the parser builds, imported once.
struct Model {
    event: Py<PyAny>,
    rejected: Py<PyAny>,
    position: Py<PyAny>,
    kinds: Vec<Py<PyAny>>, // ArtifactKind members, indexed as `Kind::ALL`
}

static MODEL: PyOnceLock<Model> = PyOnceLock::new();

fn model(py: Python<'_>) -> PyResult<&Model> {
    MODEL.get_or_try_init(py, || {
        let module = py.import("intent_observe.model")?;
        let event = module.getattr("Event")?;
        let fields: Vec<String> = event.getattr("__dataclass_fields__")?.try_iter()?.map(|f| f?.extract()).collect::<PyResult<_>>()?;
        if fields != EVENT_FIELDS {
            return Err(PyRuntimeError::new_err(format!(
                "Event's fields are {fields:?}; the core builds {EVENT_FIELDS:?}: update crates/core/src/python/parse.rs"
            )));
        }
        let artifact_kind = module.getattr("ArtifactKind")?;
        let kinds = Kind::ALL.iter().map(|k| Ok(artifact_kind.call1((k.value(),))?.unbind())).collect::<PyResult<_>>()?;
        Ok(Model {
            event: event.unbind(),
            rejected: module.getattr("Rejected")?.unbind(),
            position: module.getattr("Position")?.unbind(),
            kinds,
        })
    })
}

/// One line (without its newline) → `Event`, `Rejected`, or None for a blank line.
#[pyfunction]
pub fn parse_line<'py>(
    raw: &Bound<'py, PyBytes>,
    position: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = raw.py();
    let bytes = raw.as_bytes();
    let parsed = parse::parse_line(bytes); // one line: too short to be worth giving up the GIL
    to_python(py, model(py)?, parsed, position, || raw.clone().into_any())
}

/// Every complete line of `data` → its `Event` or `Rejected`, blank lines left out; a
/// trailing line without its newline is not read. Positions count from `start_offset` and
/// `start_line`. The parsing itself runs without the GIL.
#[pyfunction]
#[pyo3(signature = (data, file, start_offset = 0, start_line = 1))]
pub fn parse_lines<'py>(
    data: &Bound<'py, PyBytes>,
    file: &Bound<'py, PyString>,
    start_offset: u64,
    start_line: u64,
) -> PyResult<Bound<'py, PyList>> {
    let py = data.py();
    let model = model(py)?;
    let bytes = data.as_bytes();
    let parsed: Vec<(usize, usize, Parsed)> = py.detach(|| {
        complete_lines(bytes)
            .map(|line| (line.offset, line.bytes.len(), parse::parse_line(line.bytes)))
            .collect()
    });
    let out = PyList::empty(py);
    let _paused = CollectorPaused::new(py);
    for (index, (offset, length, item)) in parsed.into_iter().enumerate() {
        if matches!(item, Parsed::Blank) {
            continue;
        }
        let position =
            model
                .position
                .bind(py)
                .call1((file, start_line + index as u64, start_offset + offset as u64))?;
        let raw = || PyBytes::new(py, &bytes[offset..offset + length]).into_any();
        out.append(to_python(py, model, item, &position, raw)?)?;
    }
    Ok(out)
}

/// Every complete line of `data` as `(raw, Position)`, for readers that need each line's bytes.
#[pyfunction]
#[pyo3(signature = (data, file, start_offset = 0, start_line = 1))]
pub fn iter_lines<'py>(
    data: &Bound<'py, PyBytes>,
    file: &Bound<'py, PyString>,
    start_offset: u64,
    start_line: u64,
) -> PyResult<Bound<'py, PyList>> {
    let py = data.py();
    let position_class = model(py)?.position.bind(py);
    let out = PyList::empty(py);
    for (index, line) in complete_lines(data.as_bytes()).enumerate() {
        let position =
            position_class.call1((file, start_line + index as u64, start_offset + line.offset as u64))?;
        out.append(PyTuple::new(
            py,
            [PyBytes::new(py, line.bytes).into_any(), position],
        )?)?;
    }
    Ok(out)
}

/// A `Rejected` line at a position the engine noted.
pub fn rejection<'py>(
    py: Python<'py>,
    at: &crate::identity::model::Position,
    reason: String,
    raw: Bound<'py, PyBytes>,
) -> PyResult<Bound<'py, PyAny>> {
    let model = model(py)?;
    let position = model.position.bind(py).call1((&*at.file, at.line, at.offset))?;
    model.rejected.bind(py).call1((position, reason, raw))
}

/// `raw`: the line's bytes, made only for a rejection (which keeps them).
fn to_python<'py>(
    py: Python<'py>,
    model: &Model,
    parsed: Parsed,
    position: &Bound<'py, PyAny>,
    raw: impl FnOnce() -> Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    match parsed {
        Parsed::Blank => Ok(py.None().into_bound(py)),
        Parsed::Rejected(reason) => model.rejected.bind(py).call1((position, reason, raw())),
        Parsed::Event(event) => event_object(py, model, *event, position),
    }
}

fn event_object<'py>(
    py: Python<'py>,
    model: &Model,
    e: ParsedEvent<'_>,
    position: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let text = |value: Option<Cow<str>>| -> Bound<'py, PyAny> {
        value.map_or_else(|| py.None().into_bound(py), |t| PyString::new(py, &t).into_any())
    };
    let ids = |ids: Vec<String>| PyTuple::new(py, ids.iter().map(|id| PyString::new(py, id)));
    let shape = e.shape.value();
    let args = PyTuple::new(
        py,
        [
            PyString::new(py, &e.event_type).into_any(),
            e.time_ns.into_pyobject(py)?.into_any(),
            model.kinds[e.kind as usize].bind(py).clone(),
            text(e.artifact_id),
            PyString::new(py, &e.event_id).into_any(),
            position.clone(),
            PyString::new(py, shape).into_any(),
            text(e.parent_id),
            text(e.intent_id),
            text(e.spec_id),
            text(e.contract_id),
            text(e.cluster_id),
            text(e.signal_id),
            text(e.trace_hint),
            text(e.source),
            text(e.actor),
            e.trust
                .map_or_else(|| py.None().into_bound(py), |t| PyFloat::new(py, t).into_any()),
            text(e.autonomy_level),
            text(e.title),
            text(e.file),
            ids(e.signals)?.into_any(),
            ids(e.contracts)?.into_any(),
            dict(py, &e.payload)?.into_any(),
        ],
    )?;
    model.event.bind(py).call1(args)
}

fn dict<'py>(py: Python<'py>, object: &Object) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (key, value) in &object.0 {
        out.set_item(PyString::new(py, key), json_value(py, value)?)?;
    }
    Ok(out)
}

/// A JSON value as the Python object `json.loads` would give.
fn json_value<'py>(py: Python<'py>, value: &Json) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Json::Null => py.None().into_bound(py),
        Json::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Json::Int(n) => n.into_pyobject(py)?.into_any(),
        Json::Float(x) => PyFloat::new(py, *x).into_any(),
        Json::Str(text) => PyString::new(py, text).into_any(),
        Json::Array(items) => PyList::new(
            py,
            items
                .iter()
                .map(|item| json_value(py, item))
                .collect::<PyResult<Vec<_>>>()?,
        )?
        .into_any(),
        Json::Object(object) => dict(py, object)?.into_any(),
    })
}

/// A stable id for one line: BLAKE2b-128 of its bytes without surrounding whitespace.
/// How many lines (`\n`) `data` holds.
#[pyfunction]
pub fn count_lines(data: &[u8]) -> usize {
    crate::lines::count_newlines(data)
}

#[pyfunction]
pub fn event_id_of(raw: &[u8]) -> String {
    parse::event_id_of(raw)
}

/// UTC nanoseconds since the epoch from a timestamp as writers write them (see timestamps.rs).
#[pyfunction]
pub fn parse_timestamp(value: &Bound<'_, PyAny>) -> PyResult<i64> {
    let text;
    let stamp = if value.is_instance_of::<PyBool>() {
        Stamp::Bool(value.is_truthy()?)
    } else if let Ok(number) = value.extract::<i128>() {
        Stamp::Int(number)
    } else if value.is_instance_of::<PyFloat>() {
        Stamp::Float(value.extract()?)
    } else if let Ok(string) = value.cast::<PyString>() {
        text = string.to_string_lossy(); // lone surrogates: unreadable, not an encoding error
        Stamp::Text(&text)
    } else {
        let type_name = value.get_type().name()?.to_string();
        return Err(TimestampError::new_err(format!("timestamp has type {type_name}")));
    };
    parse_stamp(stamp).map_err(TimestampError::new_err)
}

/// The artifact kind an event type names (`ArtifactKind`).
#[pyfunction]
pub fn kind_of_type<'py>(py: Python<'py>, event_type: &str) -> PyResult<Bound<'py, PyAny>> {
    Ok(model(py)?.kinds[parse::kind_of_type(event_type) as usize]
        .bind(py)
        .clone())
}

/// The artifact kind an id's usual shape says (`SIG-…` → signal), or None.
#[pyfunction]
pub fn kind_of_id<'py>(py: Python<'py>, artifact_id: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    let model = model(py)?;
    Ok(parse::kind_of_id(artifact_id).map(|kind| model.kinds[kind as usize].bind(py).clone()))
}

/// An id as written (`str()` of a number), or None when it names nothing: missing, a
/// placeholder such as `unknown`, or not an id at all (a bool, dict or list).
#[pyfunction]
pub fn clean_id(value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    let structured = value.is_none()
        || value.is_instance_of::<PyBool>()
        || value.is_instance_of::<PyDict>()
        || value.is_instance_of::<PyList>();
    if structured {
        return Ok(None);
    }
    let text = value.str()?;
    Ok(parse::clean_id_text(&text.to_string_lossy())
        .is_some()
        .then(|| text.to_string()))
}

/// A line's `data.file` as the parser reads it: normalised, None when it is no text or blank.
#[pyfunction]
pub fn artifact_file(value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    match value.cast::<PyString>() {
        Ok(path) => Ok(parse::artifact_file(&path.to_string_lossy())),
        Err(_) => Ok(None),
    }
}

/// `(kind value, typed id field)` for every kind that has one: `("signal", "signal_id")`, …
pub fn typed_id_fields() -> Vec<(&'static str, &'static str)> {
    Kind::ALL
        .iter()
        .filter_map(|kind| Some((kind.value(), kind.typed_id_field()?)))
        .collect()
}
