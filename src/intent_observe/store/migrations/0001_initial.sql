-- The embedded store: spans, log records, metric points, Claude Code sessions, alerts.
-- Ids are lowercase hex text; times are Unix nanoseconds; attributes are JSON objects.

-- Resource attribute sets, stored once by content hash.
CREATE TABLE resources (
    id INTEGER PRIMARY KEY,          -- 63-bit hash of the canonical attribute JSON
    service TEXT NOT NULL,
    attributes TEXT NOT NULL
);

CREATE TABLE spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    service TEXT NOT NULL,
    resource_id INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status_code INTEGER NOT NULL,    -- 0 unset, 1 ok, 2 error (OTLP)
    status_message TEXT,
    closed INTEGER NOT NULL,         -- 1 when intent.artifact.state=closed
    artifact_type TEXT,
    artifact_id TEXT,
    intent_id TEXT,
    contract_id TEXT,
    session_id TEXT,
    title TEXT,
    attributes TEXT NOT NULL,
    links TEXT,
    received_ns INTEGER NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX spans_start ON spans (start_ns);
CREATE INDEX spans_intent ON spans (intent_id) WHERE intent_id IS NOT NULL;
CREATE INDEX spans_session ON spans (session_id) WHERE session_id IS NOT NULL;

-- One row per trace, maintained by the writer, so the trace list never scans spans.
CREATE TABLE traces (
    trace_id TEXT PRIMARY KEY,
    root_span_id TEXT,
    root_name TEXT,
    intent_id TEXT,
    title TEXT,
    kind TEXT NOT NULL,              -- intent | orphan | other
    span_count INTEGER NOT NULL,
    error_count INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    services TEXT NOT NULL           -- JSON array
) WITHOUT ROWID;
CREATE INDEX traces_kind_start ON traces (kind, start_ns);
CREATE INDEX traces_intent ON traces (intent_id) WHERE intent_id IS NOT NULL;

CREATE TABLE logs (
    id INTEGER PRIMARY KEY,          -- increasing: the API's event id and stream cursor
    record_key TEXT NOT NULL UNIQUE, -- intent.event.id, else a hash of the record
    category TEXT NOT NULL,          -- intent | claude | other
    time_ns INTEGER NOT NULL,
    observed_ns INTEGER,
    trace_id TEXT,
    span_id TEXT,
    severity_number INTEGER NOT NULL,
    severity_text TEXT,
    body TEXT NOT NULL,
    event_name TEXT,
    service TEXT NOT NULL,
    resource_id INTEGER NOT NULL,
    artifact_id TEXT,
    artifact_type TEXT,
    source TEXT,
    actor TEXT,
    intent_id TEXT,
    autonomy_level TEXT,
    session_id TEXT,
    attributes TEXT NOT NULL
);
CREATE INDEX logs_category_id ON logs (category, id);
CREATE INDEX logs_category_time ON logs (category, time_ns);
CREATE INDEX logs_category_event_id ON logs (category, event_name, id);
CREATE INDEX logs_category_source_id ON logs (category, source, id);
CREATE INDEX logs_category_level_id ON logs (category, autonomy_level, id);
CREATE INDEX logs_trace ON logs (trace_id);
CREATE INDEX logs_session ON logs (session_id) WHERE session_id IS NOT NULL;

-- Intent events per hour, kept by triggers: the sparkline and range totals read this, not logs.
CREATE TABLE event_hours (
    hour INTEGER PRIMARY KEY,        -- time_ns / 3.6e12
    count INTEGER NOT NULL
);
CREATE TRIGGER logs_hour_insert AFTER INSERT ON logs WHEN new.category = 'intent'
BEGIN
    INSERT INTO event_hours (hour, count) VALUES (new.time_ns / 3600000000000, 1)
    ON CONFLICT (hour) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER logs_hour_delete AFTER DELETE ON logs WHEN old.category = 'intent'
BEGIN
    UPDATE event_hours SET count = count - 1 WHERE hour = old.time_ns / 3600000000000;
END;

CREATE TABLE metric_series (
    id INTEGER PRIMARY KEY,          -- 63-bit hash of (name, service, labels)
    name TEXT NOT NULL,
    service TEXT NOT NULL,
    labels TEXT NOT NULL,            -- canonical JSON object
    kind TEXT NOT NULL,              -- counter | updown | gauge | histogram
    unit TEXT NOT NULL,
    temporality TEXT NOT NULL,       -- cumulative | delta | none
    session_id TEXT,
    start_ns INTEGER,
    time_ns INTEGER NOT NULL,        -- newest point
    value REAL NOT NULL,             -- newest value (deltas accumulated); histogram: count
    histogram TEXT                   -- newest {"bounds","counts","sum","count"} (accumulated for deltas)
);
CREATE INDEX metric_series_name ON metric_series (name, service);
CREATE INDEX metric_series_session ON metric_series (session_id) WHERE session_id IS NOT NULL;

-- When each metric was last exported: a gauge series absent from the newest export is gone.
CREATE TABLE metric_exports (
    name TEXT NOT NULL,
    service TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    PRIMARY KEY (name, service)
) WITHOUT ROWID;

-- History of values, one row per change, for range totals and alert windows.
CREATE TABLE metric_points (
    series_id INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (series_id, time_ns)
) WITHOUT ROWID;
CREATE INDEX metric_points_time ON metric_points (time_ns);

CREATE TABLE claude_sessions (
    session_id TEXT PRIMARY KEY,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    contract_id TEXT,
    spec_id TEXT,
    intent_id TEXT,
    trace_id TEXT,
    parent_span_id TEXT
) WITHOUT ROWID;

CREATE TABLE alert_state (
    name TEXT NOT NULL,
    labels TEXT NOT NULL,            -- canonical JSON object
    state TEXT NOT NULL,             -- pending | firing | resolved
    since_ns INTEGER NOT NULL,
    value REAL,
    summary TEXT NOT NULL,
    PRIMARY KEY (name, labels)
) WITHOUT ROWID;

CREATE TABLE alert_history (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    state TEXT NOT NULL,
    at_ns INTEGER NOT NULL,
    summary TEXT NOT NULL,
    value REAL
);

-- GitHub deliveries already turned into events (redelivery appends nothing).
CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_ns INTEGER NOT NULL
) WITHOUT ROWID;
