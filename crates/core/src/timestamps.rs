//! Timestamps as writers in the wild write them, to UTC nanoseconds since the epoch.
//!
//! ISO 8601 with `Z`, `UTC` or an offset, or naive (meant as UTC, as Python's `utcnow()`
//! writes them); extended (`2026-03-31T02:16:42`) or basic (`20260331T021642`) form;
//! `T`, `t` or a space between date and time; any fraction of a second (digits past
//! nanoseconds are dropped); a bare date; a leap second (`:60`, read as `:59`). Unix epoch
//! numbers (or their text) in seconds, milliseconds, microseconds or nanoseconds, told
//! apart by their size. Anything else is an error that says what was wrong.

use crate::pytext::{float_repr, py_strip, str_repr};

/// A timestamp as it was written in the line.
pub enum Stamp<'a> {
    Text(&'a str),
    Int(i128),
    Float(f64),
    Bool(bool),
    /// Any other JSON type (its Python type name, for the message).
    Other(&'static str),
}

pub fn parse_timestamp(stamp: Stamp) -> Result<i64, String> {
    match stamp {
        Stamp::Bool(flag) => Err(format!(
            "timestamp is a boolean ({})",
            if flag { "True" } else { "False" }
        )),
        Stamp::Int(n) => from_epoch_int(n),
        Stamp::Float(x) => from_epoch_float(x),
        Stamp::Other(type_name) => Err(format!("timestamp has type {type_name}")),
        Stamp::Text(text) => parse_text(py_strip(text)),
    }
}

fn parse_text(text: &str) -> Result<i64, String> {
    let iso = Iso::parse(text.as_bytes());
    if let Some(iso) = &iso
        && iso.fields_error().is_none()
    {
        return iso.to_ns(text);
    }
    // eight digits that are no date (`17749234`) are an epoch number
    if let Some(number) = epoch_text(text) {
        return number;
    }
    match iso.and_then(|iso| iso.fields_error()) {
        Some(what) => Err(format!("no such {what} {}", quoted(text))),
        None => Err(format!("unreadable timestamp {}", quoted(text))),
    }
}

/// Epoch numbers written as text: `-?digits(.digits)?`.
fn epoch_text(text: &str) -> Option<Result<i64, String>> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned
        .split_once('.')
        .map_or((unsigned, None), |(w, f)| (w, Some(f)));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    Some(match fraction {
        Some(_) => text
            .parse::<f64>()
            .map_err(|e| e.to_string())
            .and_then(from_epoch_float),
        None => match text.parse::<i128>() {
            Ok(n) => from_epoch_int(n),
            Err(_) => Err(format!("epoch timestamp out of range ({text})")),
        },
    })
}

const NS_PER_SECOND: i128 = 1_000_000_000;

/// Seconds, milliseconds, microseconds or nanoseconds, by magnitude.
fn from_epoch_int(n: i128) -> Result<i64, String> {
    let magnitude = n.unsigned_abs();
    let ns = if magnitude >= 100_000_000_000_000_000 {
        n
    } else if magnitude >= 100_000_000_000_000 {
        n * 1_000
    } else if magnitude >= 100_000_000_000 {
        n * 1_000_000
    } else {
        n * NS_PER_SECOND
    };
    in_range(ns).ok_or_else(|| format!("epoch timestamp out of range ({n})"))
}

fn from_epoch_float(x: f64) -> Result<i64, String> {
    if !x.is_finite() {
        return Err("timestamp is not a finite number".into());
    }
    let magnitude = x.abs();
    let ns = if magnitude >= 1e17 {
        x.trunc()
    } else if magnitude >= 1e14 {
        (x * 1e3).trunc()
    } else if magnitude >= 1e11 {
        (x * 1e6).trunc()
    } else {
        (x * 1e9).round_ties_even()
    };
    // 2^63 as f64 is exactly representable: anything at or past it is out of range
    if !(0.0..9_223_372_036_854_775_808.0).contains(&ns) {
        return Err(format!("epoch timestamp out of range ({})", float_repr(x)));
    }
    Ok(ns as i64)
}

