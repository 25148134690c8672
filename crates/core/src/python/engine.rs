//! `Engine`: the identity engine (crate::identity) behind the Python API the package and its
//! tests use: `process(Event)`, `drain()`/`finalize()` → `Output` of `SpanRecord`/`LogRecord`,
//! `context(kind, id)`, `state` (read-only views), and the rows of its durable state.

mod state;

use std::borrow::Cow;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use super::CollectorPaused;
use super::encode::Encoder;
use super::parse::rejection;
use crate::identity;
use crate::identity::attrs::{Attrs, Value};
use crate::identity::ids::hex;
use crate::identity::model::{LogRecord, Output, Position, SpanRecord};
use crate::identity::table::{KeyFilter, Store};
use crate::identity::{codec, export};
use crate::json::{Json, Object};
use crate::lines::complete_lines;
use crate::parse::{self, Kind, Parsed, ParsedEvent, Shape};
use crate::requests::Requests;
use state::State;

/// The record classes `drain`/`finalize` build (`intent_observe.records`), imported at the
/// first `Output`: `inspect` and the tail make none, so their start-up never makes those
/// dataclasses (each is compiled code: ~8 ms of CPU for the module).
struct Records {
    span: Py<PyAny>,
    link: Py<PyAny>,
    log: Py<PyAny>,
    output: Py<PyAny>,
}

static RECORDS: PyOnceLock<Records> = PyOnceLock::new();
static TRACE_CONTEXT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn records(py: Python<'_>) -> PyResult<&Records> {
    RECORDS.get_or_try_init(py, || {
        let records = py.import("intent_observe.records")?;
        Ok(Records {
            span: records.getattr("SpanRecord")?.unbind(),
            link: records.getattr("SpanLink")?.unbind(),
            log: records.getattr("LogRecord")?.unbind(),
            output: records.getattr("Output")?.unbind(),
        })
    })
}

fn kind_named(value: &str) -> PyResult<Kind> {
    Kind::ALL
        .into_iter()
        .find(|kind| kind.value() == value)
        .ok_or_else(|| PyValueError::new_err(format!("no artifact kind {value:?}")))
}

