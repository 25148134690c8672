"""Who may talk to a server: the optional bearer token (compared in constant time, never
shown) and, on loopback, the Host header (a web page cannot reach us by DNS rebinding)."""

from __future__ import annotations

import hmac
import ipaddress


class BearerToken:
    def __init__(self, token: str) -> None:
        if not token.strip():
            raise ValueError("the access token must not be empty")
        self._expected = token.strip().encode()

    def accepts(self, authorization: str | bytes | None) -> bool:
        """True when an `Authorization` header value is `Bearer <this token>` (scheme case-insensitive)."""
        if authorization is None:
            return False
        value = authorization.encode() if isinstance(authorization, str) else authorization
        scheme, _, presented = value.strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(presented.strip(), self._expected)

    def __repr__(self) -> str:
        return "BearerToken(***)"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def host_header_is_loopback(host_header: bytes | None) -> bool:
    """Whether a request's Host header names this machine by a loopback name (any port).

    A server listening on loopback is reachable from this machine's browser; a web page of
    a domain that resolves to 127.0.0.1 (DNS rebinding) is then same-origin with it, but its
    requests still carry that domain in Host. No header (HTTP/1.0) is no such page."""
    if not host_header:
        return True
    host = host_header.decode("latin-1").strip()
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return is_loopback(name)
