//! Artifact keys → OpenTelemetry trace and span ids, the same on every machine and every run
//! (and the same as the Python engine this replaced gave: ids users have stored stay valid).

use std::sync::OnceLock;

/// Fixed namespace of the UUIDv5 trace ids: changing it would change every stored id.
const NAMESPACE: [u8; 16] = [
    0x9b, 0x0f, 0x1a, 0x8e, 0x5c, 0x3d, 0x4e, 0x1f, 0x8a, 0x77, 0x1d, 0x2c, 0x3b, 0x4a, 0x5e, 0x6f,
];

/// The hash's state before any input, for an id of `size` bytes (8 or 16): its parameters
/// are set up once, not for every id.
fn fresh_state(size: usize) -> blake2b_simd::State {
    static STATES: OnceLock<[blake2b_simd::State; 2]> = OnceLock::new();
    let states = STATES.get_or_init(|| {
        [8, 16].map(|n| {
            blake2b_simd::Params::new()
                .hash_length(n)
                .personal(b"intent-observe")
                .to_state()
        })
    });
    debug_assert!(size == 8 || size == 16);
    states[usize::from(size == 16)].clone()
}

/// A span's id: its 8 bytes, written as hex only where it leaves the engine.
pub type SpanId = [u8; 8];
/// A trace's id: its 16 bytes.
pub type TraceId = [u8; 16];

fn digest<const N: usize>(parts: &[&str]) -> [u8; N] {
    let mut state = fresh_state(N);
    // each part and its NUL gathered in one block, handed over when full (an update costs
    // more than the copy: most ids are one update, not two a part)
    let mut block = [0u8; 128];
    let mut len = 0;
    for bytes in parts.iter().flat_map(|part| [part.as_bytes(), b"\x00"]) {
        if len + bytes.len() > block.len() {
            state.update(&block[..len]);
            len = 0;
        }
        if bytes.len() > block.len() {
            state.update(bytes);
        } else {
            block[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        }
    }
    state.update(&block[..len]);
    let hash = state.finalize();
    let mut id = [0u8; N];
    id.copy_from_slice(hash.as_bytes());
    // OTel treats an all-zero id as invalid; flip one bit rather than fail.
    if id.iter().all(|b| *b == 0) {
        id[0] = 1;
    }
    id
}

/// Bytes as lower-case hex (ids, and the receiver's bytes values).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    hex_into(bytes, &mut out);
    // SAFETY: hex digits alone, ASCII
    unsafe { String::from_utf8_unchecked(out) }
}

/// `hex`, written at the end of `out` (the report writes two ids a span).
pub fn hex_into(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.extend_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
}

/// Each byte's two hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [DIGITS[b >> 4], DIGITS[b & 15]];
        b += 1;
    }
    pairs
};

/// An id as hex, "" for none (an artifact not placed: never asked for once records are built).
pub fn hex_or_empty<const N: usize>(id: Option<&[u8; N]>) -> String {
    id.map_or_else(String::new, |id| hex(id))
}

pub fn span_id(parts: &[&str]) -> SpanId {
    digest(parts)
}

/// For traces that have no UUID of their own (orphans, standalone events).
pub fn derived_trace_id(parts: &[&str]) -> TraceId {
    digest(parts)
}

/// A UUIDv5 trace id, for intents and clusters, so `cluster-{uuid}` names stay meaningful.
pub fn uuid_trace_id(scope: &str, kind: &str, key: &str) -> TraceId {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(&NAMESPACE);
    sha.update(format!("{scope}\x00{kind}\x00{key}").as_bytes());
    let mut bytes: [u8; 16] = sha.digest().bytes()[..16].try_into().expect("20 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
}

/// The 32-hex trace id a writer supplied, when it is a real UUID or 32 hex digits; slugs give None.
pub fn trace_id_from_hint(hint: Option<&str>) -> Option<String> {
    let text = crate::pytext::py_strip(hint.filter(|h| !h.is_empty())?);
    let candidate = if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        text.to_ascii_lowercase()
    } else {
        python_uuid_hex(text)?
    };
    (candidate != "0".repeat(32)).then_some(candidate)
}

