-- Spans are sent once, final (issue 10): a long-lived artifact (intent, spec, contract, cluster) is
-- announced by an instant span that never changes, and each phase of it with a real duration (a
-- contract run, a lifecycle) is a child span of its own carrying `intent.phase`. So an artifact's
-- open/closed state can no longer be read from its own span: `closed` is now derived by the writer,
-- 1 once a phase span of the artifact is stored (whichever of the two arrives first), and instants
-- keep the state they were sent with. `phase` holds `intent.phase` (run | lifecycle), so the writer,
-- the trace view and the trace list tell phases from artifacts without decoding protobuf.
ALTER TABLE spans ADD COLUMN phase TEXT;
-- An artifact announced after its phase was stored looks its phase spans up by parent; partial,
-- so only phase spans (a few per artifact) pay for it when written.
CREATE INDEX spans_phase_parent ON spans (trace_id, parent_span_id) WHERE phase IS NOT NULL;
-- The trace list shows whether a trace's root artifact is open or closed (NULL: the root is not an
-- Intent artifact). Rows written before this migration take the state their root span was stored with.
ALTER TABLE traces ADD COLUMN root_state TEXT;
UPDATE traces SET root_state = (
    SELECT CASE WHEN s.artifact_type IS NULL THEN NULL WHEN s.closed THEN 'closed' ELSE 'open' END
    FROM spans s WHERE s.trace_id = traces.trace_id AND s.span_id = traces.root_span_id
);
