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

/// How many `\n` `data` holds, counted in runs the compiler turns into vector instructions
/// (CPython's `bytes.count` looks at a byte at a time: the tail counted every chunk's lines
/// twice that way, 2% of its instructions).
pub fn count_newlines(data: &[u8]) -> usize {
    // a run's count fits the byte each lane of the vector adds it in
    data.chunks(255)
        .map(|run| run.iter().map(|&byte| u8::from(byte == b'\n')).sum::<u8>() as usize)
        .sum()
}

/// The first `\n`: eight bytes at a time (a line is some hundreds of bytes, and this was a
/// tenth of the work of a line read, byte by byte).
fn memchr(haystack: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = haystack.chunks_exact(8);
    for (i, chunk) in chunks.by_ref().enumerate() {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes")) ^ (ONES * u64::from(b'\n'));
        // the high bit of each zero byte (each newline), exact up to the first of them
        let zeros = word.wrapping_sub(ONES) & !word & HIGHS;
        if zeros != 0 {
            return Some(i * 8 + (zeros.trailing_zeros() / 8) as usize);
        }
    }
    let rest = chunks.remainder();
    let at = rest.iter().position(|b| *b == b'\n')?;
    Some(haystack.len() - rest.len() + at)
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

    #[test]
    fn newlines_are_counted_in_runs_of_any_length() {
        for length in [0usize, 1, 254, 255, 256, 1000] {
            let text: Vec<u8> = (0..length)
                .map(|i| if i % 3 == 0 { b'\n' } else { b'x' })
                .collect();
            assert_eq!(count_newlines(&text), length.div_ceil(3), "{length}");
        }
        assert_eq!(count_newlines(&[b'\n'; 600]), 600);
    }

    #[test]
    fn the_first_newline_is_found_wherever_it_is() {
        // around it: its neighbours, bytes whose low bits are a newline's, bytes below it
        for filler in [b'a', b'\x0b', b'\x09', b'\x8a', b'\x00', b'\xff'] {
            for length in 0..40 {
                let mut text = vec![filler; length];
                assert_eq!(memchr(&text), None, "{length} {filler}");
                for at in 0..length {
                    text[at] = b'\n';
                    if at + 3 < length {
                        text[at + 3] = b'\n';
                    }
                    assert_eq!(memchr(&text), Some(at), "{length} {at} {filler}");
                    text.fill(filler);
                }
            }
        }
    }
}
