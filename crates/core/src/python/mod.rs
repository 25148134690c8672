//! `intent_observe._core`: the Python face of the core. Each submodule converts Python
//! objects at the boundary and leaves the work to the plain Rust module of the same name.

use pyo3::prelude::*;

mod alloc;
mod decode;
mod encode;
mod engine;
mod parse;
mod report;
mod text;

/// The extension's Rust allocations: mimalloc. The identity engine makes and frees many small
/// strings and vectors per event, and glibc's malloc spent a third of its time there.
#[global_allocator]
static ALLOCATOR: alloc::MiMalloc = alloc::MiMalloc;

/// The compiled core of intent-observe (see README: "Where the core ends").
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(module: &Bound<'_, PyModule>) -> PyResult<()> {
    alloc::purge_soon();
    module.add_class::<encode::Encoder>()?;
    module.add_class::<engine::Engine>()?;
    module.add_class::<report::Report>()?;
    module.add_function(wrap_pyfunction!(engine::state_header, module)?)?;
    module.add("STATE_VERSION", crate::identity::codec::STATE_VERSION)?;
    module.add_function(wrap_pyfunction!(decode::decode_spans, module)?)?;
    module.add_function(wrap_pyfunction!(decode::decode_log_records, module)?)?;
    module.add_function(wrap_pyfunction!(decode::named_rows, module)?)?;
    module.add_function(wrap_pyfunction!(parse::parse_line, module)?)?;
    module.add_function(wrap_pyfunction!(parse::parse_lines, module)?)?;
    module.add_function(wrap_pyfunction!(parse::iter_lines, module)?)?;
    module.add_function(wrap_pyfunction!(parse::count_lines, module)?)?;
    module.add_function(wrap_pyfunction!(parse::event_id_of, module)?)?;
    module.add_function(wrap_pyfunction!(parse::parse_timestamp, module)?)?;
    module.add_function(wrap_pyfunction!(parse::kind_of_type, module)?)?;
    module.add_function(wrap_pyfunction!(parse::kind_of_id, module)?)?;
    module.add_function(wrap_pyfunction!(parse::clean_id, module)?)?;
    module.add_function(wrap_pyfunction!(parse::artifact_file, module)?)?;
    module.add("TimestampError", module.py().get_type::<parse::TimestampError>())?;
    module.add("MAX_LINE_BYTES", crate::parse::MAX_LINE_BYTES)?;
    module.add("TYPED_ID_FIELDS", parse::typed_id_fields())?;
    Ok(())
}

/// Python's cycle collector paused while a batch of objects is built (events, rows). They
/// hold no cycles, but each collection would walk every object of the growing batch again:
/// 15–20% of the time of `parse_lines` went there. The collector's earlier state comes back
/// on drop.
pub(crate) struct CollectorPaused {
    was_enabled: bool,
}

impl CollectorPaused {
    pub(crate) fn new(_attached: Python<'_>) -> Self {
        // SAFETY: called with the thread attached to the interpreter (the token proves it)
        let was_enabled = unsafe { pyo3::ffi::PyGC_Disable() } != 0;
        CollectorPaused { was_enabled }
    }
}

impl Drop for CollectorPaused {
    fn drop(&mut self) {
        if self.was_enabled {
            // SAFETY: dropped in the function that made it, still attached
            unsafe { pyo3::ffi::PyGC_Enable() };
        }
    }
}
