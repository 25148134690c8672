"""The baseline: an events file exported the way the OpenTelemetry Python SDK documents it.

One SDK span per event line, `BatchSpanProcessor` with its default settings and the
OTLP/gRPC `OTLPSpanExporter`, then `provider.shutdown()` to flush. Run as
`python -m benchmarks.sdk_baseline FILE ENDPOINT`; prints the number of lines read.
"""

from __future__ import annotations

import json
import sys

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def main() -> None:
    path, endpoint = sys.argv[1], sys.argv[2]
    provider = TracerProvider(resource=Resource.create({"service.name": "intent"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    tracer = provider.get_tracer("intent-baseline")
    lines = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            lines += 1
            name = doc.get("event") or doc.get("event_type") or "event"
            fields = {**doc, **(doc.get("data") or {})}
            attributes = {
                f"intent.{key}": value
                for key, value in fields.items()
                if isinstance(value, str | int | float | bool) and key not in ("event", "event_type")
            }
            with tracer.start_as_current_span(name, attributes=attributes):
                pass
    provider.shutdown()
    print(lines)


if __name__ == "__main__":
    main()
