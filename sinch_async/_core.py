"""One API call is one loop of attempts.

::

    Call.run():  while True:
        limiter.acquire(messages)       rate limits, concurrency slot, 429 cool-down
        auth                            static token, or the OAuth2 token (renewed once if expired)
        on_request hook
        transport.send(...)             one HTTP exchange; wire errors arrive as library errors
        limiter.release(); on_response hook
        classify:  2xx                  -> done (call_info recorded); 3xx is an error
                   error                -> ambiguous unsafe send? reconcile by reference:
                                             applied -> done; not applied -> retry is safe
                                        -> tenacity (RetrySchedule): wait and go round, or raise

The policies are plain values: the :class:`~sinch_async._ratelimit.Limiter`, the
:class:`~sinch_async._retry.RetryPolicy` (whose tenacity strategies decide each retry),
the auth provider and the hooks. ``CancelledError`` is never caught, so a cancelled
call is never retried; the limiter's slot is released on every path.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from yarl import URL

from sinch_async._auth import Auth
from sinch_async._hooks import RequestEvent, ResponseEvent, RetryEvent, current_call_info
from sinch_async._ratelimit import Limiter
from sinch_async._redact import mask_numbers
from sinch_async._retry import (
    DEFAULT_RETRY_AFTER_CAP,
    Idempotency,
    NotApplied,
    RetryPolicy,
    RetrySchedule,
    describe_failure,
    got_no_answer,
    is_ambiguous,
    logger,
)
from sinch_async._transport import JSON, RawResponse, SendTransport
from sinch_async.errors import (
    AmbiguousSendError,
    ClientClosedError,
    RateLimitError,
    SinchConnectionError,
    SinchError,
    api_error,
)

if TYPE_CHECKING:
    from sinch_async._telemetry import CallTrace, Telemetry

__all__ = ["Call", "HookFn", "Hooks", "Operation", "Reconcile", "RequestCore"]

Reconcile = Callable[[], Awaitable[RawResponse | None]]
"""Looks up whether an ambiguous send was applied; returns the created item or None."""

HookFn = Callable[[Any], Any]

_FIRST_POLL = 0.5
"""Seconds between the first lookups of a send that got no answer; doubling, at most:"""
_MAX_POLL = 5.0


class Operation:
    """What an API call is, for telemetry: its name (``batches.send``, the call span is
    ``sinch batches.send``), its API-relative URL template (``/batches/{batch_id}``),
    whether it sends messages, and the response field holding the ID it creates."""

    __slots__ = ("attributes", "id_field", "name", "sends", "template")

    def __init__(
        self, name: str, template: str, *, sends: bool = False, id_field: str | None = None
    ) -> None:
        self.name = name
        self.template = template
        self.sends = sends
        self.id_field = id_field
        self.attributes: Mapping[str, str] = {"sinch.operation": name}
        """The metric attributes naming it (made once)."""

    def __repr__(self) -> str:
        return f"Operation({self.name!r}, {self.template!r})"


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


class RequestCore:
    """What every call of a client (and of its ``with_options`` views) shares.

    The transport, the auth provider, the limiter and the URL prefix of the API.
    """

    def __init__(
        self,
        *,
        transport: SendTransport,
        auth: Auth,
        prefix: str,
        oauth: bool,
        limiter: Limiter,
        user_agent: str,
        session_auth: str | None = None,
        telemetry: Telemetry | None = None,
        account_placeholder: str = "{project_id}",
    ) -> None:
        self.transport = transport
        self.auth = auth
        self.prefix = prefix
        self.oauth = oauth
        self.limiter = limiter
        self.user_agent = user_agent
        self.session_auth = session_auth
        """The Authorization value the client's own session sends by default, if any."""
        self.url: Callable[[str], URL] = functools.lru_cache(maxsize=1024)(self._build_url)
        """``url(path)``: the full URL of an API path (cached: most paths recur)."""
        self._headers: tuple[str, dict[str, str]] | None = None
        self.telemetry = telemetry
        """Traces and metrics (``None``: off, or the OpenTelemetry API is not installed)."""
        base = URL(prefix)
        self.host = base.host or ""
        self.port = base.port or 0
        head, _, _ = base.path.rstrip("/").rpartition("/")
        self._template_prefix = f"{head}/{account_placeholder}"
        self._templates: dict[Operation, str] = {}

    def url_template(self, operation: Operation) -> str:
        """The URL template of an operation (``/xms/v1/{service_plan_id}/batches``)."""
        template = self._templates.get(operation)
        if template is None:
            template = self._templates[operation] = self._template_prefix + operation.template
        return template

    def _build_url(self, path: str) -> URL:
        return URL(self.prefix + path, encoded=True)

    async def authorization(self) -> str:
        """The ``Authorization`` value for the next attempt."""
        return self.session_auth or await self.auth.authorization(self.transport)

    def scrub(self, response: RawResponse) -> RawResponse:
        """``response`` with the client's own secrets replaced by ``***`` wherever a server
        echoed them, in any writing: in the body of an error answer (whose text goes into
        the exception) and in the headers (which go into errors and ``call_info``). A
        successful body is left as it is (it is the caller's data), but carries the secrets
        for :func:`~sinch_async._base.decode_error`."""
        secrets = self.auth.secrets()
        if not secrets:
            return response
        headers = secrets.scrub_headers(response.headers)
        if response.status < 300:
            if headers is not response.headers:
                response = RawResponse(response.status, headers, response.body)
            response.secrets = secrets
            return response
        body = secrets.scrub_body(response.body, thorough=True)
        return RawResponse(response.status, headers, body, secrets)

    def headers(self, authorization: str) -> Mapping[str, str]:
        """Per-request headers, for a client whose session does not send them itself."""
        cached = self._headers
        if cached is None or cached[0] is not authorization:
            headers = {
                "Authorization": authorization,
                "Accept": JSON,
                "User-Agent": self.user_agent,
            }
            cached = self._headers = (authorization, headers)
        return cached[1]


