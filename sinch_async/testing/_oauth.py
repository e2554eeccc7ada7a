"""The OAuth2 client-credentials token endpoint and the store of issued tokens."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from sinch_async.testing._clock import SimClock
from sinch_async.testing._http import BACKEND_KEY, json_response
from sinch_async.testing._util import IdFactory

__all__ = ["TokenState", "TokenStore", "add_oauth_routes", "parse_basic"]

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

    def issue(self, project_id: str) -> tuple[str, int]:
        """A new token for ``project_id`` and its lifetime in seconds."""
        token = "sim-oauth-" + self.ids.token(24)
        self._tokens[token] = (project_id, self.clock.now_ts() + self.ttl)
        return token, int(self.ttl)

    def check(self, token: str, project_id: str) -> TokenState:
        """Whether ``token`` was issued for ``project_id`` and is still valid."""
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


async def oauth_token(request: web.Request) -> web.Response:
    """``POST /oauth2/token``: client credentials (Basic auth or form fields) -> a token."""
    backend = request.app[BACKEND_KEY]
    backend.count_token_request()
    try:
        form = await request.post()
    except (ValueError, LookupError, HttpProcessingError):  # bad encoding, charset, multipart
        return json_response(
            {"error": "invalid_request", "error_description": "The form body is malformed."}, 400
        )
    creds = parse_basic(request.headers.get("Authorization"))
    if creds is None and "client_id" in form:
        creds = (str(form.get("client_id", "")), str(form.get("client_secret", "")))
    if not backend.valid_client(creds):
        resp = json_response(
            {"error": "invalid_client", "error_description": "Bad client credentials."}, 401
        )
        resp.headers["WWW-Authenticate"] = 'Basic realm="sinch"'
        return resp
    if form.get("grant_type") != "client_credentials":
        return json_response(
            {"error": "unsupported_grant_type", "error_description": "Use client_credentials."},
            400,
        )
    token, ttl = backend.issue_token()
    return json_response(
        {"access_token": token, "expires_in": ttl, "scope": "", "token_type": "bearer"}
    )


def add_oauth_routes(router: web.UrlDispatcher) -> None:
    """Mount ``POST /oauth2/token``."""
    router.add_post("/oauth2/token", oauth_token)
