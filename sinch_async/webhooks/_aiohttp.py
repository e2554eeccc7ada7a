"""The aiohttp receiver."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from sinch_async.webhooks._receiver import OnEvent, check_secret, handle_webhook
from sinch_async.webhooks._signature import DEFAULT_TOLERANCE, ReplayGuard, Secret

__all__ = ["sinch_webhook_handler"]


def sinch_webhook_handler(
    secret: Secret | Sequence[Secret] | None,
    on_event: OnEvent,
    *,
    replay_guard: ReplayGuard | None = None,
    tolerance: float | None = DEFAULT_TOLERANCE,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp request handler for Sinch callbacks (delivery reports and inbounds).

    ``secret`` is the webhook secret (``None``: no signature check, for accounts without
    signed callbacks; protect the URL otherwise). ``on_event`` is awaited with each parsed
    :data:`WebhookEvent`. Answers 401 (bad signature), 400 (malformed body), 500
    (``on_event`` raised: Sinch retries) or 200::

        app.router.add_post("/sinch/callbacks", sinch_webhook_handler(secret, on_event))
    """
    check_secret(secret)

    async def sinch_webhook(request: web.Request) -> web.Response:
        body = await request.read()
        result = await handle_webhook(
            body,
            request.headers,
            secret,
            on_event,
            replay_guard=replay_guard,
            tolerance=tolerance,
        )
        return web.Response(
            status=result.status, body=result.body, content_type=result.content_type
        )

    return sinch_webhook
