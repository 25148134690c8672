//! Complete lines of a buffer, with where each starts.

/// A line of `data` without its `\n`: its bytes and its offset in `data`.
pub struct Line<'a> {
    pub bytes: &'a [u8],
    pub offset: usize,
}

/// Every complete (`\n`-terminated) line of `data`; a trailing partial line is left for
/// the next read.
pub fn complete_lines(data: &[u8]) -> impl Iterator<Item = Line<'_>> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        let end = offset + memchr(&data[offset..])?;
        let line = Line {
            bytes: &data[offset..end],
            offset,
        };
        offset = end + 1;
        Some(line)
    })
}

fn memchr(haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_partial_line_waits() {
        let lines: Vec<(&[u8], usize)> = complete_lines(b"a\n\nbc\r\nd")
            .map(|l| (l.bytes, l.offset))
            .collect();
        assert_eq!(lines, [(&b"a"[..], 0), (&b""[..], 2), (&b"bc\r"[..], 3)]);
        assert_eq!(complete_lines(b"").count(), 0);
    }
}
