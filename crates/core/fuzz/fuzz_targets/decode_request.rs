//! Any bytes as an OTLP traces or logs request: decoded or an error, never a panic.
#![no_main]

use intent_observe_core::decode::{decode_logs, decode_traces};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_traces(data);
    let _ = decode_logs(data);
});
