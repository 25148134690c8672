-- The event list is newest first by event time, not by arrival (a line written down late, or
-- an artifact file's front matter read after the log, arrives after newer events): each filter
-- that has an index walks it by time. An index ends in the row id, so (…, time_ns) orders by
-- (time_ns, id), the list's order and its cursor. An exact type walks logs_category_event_time.
-- The (…, id) indexes they replace served only the list ordered by id; logs_category_id stays
-- for the live stream, which follows arrival.
DROP INDEX logs_category_event_id;
DROP INDEX logs_category_source_id;
DROP INDEX logs_category_level_id;
CREATE INDEX logs_category_source_time ON logs (category, source, time_ns);
CREATE INDEX logs_category_level_time ON logs (category, autonomy_level, time_ns);
