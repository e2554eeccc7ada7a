"""What every route module shares: the app and request keys, the one JSON body decoder,
JSON answers, Bearer checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

if TYPE_CHECKING:
    from sinch_async.testing._backend import SimulatorBackend
    from sinch_async.testing._oauth import TokenState

__all__ = [
    "BACKEND_KEY",
    "JSON_KEY",
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "NOT_JSON",
    "PLAN_KEY",
    "BadBody",
    "bearer_failure",
    "decode_body",
    "json_body",
    "json_response",
]

BACKEND_KEY: web.AppKey[SimulatorBackend] = web.AppKey("sinch_simulator_backend")
"""The app's :class:`SimulatorBackend`: the only state the routes see."""

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Request bodies above this size are refused (413)."""

MAX_DEPTH = 64
"""Arrays and objects nested deeper than this are refused (400); Sinch's bodies use about 6."""


@dataclass(frozen=True)
class BadBody:
    """``request[JSON_KEY]`` when the body cannot be used: the answer's status and text.

    Each route family turns it into its own error shape, after its own auth check.
    """

    status: int
    text: str


NOT_JSON = BadBody(400, "The request body is missing or not JSON.")

# Per-request storage keys (typed keys exist from aiohttp 3.14; plain strings before).
JSON_KEY: Any
PLAN_KEY: Any
try:
    JSON_KEY = web.RequestKey("sinch_sim_json", object)  # type: ignore[attr-defined,unused-ignore]
    PLAN_KEY = web.RequestKey("sinch_sim_plan", object)  # type: ignore[attr-defined,unused-ignore]
except AttributeError:  # pragma: no cover - aiohttp < 3.14
    JSON_KEY, PLAN_KEY = "sinch_sim_json", "sinch_sim_plan"

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_MISSING = ("Missing or malformed Bearer token.", 'Bearer realm="sinch"')
_EXPIRED = (
    "The access token expired.",
    'Bearer error="invalid_token", error_description="token expired"',
)
_INVALID_HEADER = 'Bearer error="invalid_token"'


def json_response(data: Any, status: int = 200) -> web.Response:
    """``data`` encoded as a JSON response."""
    return web.Response(body=_encode(data), status=status, content_type="application/json")


def _too_deep(value: Any) -> bool:
    """Whether arrays and objects in ``value`` nest deeper than MAX_DEPTH (no recursion)."""
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH):
        level = [
            child
            for item in level
            if isinstance(item, (list, dict))
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return any(isinstance(item, (list, dict)) for item in level)


def decode_body(raw: bytes) -> Any:
    """``raw`` decoded as JSON, or a :class:`BadBody` saying why it cannot be.

    This is the simulator's one decoder of request bodies: invalid UTF-8, malformed JSON,
    escaped lone surrogates, numbers out of range and nesting past the interpreter's
    recursion limit all come back as a BadBody, never as an exception.
    """
    if not raw.strip():
        return BadBody(400, "The request body is empty.")
    try:
        value = _decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return BadBody(400, f"The request body is not valid JSON: {_reason(exc)}")
    except RecursionError:  # msgspec stops at the recursion limit, C stack intact
        return BadBody(400, f"The request body nests deeper than {MAX_DEPTH} levels.")
    if _too_deep(value):
        return BadBody(400, f"The request body nests deeper than {MAX_DEPTH} levels.")
    return value


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 at byte {exc.start}."
    return str(exc).removeprefix("JSON is malformed: ").rstrip(".") + "."


def json_body(request: web.Request) -> Any:
    """The request's decoded JSON body (any JSON value, ``null`` included) or a BadBody.

    A BadBody when the middleware found no JSON body (absent, empty, not
    ``application/json``), or one it refused (too large, malformed, too deep).
    """
    return request[JSON_KEY]


def bearer_failure(
    request: web.Request, check: Callable[[str], TokenState], invalid_text: str
) -> tuple[str, str] | None:
    """None if the request's Bearer token passes ``check``; else the 401's text and header.

    The header is the ``WWW-Authenticate`` value; ``invalid_text`` is the text for a token
    that ``check`` does not know.
    """
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip()
    if auth[:7].lower() != "bearer " or not token:
        return _MISSING
    state = check(token)
    if state == "ok":
        return None
    if state == "expired":
        return _EXPIRED
    return invalid_text, _INVALID_HEADER
