//! Which text names an artifact: an id as written, or nothing (a placeholder, a text with no
//! letter or digit); an id is one line.

use crate::pytext::py_strip;

const PLACEHOLDER_IDS: [&str; 10] = [
    "",
    "unknown",
    "null",
    "none",
    "n/a",
    "na",
    "-",
    "undefined",
    "nil",
    "?",
];

/// An id as written, or None when it names nothing: a placeholder (`unknown`, …) or text with
/// no letter or digit (`#`). An id is one line: a writer that swept up what followed a line
/// break (`SPEC-004\nDB`) named the artifact on the first.
pub fn clean_id_text(text: &str) -> Option<&str> {
    let stripped = py_strip(text);
    // most ids are ASCII: their bytes are read as they are, no character decoded
    let ascii = stripped.is_ascii();
    let end = if ascii {
        stripped.bytes().position(|b| b.is_ascii_control())
    } else {
        stripped.find(ends_an_id)
    };
    let id = match end {
        Some(end) => py_strip(&stripped[..end]),
        None => text,
    };
    let bare = py_strip(id); // ASCII when `stripped` is: a part of it
    let named = if ascii {
        // no lowering to allocate: ASCII lowers to ASCII alone
        let placeholder =
            bare.len() <= LONGEST_PLACEHOLDER && PLACEHOLDER_IDS.iter().any(|p| p.eq_ignore_ascii_case(bare));
        !placeholder && bare.bytes().any(|b| b.is_ascii_alphanumeric())
    } else {
        // some non-ASCII letters lower to ASCII ones (the Kelvin sign to `k`)
        !PLACEHOLDER_IDS.contains(&bare.to_lowercase().as_str()) && bare.chars().any(char::is_alphanumeric)
    };
    named.then_some(id)
}

/// The longest of `PLACEHOLDER_IDS`, in bytes.
const LONGEST_PLACEHOLDER: usize = "undefined".len();

/// A line break or another control character: no id holds one.
fn ends_an_id(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_ids_in_any_case_name_nothing() {
        for blank in ["", " Unknown ", "N/A", "NULL", "?", "un\u{212a}nown"] {
            assert_eq!(clean_id_text(blank), None, "{blank:?}");
        }
        assert_eq!(clean_id_text("SIG-1"), Some("SIG-1"));
        assert_eq!(clean_id_text("ünknown"), Some("ünknown"));
    }

    #[test]
    fn ascii_ids_read_as_their_characters_are() {
        // the rules over characters, for every text: the ASCII bytes must agree with them
        fn by_characters(text: &str) -> Option<&str> {
            let stripped = py_strip(text);
            let id = stripped
                .find(ends_an_id)
                .map_or(text, |end| py_strip(&stripped[..end]));
            let bare = py_strip(id);
            let placeholder = PLACEHOLDER_IDS.contains(&bare.to_lowercase().as_str());
            (!placeholder && bare.chars().any(char::is_alphanumeric)).then_some(id)
        }
        let pieces = [
            "",
            " ",
            "\t",
            "\n",
            "\x0b",
            "\x1c",
            "\x1f",
            "\x7f",
            "\x00",
            "#",
            "-",
            "?",
            "x",
            "7",
            "SIG-1",
            "unknown",
            "N/A",
            "UNDEFINED",
            "nil",
            "Nil\x7fX",
            "é",
            "\u{85}",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let text = [a, b, c].concat();
                    assert_eq!(clean_id_text(&text), by_characters(&text), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn an_id_is_its_first_line_and_names_nothing_without_a_letter_or_digit() {
        assert_eq!(clean_id_text("SPEC-004\nDB"), Some("SPEC-004"));
        assert_eq!(clean_id_text(" SIG-9 \r\n/\n/"), Some("SIG-9"));
        assert_eq!(clean_id_text("\nSIG-9\tx"), Some("SIG-9"));
        assert_eq!(clean_id_text(" SIG-9 "), Some(" SIG-9 ")); // one line: kept as written
        assert_eq!(clean_id_text("SIG-0 99#x"), Some("SIG-0 99#x"));
        for nothing in ["#", "#\n#\n#", "—", "...", "unknown\nSIG-1"] {
            assert_eq!(clean_id_text(nothing), None, "{nothing:?}");
        }
        assert_eq!(clean_id_text("٣"), Some("٣")); // a digit in any script names something
    }
}
