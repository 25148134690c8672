"""Where the tail's batches go: the Sink contract, the OTLP exporter and its disk queue."""
