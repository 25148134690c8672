"""Throughput, latency and memory benchmarks: `python -m benchmarks` (or `make bench`)."""
