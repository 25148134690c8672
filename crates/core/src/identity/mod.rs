//! The identity engine: events → artifacts placed in traces → span and log records, with
//! its metric accounting and the compact durable form of its state.

mod artifacts;
pub mod attrs;
pub mod codec;
mod derived;
pub mod engine;
pub mod export;
mod handlers;
pub mod ids;
pub mod metrics;
pub mod model;
mod place;
mod records;
pub mod table;

pub use engine::{Changes, Engine};
