"""The exception tree of ``sinch_async``.

Every exception the library raises on purpose derives from :class:`SinchError`.
Exceptions never carry the API token, the OAuth secret or an ``Authorization``
header; phone numbers are masked in messages (the raw values stay available on
the attributes for code that needs them).
"""

from __future__ import annotations

import email.utils
import re
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import msgspec

from sinch_async._redact import mask_numbers

__all__ = [
    "AmbiguousSendError",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "EventLoopMismatchError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ServerError",
    "SinchConnectionError",
    "SinchError",
    "SinchTimeoutError",
    "SinchValidationError",
]


class SinchError(Exception):
    """Base class of every error raised by ``sinch_async``.

    ``attempts`` is the number of HTTP attempts made for the call that failed
    (0 when the error was raised before any network I/O).
    """

    attempts: int = 0


class SinchValidationError(SinchError, ValueError):
    """Bad input, caught before any network I/O.

    ``field`` names the offending argument or field, ``limit`` describes the
    rule it broke (for example ``"1..1000 items"``).
    """

    def __init__(self, field: str, message: str, *, limit: str | None = None) -> None:
        self.field = field
        self.limit = limit
        super().__init__(f"{field}: {message}")


class ClientClosedError(SinchError, RuntimeError):
    """The client was used after ``aclose()``, or closed while this call waited for or
    made its request (``in_flight``: the request may have reached the server)."""

    def __init__(self, message: str, *, in_flight: bool = False) -> None:
        self.in_flight = in_flight
        super().__init__(message)


class EventLoopMismatchError(SinchError, RuntimeError):
    """The client was used from an event loop other than the one that opened its session."""


class AmbiguousSendError(SinchError):
    """A non-idempotent request failed in a way that leaves its outcome unknown.

    The request may or may not have been applied (for a send: a batch may or
    may not have been created). It was not retried, because a blind retry could
    send the SMS twice. Give sends a ``client_reference`` (or construct the
    client with ``auto_client_reference=True``) and the client reconciles such
    failures itself. ``request`` is the request struct, ``cause`` the failure.
    """

    def __init__(
        self, message: str, *, method: str, path: str, request: object, cause: BaseException
    ) -> None:
        self.method = method
        self.path = path
        self.request = request
        self.cause = cause
        super().__init__(mask_numbers(message))


class SinchConnectionError(SinchError):
    """The request could not be completed at the network level.

    ``request_sent`` is ``False`` when the request provably never reached the
    server (connection refused, DNS failure, TLS handshake failure), ``True``
    or ``None`` when it may have been received (the outcome is unknown).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        request_sent: bool | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.request_sent = request_sent
        super().__init__(mask_numbers(message))


class SinchTimeoutError(SinchConnectionError):
    """The request timed out (connect, read or total timeout)."""


class ResponseTooLargeError(SinchConnectionError):
    """The response body passed the client's ``max_response_size`` (counted after
    decompression); the rest was not read and the connection was dropped.

    ``status`` is the response's HTTP status, ``limit`` the cap in bytes. Not retried
    (a server that sent it once will again); a send whose answer was cut off this way
    is looked up by its ``client_reference`` like any other ambiguous send.
    """

    def __init__(self, message: str, *, method: str, path: str, status: int, limit: int) -> None:
        self.status = status
        self.limit = limit
        super().__init__(message, method=method, path=path, request_sent=True)


class ResponseDecodeError(SinchError):
    """A successful response whose body did not match the expected shape."""

    def __init__(self, message: str, *, status: int, body: bytes, method: str, path: str) -> None:
        self.status = status
        self.body = body
        self.method = method
        self.path = path
        super().__init__(mask_numbers(f"{message} ({method} {path}, HTTP {status})"))


class _ErrorBody(msgspec.Struct):
    code: Any = None
    text: Any = None
    error: Any = None
    type: Any = None
    title: Any = None
    detail: Any = None
    message: Any = None
    error_description: Any = None


_error_body_decoder = msgspec.json.Decoder(_ErrorBody)


def _parse_error_body(body: bytes) -> tuple[str | None, str | None, dict[str, Any] | None]:
    """Return ``(code, text, details)`` from any of the error shapes Sinch uses.

    Shapes: ``{code, text}`` (SMS REST), ``{"error": {code, message, status, details}}``
    (gateways and the Conversation API), ``{type, title, detail}`` (problem+json),
    and anything else (empty or non-JSON: no code, the text is the body itself).
    """
    if not body.strip():
        return None, None, None
    try:
        parsed = _error_body_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):  # (ValidationError is a DecodeError)
        raw_text = body[:500].decode("utf-8", "replace").strip()
        return None, raw_text or None, None
    if parsed.code is not None or parsed.text is not None:
        code = None if parsed.code is None else str(parsed.code)
        text = None if parsed.text is None else str(parsed.text)
        return code, text, None
    if isinstance(parsed.error, dict):
        err = parsed.error
        status = err.get("status")
        code_value = err.get("code")
        code = (
            str(status) if status is not None else (None if code_value is None else str(code_value))
        )
        message = err.get("message")
        return code, None if message is None else str(message), err
    if isinstance(parsed.error, str):
        description = (
            parsed.error_description if parsed.error_description is not None else (parsed.message)
        )
        return parsed.error, None if description is None else str(description), None
    if parsed.title is not None or parsed.detail is not None or parsed.type is not None:
        code = None if parsed.type is None else str(parsed.type)
        pieces = [str(p) for p in (parsed.title, parsed.detail) if p is not None]
        return code, ": ".join(pieces) or None, None
    if parsed.message is not None:
        return None, str(parsed.message), None
    return None, None, None


class ApiError(SinchError):
    """Sinch answered with an error status.

    Attributes: ``status`` (HTTP status), ``code`` (Sinch's error code such as
    ``"syntax_constraint_violation"``, or ``None``), ``text`` (Sinch's
    description), ``body`` (the raw response body), ``details`` (the
    ``error`` object of the Google-style shape, if any), ``method`` and ``path``
    of the request, and ``headers`` of the response.
    """

    def __init__(
        self,
        status: int,
        *,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})
        self.code, self.text, self.details = _parse_error_body(body)
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"HTTP {self.status}"]
        if self.code:
            parts.append(self.code)
        message = " ".join(parts)
        if self.text:
            message += f": {self.text}"
        return mask_numbers(f"{message} ({self.method} {self.path})")

    @property
    def body_text(self) -> str:
        """The response body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")