/// `Engine(state=None, scope="", limit=None, store=None, logs_counted=False, working_set=None)`: a new engine,
/// or the one a `SavedState` describes (its rows read from its store as they are needed).
/// With `limit`, about that many entries of each table stay in memory (and those changed
/// since the last confirmed save), the rest in the store (`state.store` or `store`:
/// `row(table, key)`, `keys(table)`). `logs_counted`: its log records are only counted and its
/// spans only shown (`inspect`), so each log record is made bare (its time and place only), no
/// record carries relation attributes (`intent.id`, ...) and of an event's attributes a span
/// carries only its artifact's type and id and its title. `working_set` (no store): about
/// that many entries of each table stay in memory, the rest as rows the engine keeps itself.
#[pyclass(module = "intent_observe._core")]
pub struct Engine {
    pub(super) inner: identity::Engine,
    /// The traces and logs requests drained since they were last taken (`drain_joined`).
    requests: (Requests, Requests),
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (state = None, scope = "", limit = None, store = None, logs_counted = false, working_set = None))]
    fn new(
        py: Python<'_>,
        state: Option<&Bound<'_, PyAny>>,
        scope: &str,
        limit: Option<usize>,
        store: Option<Py<PyAny>>,
        logs_counted: bool,
        working_set: Option<usize>,
    ) -> PyResult<Self> {
        let (mut inner, store) = match state {
            None => (identity::Engine::new(scope), store),
            Some(saved) => (load(saved)?, Some(saved.getattr(intern!(py, "store"))?.unbind())),
        };
        if working_set.is_some() && store.is_some() {
            return Err(PyValueError::new_err(
                "a working set is for an engine without a store",
            ));
        }
        if let Some(store) = store {
            let outside = KeyFilter::default(); // one filter for the four tables
            inner.spill(limit.unwrap_or(usize::MAX), state.is_some(), |n| {
                let name = identity::engine::TABLES[n];
                (table_store(py, &store, name), Some(outside.for_table(name)))
            });
        }
        if let Some(limit) = working_set {
            inner.keep_rows(limit);
        }
        inner.logs_counted = logs_counted;
        Ok(Engine {
            inner,
            requests: Default::default(),
        })
    }

    /// The save numbered `seq` (`PreparedWrite.seq`) and those before it are committed.
    fn confirm(&mut self, seq: u64) {
        self.inner.confirm(seq);
    }

    /// The titles artifact files give in their front matter (`{path: (kind, title)}`): each
    /// names the artifact of its file, whatever title an event of it carries (its first line).
    fn title_files(&mut self, titles: std::collections::HashMap<String, (String, String)>) -> PyResult<()> {
        self.inner.file_titles = titles
            .into_iter()
            .filter_map(|(file, (kind, title))| {
                let line = parse::title_line(&title)?.to_string();
                Some(kind_named(&kind).map(|kind| (file, (kind, line))))
            })
            .collect::<PyResult<_>>()?;
        Ok(())
    }

    /// One event (a line's, or one derived from an artifact file's front matter).
    #[pyo3(signature = (ev, observed_ns = None))]
    fn process(&mut self, ev: &Bound<'_, PyAny>, observed_ns: Option<i64>) -> PyResult<()> {
        let (event, position) = event_from(ev)?;
        self.inner.process(event, &position, observed_ns);
        Ok(())
    }

    /// Spans built so far and logs whose place is known.
    fn drain<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let out = self.inner.drain();
        output(py, out)
    }

    /// Everything still waiting placed with what is known, then `drain`.
    fn finalize<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let out = self.inner.finalize();
        output(py, out)
    }

    /// Where the newest artifact of this kind and id sits, once placed (`TraceContext`), else None.
    fn context<'py>(
        &mut self,
        py: Python<'py>,
        kind: &str,
        artifact_id: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(place) = self.inner.context(kind_named(kind)?, artifact_id) else {
            return Ok(None);
        };
        let args = (
            place.trace_id,
            place.span_id,
            place.parent_span_id,
            place.intent_id,
            place.spec_id,
            place.contract_id,
        );
        let class = TRACE_CONTEXT.import(py, "intent_observe.records", "TraceContext")?;
        Ok(Some(class.call1(args)?))
    }

    /// Every complete line of `data` parsed and processed here, without an `Event` object:
    /// before each line's event, the `derived` events whose turn is before it (`Said`:
    /// `(turn_ns, event)` pairs, oldest turn first). Returns the lines' rejections
    /// (`Rejected`) and how many derived events were processed. The lines are processed
    /// without the GIL (the tail's delivery thread sends and commits meanwhile).
    #[pyo3(signature = (data, file, start_offset = 0, start_line = 1, observed_ns = None, derived = None))]
    fn process_lines<'py>(
        &mut self,
        data: &Bound<'py, PyBytes>,
        file: &Bound<'py, PyString>,
        start_offset: u64,
        start_line: u64,
        observed_ns: Option<i64>,
        derived: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyList>, usize)> {
        let py = data.py();
        let waiting: Vec<(i64, ParsedEvent<'static>, Position<'static>)> = match derived {
            None => vec![],
            Some(said) => said
                .try_iter()?
                .map(|pair| {
                    let (turn, ev): (i64, Bound<'py, PyAny>) = pair?.extract()?;
                    let (event, position) = event_from(&ev)?;
                    Ok((turn, event, position))
                })
                .collect::<PyResult<_>>()?,
        };
        let name: String = file.extract()?;
        // the bytes object is immutable and held by the caller: its buffer is read detached
        let bytes = data.as_bytes();
        let inner = &mut self.inner;
        let (unusable, fed) = py.detach(|| {
            let mut waiting = waiting.into_iter().peekable();
            let (mut unusable, mut fed) = (Vec::new(), 0);
            for (index, line) in complete_lines(bytes).enumerate() {
                let position = Position {
                    file: Cow::Borrowed(&name),
                    line: (start_line + index as u64) as i64,
                    offset: (start_offset + line.offset as u64) as i64,
                };
                match parse::parse_line(line.bytes) {
                    Parsed::Blank => {}
                    Parsed::Rejected(reason) => {
                        unusable.push((position, reason, line.offset, line.bytes.len()))
                    }
                    Parsed::Event(ev) => {
                        while let Some((_, older, at)) = waiting.next_if(|(turn, _, _)| *turn < ev.time_ns) {
                            inner.process(older, &at, None);
                            fed += 1;
                        }
                        inner.process(*ev, &position, observed_ns);
                    }
                }
            }
            (unusable, fed)
        });
        let rejected = PyList::empty(py);
        for (position, reason, offset, length) in unusable {
            let raw = PyBytes::new(py, &bytes[offset..offset + length]);
            rejected.append(rejection(py, &position, reason, raw)?)?;
        }
        Ok((rejected, fed))
    }

    /// `drain` (`finalize` when `last`), encoded for `encoder`'s resource, after the requests
    /// drained before (`take_requests`): in the open request of each signal, or a new one if
    /// the open one holds some and would pass `request_bytes` with it. Drained and encoded
    /// without the GIL, each record written once, in place.
    #[pyo3(signature = (encoder, request_bytes, last = false))]
    fn drain_joined(
        &mut self,
        py: Python<'_>,
        encoder: PyRef<'_, Encoder>,
        request_bytes: usize,
        last: bool,
    ) {
        let Engine {
            inner,
            requests: (traces, logs),
        } = self;
        let envelope = &encoder.envelope;
        py.detach(|| {
            if last {
                inner.place_all();
            }
            let mut spans = traces.section(envelope, request_bytes);
            let mut records = logs.section(envelope, request_bytes);
            inner.drain_each(
                |span| export::put_span_record(spans.out(), &span),
                |log| export::put_log_record(records.out(), &log),
            );
            spans.close();
            records.close();
        });
    }

    /// The requests drained since the last take: (traces requests, logs requests).
    fn take_requests<'py>(
        &mut self,
        py: Python<'py>,
    ) -> (Vec<Bound<'py, PyBytes>>, Vec<Bound<'py, PyBytes>>) {
        let (traces, logs) = &mut self.requests;
        (taken(py, traces), taken(py, logs))
    }

    /// Log records still waiting for their artifact's place are dropped (a read model's).
    fn clear_pending(&mut self) {
        self.inner.clear_pending();
    }

    /// The state's read-only views: `artifacts`, `events_seen`, `derived_ignored`, `metrics`.
    #[getter]
    fn state(slf: Bound<'_, Self>) -> State {
        State { engine: slf.unbind() }
    }

    /// What changed since the last call, as rows: (seq, artifacts, memberships, activity,
    /// inactive, files, derived, core) — the save's number, `(key, bytes)` pairs, `(key,
    /// last_ns)` pairs, keys, and one row. The rows are encoded without the GIL.
    fn take_rows<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let engine = &mut self.inner;
        let (changes, core) = py.detach(|| (engine.take_changed(), codec::core_row(engine)));
        let rows = |rows: &[(String, Vec<u8>)]| {
            PyList::new(
                py,
                rows.iter()
                    .map(|(key, row)| (key.as_str(), PyBytes::new(py, row))),
            )
        };
        let artifacts = rows(&changes.artifacts)?;
        let memberships = rows(&changes.memberships)?;
        let files = rows(&changes.files)?;
        let last_ns = &engine.metrics.intent_last_ns;
        let activity = changes
            .activity
            .iter()
            .filter_map(|k| Some((k.as_str(), *last_ns.get(k)?)));
        let inactive = changes.activity.iter().filter(|k| !last_ns.contains_key(*k));
        PyTuple::new(
            py,
            [
                changes.seq.into_pyobject(py)?.into_any(),
                artifacts.into_any(),
                memberships.into_any(),
                PyList::new(py, activity)?.into_any(),
                PyList::new(py, inactive.map(|k| (k.as_str(),)))?.into_any(),
                files.into_any(),
                PyList::new(py, changes.derived.iter().map(|(k, _)| (k.as_str(),)))?.into_any(),
                PyBytes::new(py, &core).into_any(),
            ],
        )
    }
}

