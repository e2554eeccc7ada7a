"""The aiohttp application around a SimulatorBackend: routes and the request middleware.

The middleware records each request in the journal, applies the rate limit and scripted
faults, checks the service plan's Bearer token and processes what is due on the plan
before the handler runs. It also reads and decodes every JSON body, once, with
``decode_body``: a body over ``MAX_BODY_BYTES`` (8 MiB) or one that is not usable JSON
(invalid UTF-8, malformed, lone surrogates, numbers out of range, nested deeper than
``MAX_DEPTH``) reaches the handler as a ``BadBody``, which the JSON routes answer with
413 or 400 in their API's error shape after the auth check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sinch_async.testing._control import add_control_routes, is_control
from sinch_async.testing._conversation import add_conversation_routes
from sinch_async.testing._faults import fault_body
from sinch_async.testing._http import (
    BACKEND_KEY,
    JSON_KEY,
    MAX_BODY_BYTES,
    NOT_JSON,
    PLAN_KEY,
    BadBody,
    bearer_failure,
    decode_body,
    json_response,
)
from sinch_async.testing._journal import JournalEntry, scrub_headers
from sinch_async.testing._oauth import add_oauth_routes
from sinch_async.testing._routes import add_routes
from sinch_async.testing._util import ApiError

if TYPE_CHECKING:
    from sinch_async.testing._backend import SimulatorBackend

__all__ = ["build_app"]

PREFIX = "/xms/v1/{plan_id}"

_BAD_TOKEN = "Invalid credentials for this service plan."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(err: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    resp = json_response({"code": err.code, "text": err.text}, err.status)
    if headers:
        resp.headers.update(headers)
    return resp


def _check_auth(
    backend: SimulatorBackend, request: web.Request, plan_id: str
) -> web.Response | None:
    failure = bearer_failure(
        request, lambda token: backend.check_plan_token(plan_id, token), _BAD_TOKEN
    )
    if failure is None:
        return None
    text, www_authenticate = failure
    return error_response(
        ApiError(401, "unauthorized", text), {"WWW-Authenticate": www_authenticate}
    )


def _drop(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=500)  # never written: the connection is gone


async def _read_json(request: web.Request) -> Any:
    """The JSON body (see ``decode_body``); NOT_JSON if absent or of another content type."""
    if not (request.body_exists and request.content_type == "application/json"):
        return NOT_JSON
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return BadBody(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    return decode_body(raw)


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_control(request.path):  # the control API: no journal, faults or rate limit
        return await handler(request)
    backend = request.app[BACKEND_KEY]
    method = request.method
    path = request.path
    info = request.match_info
    plan_id: str | None = info.get("plan_id")
    resource = info.route.resource
    template = resource.canonical if resource is not None else path
    if plan_id is not None:
        rel = path[len("/xms/v1/") + len(plan_id) :]
        template = template[len(PREFIX) :]
    else:
        rel = path
    body = await _read_json(request)
    request[JSON_KEY] = body
    entry = JournalEntry(
        method,
        path,
        dict(request.query),
        None if isinstance(body, BadBody) else body,
        scrub_headers(request.headers.items()),
        None,
        backend.clock.now(),
        plan_id,
    )
    backend.journal.record_request(entry)
    try:
        resp = await _dispatch(backend, request, handler, entry, method, rel, template, plan_id)
    except web.HTTPException as exc:  # unknown path, method not allowed
        entry.status = exc.status
        raise
    entry.status = None if entry.dropped else resp.status
    return resp


async def _dispatch(
    backend: SimulatorBackend,
    request: web.Request,
    handler: Handler,
    entry: JournalEntry,
    method: str,
    rel: str,
    template: str,
    plan_id: str | None,
) -> web.StreamResponse:
    faults = backend.faults
    if faults.over_rate_limit():
        entry.fault = True
        return error_response(ApiError(429, "too_many_requests", "Too many requests."))
    fault = faults.take(method, rel, template, request.path)
    if fault is not None:
        entry.fault = True
        if fault.latency > 0:
            await asyncio.sleep(fault.latency)
        if fault.drop == "before":
            entry.dropped = "before"
            return _drop(request)
        if fault.status is not None:
            payload, ctype = fault_body(fault.status, fault.body)
            resp = web.Response(body=payload, status=fault.status)
            if ctype:
                resp.content_type = ctype
            if fault.retry_after is not None:
                resp.headers["Retry-After"] = fault.retry_after
            return resp
    if plan_id is not None:
        denied = _check_auth(backend, request, plan_id)
        if denied is not None:
            return denied
        if method in ("POST", "PUT") and request.content_type != "application/json":
            return error_response(
                ApiError(415, "unsupported_media_type", "Content-Type must be application/json.")
            )
        request[PLAN_KEY] = backend.process_plan(plan_id)
    try:
        result = await handler(request)
    except ApiError as err:
        result = error_response(err)
    backend.after_request()
    if fault is not None and fault.drop == "after":
        entry.dropped = "after"
        return _drop(request)
    return result


async def _health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def build_app(backend: SimulatorBackend) -> web.Application:
    """The simulator's HTTP API over ``backend`` (serve it with any aiohttp runner)."""
    app = web.Application(middlewares=[_middleware], client_max_size=MAX_BODY_BYTES)
    app[BACKEND_KEY] = backend
    add_routes(app.router, PREFIX)
    add_oauth_routes(app.router)
    app.router.add_get("/health", _health)
    add_conversation_routes(app.router)
    add_control_routes(app.router)
    return app
