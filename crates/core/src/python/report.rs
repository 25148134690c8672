//! `Report`: `inspect`'s report (crate::report) as the engine drains, and its JSON document.

use std::fs::File;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, RawFd};

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::engine::{Engine, output};
use crate::report::{Collector, document};

/// `Report()`: what the report keeps of each span an engine drains, and the counts.
#[pyclass(module = "intent_observe._core")]
#[derive(Default)]
pub struct Report {
    collector: Collector,
}

#[pymethods]
impl Report {
    #[new]
    fn new() -> Self {
        Report::default()
    }

    /// `engine.drain()` (`finalize()` when `last`) taken into the report; the `Output` of
    /// span and log records too when `records` (else None: no Python object is made).
    #[pyo3(signature = (engine, last = false, records = false))]
    fn take<'py>(
        &mut self,
        engine: &Bound<'py, Engine>,
        last: bool,
        records: bool,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let inner = &mut engine.borrow_mut().inner;
        if records {
            let out = if last { inner.finalize() } else { inner.drain() };
            self.collector.take(&out);
            return output(engine.py(), out).map(Some);
        }
        if last {
            inner.place_all();
        }
        let (collector, mut logs) = (&mut self.collector, 0);
        inner.drain_each(|span| collector.take_span(&span), |_| logs += 1);
        collector.logs += logs;
        Ok(None)
    }

    /// The document of `inspect --json` written to `out` with `given`'s members (key → JSON
    /// as orjson writes it with `OPT_INDENT_2 | OPT_SORT_KEYS`) among its own. `out`: a file
    /// descriptor, written straight from the core's buffer a megabyte at a time, else a binary
    /// stream (`out.write(bytes)`).
    fn write(
        &self,
        engine: &Bound<'_, Engine>,
        out: Bound<'_, PyAny>,
        given: Vec<(String, Vec<u8>)>,
    ) -> PyResult<()> {
        let engine = &engine.borrow().inner;
        if let Ok(fd) = out.extract::<RawFd>() {
            let py = out.py();
            // SAFETY: the caller hands an open descriptor it keeps; ManuallyDrop leaves it open
            let file = ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
            let mut sink = Descriptor {
                file,
                py,
                failed: None,
            };
            let written = document::write(&self.collector, engine, &given, &mut sink);
            return outcome(written, sink.failed);
        }
        let mut sink = Sink { out, failed: None };
        let written = document::write(&self.collector, engine, &given, &mut sink);
        outcome(written, sink.failed)
    }
}

/// What the write raises: what the output raised (kept by the sink), else the error.
fn outcome(written: io::Result<()>, failed: Option<PyErr>) -> PyResult<()> {
    match (written, failed) {
        (_, Some(failed)) => Err(failed),
        (Err(e), None) => Err(raised(e)),
        (Ok(()), None) => Ok(()),
    }
}

/// What the write raises: the OSError of a failed write, else a ValueError (the document's).
fn raised(e: io::Error) -> PyErr {
    match e.raw_os_error() {
        Some(_) => PyErr::from(e),
        None => PyValueError::new_err(e.to_string()),
    }
}

/// A descriptor the caller keeps open, as an `io::Write`, written as Python's own writes are:
/// without the GIL (a reader that has stopped reading may hold the write), and Python's signal
/// handlers run after each write, before it waits again (a signal ends a waiting write early,
/// part written or interrupted), so Ctrl-C raises KeyboardInterrupt.
struct Descriptor<'py> {
    file: ManuallyDrop<File>,
    py: Python<'py>,
    failed: Option<PyErr>,
}

impl Write for Descriptor<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let file = &mut self.file;
        let written = self.py.detach(|| file.write(bytes));
        if let Err(raised) = self.py.check_signals() {
            self.failed = Some(raised);
            return Err(io::Error::other("a signal's handler raised"));
        }
        written // write_all writes the rest, and again what was interrupted
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A Python binary file as an `io::Write`; what its `write` raised is kept for the caller.
struct Sink<'py> {
    out: Bound<'py, PyAny>,
    failed: Option<PyErr>,
}

impl Write for Sink<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let py = self.out.py();
        match self
            .out
            .call_method1(intern!(py, "write"), (PyBytes::new(py, bytes),))
        {
            Ok(_) => Ok(bytes.len()),
            Err(e) => {
                self.failed = Some(e);
                Err(io::Error::other("the output's write failed"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
