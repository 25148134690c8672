//! The compiled core of intent-observe.
//!
//! Plain Rust modules, each usable and tested without Python:
//! - `lines`: complete lines of a buffer; `json`: a JSON reader borrowing from the line;
//!   `parse`: a line → an event or a rejection
//!   (`timestamps`, and `pytext` for the text rules the project's semantics were written in);
//! - `wire`: protobuf primitives; `encode`: records → OTLP request bytes; `requests`: a
//!   batch's requests, drain after drain; `decode`: an OTLP traces request → what the store
//!   keeps of each span;
//! - `identity`: the trace identity engine; `report`: `inspect`'s report of what it made.
//!
//! The `python` feature adds `intent_observe._core`, the bindings the Python package calls.

pub mod decode;
pub mod encode;
pub mod identity;
pub mod json;
pub mod lines;
pub mod parse;
pub mod pytext;
pub mod report;
pub mod requests;
pub mod timestamps;
pub mod wire;

#[cfg(feature = "python")]
mod python;
