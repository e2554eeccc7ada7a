"""The framework-independent part of the receivers: bound, verify, parse, dispatch, answer."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sinch_async._instrument import WebhookNote, current_webhook, resolve_telemetry
from sinch_async.webhooks._errors import (
    CallbackTooLargeError,
    InvalidCallbackError,
    InvalidSignatureError,
    WebhookRetryLater,
    WebhookStoreError,
)
from sinch_async.webhooks._parse import CALLBACK_TYPES, WebhookEvent, parse_callback
from sinch_async.webhooks._signature import (
    DEFAULT_TOLERANCE,
    AsyncReplayGuard,
    ReplayGuard,
    Secret,
    _header,
    _secrets,
    replayed_nonce,
    signed_nonce,
)

if TYPE_CHECKING:
    from sinch_async._telemetry import Telemetry

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "AnyReplayGuard",
    "OnEvent",
    "WebhookResponse",
    "handle_webhook",
]

log = logging.getLogger("sinch_async.webhooks")

OnEvent = Callable[[WebhookEvent], Awaitable[object]]
"""The receivers' ``on_event``: ``async def on_event(event: WebhookEvent) -> None``."""

AnyReplayGuard = ReplayGuard | AsyncReplayGuard
"""What the receivers take as ``replay_guard``: a :class:`ReplayGuard` (e.g. ``NonceCache``)
or an :class:`AsyncReplayGuard` (e.g. ``sinch_async.redis.RedisNonceCache``)."""

_STORE_FAILURES = (WebhookStoreError, OSError, asyncio.TimeoutError)
"""A replay guard's failures answered 503 (its store is down: Sinch retries)."""

DEFAULT_MAX_BODY_SIZE = 1_048_576
"""The receivers' default cap on a callback body: 1 MiB, far above any Sinch callback."""

_JSON = "application/json"
_DIGITS = re.compile(r"[0-9]{1,20}")


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


def check_max_body_size(max_body_size: int) -> int:
    """``max_body_size`` if it is a positive ``int``; ``TypeError``/``ValueError`` otherwise."""
    if isinstance(max_body_size, bool) or not isinstance(max_body_size, int):
        raise TypeError(f"max_body_size must be an int, not {type(max_body_size).__name__}")
    if max_body_size < 1:
        raise ValueError(f"max_body_size must be > 0, not {max_body_size}")
    return max_body_size


async def receive_webhook(
    headers: Mapping[str, str],
    chunks: AsyncIterable[bytes],
    secret: Secret | Sequence[Secret] | None,
    on_event: OnEvent,
    *,
    replay_guard: AnyReplayGuard | None,
    tolerance: float | None,
    max_body_size: int,
    cut_short: tuple[type[BaseException], ...] = (),
    telemetry: Telemetry | None = None,
) -> WebhookResponse:
    """What the receivers do: refuse on ``Content-Length`` before reading (413 above the
    cap, 400 if it is not a number), read ``chunks`` only up to the cap (413 past it,
    without reading further), then :func:`handle_webhook`.

    ``cut_short`` are the framework's exceptions for a body that ends early (the client
    disconnected, broken chunked framing): answered 400 without a traceback. Only the
    reading is guarded: an exception of the replay guard is not mistaken for one.
    ``telemetry``: the receiver's, for its SERVER span and metric.
    """
    run = _receive(
        headers,
        chunks,
        secret,
        on_event,
        replay_guard=replay_guard,
        tolerance=tolerance,
        max_body_size=max_body_size,
        cut_short=cut_short,
    )
    return await _observed(telemetry, run)


