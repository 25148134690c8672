"""OTLP endpoints of anything listening on loopback ports (receivers, collectors)."""

from __future__ import annotations


class LoopbackEndpoints:
    grpc_port: int
    http_port: int

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"
