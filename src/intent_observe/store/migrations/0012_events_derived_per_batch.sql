-- The events per hour and the spans' newest titles are derived by the writer, one statement per
-- batch over the records it added (apply.py), as the text index is. These triggers fired in every
-- record's INSERT, which made each record a statement with a sub-journal of its own: inside the
-- batch's savepoint that cost more with every page the batch touched (0.05 s a 2,000-record batch
-- at first, 0.6-1.3 s by 22,000 stored). The delete triggers stay: retention deletes its records in
-- one statement.
DROP TRIGGER logs_hour_insert;
DROP TRIGGER logs_span_title;
