"""The control API under ``/_simulator/``: the served simulator's clock, faults, journal...

JSON in and out, authenticated with the default service plan's API token
(``Authorization: Bearer <api_token>``). Each route calls the same backend operation as
the Python ``SinchSimulator`` (``advance``, ``faults.add``, ``inject_inbound``,
``expire_tokens``, ``journal``, ``reset``, ``set_messages_per_second``,
``set_failure_rules``). Control requests bypass the request journal, the scripted faults
and the rate limit (see ``is_control``), so a fault on every request cannot lock the
control API out. Bad input is a 400 ``{"code": "bad_request", "text": ...}``.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sinch_async.testing._clock import format_ts, parse_iso
from sinch_async.testing._control_spec import (
    ControlError,
    failure_rules_json,
    fault_json,
    fault_kwargs,
    parse_failure_rules,
)
from sinch_async.testing._http import (
    BACKEND_KEY,
    BadBody,
    bearer_failure,
    decode_body,
    json_response,
)

if TYPE_CHECKING:
    from sinch_async.testing._backend import SimulatorBackend
    from sinch_async.testing._journal import DispatchedMessage, JournalEntry

__all__ = ["CONTROL_PREFIX", "add_control_routes", "is_control"]

CONTROL_PREFIX = "/_simulator"
_MAX_ADVANCE = 400 * 86400.0  # a simulated year and a bit per call
_MAX_PAGE = 10_000
_DEFAULT_PAGE = 100
_INBOUND_KEYS = {
    "from": "from_",
    "to": "to",
    "body": "body",
    "type": "type",
    "udh": "udh",
    "client_reference": "client_reference",
    "operator_id": "operator_id",
    "sent_at": "sent_at",
    "media": "media",
    "subject": "subject",
    "service_plan_id": "service_plan_id",
}
_STR_INBOUND = ("from", "to", "type", "udh", "client_reference", "operator_id", "sent_at")

Handler = Callable[[web.Request], Awaitable[web.Response]]


def is_control(path: str) -> bool:
    """True for a path of the control API (which the request middleware leaves alone)."""
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def _error(status: int, code: str, text: str) -> web.Response:
    return json_response({"code": code, "text": text}, status)


def _backend(request: web.Request) -> SimulatorBackend:
    return request.app[BACKEND_KEY]


def _guard(handler: Handler) -> Handler:
    """Check the Bearer token, answer ControlError as 400 (or its status)."""

    async def wrapped(request: web.Request) -> web.Response:
        token = _backend(request).api_token

        def check(given: str) -> Any:
            return "ok" if hmac.compare_digest(given.encode(), token.encode()) else "invalid"

        failure = bearer_failure(request, check, "Invalid API token for the control API.")
        if failure is not None:
            resp = _error(401, "unauthorized", failure[0])
            resp.headers["WWW-Authenticate"] = failure[1]
            return resp
        try:
            return await handler(request)
        except ControlError as exc:
            return _error(exc.status, exc.code, str(exc))

    return wrapped


async def _body(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """The JSON object in the body ({} when absent and not ``required``)."""
    if not request.body_exists:
        if required:
            raise ControlError("The request body must be a JSON object.")
        return {}
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ControlError("The request body is too large.", 413) from None
    if not raw.strip() and not required:
        return {}
    value = decode_body(raw)
    if isinstance(value, BadBody):
        raise ControlError(value.text, value.status)
    if not isinstance(value, dict):
        raise ControlError("The request body must be a JSON object.")
    return value


def _unknown_keys(body: dict[str, Any], allowed: set[str] | dict[str, str]) -> None:
    extra = sorted(set(body) - set(allowed))
    if extra:
        raise ControlError(f"Unknown field(s): {', '.join(extra)}.")


def _number(value: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ControlError(f"'{name}' must be a number.")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ControlError(f"'{name}' must be between {lo:g} and {hi:g}.")
    return float(value)


# -- clock, tokens, reset ---------------------------------------------------------------


async def _clock(request: web.Request) -> web.Response:
    return json_response({"now": format_ts(_backend(request).now())})


async def _advance(request: web.Request) -> web.Response:
    body = await _body(request)
    _unknown_keys(body, {"seconds"})
    if "seconds" not in body:
        raise ControlError("'seconds' is required.")
    seconds = _number(body["seconds"], "seconds", 0, _MAX_ADVANCE)
    backend = _backend(request)
    await backend.advance(seconds)
    return json_response({"now": format_ts(backend.now())})


async def _expire_tokens(request: web.Request) -> web.Response:
    _backend(request).expire_tokens()
    return json_response({"expired": True})


async def _reset(request: web.Request) -> web.Response:
    backend = _backend(request)
    backend.reset()
    return json_response({"reset": True, "now": format_ts(backend.now())})


# -- faults --------------------------------------------------------------------------


def _faults_state(backend: SimulatorBackend) -> dict[str, Any]:
    faults = backend.faults
    limit = faults.rate_limit
    return {
        "faults": [fault_json(f) for f in faults.faults],
        "rate_limit_rps": None if limit is None else limit.rps,
        "rate_limited": faults.rate_limited,
    }


async def _list_faults(request: web.Request) -> web.Response:
    return json_response(_faults_state(_backend(request)))


async def _add_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    backend = _backend(request)
    if "rate_limit_rps" in body:
        _unknown_keys(body, {"rate_limit_rps"})
        rps = body["rate_limit_rps"]
        backend.faults.set_rate_limit(
            None if rps is None else _number(rps, "rate_limit_rps", 0.001, 1e6)
        )
        return json_response(_faults_state(backend), 201)
    fault = backend.faults.add(**fault_kwargs(body))
    return json_response(fault_json(fault), 201)


async def _clear_faults(request: web.Request) -> web.Response:
    faults = _backend(request).faults
    faults.clear()
    faults.set_rate_limit(None)
    return json_response({"faults": [], "rate_limit_rps": None})


# -- inbound messages -----------------------------------------------------------------


async def _inject_inbound(request: web.Request) -> web.Response:
    body = await _body(request)
    _unknown_keys(body, _INBOUND_KEYS)
    for key in ("from", "to"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise ControlError(f"'{key}' is required (a string).")
    for key in _STR_INBOUND:
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ControlError(f"'{key}' must be a string.")
    media = body.get("media")
    if media is not None and not (
        isinstance(media, list) and all(isinstance(m, dict) for m in media)
    ):
        raise ControlError("'media' must be a list of objects.")
    kwargs = {_INBOUND_KEYS[k]: v for k, v in body.items() if v is not None}
    if "sent_at" in kwargs:
        try:
            parse_iso(kwargs["sent_at"])
        except ValueError:
            raise ControlError("'sent_at' must be an ISO-8601 timestamp.") from None
    backend = _backend(request)
    plan_id = kwargs.get("service_plan_id")
    if plan_id is not None and plan_id not in backend.plans:
        raise ControlError(f"Unknown service plan {plan_id!r}.")
    try:
        inbound = backend.inject_inbound(**kwargs)
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    return json_response(inbound, 201)


# -- service plan -------------------------------------------------------------------------


def _plan_state(backend: SimulatorBackend, plan_id: str | None) -> dict[str, Any]:
    plan = backend.plan(plan_id)
    return {
        "service_plan_id": plan.id,
        "messages_per_second": plan.lifecycle.messages_per_second,
        "failure_rules": failure_rules_json(backend.failure_rules),
    }


def _plan_id(backend: SimulatorBackend, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in backend.plans:
        raise ControlError(f"Unknown service plan {value!r}.", 404)
    return value


async def _get_plan(request: web.Request) -> web.Response:
    backend = _backend(request)
    return json_response(
        _plan_state(backend, _plan_id(backend, request.query.get("service_plan_id")))
    )


async def _put_plan(request: web.Request) -> web.Response:
    body = await _body(request)
    _unknown_keys(body, {"service_plan_id", "messages_per_second", "failure_rules"})
    backend = _backend(request)
    plan_id = _plan_id(backend, body.get("service_plan_id"))
    mps = None
    if "messages_per_second" in body:
        mps = _number(body["messages_per_second"], "messages_per_second", 0.001, 1e9)
    rules_given = "failure_rules" in body
    rules = parse_failure_rules(body["failure_rules"]) if rules_given else None
    if mps is not None:  # validated everything first: apply all or nothing
        backend.set_messages_per_second(mps, plan_id)
    if rules_given:
        backend.set_failure_rules(rules)
    return json_response(_plan_state(backend, plan_id))


# -- journal ----------------------------------------------------------------------------


def _window(request: web.Request) -> tuple[int, int]:
    q = request.query

    def integer(name: str, lo: int, hi: int) -> int | None:
        raw = q.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = int(raw)
        except ValueError:
            raise ControlError(f"'{name}' must be an integer.") from None
        if not lo <= value <= hi:
            raise ControlError(f"'{name}' must be between {lo} and {hi}.")
        return value

    page, page_size = integer("page", 0, 10**9), integer("page_size", 1, _MAX_PAGE)
    offset, limit = integer("offset", 0, 10**12), integer("limit", 1, _MAX_PAGE)
    if (page is not None or page_size is not None) and (offset is not None or limit is not None):
        raise ControlError("Use either page/page_size or offset/limit, not both.")
    if page is not None or page_size is not None:
        size = page_size or _DEFAULT_PAGE
        return (page or 0) * size, size
    return offset or 0, limit or _DEFAULT_PAGE


def _since(request: web.Request) -> float | None:
    raw = request.query.get("since")
    if not raw:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise ControlError("'since' must be an ISO-8601 timestamp.") from None


def _paged(request: web.Request, items: list[Any]) -> web.Response:
    offset, limit = _window(request)
    page = items[offset : offset + limit]
    return json_response({"count": len(items), "offset": offset, "limit": limit, "items": page})


def _entry_json(e: JournalEntry) -> dict[str, Any]:
    return {
        "method": e.method,
        "path": e.path,
        "query": e.query,
        "json": e.json,
        "headers": e.headers,
        "status": e.status,
        "time": format_ts(e.time.timestamp()),
        "plan_id": e.plan_id,
        "dropped": e.dropped,
        "fault": e.fault,
    }


def _message_json(m: DispatchedMessage) -> dict[str, Any]:
    return {
        "batch_id": m.batch_id,
        "recipient": m.recipient,
        "body": m.body,
        "parts": m.parts,
        "time": format_ts(m.time.timestamp()),
    }


async def _journal_requests(request: web.Request) -> web.Response:
    q = request.query
    since = _since(request)
    method = q.get("method", "").upper() or None
    path = q.get("path") or None
    status_raw = q.get("status")
    status = None
    if status_raw:
        if not status_raw.isdigit():
            raise ControlError("'status' must be an HTTP status code.")
        status = int(status_raw)
    items = [
        _entry_json(e)
        for e in _backend(request).journal.requests
        if (method is None or e.method == method)
        and (path is None or path in e.path)
        and (status is None or e.status == status)
        and (since is None or e.time.timestamp() >= since)
    ]
    return _paged(request, items)


async def _journal_batches(request: web.Request) -> web.Response:
    since = _since(request)
    items = [
        b
        for b in _backend(request).journal.batches_created()
        if since is None or parse_iso(b["created_at"]) >= since
    ]
    return _paged(request, items)


async def _journal_recipients(request: web.Request) -> web.Response:
    journal = _backend(request).journal
    dispatched = request.query.get("dispatched", "false").lower()
    if dispatched not in ("true", "false", "1", "0"):
        raise ControlError("'dispatched' must be true or false.")
    items = (
        journal.recipients_dispatched()
        if dispatched in ("true", "1")
        else journal.recipients_sent()
    )
    return _paged(request, items)


async def _journal_messages(request: web.Request) -> web.Response:
    since = _since(request)
    batch_id = request.query.get("batch_id") or None
    recipient = request.query.get("recipient") or None
    items = [
        _message_json(m)
        for m in _backend(request).journal.dispatched()
        if (since is None or m.time.timestamp() >= since)
        and (batch_id is None or m.batch_id == batch_id)
        and (recipient is None or m.recipient == recipient)
    ]
    return _paged(request, items)


_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/clock", _clock),
    ("POST", "/clock/advance", _advance),
    ("GET", "/faults", _list_faults),
    ("POST", "/faults", _add_fault),
    ("DELETE", "/faults", _clear_faults),
    ("POST", "/inbounds", _inject_inbound),
    ("POST", "/oauth/expire", _expire_tokens),
    ("GET", "/journal/requests", _journal_requests),
    ("GET", "/journal/batches", _journal_batches),
    ("GET", "/journal/recipients", _journal_recipients),
    ("GET", "/journal/messages", _journal_messages),
    ("POST", "/reset", _reset),
    ("GET", "/plan", _get_plan),
    ("PUT", "/plan", _put_plan),
]


def add_control_routes(router: web.UrlDispatcher) -> None:
    """Mount the control API under ``/_simulator``."""
    for method, path, handler in _ROUTES:
        router.add_route(method, CONTROL_PREFIX + path, _guard(handler))
