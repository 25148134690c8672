//! `intent_observe._core`: the Python face of the core. Each submodule converts Python
//! objects at the boundary and leaves the work to the plain Rust module of the same name.

use pyo3::prelude::*;

mod encode;
mod text;

/// The compiled core of intent-observe (see README: "Where the core ends").
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<encode::Encoder>()?;
    Ok(())
}
