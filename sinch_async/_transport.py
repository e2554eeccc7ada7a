"""The wire: the only module that calls aiohttp to send requests.

One pooled aiohttp session per client, one HTTP exchange per :meth:`Transport.send`.
This layer knows nothing about Sinch. It owns the session's lifecycle (lazy
creation inside the running loop, clean close, the different-loop check) and
translates aiohttp's exceptions into :class:`SinchConnectionError` /
:class:`SinchTimeoutError` (the aiohttp error kept as ``__cause__``), recording
whether the request provably never reached the server (which decides whether a
non-idempotent send may be retried).

Two rules hold against a hostile or broken server: redirects are never followed
(a 3xx comes back as a response, which the core turns into :class:`RedirectError`),
and a response body is read in chunks up to ``max_response_size`` bytes counted
after decompression; past it the connection is dropped and
:class:`ResponseTooLargeError` raised.

The request core sees only :class:`SendTransport`: ``send(method, url, params,
body, headers) -> RawResponse``. Anything with that method (a fake for a unit
test, a recording wrapper) can stand in for :class:`Transport`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
import msgspec
from yarl import URL

from sinch_async._redact import Secrets, mask_numbers
from sinch_async.errors import (
    ClientClosedError,
    EventLoopMismatchError,
    ResponseTooLargeError,
    SinchConnectionError,
    SinchError,
    SinchTimeoutError,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DEFAULT_TIMEOUT",
    "JSON",
    "RawResponse",
    "SendTransport",
    "Transport",
    "make_timeout",
    "wire_error",
]

JSON = "application/json"

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=60.0, connect=10.0)
"""60 s for a whole request, of which at most 10 s to connect."""

DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024
"""32 MiB: the largest response body read (after decompression). The biggest genuine
Sinch response, a page of delivery reports or a 1000-recipient batch, is far below."""

_ConnectionTimeout: tuple[type[BaseException], ...] = tuple(
    t for t in (getattr(aiohttp, "ConnectionTimeoutError", None),) if t is not None
)


class RawResponse(msgspec.Struct):
    """One HTTP response, fully read: status, read-only headers and body bytes.

    ``secrets`` (set by the request core) are the client's own, to scrub from the body
    wherever it goes into an error: the core scrubs error answers itself, and
    :func:`sinch_async._base.decode_error` a successful answer that does not decode.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    secrets: Secrets | None = None

    def __repr__(self) -> str:
        return f"RawResponse(status={self.status}, body={len(self.body)} bytes)"


