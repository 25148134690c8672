-- The trace list of every kind (`/api/traces?kind=all`, newest first) walks this index instead of
-- sorting the whole table; one index more per trace row written, none per span.
CREATE INDEX traces_start ON traces (start_ns);
-- An intent's trace (`/api/intents/INT-015`, `intent-observe trace INT-015`): its id, kind and newest
-- start in one index. With (intent_id) alone the planner preferred traces_kind_start, which gives the
-- order, and walked every intent trace to find one.
DROP INDEX traces_intent;
CREATE INDEX traces_intent_kind_start ON traces (intent_id, kind, start_ns) WHERE intent_id IS NOT NULL;
-- Intent spans by their intent id, for an intent whose trace row names another intent of the same
-- trace (and for an id that names no intent): a lookup, not a scan of every span. Partial, so only
-- intent spans (about one per trace) pay for it when written.
CREATE INDEX spans_intent_artifact ON spans (artifact_id) WHERE artifact_type = 'intent';
