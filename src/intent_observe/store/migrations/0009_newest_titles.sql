-- A span is sent once, with the title its artifact had then: an intent announced before its title
-- was known has none, and a renamed one keeps its old title. The newest title travels in its later
-- log records' `intent.title`; this keeps, for each span, the title of its newest record that carries
-- one (a tie in time: the record stored last), so the trace list shows its root's newest title with
-- one primary-key lookup a row. A redelivered record is ignored by the logs' INSERT and fires nothing.
CREATE TABLE span_titles (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    title TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE TRIGGER logs_span_title AFTER INSERT ON logs
WHEN new.category = 'intent' AND new.trace_id IS NOT NULL AND new.span_id IS NOT NULL
    AND json_extract(new.attributes, '$."intent.title"') IS NOT NULL
BEGIN
    INSERT INTO span_titles VALUES
        (new.trace_id, new.span_id, new.time_ns, json_extract(new.attributes, '$."intent.title"'))
    ON CONFLICT (trace_id, span_id) DO UPDATE SET time_ns = excluded.time_ns, title = excluded.title
    WHERE excluded.time_ns >= span_titles.time_ns;
END;
-- Records stored before this migration.
INSERT INTO span_titles
SELECT trace_id, span_id, time_ns, title FROM (
    SELECT trace_id, span_id, time_ns, json_extract(attributes, '$."intent.title"') AS title,
           row_number() OVER (PARTITION BY trace_id, span_id ORDER BY time_ns DESC, id DESC) AS newest
    FROM logs WHERE category = 'intent' AND trace_id IS NOT NULL AND span_id IS NOT NULL
        AND json_extract(attributes, '$."intent.title"') IS NOT NULL
) WHERE newest = 1;