def make_timeout(timeout: float | aiohttp.ClientTimeout | None) -> aiohttp.ClientTimeout:
    """``None`` gives :data:`DEFAULT_TIMEOUT`; a number is the total timeout in seconds."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, aiohttp.ClientTimeout):
        return timeout
    seconds = float(timeout)
    if seconds <= 0:
        raise ValueError("timeout must be positive")
    return aiohttp.ClientTimeout(total=seconds, connect=min(10.0, seconds))


class SendTransport(Protocol):
    """What the request core needs from a transport: one HTTP exchange, fully read.

    ``body`` bytes go with ``Content-Type: content_type``; ``headers`` are added to
    the session's own. Failures on the wire raise :class:`SinchConnectionError` /
    :class:`SinchTimeoutError`; an HTTP error status is a normal :class:`RawResponse`.
    """

    closed: bool

    async def send(
        self,
        method: str,
        url: str | URL,
        params: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = JSON,
    ) -> RawResponse: ...


class Transport:
    """Owns (or borrows) the aiohttp session and performs single HTTP exchanges."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 100,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        user_agent: str = "sinch-async",
        default_headers: Mapping[str, str] | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        self._default_headers = dict(default_headers or {})
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if max_response_size < 1:
            raise ValueError("max_response_size must be at least 1")
        self.max_response_size = max_response_size
        self._session = session
        self._owns_session = session is None
        self._max_connections = max_connections
        self._timeout = timeout
        self._user_agent = user_agent
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        """True once :meth:`aclose` ran."""

    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use inside the running event loop."""
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and loop is self._loop:
            return session
        if self.closed:
            raise ClientClosedError("the client is closed; create a new client")
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=self._max_connections,
                ttl_dns_cache=300,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": self._user_agent, **self._default_headers},
                raise_for_status=False,
            )
            self._session = session
            self._loop = loop
            return session
        if self._loop is None:
            # A session passed in by the user: remember the loop of its first use.
            self._loop = getattr(session, "_loop", None) or loop
            if self._loop is loop:
                return session
        raise EventLoopMismatchError(
            "this client's HTTP session belongs to a different event loop than the "
            "one running now; create one client per event loop (for example inside "
            "asyncio.run(), or in your app's startup hook)"
        )

    async def send(
        self,
        method: str,
        url: str | URL,
        params: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = JSON,
    ) -> RawResponse:
        """Perform one HTTP request and read the whole response (redirects not followed)."""
        data = None if body is None else aiohttp.BytesPayload(body, content_type=content_type)
        try:
            async with self.session().request(
                method, url, params=params, data=data, headers=headers, allow_redirects=False
            ) as response:
                content = await self._read(response, method, url)
                return RawResponse(response.status, response.headers, content)
        except _WIRE_ERRORS as exc:
            raise wire_error(exc, method, url) from exc
        except asyncio.CancelledError:
            if not self.closed or _cancel_requested():
                raise
            # aclose() cancelled this request's wait for a connection or its exchange: the
            # caller asked for no cancellation, so it gets a library error instead.
            raise ClientClosedError(
                f"the client was closed while {method} {_path(url)} was in flight",
                in_flight=True,
            ) from None

    async def _read(self, response: aiohttp.ClientResponse, method: str, url: str | URL) -> bytes:
        """The body, up to ``max_response_size`` bytes after decompression.

        aiohttp decompresses as it is read, so a small compressed body that inflates
        past the cap is stopped before it is held in memory.
        """
        limit = self.max_response_size
        declared = response.content_length
        headers = response.headers
        if (
            declared is not None
            and "Content-Encoding" not in headers
            and "Transfer-Encoding" not in headers
        ):
            # The length is known and aiohttp reads no more than it: checked before reading.
            if declared > limit:
                raise self._too_large(response, method, url, f"declares {_size(declared)}, over")
            return await response.read()
        body = bytearray()
        while chunk := await response.content.readany():
            body += chunk
            if len(body) > limit:
                del body  # the exception's traceback keeps this frame: not the buffer too
                raise self._too_large(response, method, url, "is larger than")
        return bytes(body)

    def _too_large(
        self, response: aiohttp.ClientResponse, method: str, url: str | URL, what: str
    ) -> ResponseTooLargeError:
        """Drop the connection (the rest of the body is never read) and say why."""
        response.close()
        return ResponseTooLargeError(
            f"the response to {method} {_path(url)} (HTTP {response.status}) {what} "
            f"max_response_size ({_size(self.max_response_size)}); the connection was dropped",
            method=method,
            path=_path(url),
            status=response.status,
            limit=self.max_response_size,
        )

    async def aclose(self) -> None:
        """Close the session if this transport created it. Safe to call twice."""
        self.closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    def abandon(self) -> bool:
        """Best-effort synchronous close, for ``__del__``; True if a session was left open."""
        session = self._session
        if session is None or not self._owns_session or session.closed:
            return False
        connector = session.connector
        self._session = None
        # Close the pooled transports without awaiting (the loop may be gone at
        # interpreter exit), and detach the connector so that aiohttp does not warn
        # a second time about the same session.
        with contextlib.suppress(Exception):
            if connector is not None:
                connector._close()
        with contextlib.suppress(Exception):
            session._connector = None
        return True


_WIRE_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
"""What aiohttp raises for a failed exchange; :func:`wire_error` translates each."""


def wire_error(exc: BaseException, method: str, url: str | URL) -> SinchError:
    """The :class:`SinchConnectionError` / :class:`SinchTimeoutError` for an aiohttp failure.

    ``request_sent`` is False only when the request provably never left: the
    connection could not be made (or timed out being made).
    """
    path = _path(url)
    error: type[SinchConnectionError] = SinchConnectionError  # or its SinchTimeoutError
    sent: bool | None = None
    if isinstance(exc, aiohttp.ClientConnectorError):
        message, sent = f"cannot connect to {_where(url)}: {_reason(exc)}", False
    elif isinstance(exc, _ConnectionTimeout):
        error, message, sent = SinchTimeoutError, f"timed out connecting to {_where(url)}", False
    elif isinstance(exc, asyncio.TimeoutError):
        error, message = SinchTimeoutError, f"timed out waiting for {method} {path}"
    else:
        message = f"{method} {path} failed: {_reason(exc)}"
    return error(message, method=method, path=path, request_sent=sent)


def _cancel_requested() -> bool:
    """True when the running task itself is being cancelled (Python 3.11+ can tell; on
    3.10 a cancellation that arrives while the client is closing is taken as the close's)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is not None and cancelling() > 0


def _where(url: str | URL) -> str:
    parsed = URL(url) if isinstance(url, str) else url
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}"


def _path(url: str | URL) -> str:
    parsed = URL(url) if isinstance(url, str) else url
    return parsed.path


def _size(count: int) -> str:
    """``32 MiB`` or ``1,500 bytes`` (grouped, so that no size reads as a phone number)."""
    if count >= 1 << 20 and count % (1 << 20) == 0:
        return f"{count >> 20} MiB"
    return f"{count:,} bytes"


def _reason(exc: BaseException) -> str:
    return mask_numbers(str(exc) or type(exc).__name__)
