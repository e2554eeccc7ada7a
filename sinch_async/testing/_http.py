"""What every route module shares: the app and request keys, JSON answers, Bearer checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

if TYPE_CHECKING:
    from sinch_async.testing._backend import SimulatorBackend
    from sinch_async.testing._oauth import TokenState

__all__ = [
    "BACKEND_KEY",
    "JSON_KEY",
    "NO_BODY",
    "PLAN_KEY",
    "bearer_failure",
    "json_body",
    "json_response",
]

BACKEND_KEY: web.AppKey[SimulatorBackend] = web.AppKey("sinch_simulator_backend")
"""The app's :class:`SimulatorBackend`: the only state the routes see."""

NO_BODY: Any = object()
"""``request[JSON_KEY]`` when the body is empty or not valid JSON."""

# Per-request storage keys (typed keys exist from aiohttp 3.14; plain strings before).
JSON_KEY: Any
PLAN_KEY: Any
try:
    JSON_KEY = web.RequestKey("sinch_sim_json", object)  # type: ignore[attr-defined,unused-ignore]
    PLAN_KEY = web.RequestKey("sinch_sim_plan", object)  # type: ignore[attr-defined,unused-ignore]
except AttributeError:  # pragma: no cover - aiohttp < 3.14
    JSON_KEY, PLAN_KEY = "sinch_sim_json", "sinch_sim_plan"

_encode = msgspec.json.encode
_MISSING = ("Missing or malformed Bearer token.", 'Bearer realm="sinch"')
_EXPIRED = (
    "The access token expired.",
    'Bearer error="invalid_token", error_description="token expired"',
)
_INVALID_HEADER = 'Bearer error="invalid_token"'


def json_response(data: Any, status: int = 200) -> web.Response:
    """``data`` encoded as a JSON response."""
    return web.Response(body=_encode(data), status=status, content_type="application/json")


def json_body(request: web.Request) -> Any:
    """The request's decoded JSON body; None if absent, empty, not JSON or ``null``."""
    body = request[JSON_KEY]
    return None if body is NO_BODY else body


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
