"""OTLP itself: the three signals, the consumer contract, and the receiver that serves it (gRPC, HTTP)."""
