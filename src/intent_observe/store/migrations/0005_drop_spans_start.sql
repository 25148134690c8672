-- No query reads spans by start time (the trace list reads `traces`): one index less per span written.
DROP INDEX spans_start;
