"""The attempt loop through its seams: a fake transport and a recording limiter.

Narrow unit tests: no network. The transport and limiter seams are what these
exercise; the same rules are tested end to end against the simulator elsewhere.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from yarl import URL

from sinch_async import (
    AmbiguousSendError,
    AsyncSmsClient,
    RateLimitError,
    RetryPolicy,
    ServerError,
    SinchConnectionError,
    call_info,
)
from sinch_async._auth import StaticTokenAuth
from sinch_async._core import Call, Hooks, Operation, Reconcile, RequestCore
from sinch_async._retry import Idempotency
from sinch_async._transport import RawResponse

FAST = RetryPolicy(max_attempts=4, backoff_base=0.0, backoff_max=0.0, reconcile_delay=0.0)


class FakeTransport:
    """Answers each send with the next scripted response, or raises the scripted error."""

    def __init__(self, *script: RawResponse | BaseException) -> None:
        self.script = list(script)
        self.sent: list[tuple[str, str, bytes | None, Mapping[str, str] | None]] = []
        self.closed = False

    async def send(
        self,
        method: str,
        url: str | URL,
        params: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = "application/json",
    ) -> RawResponse:
        self.sent.append((method, str(url), body, headers))
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


class RecordingLimiter:
    """A user's own limiter: records what the core calls, in order."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.held = 0

    async def acquire(self, messages: int = 0) -> None:
        self.events.append(("acquire", messages))
        self.held += 1

    def release(self) -> None:
        self.events.append("release")
        self.held -= 1

    def on_rate_limited(
        self, retry_after: float | None, *, cap: float | None = None, sent_at: float | None = None
    ) -> None:
        self.events.append(("429", retry_after, cap))

    def on_success(self) -> None:
        self.events.append("ok")


def ok(body: bytes = b'{"id": "B1"}') -> RawResponse:
    return RawResponse(200, {}, body)


def status(code: int, headers: Mapping[str, str] | None = None) -> RawResponse:
    return RawResponse(code, dict(headers or {}), b'{"code": "x", "text": "no"}')


def call(
    transport: FakeTransport,
    limiter: RecordingLimiter,
    *,
    method: str = "GET",
    path: str = "/batches/B1",
    policy: RetryPolicy | None = FAST,
    idempotency: Idempotency = Idempotency.SAFE,
    messages: int = 0,
    reconcile: Reconcile | None = None,
    hooks: Hooks | None = None,
) -> Call:
    core = RequestCore(
        transport=transport,
        auth=StaticTokenAuth("tok-SECRET"),
        prefix="http://sinch.test/xms/v1/plan",
        oauth=False,
        limiter=limiter,
        user_agent="test",
    )
    return Call(
        core,
        Operation("test.call", "/test"),
        method,
        path,
        core.url(path),
        None,
        b"{}" if method == "POST" else None,
        policy,
        hooks or Hooks(),
        idempotency,
        messages,
        None,
        reconcile,
        True,
        time.monotonic(),
    )


async def test_a_success_is_one_attempt_through_every_stage() -> None:
    transport, limiter = FakeTransport(ok()), RecordingLimiter()
    response = await call(transport, limiter, method="POST", messages=3).run()
    assert response.status == 200
    assert limiter.events == [("acquire", 3), "release", "ok"]
    [(method, url, _, headers)] = transport.sent
    assert (method, url) == ("POST", "http://sinch.test/xms/v1/plan/batches/B1")
    assert headers is not None
    assert headers["Authorization"] == "Bearer tok-SECRET"


async def test_retries_come_from_the_policy_and_every_attempt_passes_the_limiter() -> None:
    transport = FakeTransport(status(503), status(502), ok())
    limiter = RecordingLimiter()
    retries: list[Any] = []
    hooks = Hooks(on_retry=retries.append)
    with call_info() as info:
        await call(transport, limiter, hooks=hooks).run()
    assert len(transport.sent) == 3
    assert limiter.events == [("acquire", 0), "release"] * 3 + ["ok"]
    assert [(e.attempt, e.max_attempts, e.cause) for e in retries] == [(2, 4, "503"), (3, 4, "502")]
    assert (info.attempts, info.retries_taken, info.status) == (3, 2, 200)


