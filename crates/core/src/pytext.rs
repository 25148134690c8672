//! Text rules as Python applies them, where the project's semantics were defined by Python:
//! `str.strip()`, `bytes.strip()`, `repr(float)`, `repr(str)`, `posixpath.normpath`.

/// `str.isspace()`: Unicode White_Space plus the four ASCII separators (0x1C–0x1F),
/// which Python counts as whitespace and Rust's `char::is_whitespace` does not.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `str.strip()` with no argument.
pub fn py_strip(text: &str) -> &str {
    // most text starts and ends with a visible ASCII character: nothing to strip, no
    // character decoded
    match text.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        [only] if only.is_ascii_graphic() => text,
        _ => text.trim_matches(is_py_space),
    }
}

/// `bytes.strip()` with no argument: ASCII whitespace (space, \t, \n, \r, \v, \f).
pub fn strip_bytes(raw: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C);
    let start = raw.iter().position(|b| !is_space(b)).unwrap_or(raw.len());
    let end = raw.iter().rposition(|b| !is_space(b)).map_or(start, |i| i + 1);
    &raw[start..end]
}

/// `repr(s)` of a Python str: single quotes unless the text has a single quote and no double
/// one; backslash, the quote and control characters (Unicode Cc) escaped as Python escapes them.
pub fn str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => out.extend(['\\', c]),
            // Cc is U+0000–U+001F and U+007F–U+009F: all below 0x100, all written \xNN
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr(x)` / `str(x)` of a Python float: the shortest digits that round-trip, written
/// positionally for exponents -4 ≤ e < 16 and as `d.ddde±XX` otherwise.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let scientific = format!("{x:e}"); // shortest round-trip digits: "-1.2345e-7"
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (whole, fraction) = digits.split_at(point as usize);
            format!("{whole}.{fraction}")
        };
        return format!("{sign}{body}");
    }
    let (first, rest) = digits.split_at(1);
    let fraction = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    let exponent_sign = if exponent < 0 { '-' } else { '+' };
    format!(
        "{sign}{first}{fraction}e{exponent_sign}{:02}",
        exponent.unsigned_abs()
    )
}

/// `posixpath.normpath`: `.` and empty parts dropped, `..` folded where it can be, one or
/// two leading slashes kept (three or more become one).
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let leading = match path.bytes().take_while(|b| *b == b'/').count() {
        0 => 0,
        2 => 2,
        _ => 1,
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if (leading > 0 || !parts.is_empty()) && parts.last() != Some(&"..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let joined = format!("{}{}", "/".repeat(leading), parts.join("/"));
    if joined.is_empty() { ".".into() } else { joined }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_python_writes_them() {
        let cases = [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.5, "0.5"),
            (100.0, "100.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123.456, "123.456"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1e300, "1e+300"),
            (f64::INFINITY, "inf"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "{value}");
        }
    }

    #[test]
    fn paths_as_posixpath_normalises_them() {
        let cases = [
            ("./.intent/x.md", ".intent/x.md"),
            ("a//b/./c/", "a/b/c"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("//a/b", "//a/b"),
            ("///a", "/a"),
            ("..", ".."),
            (".", "."),
            ("a/..", "."),
            ("../..", "../.."),
        ];
        for (path, expected) in cases {
            assert_eq!(normpath(path), expected, "{path}");
        }
    }

    #[test]
    fn python_whitespace_includes_the_ascii_separators() {
        assert_eq!(py_strip("\u{1f} x \u{a0}\u{3000}"), "x");
        assert_eq!(strip_bytes(b" \t\x0bx y\r\n"), b"x y");
        assert_eq!(strip_bytes(b"   "), b"");
    }

    #[test]
    fn stripping_skips_no_space_at_either_end() {
        let ends = [
            "", "x", "~", "!", " ", "\t", "\x1c", "\x7f", "\u{85}", "\u{a0}", "é", "\0",
        ];
        for a in ends {
            for b in ends {
                for middle in ["", " ", "y z"] {
                    let text = [a, middle, b].concat();
                    assert_eq!(py_strip(&text), text.trim_matches(is_py_space), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn str_repr_quotes_and_escapes_as_python() {
        // each expected text is what CPython 3.11's repr() gives
        let cases = [
            ("plain", "'plain'"),
            ("it's", "\"it's\""),
            ("both ' and \"", "'both \\' and \"'"),
            ("tab\tnew\nline\r", "'tab\\tnew\\nline\\r'"),
            ("back\\slash", "'back\\\\slash'"),
            ("\u{0}\u{1b}\u{7f}\u{85}\u{9f}", "'\\x00\\x1b\\x7f\\x85\\x9f'"),
            ("é ünï 字", "'é ünï 字'"),
        ];
        for (text, expected) in cases {
            assert_eq!(str_repr(text), expected, "{text:?}");
        }
    }
}