/// Each request as bytes, the buffer emptied for the next batch.
fn taken<'py>(py: Python<'py>, requests: &mut Requests) -> Vec<Bound<'py, PyBytes>> {
    let each = requests.each().map(|request| PyBytes::new(py, request)).collect();
    requests.clear();
    each
}

/// `(version, scope)` of a saved core row.
#[pyfunction]
pub fn state_header(core: &[u8]) -> PyResult<(u64, String)> {
    codec::header(core).map_err(PyValueError::new_err)
}

/// An engine from a `SavedState`: its core row and the open intents' activity (its tables'
/// rows are read from its store as they are needed).
fn load(saved: &Bound<'_, PyAny>) -> PyResult<identity::Engine> {
    let py = saved.py();
    let core: Vec<u8> = saved.getattr(intern!(py, "core"))?.extract()?;
    let mut engine =
        codec::read_core(&core).map_err(|e| PyValueError::new_err(format!("identity state: {e}")))?;
    for item in saved.getattr(intern!(py, "activity"))?.try_iter()? {
        let (key, last_ns): (String, i64) = item?.extract()?;
        engine.metrics.intent_last_ns.insert(key, last_ns);
    }
    Ok(engine)
}

/// One table of a Python store (`row(table, key)`, `keys(table)`) as the engine reads it. A
/// store that fails is a row not found (it is read inside the engine, where no error can go).
/// Each read attaches to the interpreter itself, as the engine works detached (`process_lines`,
/// `drain_encoded`, `take_rows`). No lock of the engine's is held while the store runs (the
/// table's map is locked only around its own lookups), and another thread calling the engine
/// meanwhile gets PyO3's borrow error rather than waiting: nothing can wait in a circle. The
/// tail uses each engine from its reader thread only.
fn table_store(py: Python<'_>, store: &Py<PyAny>, table: &'static str) -> Store {
    let (rows, keys) = (store.clone_ref(py), store.clone_ref(py));
    Store {
        row: Box::new(move |key| {
            Python::attach(|py| {
                let row = rows
                    .bind(py)
                    .call_method1(intern!(py, "row"), (table, key))
                    .ok()?;
                row.extract::<Option<Vec<u8>>>().ok().flatten()
            })
        }),
        keys: Box::new(move |each| {
            Python::attach(|py| {
                let listed = keys.bind(py).call_method1(intern!(py, "keys"), (table,));
                let Ok(listed) = listed.and_then(|keys| keys.try_iter()) else {
                    return;
                };
                for key in listed.flatten() {
                    if let Some(key) = key.cast::<PyString>().ok().and_then(|key| key.to_str().ok()) {
                        each(key);
                    }
                }
            })
        }),
        rows: None,  // each key's row is read
        write: None, // a save writes what changed
    }
}

