-- Orphan-signal traces whose signal was later backfilled into an intent: no longer orphans.
-- Filled from the links of backfilled spans (which point at the orphan span), so the order
-- in which the two traces arrive does not matter.
CREATE TABLE promoted_orphans (
    trace_id TEXT PRIMARY KEY,       -- the orphan signal's trace
    intent_id TEXT
) WITHOUT ROWID;
