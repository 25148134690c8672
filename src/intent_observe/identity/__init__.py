"""Artifact ids → trace and span ids: the trace identity model, backfill, durable state."""