// ------------------------------------------------------------------ Python → event
fn text(ev: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<Option<Cow<'static, str>>> {
    Ok(ev.getattr(name)?.extract::<Option<String>>()?.map(Cow::Owned))
}

fn event_from(ev: &Bound<'_, PyAny>) -> PyResult<(ParsedEvent<'static>, Position<'static>)> {
    let py = ev.py();
    let shape: String = ev.getattr(intern!(py, "shape"))?.extract()?;
    let kind: String = ev.getattr(intern!(py, "kind"))?.extract()?;
    let position = ev.getattr(intern!(py, "position"))?;
    let position = Position {
        file: Cow::Owned(position.getattr(intern!(py, "file"))?.extract()?),
        line: position.getattr(intern!(py, "line"))?.extract()?,
        offset: position.getattr(intern!(py, "offset"))?.extract()?,
    };
    let payload = ev.getattr(intern!(py, "payload"))?;
    let Json::Object(payload) = json_from(&payload, 0)? else {
        return Err(PyValueError::new_err("an event's payload is a dict"));
    };
    let event = ParsedEvent {
        event_type: Cow::Owned(ev.getattr(intern!(py, "type"))?.extract()?),
        time_ns: ev.getattr(intern!(py, "time_ns"))?.extract()?,
        kind: kind_named(&kind)?,
        artifact_id: text(ev, intern!(py, "artifact_id"))?,
        event_id: ev.getattr(intern!(py, "event_id"))?.extract()?,
        shape: match shape.as_str() {
            "envelope" => Shape::Envelope,
            "flat" => Shape::Flat,
            _ => Shape::FrontMatter,
        },
        parent_id: text(ev, intern!(py, "parent_id"))?,
        intent_id: text(ev, intern!(py, "intent_id"))?,
        spec_id: text(ev, intern!(py, "spec_id"))?,
        contract_id: text(ev, intern!(py, "contract_id"))?,
        cluster_id: text(ev, intern!(py, "cluster_id"))?,
        signal_id: text(ev, intern!(py, "signal_id"))?,
        trace_hint: text(ev, intern!(py, "trace_hint"))?,
        source: text(ev, intern!(py, "source"))?,
        actor: text(ev, intern!(py, "actor"))?,
        trust: ev.getattr(intern!(py, "trust"))?.extract()?,
        autonomy_level: text(ev, intern!(py, "autonomy_level"))?,
        title: text(ev, intern!(py, "title"))?,
        file: text(ev, intern!(py, "file"))?,
        signals: ev.getattr(intern!(py, "signals"))?.extract()?,
        contracts: ev.getattr(intern!(py, "contracts"))?.extract()?,
        payload,
    };
    Ok((event, position))
}

