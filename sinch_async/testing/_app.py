"""The aiohttp application: routes, the request middleware (journal, faults, auth)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from sinch_async.testing._conversation import add_conversation_routes
from sinch_async.testing._faults import fault_body
from sinch_async.testing._journal import JournalEntry, scrub_headers
from sinch_async.testing._routes import (
    JSON_KEY,
    NO_BODY,
    PLAN_KEY,
    SIM_KEY,
    add_routes,
    json_response,
)
from sinch_async.testing._util import ApiError

if TYPE_CHECKING:
    from sinch_async.testing._simulator import SinchSimulator

__all__ = ["build_app"]

PREFIX = "/xms/v1/{plan_id}"
_decode = msgspec.json.decode

_BAD_TOKEN = "Invalid credentials for this service plan."
_INVALID = 'Bearer error="invalid_token"'

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(err: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    resp = json_response({"code": err.code, "text": err.text}, err.status)
    if headers:
        resp.headers.update(headers)
    return resp


def _unauthorized(text: str, www: str | None = None) -> web.Response:
    headers = {"WWW-Authenticate": www} if www else None
    return error_response(ApiError(401, "unauthorized", text), headers)


def _check_auth(sim: SinchSimulator, request: web.Request, plan_id: str) -> web.Response | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() != "bearer " or not auth[7:].strip():
        return _unauthorized("Missing or malformed Bearer token.", 'Bearer realm="sinch"')
    token = auth[7:].strip()
    plan = sim._plans.get(plan_id)
    if plan is None:
        return _unauthorized(_BAD_TOKEN, _INVALID)
    if plan.token is not None and token == plan.token:
        return None
    if plan.project:
        state = sim._tokens.check(token, plan_id)
        if state == "ok":
            return None
        if state == "expired":
            return _unauthorized(
                "The access token expired.",
                'Bearer error="invalid_token", error_description="token expired"',
            )
    return _unauthorized(_BAD_TOKEN, _INVALID)


def _drop(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=500)  # never written: the connection is gone


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
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
    body: Any = None
    if request.body_exists and request.content_type == "application/json":
        raw = await request.read()
        try:
            body = _decode(raw) if raw else NO_BODY
        except msgspec.DecodeError:
            body = NO_BODY
    request[JSON_KEY] = body
    entry = JournalEntry(
        method,
        path,
        dict(request.query),
        None if body is NO_BODY else body,
        scrub_headers(request.headers.items()),
        None,
        sim.clock.now(),
        plan_id,
    )
    sim.journal.record_request(entry)
    try:
        resp = await _dispatch(sim, request, handler, entry, method, rel, template, plan_id)
    except web.HTTPException as exc:  # unknown path, method not allowed
        entry.status = exc.status
        raise
    entry.status = None if entry.dropped else resp.status
    return resp


async def _dispatch(
    sim: SinchSimulator,
    request: web.Request,
    handler: Handler,
    entry: JournalEntry,
    method: str,
    rel: str,
    template: str,
    plan_id: str | None,
) -> web.StreamResponse:
    faults = sim.faults
    if faults.rate_limit is not None and not faults.rate_limit.allow():
        faults.rate_limited += 1
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
        denied = _check_auth(sim, request, plan_id)
        if denied is not None:
            return denied
        if method in ("POST", "PUT") and request.content_type != "application/json":
            return error_response(
                ApiError(415, "unsupported_media_type", "Content-Type must be application/json.")
            )
        plan = sim._plans[plan_id]
        request[PLAN_KEY] = plan
        plan.lifecycle.process(sim.clock.now_ts())
    try:
        result = await handler(request)
    except ApiError as err:
        result = error_response(err)
    if sim._callbacks.pending:
        sim._callbacks.wake.set()
    if fault is not None and fault.drop == "after":
        entry.dropped = "after"
        return _drop(request)
    return result


def build_app(sim: SinchSimulator) -> web.Application:
    app = web.Application(middlewares=[_middleware], client_max_size=8 * 1024 * 1024)
    app[SIM_KEY] = sim
    add_routes(app.router, PREFIX)
    add_conversation_routes(app.router)
    return app
