"""The path of one call: rate limiter -> retry loop -> transport -> typed error.

``RequestCore`` is shared by a client and its :meth:`AsyncSmsClient.with_options`
views; the policy objects (retry, limits, hooks) are plain values passed in.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState
from yarl import URL

from sinch_async._auth import Auth
from sinch_async._hooks import RequestEvent, ResponseEvent, RetryEvent, current_call_info
from sinch_async._ratelimit import RateLimiter
from sinch_async._redact import mask_numbers
from sinch_async._retry import (
    Idempotency,
    NotApplied,
    RetryPolicy,
    build_retrying,
    describe_failure,
    is_ambiguous,
    logger,
)
from sinch_async._transport import RawResponse, Transport
from sinch_async.errors import (
    AmbiguousSendError,
    ClientClosedError,
    RateLimitError,
    SinchError,
    api_error,
)

__all__ = ["Hooks", "Reconcile", "RequestCore"]

_JSON = "application/json"

Reconcile = Callable[[], Awaitable[RawResponse | None]]
"""Looks up whether an ambiguous send was applied; returns the created item or None."""

HookFn = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Hooks:
    on_request: HookFn | None = None
    on_response: HookFn | None = None
    on_retry: HookFn | None = None


class _Counter:
    """Attempts of the retry loop, and HTTP requests actually sent (a token refresh
    re-sends within one attempt)."""

    __slots__ = ("attempts", "sent")

    def __init__(self) -> None:
        self.attempts = 0
        self.sent = 0


async def _call_hook(hook: HookFn, event: object) -> None:
    try:
        result = hook(event)
        if inspect.isawaitable(result):
            await result
    except Exception:  # a metrics hook must not break a send
        logger.exception("sinch_async hook %r failed", hook)


class RequestCore:
    """Sends one described request through limits, retries and the transport."""

    def __init__(
        self,
        *,
        transport: Transport,
        auth: Auth,
        prefix: str,
        oauth: bool,
        limiter: RateLimiter,
        user_agent: str,
    ) -> None:
        self.user_agent = user_agent
        self.transport = transport
        self.auth = auth
        self.prefix = prefix
        self.oauth = oauth
        self.limiter = limiter
        self._auth_value: str | None = None
        self._headers_get: dict[str, str] = {}
        self._headers_body: dict[str, str] = {}

    def _headers(self, auth_value: str, has_body: bool) -> dict[str, str]:
        if auth_value is not self._auth_value:
            self._auth_value = auth_value
            self._headers_get = {
                "Authorization": auth_value,
                "Accept": _JSON,
                "User-Agent": self.user_agent,
            }
            self._headers_body = {**self._headers_get, "Content-Type": _JSON}
        return self._headers_body if has_body else self._headers_get

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        body: bytes | None = None,
        policy: RetryPolicy | None,
        hooks: Hooks,
        idempotency: Idempotency = Idempotency.SAFE,
        messages: int = 0,
        request_obj: object = None,
        reconcile: Reconcile | None = None,
        record: bool = True,
    ) -> RawResponse:
        """One API call, with retries per ``policy`` (``None``: a single attempt)."""
        if self.transport.closed:
            raise ClientClosedError("the client is closed; create a new AsyncSmsClient")
        url = URL(self.prefix + path, encoded=True)
        counter = _Counter()
        reconciled = False

        async def attempt_once() -> RawResponse:
            nonlocal reconciled
            counter.attempts += 1
            try:
                return await self._attempt(
                    method, url, path, params, body, messages, counter, hooks
                )
            except SinchError as exc:
                if (
                    policy is not None
                    and idempotency is Idempotency.UNSAFE
                    and is_ambiguous(exc)
                    and not policy.is_retryable(exc, idempotency)
                ):
                    if reconcile is None:
                        raise AmbiguousSendError(
                            f"{method} {path} failed ambiguously ({exc}); it may or may not "
                            "have been applied and was not retried because it carries no "
                            "client_reference to check it by",
                            method=method,
                            path=path,
                            request=request_obj,
                            cause=exc,
                        ) from exc
                    found = await reconcile()
                    if found is not None:
                        reconciled = True
                        logger.warning(
                            "reconciled %s %s after %s: it was applied; not sending again",
                            method,
                            path,
                            describe_failure(exc),
                        )
                        return found
                    if counter.attempts >= policy.max_attempts:
                        raise
                    raise NotApplied(exc) from exc
                raise

        try:
            if policy is None or policy.max_attempts <= 1:
                response = await attempt_once()
            else:
                response = await self._with_retries(
                    attempt_once, method, path, policy, idempotency, hooks
                )
        except NotApplied as wrapped:
            wrapped.cause.attempts = counter.sent
            raise wrapped.cause from None
        except SinchError as exc:
            exc.attempts = counter.sent
            raise
        if record:
            info = current_call_info()
            if info is not None:
                info.status = response.status
                info.headers = response.headers
                info.attempts = counter.sent
                info.reconciled = reconciled
                info.calls += 1
        return response

    async def _with_retries(
        self,
        attempt_once: Callable[[], Awaitable[RawResponse]],
        method: str,
        path: str,
        policy: RetryPolicy,
        idempotency: Idempotency,
        hooks: Hooks,
    ) -> RawResponse:
        async def before_sleep(state: RetryCallState) -> None:
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None else None
            if isinstance(exc, NotApplied):
                exc = exc.cause
            delay = state.upcoming_sleep
            cause = describe_failure(exc) if exc is not None else "?"
            next_attempt = state.attempt_number + 1
            logger.warning(
                "retry %d/%d in %.1f s after %s on %s %s",
                next_attempt,
                policy.max_attempts,
                delay,
                cause,
                method,
                mask_numbers(path),
            )
            if hooks.on_retry is not None and exc is not None:
                await _call_hook(
                    hooks.on_retry,
                    RetryEvent(method, path, next_attempt, policy.max_attempts, delay, cause, exc),
                )

        retrying = build_retrying(policy, idempotency, before_sleep=before_sleep)
        result: RawResponse = await retrying(attempt_once)
        return result

    async def _attempt(
        self,
        method: str,
        url: URL,
        path: str,
        params: Sequence[tuple[str, str]] | None,
        body: bytes | None,
        messages: int,
        counter: _Counter,
        hooks: Hooks,
    ) -> RawResponse:
        attempt = counter.attempts
        limiter = self.limiter
        if limiter.active:
            await limiter.acquire(messages)
        transport = self.transport
        auth_value = await self.auth.authorization(transport)
        if hooks.on_request is not None:
            await _call_hook(hooks.on_request, RequestEvent(method, path, attempt))
        started = time.perf_counter()
        async with limiter.slot():
            counter.sent += 1
            response = await transport.send(
                method,
                url,
                params=params,
                data=body,
                headers=self._headers(auth_value, body is not None),
            )
            if (
                response.status == 401
                and self.oauth
                and "expired" in response.headers.get("WWW-Authenticate", "").lower()
                and await self.auth.refresh_after_expiry(transport, auth_value)
            ):
                auth_value = await self.auth.authorization(transport)
                counter.sent += 1
                response = await transport.send(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=self._headers(auth_value, body is not None),
                )
        if hooks.on_response is not None:
            await _call_hook(
                hooks.on_response,
                ResponseEvent(
                    method, path, attempt, response.status, time.perf_counter() - started
                ),
            )
        status = response.status
        if status < 400:
            limiter.on_success()
            return response
        error = api_error(
            status, method=method, path=url.path, body=response.body, headers=response.headers
        )
        if isinstance(error, RateLimitError):
            limiter.on_rate_limited(error.retry_after)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> HTTP %d", method, mask_numbers(path), status)
        raise error
