"""Timestamps as writers in the wild write them, to UTC nanoseconds."""

from __future__ import annotations

import calendar
import math
import re
from datetime import UTC, datetime, timedelta

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,12}))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?"
)
_MAX_NS = 253402300799 * 10**9  # 9999-12-31T23:59:59Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SUBMICRO = re.compile(r"[.,]\d{6}(\d{1,6})")


class TimestampError(ValueError):
    pass


def parse_timestamp(value: object) -> int:
    """UTC nanoseconds since the epoch.

    Accepts ISO 8601 with `Z`, with an offset, or naive (meant as UTC, as Python's
    `utcnow()` writes them), any fraction up to nanoseconds, a bare date, and Unix
    epoch numbers in seconds, milliseconds, microseconds or nanoseconds.
    """
    if isinstance(value, bool):
        raise TimestampError(f"timestamp is a boolean ({value})")
    if isinstance(value, int | float):
        return _from_epoch(value)
    if not isinstance(value, str):
        raise TimestampError(f"timestamp has type {type(value).__name__}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)  # the C fast path: Z, offsets, naive, µs
    except ValueError:
        return _parse_text(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ns = (parsed - _EPOCH) // _MICROSECOND * 1000
    if len(text) >= 27:  # fromisoformat drops digits past microseconds
        extra = _SUBMICRO.search(text)
        if extra is not None:
            ns += int(extra[1][:3].ljust(3, "0"))
    if not 0 <= ns <= _MAX_NS:
        raise TimestampError(f"timestamp out of range {text[:40]!r}")
    return ns


def _parse_text(text: str) -> int:
    """Forms `fromisoformat` refuses: epoch numbers as text, `UTC` suffixes, odd spacing."""
    m = _ISO.fullmatch(text)
    if m is None:
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return _from_epoch(float(text) if "." in text else int(text))
        raise TimestampError(f"unreadable timestamp {text[:40]!r}")
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    hour, minute, second = int(m[4] or 0), int(m[5] or 0), int(m[6] or 0)
    if year < 1970 or not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise TimestampError(f"no such date {text[:40]!r}")
    if hour > 23 or minute > 59 or second > 60:
        raise TimestampError(f"no such time {text[:40]!r}")
    second = min(second, 59)  # a leap second lands on :59
    fraction = (m[7] or "")[:9].ljust(9, "0")
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    seconds -= _offset_seconds(m[8])
    ns = seconds * 10**9 + int(fraction)
    if not 0 <= ns <= _MAX_NS:
        raise TimestampError(f"timestamp out of range {text[:40]!r}")
    return ns


def _offset_seconds(zone: str | None) -> int:
    if not zone or zone in ("Z", "z", "UTC"):
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise TimestampError(f"no such offset {zone!r}")
    return sign * (hours * 3600 + minutes * 60)


def _from_epoch(number: float) -> int:
    if isinstance(number, float) and not math.isfinite(number):
        raise TimestampError("timestamp is not a finite number")
    magnitude = abs(number)
    if magnitude >= 1e17:
        ns = int(number)
    elif magnitude >= 1e14:
        ns = int(number * 1_000)
    elif magnitude >= 1e11:
        ns = int(number * 1_000_000)
    else:
        ns = round(number * 1_000_000_000)
    if not 0 <= ns <= _MAX_NS:
        raise TimestampError(f"epoch timestamp out of range ({number})")
    return ns
