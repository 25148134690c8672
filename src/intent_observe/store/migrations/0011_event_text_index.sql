-- The event list's text search (`q`: a case-insensitive substring of an event's body or artifact
-- id) read every intent event: ~1 s at a million. This indexes each event's trigrams, so a text of
-- three characters or more finds its few candidates at once; the LIKE of the query still decides,
-- which keeps its meaning exactly (the index folds case beyond ASCII and ignores adjacency, so it
-- finds a superset). External content: the text stays in logs alone. detail=none keeps only row
-- ids per trigram: +13 % on the database's size where full detail (positions) took +37 %, and
-- adjacency is the LIKE's to check anyway.
CREATE VIRTUAL TABLE logs_text USING fts5(
    body, artifact_id, content = 'logs', content_rowid = 'id', tokenize = 'trigram', detail = none
);
-- The writer indexes the rows each batch adds (apply.py). Any deletion (retention) takes its rows
-- out here: an external-content index is told the values it indexed.
CREATE TRIGGER logs_text_delete AFTER DELETE ON logs WHEN old.category = 'intent'
BEGIN
    INSERT INTO logs_text (logs_text, rowid, body, artifact_id) VALUES ('delete', old.id, old.body, old.artifact_id);
END;
-- Events stored before this migration (a million take ~15 s of CPU, once).
INSERT INTO logs_text (rowid, body, artifact_id) SELECT id, body, artifact_id FROM logs WHERE category = 'intent';
