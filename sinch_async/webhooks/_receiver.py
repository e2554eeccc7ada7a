"""The framework-independent part of the receivers: verify, parse, dispatch, answer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from sinch_async.webhooks._errors import InvalidCallbackError, InvalidSignatureError
from sinch_async.webhooks._parse import WebhookEvent, parse_callback
from sinch_async.webhooks._signature import (
    DEFAULT_TOLERANCE,
    NONCE_HEADER,
    ReplayGuard,
    Secret,
    _header,
    _secrets,
    verify_signature,
)

__all__ = ["OnEvent", "WebhookResponse", "handle_webhook"]

log = logging.getLogger("sinch_async.webhooks")

OnEvent = Callable[[WebhookEvent], Awaitable[object]]
"""The receivers' ``on_event``: ``async def on_event(event: WebhookEvent) -> None``."""

_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What to answer Sinch: ``status``, a small JSON ``body`` and its ``content_type``.

    ``event`` is the parsed callback (``None`` if it was refused) and ``error`` the
    exception behind a non-200 answer.
    """

    status: int
    body: bytes
    content_type: str = _JSON
    event: WebhookEvent | None = None
    error: BaseException | None = None


def check_secret(secret: Secret | Sequence[Secret] | None) -> None:
    """Fail at set-up time (not on the first callback) on an empty or mistyped secret."""
    if secret is not None:
        _secrets(secret)


async def handle_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: Secret | Sequence[Secret] | None,
    on_event: OnEvent,
    *,
    replay_guard: ReplayGuard | None = None,
    tolerance: float | None = DEFAULT_TOLERANCE,
) -> WebhookResponse:
    """Handle one callback request; the receivers for aiohttp and FastAPI are thin wrappers.

    Use it to receive callbacks in another framework: pass the raw body and the headers,
    answer with the returned status and body. Answers:

    * 401 when ``secret`` is set and the signature is missing, wrong, stale or replayed
      (checked before the body is parsed);
    * 400 when the body is not a Sinch callback (Sinch does not retry 4xx other than 429);
    * 500 when ``on_event`` raised (logged; Sinch retries 5xx with growing delays);
    * 200 after ``on_event`` returned.
    """
    if secret is not None:
        try:
            verify_signature(body, headers, secret, tolerance=tolerance, replay_guard=replay_guard)
        except InvalidSignatureError as exc:
            log.warning("rejected Sinch callback (401, %s): %s", exc.reason, exc)
            return _answer(401, "invalid_signature", exc, reason=exc.reason)
    try:
        event = parse_callback(body)
    except InvalidCallbackError as exc:
        log.warning("rejected Sinch callback (400): %s", exc)
        return _answer(400, "invalid_callback", exc)
    try:
        await on_event(event)
    except Exception as exc:
        log.exception("Sinch callback handler failed (500, Sinch will retry)")
        if secret is not None and replay_guard is not None:
            nonce = _header(headers, NONCE_HEADER)
            if nonce is not None:
                replay_guard.discard(nonce.strip())
        return _answer(500, "handler_failed", exc, event=event)
    return WebhookResponse(200, b'{"status":"ok"}', event=event)


def _answer(
    status: int,
    error: str,
    exc: BaseException,
    *,
    reason: str | None = None,
    event: WebhookEvent | None = None,
) -> WebhookResponse:
    extra = "" if reason is None else f',"reason":"{reason}"'
    body = f'{{"error":"{error}"{extra}}}'.encode()
    return WebhookResponse(status, body, event=event, error=exc)
