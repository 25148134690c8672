"""Metric values as the store holds them.

OTLP allows NaN and ±Inf. SQLite stores a NaN bound to a REAL column as NULL (which a
NOT NULL column then refuses) and JSON has no spelling for any of the three, so they are
kept as text ("NaN", "+Inf", "-Inf") where they would be lost, and read back as floats.
"""

from __future__ import annotations

import math
from typing import Any

import orjson


def to_column(value: float) -> float | str:
    """A value for a REAL column: ±Inf SQLite keeps; NaN becomes the text "NaN"."""
    return "NaN" if math.isnan(value) else value


def from_column(value: float | str) -> float:
    return float(value)


def _json_number(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def dump_histogram(histogram: dict[str, Any]) -> str:
    return orjson.dumps({**histogram, "sum": _json_number(float(histogram["sum"]))}).decode()


def load_histogram(text: str | bytes | None) -> dict[str, Any] | None:
    if not text:
        return None
    histogram: dict[str, Any] = orjson.loads(text)
    total = histogram["sum"]
    histogram["sum"] = math.nan if total is None else float(total)  # None: written before NaN was kept
    return histogram
