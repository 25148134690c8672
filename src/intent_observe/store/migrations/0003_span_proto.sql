-- Spans keep their OTLP protobuf encoding (attributes, links, events, status) instead of JSON
-- attributes and links: writing it costs one serialisation in C instead of a Python dict per
-- span; the trace view decodes it. Rows written before this migration lose their attributes.
ALTER TABLE spans ADD COLUMN proto BLOB;
ALTER TABLE spans DROP COLUMN attributes;
ALTER TABLE spans DROP COLUMN links;