async def test_the_policy_stops_after_max_attempts_and_the_error_counts_them() -> None:
    transport = FakeTransport(*(status(500) for _ in range(4)))
    with pytest.raises(ServerError) as caught:
        await call(transport, RecordingLimiter()).run()
    assert caught.value.attempts == 4 == len(transport.sent)
    assert caught.value.path == "/batches/B1"


async def test_no_policy_means_one_attempt() -> None:
    transport = FakeTransport(status(503), ok())
    with pytest.raises(ServerError) as caught:
        await call(transport, RecordingLimiter(), policy=None).run()
    assert caught.value.attempts == 1 == len(transport.sent)


async def test_the_deadline_stops_retries_before_a_wait_that_would_pass_it() -> None:
    policy = RetryPolicy(max_attempts=10, deadline=0.5)
    transport = FakeTransport(status(429, {"Retry-After": "5"}), ok())
    limiter = RecordingLimiter()
    started = time.monotonic()
    with pytest.raises(RateLimitError) as caught:
        await call(transport, limiter, policy=policy).run()
    assert time.monotonic() - started < 2.0
    assert caught.value.attempts == 1
    assert limiter.events == [("acquire", 0), "release", ("429", 5.0, policy.retry_after_cap)]


async def test_an_ambiguous_send_found_applied_is_not_sent_again() -> None:
    transport = FakeTransport(status(500))
    found = ok(b'{"id": "FOUND"}')
    lookups: list[str] = []

    async def reconcile() -> RawResponse | None:
        lookups.append("lookup")
        return found

    with call_info() as info:
        response = await call(
            transport,
            RecordingLimiter(),
            method="POST",
            path="/batches",
            idempotency=Idempotency.UNSAFE,
            reconcile=reconcile,
        ).run()
    assert response is found
    assert (len(transport.sent), lookups) == (1, ["lookup"])
    assert info.reconciled
    assert info.attempts == 1


async def test_an_ambiguous_send_found_not_applied_is_retried() -> None:
    transport = FakeTransport(status(500), ok())

    async def reconcile() -> RawResponse | None:
        return None

    response = await call(
        transport,
        RecordingLimiter(),
        method="POST",
        path="/batches",
        idempotency=Idempotency.UNSAFE,
        reconcile=reconcile,
    ).run()
    assert response.status == 200
    assert len(transport.sent) == 2


async def test_an_ambiguous_send_without_reference_is_raised_not_retried() -> None:
    transport = FakeTransport(status(503), ok())
    with pytest.raises(AmbiguousSendError) as caught:
        await call(
            transport,
            RecordingLimiter(),
            method="POST",
            path="/batches",
            idempotency=Idempotency.UNSAFE,
        ).run()
    assert len(transport.sent) == 1
    assert caught.value.attempts == 1
    assert isinstance(caught.value.cause, ServerError)
    assert caught.value.path == "/batches"


async def test_cancellation_is_never_retried_and_the_limiter_slot_is_released() -> None:
    class Hanging(FakeTransport):
        async def send(self, *args: Any, **kwargs: Any) -> RawResponse:
            self.sent.append(args)  # type: ignore[arg-type]
            await asyncio.sleep(3600)
            raise AssertionError("not reached")

    transport, limiter = Hanging(), RecordingLimiter()
    task = asyncio.ensure_future(call(transport, limiter).run())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(transport.sent) == 1
    assert limiter.held == 0
    assert limiter.events == [("acquire", 0), "release"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_wire_errors_name_the_api_path_and_keep_the_aiohttp_cause() -> None:
    async with AsyncSmsClient(
        service_plan_id="plan",
        api_token="tok",
        base_url=f"http://127.0.0.1:{_free_port()}",
        retry=None,
    ) as sms:
        with pytest.raises(SinchConnectionError) as caught:
            await sms.batches.get("B1")
    assert caught.value.path == "/batches/B1"
    assert caught.value.request_sent is False
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)


async def test_a_users_own_limiter_passes_as_rate_limiter() -> None:
    limiter = RecordingLimiter()
    async with AsyncSmsClient(
        service_plan_id="plan",
        api_token="tok",
        base_url=f"http://127.0.0.1:{_free_port()}",
        rate_limiter=limiter,
        retry=RetryPolicy(max_attempts=2, backoff_base=0.0),
    ) as sms:
        assert sms.rate_limiter is limiter
        with pytest.raises(SinchConnectionError):
            await sms.batches.get("B1")
    # a refused connection never left, so the GET was retried once: two attempts
    assert limiter.events == [("acquire", 0), "release"] * 2