async def _receive(
    headers: Mapping[str, str],
    chunks: AsyncIterable[bytes],
    secret: Secret | Sequence[Secret] | None,
    on_event: OnEvent,
    *,
    replay_guard: AnyReplayGuard | None,
    tolerance: float | None,
    max_body_size: int,
    cut_short: tuple[type[BaseException], ...],
) -> WebhookResponse:
    declared = _header(headers, "content-length")
    if declared is not None:
        declared = declared.strip()
        if not _DIGITS.fullmatch(declared):
            return _malformed(InvalidCallbackError("the Content-Length header is not a number"))
        if int(declared) > max_body_size:
            return _too_large(int(declared), max_body_size)
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_body_size:
                return _too_large(size, max_body_size)
            parts.append(chunk)
    except cut_short:
        return _malformed(InvalidCallbackError("the callback body was cut short"))
    return await _handle(
        b"".join(parts),
        headers,
        secret,
        on_event,
        replay_guard=replay_guard,
        tolerance=tolerance,
        max_body_size=max_body_size,
    )


async def handle_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: Secret | Sequence[Secret] | None,
    on_event: OnEvent,
    *,
    replay_guard: AnyReplayGuard | None = None,
    tolerance: float | None = DEFAULT_TOLERANCE,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    telemetry: bool = True,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> WebhookResponse:
    """Handle one callback request; the receivers for aiohttp and FastAPI are thin wrappers.

    Use it to receive callbacks in another framework: pass the raw body and the headers,
    answer with the returned status and body. Cap the body while you read it (check
    ``Content-Length`` first, stop reading past ``max_body_size`` and answer 413), as the
    shipped receivers do; this function only refuses a body already read. Answers:

    * 413 when ``body`` is longer than ``max_body_size`` (default 1 MiB);
    * 401 when ``secret`` is set and the signature is missing, wrong, stale or replayed
      (checked before the body is parsed);
    * 400 when the body is not a Sinch callback (Sinch does not retry 4xx other than 429);
    * 503 when a shared store cannot answer now: the replay guard's store failed
      (:class:`WebhookStoreError`, ``OSError``, timeout), or ``on_event`` raised a
      :class:`WebhookRetryLater` (a :class:`Deduplicator` whose store failed, or whose
      callback another process is handling); Sinch retries;
    * 500 when ``on_event`` raised anything else (logged; Sinch retries 5xx with growing
      delays);
    * 200 after ``on_event`` returned.

    ``replay_guard`` is a :class:`ReplayGuard` (``NonceCache``) or an
    :class:`AsyncReplayGuard` (``sinch_async.redis.RedisNonceCache``): the signature is
    checked first, then the guard is consulted (awaited when it is async). When ``on_event``
    fails (500 or 503), the nonce is discarded from the guard so that Sinch's retry is not
    refused as a replay.

    Every refusal (413, 401, 400) and every 503 is one WARNING line on the
    ``sinch_async.webhooks`` logger, without the body and without a traceback, whatever the
    input; only a failing ``on_event`` (500) logs its traceback.

    With the OpenTelemetry API installed and ``telemetry`` on, each callback is a SERVER
    span ``sinch webhook`` and counts in ``sinch_async.webhook.events`` (README
    "Telemetry"); ``tracer_provider`` / ``meter_provider`` replace the global providers.
    """
    traced = resolve_telemetry(telemetry, tracer_provider, meter_provider)
    run = _handle(
        body,
        headers,
        secret,
        on_event,
        replay_guard=replay_guard,
        tolerance=tolerance,
        max_body_size=max_body_size,
    )
    return await _observed(traced, run)


async def _observed(
    telemetry: Telemetry | None, run: Awaitable[WebhookResponse]
) -> WebhookResponse:
    """``await run`` in the callback's SERVER span, then its outcome in span and metric
    (just ``await run`` with telemetry off, or while no SDK is configured)."""
    if telemetry is None or telemetry.idle():
        return await run
    trace = telemetry.webhook()
    if trace is None:  # the tracer failed (logged): handled untraced
        return await run
    note = WebhookNote()
    token = current_webhook.set(note)
    try:
        result = await run
    except BaseException as exc:
        trace.end(500, None, "not_checked", False, exc)
        raise
    finally:
        current_webhook.reset(token)
    error = result.error
    if isinstance(error, InvalidSignatureError):
        verification = error.reason
    else:
        verification = "verified" if note.verified else "not_checked"
    event = result.event
    kind = None if event is None else getattr(event, "type", None)
    if kind is not None and kind not in CALLBACK_TYPES:
        kind = "unknown"  # a type this version does not know: not a label of its own
    trace.end(result.status, kind, verification, note.duplicate, error)
    return result


