"""Display forms of user strings (the engine's own attribute rules are in the compiled core)."""

from __future__ import annotations


def bounded(text: str, limit: int = 1024) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, limit: int = 200) -> str:
    """Display form of a user string: control characters escaped, length bounded."""
    flat = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")
    return bounded(flat, limit)