class Call(msgspec.Struct):
    """One API call: its description and its bookkeeping across attempts.

    ``await Call(...).run()`` makes the call. A msgspec struct, since one is built
    per call and msgspec builds it in C.
    """

    core: RequestCore
    operation: Operation
    method: str
    path: str
    """The API-relative path (``/batches``), as errors, hooks and logs show it."""
    url: URL
    params: Sequence[tuple[str, str]] | None
    body: bytes | None
    policy: RetryPolicy | None
    hooks: Hooks
    idempotency: Idempotency
    messages: int
    """Recipients this call sends to, for the limiter's messages/s (0: not a send)."""
    request_obj: object
    reconcile: Reconcile | None
    record: bool
    """Report the outcome to :func:`call_info` (the client's own lookups do not)."""
    started: float
    """``time.monotonic()`` when the call began (the retry deadline counts from it)."""
    reference: str | None = None
    """The send's ``client_reference`` (or correlation ID), for telemetry."""
    batch_id: str | None = None
    """The batch the call is about, when its path names one (for telemetry)."""
    attempts: int = 0
    sent: int = 0
    """HTTP requests made (an expired OAuth token makes one attempt send twice)."""
    reconciled: bool = False
    trace: CallTrace | None = None
    """The call's spans and measurements while it runs (telemetry on)."""

    def __repr__(self) -> str:
        # Never the body or the request: they hold phone numbers and message texts.
        return f"Call({self.method} {mask_numbers(self.path)}, attempt {self.attempts})"

    async def run(self) -> RawResponse:
        """The whole call: attempts until one succeeds, a send is found applied, or it fails."""
        telemetry = self.core.telemetry
        if telemetry is None or telemetry.idle():
            return await self._attempts()
        trace = self.trace = telemetry.call(self)
        if trace is None:  # the tracer failed (logged): the call goes on untraced
            return await self._attempts()
        try:
            response = await self._attempts()
        except BaseException as exc:
            trace.end(None, exc)
            raise
        trace.end(response, None)
        return response

    async def _attempts(self) -> RawResponse:
        core, hooks, method, path = self.core, self.hooks, self.method, self.path
        limiter, transport, trace = core.limiter, core.transport, self.trace
        schedule: RetrySchedule | None = None  # tenacity's verdicts, from the first failure on
        # A send reports its state to an active call_info() block (see CallInfo.in_doubt).
        info = current_call_info() if self.idempotency is Idempotency.UNSAFE else None
        while True:
            self.attempts += 1
            try:
                if transport.closed:
                    raise ClientClosedError("the client is closed; create a new client")
                if trace is None:
                    await limiter.acquire(self.messages)
                else:
                    waiting = time.monotonic()
                    await limiter.acquire(self.messages)
                    trace.waited(time.monotonic() - waiting)
                try:
                    authorization = core.session_auth or await core.authorization()
                    headers = (
                        None
                        if authorization is core.session_auth  # the session sends them all
                        else core.headers(authorization)
                    )
                    if hooks.on_request is not None:
                        await _call_hook(
                            hooks.on_request, RequestEvent(method, path, self.attempts)
                        )
                    sent_at = time.monotonic()
                    if info is not None:
                        info.sending += 1
                    try:
                        response = await self._exchange(headers)
                        if response.status == 401 and core.oauth:
                            response = await self._after_401(response, authorization)
                        response = core.scrub(response)
                    finally:
                        if info is not None:
                            info.sending -= 1
                finally:
                    limiter.release()
                if hooks.on_response is not None:
                    elapsed = time.monotonic() - sent_at
                    done = ResponseEvent(method, path, self.attempts, response.status, elapsed)
                    await _call_hook(hooks.on_response, done)
                if response.status < 300:
                    limiter.on_success()
                    if self.record and current_call_info() is not None:
                        self._record(response)
                    return response
                raise self._api_error(response, sent_at)
            except SinchError as exc:
                if isinstance(exc, SinchConnectionError):
                    exc.path = self._api_path()  # the transport knows the URL, not the API path
                failure: SinchError = exc
            if isinstance(failure, ClientClosedError):
                if info is not None and failure.in_flight:
                    info.ambiguous += 1
                    info.in_doubt = True
                raise self._final(self._closed(failure))
            if info is not None and is_ambiguous(failure):
                info.ambiguous += 1
                info.in_doubt = True  # until a lookup resolves it
            if trace is not None and self.idempotency is Idempotency.UNSAFE:
                trace.in_doubt = is_ambiguous(failure)
            if self._ambiguous(failure):
                found = await self._reconcile(failure)
                if info is not None:
                    info.in_doubt = False  # found applied, or not applied: resolved
                if trace is not None:
                    trace.in_doubt = False
                    trace.reconciliation(found is not None, failure)
                if found is not None:
                    if self.record and current_call_info() is not None:
                        self._record(found)
                    return found
                failure = NotApplied(failure)
            if self.policy is None:
                raise self._final(failure)
            if schedule is None:
                schedule = RetrySchedule(self.policy, self.idempotency, self.started)
            delay = schedule.next_delay(failure)
            if delay is None:
                raise self._final(failure)
            await self._before_retry(delay, failure)
            await asyncio.sleep(delay)

    async def _exchange(self, headers: Mapping[str, str] | None) -> RawResponse:
        """One HTTP request of the call (traced when telemetry is on)."""
        self.sent += 1
        trace, send = self.trace, self.core.transport.send
        if trace is None:
            telemetry = self.core.telemetry
            if telemetry is not None and telemetry.propagate_context:  # untraced, yet asked to
                headers = telemetry.inject(headers)  # pass the caller's trace context on
            return await send(self.method, self.url, self.params, self.body, headers)
        headers = trace.request_started(headers)
        try:
            response = await send(self.method, self.url, self.params, self.body, headers)
        except Exception as exc:
            trace.request_ended(None, exc)
            raise
        trace.request_ended(response.status)
        return response

    async def _after_401(self, response: RawResponse, authorization: str) -> RawResponse:
        """Send once more with a fresh token if the 401 says the OAuth2 token expired."""
        core = self.core
        if "expired" not in response.headers.get("WWW-Authenticate", "").lower():
            return response
        if not await core.auth.refresh_after_expiry(core.transport, authorization):
            return response
        authorization = await core.authorization()
        headers = None if authorization is core.session_auth else core.headers(authorization)
        return await self._exchange(headers)

    def _api_error(self, response: RawResponse, sent_at: float) -> SinchError:
        """The typed error for an error status; a 429 also feeds the limiter."""
        error = api_error(
            response.status,
            method=self.method,
            path=self._api_path(),
            body=response.body,
            headers=response.headers,
        )
        if isinstance(error, RateLimitError):
            cap = DEFAULT_RETRY_AFTER_CAP if self.policy is None else self.policy.retry_after_cap
            self.core.limiter.on_rate_limited(error.retry_after, cap=cap, sent_at=sent_at)
            if self.trace is not None:
                self.trace.rate_limited(error.retry_after)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> HTTP %d", self.method, mask_numbers(self.path), response.status)
        return error

    def _api_path(self) -> str:
        """The API-relative path, decoded (``/batches/+4670...``), as errors name it."""
        return URL(self.path, encoded=True).path

    def _record(self, response: RawResponse) -> None:
        """The call succeeded: its outcome for the active :func:`call_info` block."""
        info = current_call_info()
        assert info is not None
        info.status = response.status
        info.headers = response.headers
        info.attempts = self.sent
        info.reconciled = self.reconciled
        info.calls += 1

    def _final(self, failure: SinchError) -> SinchError:
        """The error the call raises: the real failure, with the attempts made."""
        error = failure.cause if isinstance(failure, NotApplied) else failure
        error.attempts = self.sent
        return error

    def _closed(self, failure: ClientClosedError) -> SinchError:
        """Closed during the exchange: a send may have reached the server, so it is ambiguous."""
        if not (failure.in_flight and self.idempotency is Idempotency.UNSAFE):
            return failure
        method, path = self.method, self._api_path()
        error = AmbiguousSendError(
            f"{method} {path} was in flight when the client was closed; it may or may not "
            "have been applied",
            method=method,
            path=path,
            request=self.request_obj,
            cause=failure,
        )
        error.__cause__ = failure
        return error

    def _ambiguous(self, failure: SinchError) -> bool:
        """A send that may have been applied, and that the policy does not retry blindly."""
        policy = self.policy
        return (
            policy is not None
            and self.idempotency is Idempotency.UNSAFE
            and is_ambiguous(failure)
            and not policy.is_retryable(failure, self.idempotency)
        )

    async def _reconcile(self, failure: SinchError) -> RawResponse | None:
        """Look the ambiguous send up: the created item if it was applied, else ``None``.

        Raises :class:`AmbiguousSendError` when it cannot be looked up (no reference,
        or the lookup failed too).
        """
        method, path = self.method, self._api_path()
        if self.reconcile is None:
            raise self._final(
                AmbiguousSendError(
                    f"{method} {path} failed ambiguously ({failure}); it may or may not have "
                    "been applied and was not retried because it carries no client_reference "
                    "to check it by",
                    method=method,
                    path=path,
                    request=self.request_obj,
                    cause=failure,
                )
            ) from failure
        policy = self.policy
        assert policy is not None
        settling = got_no_answer(failure)  # the server may still be working on it
        delay = policy.reconcile_delay if settling else 0.0
        settled_at = time.monotonic() + delay + (policy.settle_window if settling else 0.0)
        while True:
            if delay > 0:
                await asyncio.sleep(delay)
            found = await self._look_up(failure)
            if found is not None:
                self.reconciled = True
                logger.warning(
                    "reconciled %s %s after %s: it was applied; not sending again",
                    method,
                    mask_numbers(self.path),
                    describe_failure(failure),
                )
                return found
            remaining = settled_at - time.monotonic()
            if remaining <= 0:
                return None
            if not self.reconciled and delay <= policy.reconcile_delay:
                logger.info(
                    "%s %s not found after %s; looking it up again for up to %.0f s",
                    method,
                    mask_numbers(self.path),
                    describe_failure(failure),
                    remaining,
                )
            delay = min(max(2 * delay, _FIRST_POLL), _MAX_POLL, remaining)

    async def _look_up(self, failure: SinchError) -> RawResponse | None:
        """One lookup by reference; a failed lookup is an :class:`AmbiguousSendError`."""
        assert self.reconcile is not None
        try:
            return await self.reconcile()
        except SinchError as lookup_error:
            method, path = self.method, self._api_path()
            raise self._final(
                AmbiguousSendError(
                    f"{method} {path} failed ambiguously ({failure}) and the lookup by "
                    f"client_reference failed too ({lookup_error}); it may or may not have "
                    "been applied",
                    method=method,
                    path=path,
                    request=self.request_obj,
                    cause=failure,
                )
            ) from lookup_error

    async def _before_retry(self, delay: float, failure: SinchError) -> None:
        """Log the coming retry and call the ``on_retry`` hook."""
        error = failure.cause if isinstance(failure, NotApplied) else failure
        policy = self.policy
        assert policy is not None
        cause = describe_failure(error)
        next_attempt = self.attempts + 1
        if self.trace is not None:
            self.trace.retrying(delay, error)
        logger.warning(
            "retry %d/%d in %.1f s after %s on %s %s",
            next_attempt,
            policy.max_attempts,
            delay,
            cause,
            self.method,
            mask_numbers(self.path),
        )
        hook = self.hooks.on_retry
        if hook is not None:
            event = RetryEvent(
                self.method, self.path, next_attempt, policy.max_attempts, delay, cause, error
            )
            await _call_hook(hook, event)
