"""The receiver's optional bearer token, compared in constant time and never shown."""

from __future__ import annotations

import hmac


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
