"""Authentication: a static API token, or OAuth2 client credentials with a cached token."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import TYPE_CHECKING, Protocol

import msgspec
from aiolimiter import AsyncLimiter

from sinch_async._redact import Secrets
from sinch_async._retry import Idempotency, RetryPolicy
from sinch_async._validate import check_text
from sinch_async.errors import ResponseDecodeError, api_error

if TYPE_CHECKING:
    from sinch_async._transport import SendTransport as Transport

__all__ = ["TOKEN_RETRY", "Auth", "OAuth2TokenProvider", "StaticTokenAuth"]

_FORM_BODY = b"grant_type=client_credentials"
_TOKEN_BURST = 30
_TOKEN_RATE = 10.0
TOKEN_RETRY = RetryPolicy(max_attempts=4, backoff_base=1.0, backoff_max=8.0, deadline=30.0)
_FORM = "application/x-www-form-urlencoded"
_TOKENS_SCRUBBED = 4
"""How many of the latest OAuth tokens are scrubbed from server text."""


class Auth(Protocol):
    """Supplies the ``Authorization`` header value of each request."""

    async def authorization(self, transport: Transport) -> str: ...

    async def refresh_after_expiry(self, transport: Transport, failed: str) -> bool:
        """Called after a 401 that says the token expired; True if a retry makes sense."""
        ...

    def secrets(self) -> Secrets:
        """What must never appear in an error or a log line."""
        ...


class StaticTokenAuth:
    """``Authorization: Bearer <api_token>`` for service-plan credentials."""

    __slots__ = ("_header", "_secrets")

    def __init__(self, api_token: str) -> None:
        check_text(api_token, "api_token")  # a header value: CR/LF would split it
        self._header = f"Bearer {api_token}"
        self._secrets = Secrets([api_token])

    def __repr__(self) -> str:
        return "StaticTokenAuth(api_token=***)"

    @property
    def header(self) -> str:
        """The ``Authorization`` value (``Bearer ...``)."""
        return self._header

    async def authorization(self, transport: Transport) -> str:
        return self._header

    async def refresh_after_expiry(self, transport: Transport, failed: str) -> bool:
        return False

    def secrets(self) -> Secrets:
        return self._secrets


class _TokenResponse(msgspec.Struct):
    access_token: str
    expires_in: float = 3600.0
    token_type: str = "bearer"


_token_decoder = msgspec.json.Decoder(_TokenResponse)


class OAuth2TokenProvider:
    """OAuth2 client-credentials tokens from Sinch's auth server, cached and shared.

    The token is fetched lazily, refreshed ``refresh_margin`` seconds before it
    expires, and fetched only once when many coroutines need it at the same
    moment (single flight behind an ``asyncio.Lock``). After a 401 saying the
    token expired, :meth:`refresh_after_expiry` replaces it once, unless another
    coroutine already did.
    """

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        auth_url: str,
        *,
        refresh_margin: float = 60.0,
        retry: RetryPolicy | None = TOKEN_RETRY,
    ) -> None:
        check_text(key_id, "key_id")
        check_text(key_secret, "key_secret")
        self.retry = retry
        self.key_id = key_id
        self.auth_url = auth_url
        self.refresh_margin = refresh_margin
        credentials = base64.b64encode(f"{key_id}:{key_secret}".encode()).decode("ascii")
        self._basic = f"Basic {credentials}"
        self._fixed_secrets = (key_secret, credentials)
        self._tokens: list[str] = []  # the last few tokens fetched, still scrubbed
        self._secrets = Secrets(self._fixed_secrets)
        self._header: str | None = None
        self._refresh_at = 0.0
        self._lock: asyncio.Lock | None = None
        self._limiter = AsyncLimiter(_TOKEN_BURST, _TOKEN_BURST / _TOKEN_RATE)
        self.fetch_count = 0
        """How many tokens were fetched (for tests and metrics)."""

    def __repr__(self) -> str:
        return (
            f"OAuth2TokenProvider(key_id={self.key_id!r}, key_secret=***, "
            f"auth_url={self.auth_url!r})"
        )

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def authorization(self, transport: Transport) -> str:
        header = self._header
        if header is not None and time.monotonic() < self._refresh_at:
            return header
        async with self._get_lock():
            header = self._header
            if header is not None and time.monotonic() < self._refresh_at:
                return header
            return await self._fetch(transport)

    async def refresh_after_expiry(self, transport: Transport, failed: str) -> bool:
        async with self._get_lock():
            if self._header is not None and self._header != failed:
                return True  # another coroutine refreshed it already
            await self._fetch(transport)
            return True

    def secrets(self) -> Secrets:
        return self._secrets

    def invalidate(self) -> None:
        """Forget the cached token; the next request fetches a new one."""
        self._header = None
        self._refresh_at = 0.0

    async def _fetch(self, transport: Transport) -> str:
        """Fetch a token: through the endpoint's own limit, retrying 429, 5xx and network errors.

        Sinch's token endpoint is a token bucket (about 30 burst, 10/s refill)
        that sends no ``Retry-After``; this keeps under it and backs off on 429.
        """
        if self.retry is None:
            return await self._fetch_once(transport)
        retrying = self.retry.retrying(Idempotency.SAFE)
        result: str = await retrying(self._fetch_once, transport)
        return result

    async def _fetch_once(self, transport: Transport) -> str:
        await self._limiter.acquire()
        headers = {"Authorization": self._basic, "Accept": "application/json"}
        started = time.monotonic()
        response = await transport.send(
            "POST", self.auth_url, body=_FORM_BODY, headers=headers, content_type=_FORM
        )
        path = "/oauth2/token"
        if response.status >= 300:  # a redirect is refused like an error
            raise api_error(
                response.status,
                method="POST",
                path=path,
                body=self._secrets.scrub_body(response.body, thorough=True),
                headers=self._secrets.scrub_headers(response.headers),
            )
        try:
            token = _token_decoder.decode(response.body)
            if not token.access_token or not token.access_token.isprintable():
                raise msgspec.ValidationError("access_token is empty or holds control characters")
        except (msgspec.DecodeError, RecursionError) as exc:
            raise ResponseDecodeError(
                f"unexpected token response: {exc}",
                status=response.status,
                body=b"",
                method="POST",
                path=path,
            ) from None
        self.fetch_count += 1
        lifetime = max(float(token.expires_in), 0.0)
        margin = min(self.refresh_margin, lifetime / 2)
        self._header = f"Bearer {token.access_token}"
        self._tokens = [*self._tokens[-(_TOKENS_SCRUBBED - 1) :], token.access_token]
        self._secrets = Secrets([*self._fixed_secrets, *self._tokens])
        self._refresh_at = started + lifetime - margin
        return self._header