/// From the epoch up to 2^63 - 1 ns (2262-04-11): the latest time most OTLP backends store.
fn in_range(ns: i128) -> Option<i64> {
    i64::try_from(ns).ok().filter(|ns| *ns >= 0)
}

/// The text cut to 40 characters, quoted as Python's `repr` quotes a str.
fn quoted(text: &str) -> String {
    let cut: String = text.chars().take(40).collect();
    str_repr(&cut)
}

/// The parts of an ISO 8601 date-time.
struct Iso {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: i64,
    offset_seconds: i64,
}

/// A cursor over the timestamp's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    /// Exactly `count` ASCII digits as a number.
    fn digits(&mut self, count: usize) -> Option<u32> {
        let end = self.at.checked_add(count)?;
        let slice = self.bytes.get(self.at..end)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at = end;
        Some(slice.iter().fold(0, |n, b| n * 10 + u32::from(b - b'0')))
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

impl Iso {
    fn parse(text: &[u8]) -> Option<Iso> {
        let mut at = Cursor { bytes: text, at: 0 };
        let year = at.digits(4)?;
        let extended = at.eat(b'-');
        let month = at.digits(2)?;
        if extended && !at.eat(b'-') {
            return None;
        }
        let day = at.digits(2)?;
        let mut iso = Iso {
            year: i64::from(year),
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
            nanos: 0,
            offset_seconds: 0,
        };
        if at.done() {
            return Some(iso);
        }
        let time_follows = text.get(at.at + 1).is_some_and(u8::is_ascii_digit);
        if matches!(at.peek(), Some(b'T' | b't' | b' ')) && time_follows {
            at.at += 1;
            iso.read_time(&mut at)?;
        }
        while at.peek() == Some(b' ') {
            at.at += 1;
        }
        iso.offset_seconds = read_zone(&mut at)?;
        at.done().then_some(iso)
    }

    /// `HH[:MM[:SS[.frac]]]` or `HH[MM[SS[.frac]]]`.
    fn read_time(&mut self, at: &mut Cursor) -> Option<()> {
        self.hour = at.digits(2)?;
        let extended = at.eat(b':');
        match at.digits(2) {
            Some(minute) => self.minute = minute,
            None if extended => return None,
            None => return Some(()),
        }
        if extended && !at.eat(b':') {
            return Some(());
        }
        match at.digits(2) {
            Some(second) => self.second = second,
            None if extended => return None,
            None => return Some(()),
        }
        if at.eat(b'.') || at.eat(b',') {
            let start = at.at;
            while at.peek().is_some_and(|b| b.is_ascii_digit()) {
                at.at += 1;
            }
            let digits = &at.bytes[start..at.at];
            if digits.is_empty() {
                return None;
            }
            // the first nine digits, as many as written, scaled to nanoseconds
            let nine = &digits[..digits.len().min(9)];
            let read = nine.iter().fold(0, |n, b| n * 10 + i64::from(b - b'0'));
            self.nanos = read * 10_i64.pow((9 - nine.len()) as u32);
        }
        Some(())
    }

    /// "date" or "time" when a field is out of its range (the 30th of February, 25:00).
    fn fields_error(&self) -> Option<&'static str> {
        let valid_day =
            (1..=12).contains(&self.month) && (1..=days_in_month(self.year, self.month)).contains(&self.day);
        if self.year < 1 || !valid_day {
            return Some("date");
        }
        if self.hour > 23 || self.minute > 59 || self.second > 60 {
            return Some("time");
        }
        None
    }

    fn to_ns(&self, text: &str) -> Result<i64, String> {
        let second = self.second.min(59); // a leap second lands on :59
        let days = days_from_civil(self.year, self.month, self.day);
        let seconds =
            days * 86_400 + i64::from(self.hour * 3600 + self.minute * 60 + second) - self.offset_seconds;
        let ns = i128::from(seconds) * NS_PER_SECOND + i128::from(self.nanos);
        in_range(ns).ok_or_else(|| format!("timestamp out of range {}", quoted(text)))
    }
}

