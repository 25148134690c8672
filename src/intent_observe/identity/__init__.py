"""Artifact ids → trace and span ids: the trace identity model, backfill, durable state."""

from intent_observe.identity.engine import Engine, Output
from intent_observe.records import LogRecord, SpanLink, SpanRecord

__all__ = ["Engine", "LogRecord", "Output", "SpanLink", "SpanRecord"]
