//! Any bytes as an event line: an event, a rejection or blank, never a panic.
#![no_main]

use intent_observe_core::parse::{Parsed, parse_line};
use intent_observe_core::timestamps::{Stamp, parse_timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Parsed::Rejected(reason) = parse_line(data) {
        assert!(!reason.is_empty());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_timestamp(Stamp::Text(text));
    }
});
