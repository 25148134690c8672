"""Artifact ids → trace and span ids: the trace identity model, backfill, durable state."""

from intent_observe.identity.engine import Engine, EngineState, Output
from intent_observe.identity.records import LogRecord, SpanLink, SpanRecord

__all__ = ["Engine", "EngineState", "LogRecord", "Output", "SpanLink", "SpanRecord"]