/// `uuid.UUID(text).hex`: `urn:` and `uuid:` dropped, braces stripped, hyphens removed, then
/// 32 characters read as one hexadecimal integer (as `int(text, 16)` reads it).
fn python_uuid_hex(text: &str) -> Option<String> {
    let text = text.replace("urn:", "").replace("uuid:", "");
    let text = text.trim_matches(|c| c == '{' || c == '}').replace('-', "");
    if text.chars().count() != 32 {
        return None;
    }
    let value = python_hex_int(&text)?;
    Some(format!("{value:032x}"))
}

/// `int(text, 16)` for a value that must fit 128 bits and not be negative.
fn python_hex_int(text: &str) -> Option<u128> {
    let text = crate::pytext::py_strip(text);
    let text = text.strip_prefix('+').unwrap_or(text);
    let text = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .map_or(text, |rest| rest.strip_prefix('_').unwrap_or(rest));
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes[0] == b'_' || bytes[bytes.len() - 1] == b'_' || text.contains("__") {
        return None;
    }
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&digits, 16).ok()
}

/// The canonical 8-4-4-4-12 form of a 32-hex trace id.
pub fn uuid_form(trace_id: &str) -> String {
    let t = trace_id;
    format!(
        "{}-{}-{}-{}-{}",
        &t[..8],
        &t[8..12],
        &t[12..16],
        &t[16..20],
        &t[20..32]
    )
}

/// The UUID of a provisional `cluster-{uuid}` trace id a writer supplied.
pub fn cluster_trace_from_hint(hint: Option<&str>) -> Option<String> {
    let text = crate::pytext::py_strip(hint.filter(|h| !h.is_empty())?);
    let lowered = text.to_lowercase();
    if !lowered.starts_with("cluster-") {
        return None;
    }
    // `cluster-` is ASCII, so the first 8 characters of `text` are those 8 bytes
    trace_id_from_hint(text.get(8..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_every_byte() {
        let bytes: Vec<u8> = (0..=255).collect();
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&bytes), expected);
    }

    #[test]
    fn ids_are_the_ones_python_gave() {
        // values from intent_observe.identity.ids (Python) before the port
        assert_eq!(
            hex(&span_id(&["", "artifact", "signal:SIG-001"])),
            "e0c6acdd60fb3a5f"
        );
        assert_eq!(
            hex(&uuid_trace_id("", "intent", "intent:INT-001")),
            "7b7e1a8ec9875d9b95002f5659865b75"
        );
        assert_eq!(
            hex(&derived_trace_id(&["", "orphan", "signal:SIG-001"])),
            "136a9ea418c73bed40715d998dc44151"
        );
    }

    #[test]
    fn an_id_is_the_hash_of_its_parts_each_ended_by_nul_however_long() {
        let long = "x".repeat(300);
        for parts in [
            vec![""],
            vec!["", "artifact", "signal:SIG-001"],
            vec!["scope", &long[..127], "b"],
            vec![&long[..128], "", &long[..200]],
            vec![&long, "phase", &long[..60], "run12"],
        ] {
            let mut state = fresh_state(8);
            for part in &parts {
                state.update(part.as_bytes());
                state.update(b"\x00");
            }
            assert_eq!(span_id(&parts)[..], state.finalize().as_bytes()[..], "{parts:?}");
        }
    }

    #[test]
    fn hints_read_as_python_reads_uuids() {
        let uuid = "{urn:uuid:9B0F1A8E-5C3D-4E1F-8A77-1D2C3B4A5E6F}";
        assert_eq!(
            trace_id_from_hint(Some(uuid)).as_deref(),
            Some("9b0f1a8e5c3d4e1f8a771d2c3b4a5e6f")
        );
        assert_eq!(trace_id_from_hint(Some("not-a-uuid")), None);
        assert_eq!(trace_id_from_hint(Some(&"0".repeat(32))), None);
        assert_eq!(
            cluster_trace_from_hint(Some(" Cluster-9b0f1a8e-5c3d-4e1f-8a77-1d2c3b4a5e6f")).as_deref(),
            Some("9b0f1a8e5c3d4e1f8a771d2c3b4a5e6f")
        );
        assert_eq!(
            uuid_form("9b0f1a8e5c3d4e1f8a771d2c3b4a5e6f"),
            "9b0f1a8e-5c3d-4e1f-8a77-1d2c3b4a5e6f"
        );
    }
}