/// `Z`, `z`, `UTC`, `±HH`, `±HHMM`, `±HH:MM`, `±HH:MM:SS`, or nothing (UTC).
fn read_zone(at: &mut Cursor) -> Option<i64> {
    let rest = &at.bytes[at.at..];
    if rest.is_empty() {
        return Some(0);
    }
    if rest == b"Z" || rest == b"z" || rest == b"UTC" {
        at.at = at.bytes.len();
        return Some(0);
    }
    let sign = match at.peek()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    at.at += 1;
    let hours = at.digits(2)?;
    let extended = at.eat(b':');
    let minutes = match at.digits(2) {
        Some(m) => m,
        None if extended => return None,
        None => 0,
    };
    let seconds = if extended && at.eat(b':') {
        at.digits(2)?
    } else {
        0
    };
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    Some(sign * i64::from(hours * 3600 + minutes * 60 + seconds))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Result<i64, String> {
        parse_timestamp(Stamp::Text(s))
    }

    const T: i64 = 1_774_923_402 * 1_000_000_000; // 2026-03-31T02:16:42Z

    #[test]
    fn iso_forms() {
        assert_eq!(text("2026-03-31T02:16:42Z"), Ok(T));
        assert_eq!(text("2026-03-31T02:16:42.691454"), Ok(T + 691_454_000));
        assert_eq!(text("2026-03-31T04:16:42+02:00"), Ok(T));
        assert_eq!(text("2026-03-30T21:16:42-0500"), Ok(T));
        assert_eq!(text("2026-03-31 02:16:42.123456789Z"), Ok(T + 123_456_789));
        assert_eq!(text("2026-03-31T02:16:42.1234567891234Z"), Ok(T + 123_456_789));
        assert_eq!(text("20260331T021642Z"), Ok(T));
        assert_eq!(text(" 2026-03-31T02:16:42 UTC "), Ok(T));
        assert_eq!(text("2026-03-31T02:16:42,5"), Ok(T + 500_000_000));
        assert_eq!(text("2026-03-31"), Ok(1_774_915_200 * 1_000_000_000));
        assert_eq!(text("2026-03-31T02"), Ok(1_774_922_400 * 1_000_000_000));
        assert_eq!(text("2026-03-31 UTC"), text("2026-03-31"));
        assert_eq!(text("2016-12-31T23:59:60Z"), text("2016-12-31T23:59:59Z"));
        assert_eq!(text("17749234"), Ok(17_749_234_000_000_000)); // no date: an epoch
        assert!(
            text("19000101")
                .unwrap_err()
                .starts_with("timestamp out of range")
        );
    }

    #[test]
    fn epochs_by_magnitude() {
        assert_eq!(parse_timestamp(Stamp::Int(1_774_923_402)), Ok(T));
        assert_eq!(
            parse_timestamp(Stamp::Int(1_774_923_402_123)),
            Ok(T + 123_000_000)
        );
        assert_eq!(
            parse_timestamp(Stamp::Float(1_774_923_402.5)),
            Ok(T + 500_000_000)
        );
        assert_eq!(text("1774923402"), Ok(T));
        assert_eq!(text("1774923402.5"), Ok(T + 500_000_000));
        assert!(parse_timestamp(Stamp::Int(-1)).is_err());
        assert!(parse_timestamp(Stamp::Float(f64::NAN)).is_err());
        assert!(parse_timestamp(Stamp::Float(1e300)).is_err());
    }

    #[test]
    fn what_is_refused_says_why() {
        assert!(text("yesterday").unwrap_err().starts_with("unreadable timestamp"));
        assert!(
            text("2026-02-30T00:00:00Z")
                .unwrap_err()
                .starts_with("no such date")
        );
        assert!(
            text("2026-01-01T25:00:00Z")
                .unwrap_err()
                .starts_with("no such time")
        );
        assert!(
            text("1969-12-31T23:59:59Z")
                .unwrap_err()
                .starts_with("timestamp out of range")
        );
        assert!(
            text("2262-04-12T00:00:00Z")
                .unwrap_err()
                .starts_with("timestamp out of range")
        );
        assert!(text("2026-03-31T02:16:42+24:00").is_err());
        assert!(text("2026-03-31T02:16:42.").is_err());
        assert!(text("NaN").is_err());
        assert!(parse_timestamp(Stamp::Bool(true)).is_err());
        assert_eq!(
            parse_timestamp(Stamp::Other("list")),
            Err("timestamp has type list".into())
        );
    }
}