/// A Python value as the JSON it was read from (a payload).
fn json_from(value: &Bound<'_, PyAny>, depth: usize) -> PyResult<Json<'static>> {
    if depth > crate::json::MAX_DEPTH {
        return Err(PyValueError::new_err("a payload nested too deep"));
    }
    Ok(if value.is_none() {
        Json::Null
    } else if let Ok(flag) = value.cast::<PyBool>() {
        Json::Bool(flag.is_true())
    } else if value.is_instance_of::<PyInt>() {
        match value.extract::<i128>() {
            Ok(n) => Json::Int(n),
            Err(_) => Json::Float(value.extract()?), // as the parser reads a number too large
        }
    } else if let Ok(x) = value.cast::<PyFloat>() {
        Json::Float(x.value())
    } else if let Ok(text) = value.cast::<PyString>() {
        Json::Str(Cow::Owned(text.to_str()?.to_string()))
    } else if let Ok(dict) = value.cast::<PyDict>() {
        let mut members = Vec::with_capacity(dict.len());
        for (key, item) in dict.iter() {
            members.push((
                Cow::Owned(key.str()?.to_str()?.to_string()),
                json_from(&item, depth + 1)?,
            ));
        }
        Json::Object(Object(members))
    } else {
        let items = value.try_iter()?.map(|item| json_from(&item?, depth + 1));
        Json::Array(items.collect::<PyResult<_>>()?)
    })
}

// ------------------------------------------------------------------ records → Python
fn value_object<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Str(text) => PyString::new(py, text).into_any(),
        Value::Int(n) => n.into_pyobject(py)?.into_any(),
        Value::Float(x) => PyFloat::new(py, *x).into_any(),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
    })
}

fn attrs_dict<'py>(py: Python<'py>, attrs: &Attrs) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in &attrs.0 {
        dict.set_item(PyString::new(py, key), value_object(py, value)?)?;
    }
    Ok(dict)
}

fn span_object<'py>(py: Python<'py>, c: &Records, span: SpanRecord) -> PyResult<Bound<'py, PyAny>> {
    let links = span
        .links
        .into_iter()
        .map(|link| {
            c.link.bind(py).call1((
                hex(&link.trace_id),
                hex(&link.span_id),
                attrs_dict(py, &link.attributes)?,
            ))
        })
        .collect::<PyResult<Vec<_>>>()?;
    c.span.bind(py).call1((
        hex(&span.trace_id),
        hex(&span.span_id),
        span.parent_span_id.map(|id| hex(&id)),
        span.name,
        span.start_ns,
        span.end_ns,
        span.error,
        span.status_message,
        attrs_dict(py, &span.attributes)?,
        PyList::new(py, links)?,
    ))
}

fn log_object<'py>(py: Python<'py>, c: &Records, log: LogRecord) -> PyResult<Bound<'py, PyAny>> {
    c.log.bind(py).call1((
        log.time_ns,
        log.observed_ns,
        hex(&log.trace_id),
        hex(&log.span_id),
        log.severity_number,
        log.severity_text,
        log.body,
        attrs_dict(py, &log.attributes)?,
    ))
}

pub(super) fn output<'py>(py: Python<'py>, out: Output) -> PyResult<Bound<'py, PyAny>> {
    let c = records(py)?;
    let _paused = CollectorPaused::new(py);
    let spans = out
        .spans
        .into_iter()
        .map(|s| span_object(py, c, s))
        .collect::<PyResult<Vec<_>>>()?;
    let logs = out
        .logs
        .into_iter()
        .map(|l| log_object(py, c, l))
        .collect::<PyResult<Vec<_>>>()?;
    c.output
        .bind(py)
        .call1((PyList::new(py, spans)?, PyList::new(py, logs)?))
}
