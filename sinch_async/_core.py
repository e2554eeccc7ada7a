"""The path of one call: rate limiter -> retry loop -> transport -> typed error.

``RequestCore`` is shared by a client and its :meth:`AsyncSmsClient.with_options`
views; the policy objects (retry, limits, hooks) are plain values passed in.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import BytesPayload
from tenacity import RetryCallState
from yarl import URL

from sinch_async._auth import Auth
from sinch_async._hooks import RequestEvent, ResponseEvent, RetryEvent, current_call_info
from sinch_async._ratelimit import RateLimiter
from sinch_async._redact import mask_numbers
from sinch_async._retry import (
    DEFAULT_RETRY_AFTER_CAP,
    Idempotency,
    NotApplied,
    RetryPolicy,
    build_retrying,
    describe_failure,
    is_ambiguous,
    logger,
)
from sinch_async._transport import WIRE_ERRORS, RawResponse, Transport, wire_error
from sinch_async.errors import (
    AmbiguousSendError,
    ClientClosedError,
    RateLimitError,
    SinchConnectionError,
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


async def _call_hook(hook: HookFn, event: object) -> None:
    try:
        result = hook(event)
        if inspect.isawaitable(result):
            await result
    except Exception:  # a metrics hook must not break a send
        logger.exception("sinch_async hook %r failed", hook)


class _Urls(dict[str, URL]):
    """Full URLs by API path: a dict lookup per call, built on a miss (at most 512 kept)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def __missing__(self, path: str) -> URL:
        url = URL(self.prefix + path, encoded=True)
        if len(self) >= 512:  # paths with IDs in them: do not grow without bound
            self.clear()
        self[path] = url
        return url


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
        session_auth: str | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.session_auth = session_auth
        """The Authorization value the transport's own session sends by default, if any."""
        self.transport = transport
        self.auth = auth
        self.prefix = prefix
        self.oauth = oauth
        self.limiter = limiter
        self.urls = _Urls(prefix)
        """``urls[path]``: the full URL of an API path (built once per path, then cached)."""
        self._auth_value: str | None = None
        self._headers_get: dict[str, str] = {}

    def _headers(self, auth_value: str) -> dict[str, str] | None:
        """Per-request headers (Content-Type comes with the body: see :func:`_payload`)."""
        if auth_value is self.session_auth:
            # The client's own session already sends Authorization, Accept and User-Agent:
            # no per-request headers, which aiohttp would have to merge on every call.
            return None
        if auth_value is not self._auth_value:
            self._auth_value = auth_value
            self._headers_get = {
                "Authorization": auth_value,
                "Accept": _JSON,
                "User-Agent": self.user_agent,
            }
        return self._headers_get

    async def _retry(self, call: Call, first: SinchError) -> RawResponse:
        """Attempts 2..n after a retryable first failure, in a fresh ``AsyncRetrying``."""
        policy = call.policy
        assert policy is not None
        if policy.max_attempts <= 1:
            raise first
        delay = policy.delay_for(first, 1)
        elapsed = time.monotonic() - call.started
        if policy.deadline is not None and elapsed + delay >= policy.deadline:
            raise first
        await _before_retry(call, 2, delay, first)
        await asyncio.sleep(delay)

        async def before_sleep(state: RetryCallState) -> None:
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None else None
            if exc is not None:
                await _before_retry(call, state.attempt_number + 2, state.upcoming_sleep, exc)

        deadline = None
        if policy.deadline is not None:
            deadline = max(policy.deadline - (time.monotonic() - call.started), 1e-3)
        retrying = build_retrying(
            policy, call.idempotency, before_sleep=before_sleep, offset=1, deadline=deadline
        )

        async def attempt() -> RawResponse:  # tenacity awaits coroutine functions only
            return await call.attempt()

        result: RawResponse = await retrying(attempt)
        return result


