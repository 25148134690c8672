//! `engine.state`: read-only views of the engine's state, as the package reads it.

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyKeyError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

use super::Engine;
use crate::identity::ids::hex;
use crate::identity::metrics::Histogram;
use crate::identity::model::Artifact;

// The classes of the views, each imported at its first use (`inspect` and the tail read the
// metrics, never an artifact)
static METRIC_VALUES: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static HISTOGRAM: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ARTIFACT_VIEW: PyOnceLock<Py<PyType>> = PyOnceLock::new();
const METRICS_MODULE: &str = "intent_observe.metrics.derive";

/// `engine.state`: read-only views of the engine's state.
#[pyclass(module = "intent_observe._core")]
pub struct State {
    pub(super) engine: Py<Engine>,
}

#[pymethods]
impl State {
    #[getter]
    fn artifacts(&self, py: Python<'_>) -> Artifacts {
        Artifacts {
            engine: self.engine.clone_ref(py),
        }
    }

    #[getter]
    fn events_seen(&self, py: Python<'_>) -> u64 {
        self.engine.borrow(py).inner.events_seen
    }

    #[getter]
    fn derived_ignored(&self, py: Python<'_>) -> u64 {
        self.engine.borrow(py).inner.derived_ignored
    }

    #[getter]
    fn scope(&self, py: Python<'_>) -> String {
        self.engine.borrow(py).inner.scope.clone()
    }

    /// The metric values (`MetricValues`) at this moment.
    #[getter]
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.engine.borrow(py);
        let m = &engine.inner.metrics;
        let histogram_class = HISTOGRAM.import(py, METRICS_MODULE, "Histogram")?;
        let histogram = |h: &Histogram| {
            histogram_class.call1((PyTuple::new(py, &h.bounds)?, h.counts.clone(), h.total, h.count))
        };
        let kwargs = PyDict::new(py);
        kwargs.set_item("signals", &m.signals)?;
        kwargs.set_item("specs", m.specs)?;
        kwargs.set_item("intents", m.intents)?;
        kwargs.set_item("contracts", &m.contracts)?;
        kwargs.set_item("assertions", &m.assertions)?;
        kwargs.set_item("events", &m.events)?;
        kwargs.set_item("first_event_ns", m.first_event_ns)?;
        kwargs.set_item("last_event_ns", m.last_event_ns)?;
        kwargs.set_item("intent_last_ns", &m.intent_last_ns)?; // a BTreeMap: in key order
        kwargs.set_item("signal_to_intent", histogram(&m.signal_to_intent)?)?;
        kwargs.set_item("intent_to_spec", histogram(&m.intent_to_spec)?)?;
        kwargs.set_item("spec_to_complete", histogram(&m.spec_to_complete)?)?;
        kwargs.set_item("trust", histogram(&m.trust)?)?;
        kwargs.set_item("active_levels", &m.active_levels)?;
        kwargs.set_item("active_trust_units", m.active_trust_units)?;
        kwargs.set_item("active_trusted", m.active_trusted)?;
        kwargs.set_item("open_specs", m.open_specs)?;
        kwargs.set_item("specs_in_progress", m.specs_in_progress)?;
        kwargs.set_item("running_contracts", m.running_contracts)?;
        kwargs.set_item("intents_active", m.intents_active)?;
        METRIC_VALUES
            .import(py, METRICS_MODULE, "MetricValues")?
            .call((), Some(&kwargs))
    }
}

/// `engine.state.artifacts`: artifact key → `ArtifactView` (a copy, read-only).
#[pyclass(module = "intent_observe._core")]
pub struct Artifacts {
    engine: Py<Engine>,
}

#[pymethods]
impl Artifacts {
    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        self.get(py, key)?
            .ok_or_else(|| PyKeyError::new_err(key.to_string()))
    }

    fn get<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let engine = self.engine.borrow(py);
        engine
            .inner
            .artifacts
            .get(key)
            .map(|art| artifact_view(py, art))
            .transpose()
    }

    fn __contains__(&self, py: Python<'_>, key: &str) -> bool {
        self.engine.borrow(py).inner.artifacts.contains(key)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.engine.borrow(py).inner.artifacts.len()
    }

    /// Every key, sorted.
    fn keys(&self, py: Python<'_>) -> Vec<String> {
        let engine = self.engine.borrow(py);
        engine.inner.artifacts.keys()
    }

    /// Every artifact, by key.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let engine = self.engine.borrow(py);
        let artifacts = &engine.inner.artifacts;
        let keys = artifacts.keys();
        keys.iter()
            .filter_map(|key| artifacts.get(key))
            .map(|art| artifact_view(py, art))
            .collect()
    }
}

