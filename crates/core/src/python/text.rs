//! Python values → the byte strings the core writes.

use std::borrow::Cow;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::encode::{Text, hex_bytes};

/// A Python str as UTF-8, borrowed when it can be. A str holding lone surrogates (a file
/// name decoded with `surrogateescape`) is written with `surrogatepass`, as Python would.
pub fn utf8<'a>(value: &'a Bound<'_, PyString>) -> PyResult<Text<'a>> {
    match value.to_str() {
        Ok(text) => Ok(Cow::Borrowed(text.as_bytes())),
        Err(_) => {
            let py = value.py();
            let encoded = value.call_method1(intern!(py, "encode"), ("utf-8", "surrogatepass"))?;
            Ok(Cow::Owned(encoded.extract::<Vec<u8>>()?))
        }
    }
}

/// Any value as its text: a str as itself, anything else through `str()`.
pub fn display(value: &Bound<'_, PyAny>) -> PyResult<Text<'static>> {
    let text = match value.cast::<PyString>() {
        Ok(text) => text.clone(),
        Err(_) => value.str()?,
    };
    Ok(Cow::Owned(utf8(&text)?.into_owned()))
}

/// An id written as hex (`"ab" * 16`) → its bytes; anything else is a ValueError.
pub fn hex_id<const N: usize>(value: &Bound<'_, PyAny>, what: &str) -> PyResult<[u8; N]> {
    let text: String = value.extract()?;
    if text.len() != 2 * N {
        return Err(PyValueError::new_err(format!(
            "{what} must be {} hex digits, got {text:?}",
            2 * N
        )));
    }
    hex_bytes(&text).ok_or_else(|| PyValueError::new_err(format!("{what} is not hex: {text:?}")))
}
