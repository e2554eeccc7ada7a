"""The OAuth2 client-credentials token endpoint and token checks."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from sinch_async.testing._clock import SimClock
from sinch_async.testing._util import IdFactory

__all__ = ["TokenStore", "parse_basic"]

TokenState = Literal["ok", "expired", "invalid"]


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """Decode an ``Authorization: Basic`` header into (user, password)."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = raw.partition(":")
    if not sep:
        return None
    return user, password


class TokenStore:
    """Issued access tokens: token -> (project id, expiry on the sim clock)."""

    def __init__(self, clock: SimClock, ids: IdFactory, ttl: float) -> None:
        self.clock = clock
        self.ids = ids
        self.ttl = ttl
        self._tokens: dict[str, tuple[str, float]] = {}
        self.requests = 0  # every call of the token endpoint
        self.issued = 0

    def issue(self, project_id: str) -> tuple[str, int]:
        token = "sim-oauth-" + self.ids.token(24)
        self._tokens[token] = (project_id, self.clock.now_ts() + self.ttl)
        self.issued += 1
        return token, int(self.ttl)

    def check(self, token: str, project_id: str) -> TokenState:
        entry = self._tokens.get(token)
        if entry is None or entry[0] != project_id:
            return "invalid"
        if self.clock.now_ts() >= entry[1]:
            return "expired"
        return "ok"

    def expire_all(self) -> None:
        """Make every issued token expired now."""
        now = self.clock.now_ts()
        self._tokens = {t: (p, min(exp, now)) for t, (p, exp) in self._tokens.items()}
