"""The embedded backend: OTLP requests decoded into rows, one writer, the read queries."""
