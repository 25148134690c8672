"""The trace identity engine: each event gets its place in a trace.

The engine is in the compiled core (crates/core/src/identity/engine.rs, whose module comment
states the model); this module is its Python face: `Engine(state=None, scope="")`,
`process(event, observed_ns=None)`, `drain()` / `finalize()` → `Output` of `SpanRecord` and
`LogRecord`, `context(kind, id)` → `TraceContext`, and `state` (read-only views: `artifacts`,
`events_seen`, `derived_ignored`, `metrics`). Its durable state is saved through
`identity.state_db.IdentityStore` with the tail's checkpoint, in one transaction. The objects
it hands out are `intent_observe.records`' classes, which the core imports when it first makes
one: `inspect` and the tail make none.
"""

from intent_observe._core import Engine

__all__ = ["Engine"]
