"""The aiohttp receiver."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from aiohttp import web

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

__all__ = ["sinch_webhook_handler"]


def sinch_webhook_handler(
    secret: Secret | Sequence[Secret] | None,
    on_event: OnEvent,
    *,
    replay_guard: AnyReplayGuard | None = None,
    tolerance: float | None = DEFAULT_TOLERANCE,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    telemetry: bool = True,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp request handler for Sinch callbacks (delivery reports and inbounds).

    ``secret`` is the webhook secret (``None``: no signature check, for accounts without
    signed callbacks; protect the URL otherwise). ``on_event`` is awaited with each parsed
    :data:`WebhookEvent`. ``max_body_size`` caps the body (default 1 MiB, a positive
    ``int``): a larger ``Content-Length`` is refused before reading, and a body without one
    is read only up to the cap; the app's ``client_max_size`` does not apply.
    ``replay_guard`` is a ``NonceCache`` or an async one (``RedisNonceCache``). Answers 413
    (body too large), 401 (bad signature), 400 (malformed body or headers), 503 (a shared
    store failed or another process is handling the callback: Sinch retries), 500
    (``on_event`` raised: Sinch retries) or 200; refusals and 503s log one line, no
    traceback (see :func:`handle_webhook`). With the OpenTelemetry API installed, each
    callback is a SERVER span and a count in ``sinch_async.webhook.events`` (``telemetry``
    off: neither; ``tracer_provider`` / ``meter_provider`` replace the global ones)::

        app.router.add_post("/sinch/callbacks", sinch_webhook_handler(secret, on_event))
    """
    check_secret(secret)
    check_max_body_size(max_body_size)
    traced = resolve_telemetry(telemetry, tracer_provider, meter_provider)

    async def sinch_webhook(request: web.Request) -> web.Response:
        result = await receive_webhook(
            request.headers,
            request.content.iter_any(),
            secret,
            on_event,
            replay_guard=replay_guard,
            tolerance=tolerance,
            max_body_size=max_body_size,
            telemetry=traced,
            cut_short=(ConnectionError, web.RequestPayloadError),
        )
        response = web.Response(
            status=result.status, body=result.body, content_type=result.content_type
        )
        if result.status == 413:
            response.force_close()  # do not keep the connection for the rest of the upload
        return response

    return sinch_webhook