fn artifact_view<'py>(py: Python<'py>, art: &Artifact) -> PyResult<Bound<'py, PyAny>> {
    let class = ARTIFACT_VIEW.import(py, "intent_observe.records", "ArtifactView")?;
    let view = class.call_method1(intern!(py, "__new__"), (class,))?;
    set_slot(&view, intern!(py, "key"), &art.key)?;
    set_slot(&view, intern!(py, "kind"), art.kind.value())?;
    set_slot(&view, intern!(py, "id"), art.id.as_deref())?;
    set_slot(&view, intern!(py, "span_id"), hex(&art.span_id))?;
    set_slot(&view, intern!(py, "first_ns"), art.first_ns)?;
    set_slot(&view, intern!(py, "last_ns"), art.last_ns)?;
    set_slot(&view, intern!(py, "name"), art.name())?;
    set_slot(&view, intern!(py, "title"), art.title.as_deref())?;
    set_slot(&view, intern!(py, "file"), art.file.as_deref())?;
    let files = match &art.files {
        None => None,
        Some(files) => {
            let dict = PyDict::new(py);
            for (file, key) in files {
                dict.set_item(&**file, &**key)?;
            }
            Some(dict)
        }
    };
    set_slot(&view, intern!(py, "files"), files)?;
    set_slot(&view, intern!(py, "latest"), art.latest.as_deref())?;
    set_slot(&view, intern!(py, "occurrences"), art.occurrences)?;
    set_slot(&view, intern!(py, "intent"), art.intent.as_deref())?;
    set_slot(&view, intern!(py, "spec"), art.spec.as_deref())?;
    set_slot(&view, intern!(py, "contract"), art.contract.as_deref())?;
    set_slot(&view, intern!(py, "cluster"), art.cluster.as_deref())?;
    set_slot(&view, intern!(py, "defined"), art.defined)?;
    set_slot(&view, intern!(py, "defined_ns"), art.defined_ns)?;
    set_slot(&view, intern!(py, "claimed_trace"), art.claimed_trace.as_deref())?;
    set_slot(&view, intern!(py, "trace_id"), art.trace_id.map(|id| hex(&id)))?;
    set_slot(
        &view,
        intern!(py, "parent_span"),
        art.parent_span.map(|id| hex(&id)),
    )?;
    set_slot(&view, intern!(py, "announced"), art.announced)?;
    set_slot(&view, intern!(py, "closed"), art.closed)?;
    set_slot(&view, intern!(py, "end_ns"), art.end_ns)?;
    set_slot(&view, intern!(py, "error"), art.error)?;
    set_slot(
        &view,
        intern!(py, "status_message"),
        art.status_message.as_deref(),
    )?;
    set_slot(&view, intern!(py, "runs"), art.runs)?;
    set_slot(&view, intern!(py, "running"), art.running)?;
    set_slot(&view, intern!(py, "run_start_ns"), art.run_start_ns)?;
    set_slot(&view, intern!(py, "approved"), art.approved)?;
    let lists = art.lists();
    set_slot(&view, intern!(py, "contracts"), &lists.contracts)?;
    set_slot(&view, intern!(py, "listed"), &lists.listed)?;
    set_slot(&view, intern!(py, "passed"), &lists.passed)?;
    set_slot(&view, intern!(py, "members"), &lists.members)?;
    set_slot(&view, intern!(py, "inactive"), art.inactive.as_deref())?;
    set_slot(&view, intern!(py, "trust"), art.trust)?;
    set_slot(&view, intern!(py, "level"), art.level.as_deref())?;
    set_slot(&view, intern!(py, "first_spec_ns"), art.first_spec_ns)?;
    set_slot(&view, intern!(py, "placeholder"), art.placeholder)?;
    set_slot(&view, intern!(py, "in_progress"), art.in_progress)?;
    set_slot(&view, intern!(py, "counted"), art.counted)?;
    set_slot(&view, intern!(py, "observed"), art.observed)?;
    set_slot(&view, intern!(py, "bare"), art.bare)?;
    set_slot(&view, intern!(py, "evaluations"), art.evaluations)?;
    set_slot(&view, intern!(py, "run"), art.run)?;
    Ok(view)
}

/// `object.__setattr__(view, name, value)`, as a frozen dataclass's own `__init__` sets a
/// field: a view's 40 fields are set from here without calling that `__init__` (with keywords
/// from a dict, a view took 20 µs; `inspect` makes one per artifact).
fn set_slot<'py>(
    view: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
    value: impl IntoPyObject<'py>,
) -> PyResult<()> {
    let value = value.into_bound_py_any(view.py())?;
    // SAFETY: three live objects; the generic setter stores into the instance's slot
    let status = unsafe { pyo3::ffi::PyObject_GenericSetAttr(view.as_ptr(), name.as_ptr(), value.as_ptr()) };
    if status < 0 {
        return Err(PyErr::fetch(view.py()));
    }
    Ok(())
}