async def _before_retry(call: Call, next_attempt: int, delay: float, exc: BaseException) -> None:
    """Log the retry and call the ``on_retry`` hook."""
    if isinstance(exc, NotApplied):
        exc = exc.cause
    policy = call.policy
    assert policy is not None
    cause = describe_failure(exc)
    logger.warning(
        "retry %d/%d in %.1f s after %s on %s %s",
        next_attempt,
        policy.max_attempts,
        delay,
        cause,
        call.method,
        mask_numbers(call.path),
    )
    hook = call.hooks.on_retry
    if hook is not None:
        await _call_hook(
            hook,
            RetryEvent(
                call.method, call.path, next_attempt, policy.max_attempts, delay, cause, exc
            ),
        )


class Call(msgspec.Struct, gc=False):
    """One API call: its description and bookkeeping across attempts.

    ``Call(...).attempt()`` is the whole call: the coroutine of the first attempt,
    which is all there is when it succeeds (most do), so no wrapper frame. A
    failure goes on to :meth:`_failed`, which reconciles an ambiguous send and,
    per the retry policy (``None``: a single attempt), builds a fresh tenacity
    ``AsyncRetrying`` for the attempts that follow.

    A struct rather than a plain class: one is built per call, and msgspec builds
    it in C, in half the time of an ``__init__`` that sets the fields one by one.
    ``gc=False``: nothing it references refers back to it (its coroutine holds the
    call, not the other way round), so the cycle collector need not track it.
    """

    core: RequestCore
    method: str
    path: str
    url: URL
    params: Sequence[tuple[str, str]] | None
    body: bytes | None
    policy: RetryPolicy | None
    hooks: Hooks
    idempotency: Idempotency
    messages: int
    request_obj: object
    reconcile: Reconcile | None
    record: bool
    """Report the outcome to :func:`call_info` (the client's own lookups do not)."""
    started: float
    """``time.monotonic()`` when the call began (the retry deadline counts from it)."""
    reconciled: bool = False
    retrying: bool = False
    """In the tenacity loop after a failed first attempt: failures go to tenacity."""
    attempts: int = 0
    sent: int = 0

    def __repr__(self) -> str:
        # Never the body or the request: they hold phone numbers and message texts.
        return f"Call({self.method} {mask_numbers(self.path)}, attempt {self.attempts})"

    def _record(self, response: RawResponse) -> None:
        """The call's outcome for :func:`call_info`, once the whole call succeeded."""
        info = current_call_info()
        if info is not None:
            info.status = response.status
            info.headers = response.headers
            info.attempts = self.sent
            info.reconciled = self.reconciled
            info.calls += 1

    async def _failed(self, exc: SinchError) -> RawResponse:
        """After a failed attempt: reconcile an ambiguous send; after the first, retry.

        Within the retry loop (``retrying``) a failure is raised for tenacity to judge.
        """
        try:
            policy = self.policy
            if (
                policy is None
                or self.idempotency is not Idempotency.UNSAFE
                or not is_ambiguous(exc)
                or policy.is_retryable(exc, self.idempotency)
            ):
                raise exc
            response = await self._ambiguous(exc, policy)
        except SinchError as failure:
            if self.retrying:
                raise
            return await self._retry_after(failure)
        if self.record and not self.retrying:
            self._record(response)
        return response

    async def _retry_after(self, first: SinchError) -> RawResponse:
        """Attempts 2..n, when the policy retries the first failure; errors carry ``attempts``."""
        policy = self.policy
        try:
            if policy is None or not policy.is_retryable(first, self.idempotency):
                raise first
            self.retrying = True
            response = await self.core._retry(self, first)
        except NotApplied as wrapped:
            wrapped.cause.attempts = self.sent
            raise wrapped.cause from None
        except SinchError as exc:
            exc.attempts = self.sent
            raise
        if self.record:
            self._record(response)
        return response

    async def _ambiguous(self, exc: SinchError, policy: RetryPolicy) -> RawResponse:
        method, path = self.method, self.path
        if self.reconcile is None:
            raise AmbiguousSendError(
                f"{method} {path} failed ambiguously ({exc}); it may or may not have been "
                "applied and was not retried because it carries no client_reference to "
                "check it by",
                method=method,
                path=path,
                request=self.request_obj,
                cause=exc,
            ) from exc
        if isinstance(exc, SinchConnectionError) and policy.reconcile_delay > 0:
            # No answer came: the server may still be working on the request.
            await asyncio.sleep(policy.reconcile_delay)
        try:
            found = await self.reconcile()
        except SinchError as lookup_error:
            raise AmbiguousSendError(
                f"{method} {path} failed ambiguously ({exc}) and the lookup by "
                f"client_reference failed too ({lookup_error}); it may or may not have "
                "been applied",
                method=method,
                path=path,
                request=self.request_obj,
                cause=exc,
            ) from lookup_error
        if found is not None:
            self.reconciled = True
            logger.warning(
                "reconciled %s %s after %s: it was applied; not sending again",
                method,
                path,
                describe_failure(exc),
            )
            return found
        if self.attempts >= policy.max_attempts:
            raise exc
        raise NotApplied(exc) from exc

    async def attempt(self) -> RawResponse:
        """One attempt; a failure goes on to :meth:`_failed`.

        The first attempt's coroutine is the whole call: on failure, :meth:`_failed`
        retries from inside it.
        """
        self.attempts += 1
        core = self.core
        if core.transport.closed:
            raise ClientClosedError("the client is closed; create a new client")
        try:
            limiter = core.limiter
            if not limiter.try_acquire(self.messages):
                await limiter.acquire(self.messages)
            transport = core.transport
            auth = core.auth
            auth_value = core.session_auth or await auth.authorization(transport)
            hooks = self.hooks
            method, url, params, body = self.method, self.url, self.params, self.body
            if hooks.on_request is not None:
                await _call_hook(hooks.on_request, RequestEvent(method, self.path, self.attempts))
            semaphore = limiter.semaphore
            if semaphore is not None:
                await semaphore.acquire()
            try:
                if limiter._cooldown_until > 0.0 and limiter.cooling_down:
                    await limiter.wait_cooldown()
                sent_at = time.monotonic()
                self.sent += 1
                # Transport.send inlined: the hot path, one coroutine frame less per attempt.
                try:
                    async with transport.session().request(
                        method,
                        url,
                        params=params,
                        data=None if body is None else BytesPayload(body, content_type=_JSON),
                        headers=None
                        if auth_value is core.session_auth
                        else core._headers(auth_value),
                    ) as wire:
                        response = RawResponse(wire.status, wire.headers, await wire.read())
                except WIRE_ERRORS as exc:
                    raise wire_error(exc, method, url) from None
                if (
                    response.status == 401
                    and core.oauth
                    and "expired" in response.headers.get("WWW-Authenticate", "").lower()
                    and await auth.refresh_after_expiry(transport, auth_value)
                ):
                    auth_value = await auth.authorization(transport)
                    self.sent += 1
                    response = await transport.send(
                        method,
                        url,
                        params=params,
                        data=None if body is None else BytesPayload(body, content_type=_JSON),
                        headers=core._headers(auth_value),
                    )
            finally:
                if semaphore is not None:
                    semaphore.release()
            if hooks.on_response is not None:
                elapsed = time.monotonic() - sent_at
                await _call_hook(
                    hooks.on_response,
                    ResponseEvent(method, self.path, self.attempts, response.status, elapsed),
                )
            status = response.status
            if status < 400:
                if limiter._throttle is not None:
                    limiter.on_success()
                if self.record and not self.retrying and current_call_info() is not None:
                    self._record(response)
                return response
            error = api_error(
                status, method=method, path=url.path, body=response.body, headers=response.headers
            )
            if isinstance(error, RateLimitError):
                policy = self.policy
                cap = policy.retry_after_cap if policy is not None else DEFAULT_RETRY_AFTER_CAP
                limiter.on_rate_limited(error.retry_after, cap=cap, sent_at=sent_at)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s %s -> HTTP %d", method, mask_numbers(self.path), status)
            raise error
        except SinchError as exc:
            return await self._failed(exc)
