//! The identity engine: events → artifacts placed in traces → span and log records, with
//! its metric accounting and the compact durable form of its state.

pub mod attrs;
pub mod codec;
pub mod engine;
pub mod export;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod table;

pub use engine::{Changes, Engine};
