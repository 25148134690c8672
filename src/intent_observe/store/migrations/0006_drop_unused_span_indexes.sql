-- No query reads spans by intent or session (traces.intent_id and claude_sessions serve those):
-- two indexes less per span written.
DROP INDEX spans_intent;
DROP INDEX spans_session;
