//! The compiled core of intent-observe.
//!
//! Plain Rust modules, each usable and tested without Python:
//! - `wire`: protobuf primitives; `encode`: records → OTLP request bytes.
//!
//! The `python` feature adds `intent_observe._core`, the bindings the Python package calls.

pub mod encode;
pub mod wire;

#[cfg(feature = "python")]
mod python;