async def _handle(
    body: bytes,
    headers: Mapping[str, str],
    secret: Secret | Sequence[Secret] | None,
    on_event: OnEvent,
    *,
    replay_guard: AnyReplayGuard | None,
    tolerance: float | None,
    max_body_size: int,
) -> WebhookResponse:
    if len(body) > check_max_body_size(max_body_size):
        return _too_large(len(body), max_body_size)
    nonce: str | None = None
    if secret is not None:
        try:
            nonce, timestamp, now = signed_nonce(
                body, headers, secret, tolerance=tolerance, now=None
            )
            accepted = replay_guard is None or await _check_and_add(
                replay_guard, nonce, timestamp=timestamp, now=now
            )
            if not accepted:
                raise replayed_nonce()
            note = current_webhook.get()
            if note is not None:
                note.verified = True
        except InvalidSignatureError as exc:
            log.warning("rejected Sinch callback (401, %s): %s", exc.reason, exc)
            return _answer(401, "invalid_signature", exc, reason=exc.reason)
        except _STORE_FAILURES as exc:
            return _retry_later("the replay guard's store failed", exc)
    try:
        event = parse_callback(body)
    except InvalidCallbackError as exc:
        return _malformed(exc)
    try:
        await on_event(event)
    except WebhookRetryLater as exc:
        await _discard(replay_guard, nonce, quiet=True)  # the 503 line says the store failed
        return _retry_later("the callback cannot be handled now", exc, event=event)
    except Exception as exc:
        log.exception("Sinch callback handler failed (500, Sinch will retry)")
        await _discard(replay_guard, nonce)
        return _answer(500, "handler_failed", exc, event=event)
    return WebhookResponse(200, b'{"status":"ok"}', event=event)


async def _check_and_add(
    guard: AnyReplayGuard, nonce: str, *, timestamp: float, now: float
) -> bool:
    """``guard.check_and_add(...)``, awaited when the guard is async."""
    accepted = guard.check_and_add(nonce, timestamp=timestamp, now=now)
    if inspect.isawaitable(accepted):
        accepted = await accepted
    return bool(accepted)


async def _discard(guard: AnyReplayGuard | None, nonce: str | None, *, quiet: bool = False) -> None:
    """Forget ``nonce`` in ``guard`` (awaited when async); a store failure is only logged
    (at DEBUG when ``quiet``): the callback's answer (500 or 503) asks Sinch to retry."""
    if guard is None or nonce is None:
        return
    try:
        outcome = guard.discard(nonce)
        if inspect.isawaitable(outcome):
            await outcome
    except _STORE_FAILURES as exc:
        log.log(
            logging.DEBUG if quiet else logging.WARNING,
            "could not forget the nonce of a failed Sinch callback (%s): %s",
            type(exc).__name__,
            exc,
        )


def _retry_later(
    what: str, error: BaseException, *, event: WebhookEvent | None = None
) -> WebhookResponse:
    log.warning("Sinch callback not handled (503, Sinch will retry): %s: %s", what, error)
    return _answer(503, "retry_later", error, event=event)


def _malformed(error: InvalidCallbackError) -> WebhookResponse:
    log.warning("rejected Sinch callback (400): %s", error)
    return _answer(400, "invalid_callback", error)


def _too_large(size: int, max_body_size: int) -> WebhookResponse:
    error = CallbackTooLargeError(size, max_body_size)
    log.warning("rejected Sinch callback (413): %s", error)
    return WebhookResponse(
        413, f'{{"error":"body_too_large","max_body_size":{max_body_size}}}'.encode(), error=error
    )


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
