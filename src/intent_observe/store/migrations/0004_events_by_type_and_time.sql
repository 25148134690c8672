-- Range totals count events of a few types between two times (the dashboard's time picker).
CREATE INDEX logs_category_event_time ON logs (category, event_name, time_ns);
