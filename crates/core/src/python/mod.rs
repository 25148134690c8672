//! `intent_observe._core`: the Python face of the core. Each submodule converts Python
//! objects at the boundary and leaves the work to the plain Rust module of the same name.

use pyo3::prelude::*;

mod decode;
mod encode;
mod parse;
mod text;

/// The compiled core of intent-observe (see README: "Where the core ends").
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<encode::Encoder>()?;
    module.add_function(wrap_pyfunction!(decode::decode_spans, module)?)?;
    module.add_function(wrap_pyfunction!(parse::parse_line, module)?)?;
    module.add_function(wrap_pyfunction!(parse::parse_lines, module)?)?;
    module.add_function(wrap_pyfunction!(parse::iter_lines, module)?)?;
    module.add_function(wrap_pyfunction!(parse::event_id_of, module)?)?;
    module.add_function(wrap_pyfunction!(parse::parse_timestamp, module)?)?;
    module.add_function(wrap_pyfunction!(parse::kind_of_type, module)?)?;
    module.add_function(wrap_pyfunction!(parse::kind_of_id, module)?)?;
    module.add_function(wrap_pyfunction!(parse::clean_id, module)?)?;
    module.add("TimestampError", module.py().get_type::<parse::TimestampError>())?;
    module.add("MAX_LINE_BYTES", crate::parse::MAX_LINE_BYTES)?;
    module.add("TYPED_ID_FIELDS", parse::typed_id_fields())?;
    Ok(())
}