class RedirectError(ApiError):
    """HTTP 3xx: the server asked to go elsewhere. Redirects are never followed, since a
    redirected send would carry the numbers, the text and the credentials to another
    host; nothing was re-sent. ``location`` is the ``Location`` header (or ``None``),
    ``target_host`` its host."""

    @property
    def location(self) -> str | None:
        """The ``Location`` header of the redirect, if any."""
        return _header(self.headers, "location")

    @property
    def target_host(self) -> str | None:
        """``scheme://host[:port]`` of :attr:`location` (``None`` for a relative one)."""
        return _target_host(self.location)

    def _describe(self) -> str:
        if self.target_host:
            target = self.target_host
        elif self.location:
            target = f"{self.location.strip()[:200]} on the same host"
        else:
            target = "an unnamed location"
        return mask_numbers(
            f"HTTP {self.status} redirect to {target} refused: redirects are not followed "
            f"({self.method} {self.path})"
        )


def _target_host(location: str | None) -> str | None:
    """``scheme://host[:port]`` of a redirect's ``Location`` (relative: ``None``)."""
    if not location:
        return None
    try:
        parsed = urllib.parse.urlsplit(location.strip()[:2048])
        host, port = parsed.hostname, parsed.port
    except ValueError:
        return None
    if not host:
        return None
    return f"{parsed.scheme}://{host}" + (f":{port}" if port else "")


class BadRequestError(ApiError):
    """HTTP 400: the request does not conform to the API."""


class AuthenticationError(ApiError):
    """HTTP 401: the credentials are not valid for this service plan or project."""


class PermissionDeniedError(ApiError):
    """HTTP 403: the request is well-formed but cannot be performed (e.g. ``unknown_group``)."""


class NotFoundError(ApiError):
    """HTTP 404: unknown batch, group or inbound ID, or recipient not in the batch."""


class ConflictError(ApiError):
    """HTTP 409: the request conflicts with the current state."""


class RateLimitError(ApiError):
    """HTTP 429: too many requests. ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(
        self,
        status: int,
        *,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, method=method, path=path, body=body, headers=headers)


class ServerError(ApiError):
    """HTTP 5xx: an error on Sinch's side (may be retried)."""


_STATUS_CLASSES: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[ApiError]:
    """The :class:`ApiError` subclass used for an HTTP status."""
    cls = _STATUS_CLASSES.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    if 300 <= status < 400:
        return RedirectError
    return ApiError


_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_LONGEST_RETRY_AFTER = 1e9
"""Seconds (about 31 years): what any longer ``Retry-After`` counts as, past every cap."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    A number of any length counts, at most :data:`_LONGEST_RETRY_AFTER` (so an absurd one
    is past the retry policy's cap and fails the call at once instead of being ignored).
    """
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return min(float(value), _LONGEST_RETRY_AFTER)
    if len(value) > 64:
        return None  # not an HTTP-date either
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(parsed.timestamp() - current, 0.0)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def api_error(
    status: int,
    *,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> ApiError:
    """Build the right :class:`ApiError` subclass for a response."""
    cls = error_class_for(status)
    if cls is RateLimitError:
        retry_after = parse_retry_after(_header(headers, "retry-after"))
        return RateLimitError(
            status, method=method, path=path, body=body, headers=headers, retry_after=retry_after
        )
    return cls(status, method=method, path=path, body=body, headers=headers)
