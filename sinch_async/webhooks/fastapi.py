"""The FastAPI receiver `sinch_webhook_router` (needs `pip install sinch_async[fastapi]`)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect

from sinch_async._instrument import resolve_telemetry
from sinch_async.webhooks._receiver import (
    DEFAULT_MAX_BODY_SIZE,
    AnyReplayGuard,
    OnEvent,
    check_max_body_size,
    check_secret,
    receive_webhook,
)
from sinch_async.webhooks._signature import DEFAULT_TOLERANCE, Secret

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["sinch_webhook_router"]


def sinch_webhook_router(
    path: str,
    secret: Secret | Sequence[Secret] | None,
    on_event: OnEvent,
    *,
    replay_guard: AnyReplayGuard | None = None,
    tolerance: float | None = DEFAULT_TOLERANCE,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    telemetry: bool = True,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    name: str = "sinch_webhook",
    include_in_schema: bool = False,
    **router_kwargs: Any,
) -> APIRouter:
    """An ``APIRouter`` with one ``POST path`` route receiving Sinch callbacks.

    Same behaviour as :func:`sinch_async.webhooks.sinch_webhook_handler`: a body larger
    than ``max_body_size`` (default 1 MiB, a positive ``int``) is refused with 413, on its
    ``Content-Length`` before reading or, without one, as soon as the stream passes the
    cap; the signature is checked on the raw body when ``secret`` is set (401 if it fails),
    the body is parsed (400 if malformed), ``await on_event(event)`` runs (500 if it
    raises, so Sinch retries), then 200; 503 when a shared store (an async ``replay_guard``
    such as ``RedisNonceCache``, a ``Deduplicator``'s store) fails or another process is
    handling the callback. Refusals and 503s log one line, no traceback. ``name`` is
    the route name (for ``request.url_for(name)``); other keyword arguments go to
    ``APIRouter`` (e.g. ``dependencies=[...]``, ``tags=[...]``). ``telemetry``,
    ``tracer_provider`` and ``meter_provider`` as for ``sinch_webhook_handler``::

        app.include_router(sinch_webhook_router("/sinch/callbacks", secret, on_event))
    """
    check_secret(secret)
    check_max_body_size(max_body_size)
    traced = resolve_telemetry(telemetry, tracer_provider, meter_provider)
    router = APIRouter(**router_kwargs)

    async def sinch_webhook(request: Request) -> Response:
        async with aclosing(request.stream()) as chunks:
            result = await receive_webhook(
                request.headers,
                chunks,
                secret,
                on_event,
                replay_guard=replay_guard,
                tolerance=tolerance,
                max_body_size=max_body_size,
                telemetry=traced,
                cut_short=(ClientDisconnect,),
            )
        headers = {"Connection": "close"} if result.status == 413 else None
        return Response(
            content=result.body,
            status_code=result.status,
            media_type=result.content_type,
            headers=headers,
        )

    router.add_api_route(
        path,
        sinch_webhook,
        methods=["POST"],
        name=name,
        include_in_schema=include_in_schema,
        response_class=Response,
    )
    return router
