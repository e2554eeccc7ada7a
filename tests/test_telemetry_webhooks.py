"""OpenTelemetry of the webhook receivers and of the Redis limiter's fallback.

Real receivers (aiohttp on 127.0.0.1, FastAPI through httpx's ASGI transport, and
``handle_webhook`` itself) get signed callbacks; the in-memory SDK providers of
``tests._otel`` keep the ``sinch webhook`` SERVER spans and the
``sinch_async.webhook.events`` counter. The limiter's ``sinch_async.rate_limit.fallback``
up-down counter is read while a real Redis server is stopped and started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from sinch_async.errors import SinchValidationError
from sinch_async.redis import RedisRateLimiter
from sinch_async.webhooks import (
    SIGNATURE_HEADER,
    Deduplicator,
    NonceCache,
    WebhookEvent,
    WebhookRetryLater,
    handle_webhook,
    sign_headers,
    sinch_webhook_handler,
)
from sinch_async.webhooks.fastapi import sinch_webhook_router
from tests import _otel
from tests._otel import Otel
from tests._redis import RedisServer
from tests.conftest import fixture_dir, serve

if TYPE_CHECKING:
    from redis.asyncio import Redis

otel = _otel.otel  # the fixture (an assignment: the tests' ``otel`` parameters shadow it)

SECRET = "otel-webhook-secret-s3cr3t"
SPAN = "sinch webhook"
EVENTS = "sinch_async.webhook.events"
FALLBACK = "sinch_async.rate_limit.fallback"
PATH = "/sinch/callbacks"

REPORT = (fixture_dir() / "deliveryreports/RecipientDeliveryReportSMSDto.json").read_bytes()
REPORT_TYPE = json.loads(REPORT)["type"]  # recipient_delivery_report_sms
REPORT_NUMBER = json.loads(REPORT)["recipient"]  # +44231235674


def mo_text(id_: str = "01MOOTEL000000000000000001") -> bytes:
    return json.dumps(
        {
            "type": "mo_text",
            "id": id_,
            "from": "+46700000017",
            "to": "+46700000099",
            "body": "Hello from +46700000017",
            "received_at": "2025-01-13T09:22:40.914Z",
        }
    ).encode()


class Handler:
    """``on_event``: records the events; ``fail`` is raised by the next call if set; the
    spans current while it runs are kept in ``current``."""

    def __init__(self, tracer_provider: Any = None) -> None:
        self.events: list[WebhookEvent] = []
        self.current: list[trace.Span] = []
        self.fail: BaseException | None = None
        self.tracer = None if tracer_provider is None else tracer_provider.get_tracer("app")

    async def __call__(self, event: WebhookEvent) -> None:
        self.current.append(trace.get_current_span())
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        if self.tracer is not None:
            with self.tracer.start_as_current_span("app handles callback"):
                await asyncio.sleep(0)
        self.events.append(event)


Post = Callable[..., Awaitable[int]]


@contextlib.asynccontextmanager
async def aiohttp_receiver(
    secret: str | None, on_event: Callable[[WebhookEvent], Awaitable[Any]], **kwargs: Any
) -> AsyncIterator[Post]:
    """An aiohttp receiver on 127.0.0.1 and ``await post(body, headers) -> status``."""
    handler = sinch_webhook_handler(secret, on_event, **kwargs)
    async with serve([web.post(PATH, handler)]) as url, aiohttp.ClientSession() as session:

        async def post(body: Any, headers: Mapping[str, str] | None = None) -> int:
            async with session.post(url + PATH, data=body, headers=dict(headers or {})) as resp:
                await resp.read()
                return resp.status

        yield post


def in_fallback(limiter: RedisRateLimiter) -> bool:
    """``limiter.in_fallback`` (a call: mypy would narrow the property between awaits)."""
    return limiter.in_fallback


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def events_count(otel: Otel, kind: str, outcome: str) -> float:
    return otel.metric_total(EVENTS, {"sinch.webhook.type": kind, "sinch.webhook.outcome": outcome})


# --- the aiohttp receiver ---------------------------------------------------------------------


async def test_accepted_callback_is_a_server_span_parent_of_the_handlers_spans(
    otel: Otel,
) -> None:
    handler = Handler(otel.tracer_provider)
    async with aiohttp_receiver(SECRET, handler, **otel.options()) as post:
        assert await post(REPORT, sign_headers(REPORT, SECRET)) == 200
    assert len(handler.events) == 1
    span = otel.span(SPAN)
    assert span.kind is SpanKind.SERVER
    assert span.parent is None  # nothing was current in the server
    assert attrs(span) == {
        "sinch.webhook.type": REPORT_TYPE,
        "sinch.webhook.outcome": "accepted",
        "sinch.webhook.verification": "verified",
        "http.request.method": "POST",
        "http.response.status_code": 200,
    }
    assert span.status.status_code is StatusCode.UNSET
    # The webhook span is current while on_event runs: the app's span is its child.
    assert handler.current[0].get_span_context().span_id == span.context.span_id
    inner = otel.span("app handles callback")
    assert inner.parent is not None
    assert inner.parent.span_id == span.context.span_id
    assert inner.context.trace_id == span.context.trace_id
    assert events_count(otel, REPORT_TYPE, "accepted") == 1
    assert otel.metric_total(EVENTS) == 1


@pytest.mark.parametrize(
    ("make_headers", "reason"),
    [
        (lambda body: sign_headers(body, "not-the-secret"), "bad_signature"),
        (
            lambda body: sign_headers(body, SECRET, timestamp=int(time.time()) - 3600),
            "stale_timestamp",
        ),
        (lambda body: {}, "missing_header"),
    ],
    ids=["bad_signature", "stale_timestamp", "missing_header"],
)
async def test_refused_signature_is_rejected_signature_with_its_reason(
    otel: Otel, make_headers: Callable[[bytes], dict[str, str]], reason: str
) -> None:
    handler = Handler()
    async with aiohttp_receiver(SECRET, handler, **otel.options()) as post:
        assert await post(REPORT, make_headers(REPORT)) == 401
    assert handler.current == []  # on_event never ran
    span = otel.span(SPAN)
    assert attrs(span)["sinch.webhook.outcome"] == "rejected_signature"
    assert attrs(span)["sinch.webhook.verification"] == reason
    assert attrs(span)["http.response.status_code"] == 401
    assert attrs(span)["sinch.webhook.type"] == "unknown"  # refused before parsing
    assert span.status.status_code is StatusCode.UNSET  # a 4xx is the caller's fault
    assert events_count(otel, "unknown", "rejected_signature") == 1
    assert otel.metric_total(EVENTS) == 1


async def test_replayed_request_is_outcome_replay(otel: Otel) -> None:
    handler = Handler()
    headers = sign_headers(REPORT, SECRET)
    async with aiohttp_receiver(
        SECRET, handler, replay_guard=NonceCache(), **otel.options()
    ) as post:
        assert await post(REPORT, headers) == 200
        assert await post(REPORT, headers) == 401
    assert len(handler.events) == 1
    first, second = otel.spans(SPAN)
    assert attrs(first)["sinch.webhook.outcome"] == "accepted"
    assert attrs(second)["sinch.webhook.outcome"] == "replay"
    assert attrs(second)["sinch.webhook.verification"] == "replayed_nonce"
    assert attrs(second)["http.response.status_code"] == 401
    assert events_count(otel, REPORT_TYPE, "accepted") == 1
    assert events_count(otel, "unknown", "replay") == 1
    assert otel.metric_total(EVENTS, {"sinch.webhook.outcome": "rejected_signature"}) == 0


async def test_redelivered_callback_skipped_by_deduplicator_is_outcome_duplicate(
    otel: Otel,
) -> None:
    handler = Handler()
    async with aiohttp_receiver(
        SECRET, Deduplicator().wrap(handler), replay_guard=NonceCache(), **otel.options()
    ) as post:
        # Two deliveries of one report, each signed with its own nonce: not a replay.
        assert await post(REPORT, sign_headers(REPORT, SECRET)) == 200
        assert await post(REPORT, sign_headers(REPORT, SECRET)) == 200
        other = mo_text()
        assert await post(other, sign_headers(other, SECRET)) == 200
    assert [e.type for e in handler.events] == [REPORT_TYPE, "mo_text"]  # ran once per event
    outcomes = [
        (attrs(s)["sinch.webhook.type"], attrs(s)["sinch.webhook.outcome"])
        for s in otel.spans(SPAN)
    ]
    assert outcomes == [
        (REPORT_TYPE, "accepted"),
        (REPORT_TYPE, "duplicate"),
        ("mo_text", "accepted"),
    ]
    assert all(attrs(s)["sinch.webhook.verification"] == "verified" for s in otel.spans(SPAN))
    assert events_count(otel, REPORT_TYPE, "accepted") == 1
    assert events_count(otel, REPORT_TYPE, "duplicate") == 1
    assert events_count(otel, "mo_text", "accepted") == 1
    assert events_count(otel, "mo_text", "duplicate") == 0


async def test_concurrent_duplicates_each_get_their_own_outcome(otel: Otel) -> None:
    """The duplicate noted by one delivery does not leak into the other's span."""
    release = asyncio.Event()
    entered = asyncio.Event()
    ran: list[WebhookEvent] = []

    async def slow(event: WebhookEvent) -> None:
        ran.append(event)
        entered.set()
        await release.wait()

    on_event = Deduplicator().wrap(slow)

    async def deliver() -> int:
        result = await handle_webhook(
            REPORT, sign_headers(REPORT, SECRET), SECRET, on_event, **otel.options()
        )
        return result.status

    first = asyncio.create_task(deliver())
    await asyncio.wait_for(entered.wait(), 10)
    second = asyncio.create_task(deliver())  # waits for the first one's lock
    await asyncio.sleep(0.05)
    release.set()
    assert list(await asyncio.wait_for(asyncio.gather(first, second), 10)) == [200, 200]
    assert len(ran) == 1
    outcomes = sorted(attrs(s)["sinch.webhook.outcome"] for s in otel.spans(SPAN))
    assert outcomes == ["accepted", "duplicate"]
    assert events_count(otel, REPORT_TYPE, "accepted") == 1
    assert events_count(otel, REPORT_TYPE, "duplicate") == 1


async def test_malformed_signed_body_is_outcome_invalid(otel: Otel) -> None:
    handler = Handler()
    body = b'{"type": "mo_text", "id": 12'  # cut short
    async with aiohttp_receiver(SECRET, handler, **otel.options()) as post:
        assert await post(body, sign_headers(body, SECRET)) == 400
    assert handler.current == []
    span = otel.span(SPAN)
    assert attrs(span)["sinch.webhook.outcome"] == "invalid"
    assert attrs(span)["sinch.webhook.verification"] == "verified"  # checked before parsing
    assert attrs(span)["sinch.webhook.type"] == "unknown"
    assert attrs(span)["http.response.status_code"] == 400
    assert span.status.status_code is StatusCode.UNSET
    assert events_count(otel, "unknown", "invalid") == 1


async def test_body_over_the_cap_is_outcome_too_large_declared_or_streamed(otel: Otel) -> None:
    handler = Handler()
    body = b'{"type":"mo_text","padding":"' + b"x" * 400 + b'"}'

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for start in range(0, len(body), 50):
            yield body[start : start + 50]

    async with aiohttp_receiver(SECRET, handler, max_body_size=200, **otel.options()) as post:
        assert await post(body, sign_headers(body, SECRET)) == 413
        assert await post(chunks(), sign_headers(body, SECRET)) == 413
    assert handler.current == []
    spans = otel.spans(SPAN)
    assert len(spans) == 2
    for span in spans:
        assert attrs(span)["sinch.webhook.outcome"] == "too_large"
        assert attrs(span)["sinch.webhook.verification"] == "not_checked"  # never read
        assert attrs(span)["http.response.status_code"] == 413
        assert attrs(span)["sinch.webhook.type"] == "unknown"
    assert events_count(otel, "unknown", "too_large") == 2


async def test_failing_handler_is_outcome_handler_failed_with_error_status(otel: Otel) -> None:
    handler = Handler()
    handler.fail = RuntimeError("database down")
    async with aiohttp_receiver(SECRET, handler, **otel.options()) as post:
        assert await post(REPORT, sign_headers(REPORT, SECRET)) == 500
        assert await post(REPORT, sign_headers(REPORT, SECRET)) == 200  # Sinch's retry
    failed, retried = otel.spans(SPAN)
    assert attrs(failed)["sinch.webhook.outcome"] == "handler_failed"
    assert attrs(failed)["sinch.webhook.type"] == REPORT_TYPE  # parsed before on_event
    assert attrs(failed)["http.response.status_code"] == 500
    assert attrs(failed)["error.type"] == "RuntimeError"
    assert failed.status.status_code is StatusCode.ERROR
    assert attrs(retried)["sinch.webhook.outcome"] == "accepted"
    assert "error.type" not in attrs(retried)
    assert retried.status.status_code is StatusCode.UNSET
    assert events_count(otel, REPORT_TYPE, "handler_failed") == 1
    assert events_count(otel, REPORT_TYPE, "accepted") == 1


async def test_retry_later_is_outcome_retry_later_with_error_status(otel: Otel) -> None:
    handler = Handler()
    handler.fail = WebhookRetryLater("the store is busy")
    async with aiohttp_receiver(SECRET, handler, **otel.options()) as post:
        assert await post(REPORT, sign_headers(REPORT, SECRET)) == 503
    span = otel.span(SPAN)
    assert attrs(span)["sinch.webhook.outcome"] == "retry_later"
    assert attrs(span)["http.response.status_code"] == 503
    assert span.status.status_code is StatusCode.ERROR
    assert events_count(otel, REPORT_TYPE, "retry_later") == 1


async def test_without_secret_verification_is_not_checked(otel: Otel) -> None:
    handler = Handler()
    unknown = json.dumps({"type": "conversation_event", "whatever": {"a": 1}}).encode()
    async with aiohttp_receiver(None, handler, **otel.options()) as post:
        assert await post(REPORT) == 200
        assert await post(unknown) == 200  # a type this version does not know
    assert len(handler.events) == 2
    report, other = otel.spans(SPAN)
    assert attrs(report)["sinch.webhook.verification"] == "not_checked"
    assert attrs(report)["sinch.webhook.outcome"] == "accepted"
    assert attrs(report)["sinch.webhook.type"] == REPORT_TYPE
    assert attrs(other)["sinch.webhook.verification"] == "not_checked"
    assert attrs(other)["sinch.webhook.type"] == "unknown"  # not a label of its own
    assert events_count(otel, REPORT_TYPE, "accepted") == 1
    assert events_count(otel, "unknown", "accepted") == 1


# --- FastAPI and handle_webhook ---------------------------------------------------------------


async def test_fastapi_router_records_span_and_metric(otel: Otel) -> None:
    handler = Handler(otel.tracer_provider)
    app = FastAPI()
    app.include_router(sinch_webhook_router(PATH, SECRET, handler, **otel.options()))
    body = mo_text()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.post(PATH, content=body, headers=sign_headers(body, SECRET))
        refused = await client.post(PATH, content=body, headers=sign_headers(body, "wrong"))
    assert (response.status_code, refused.status_code) == (200, 401)
    assert [e.type for e in handler.events] == ["mo_text"]
    accepted, rejected = otel.spans(SPAN)
    assert accepted.kind is SpanKind.SERVER
    assert attrs(accepted) == {
        "sinch.webhook.type": "mo_text",
        "sinch.webhook.outcome": "accepted",
        "sinch.webhook.verification": "verified",
        "http.request.method": "POST",
        "http.response.status_code": 200,
    }
    assert otel.span("app handles callback").parent.span_id == accepted.context.span_id  # type: ignore[union-attr]
    assert attrs(rejected)["sinch.webhook.verification"] == "bad_signature"
    assert events_count(otel, "mo_text", "accepted") == 1
    assert events_count(otel, "unknown", "rejected_signature") == 1


async def test_handle_webhook_records_a_span_and_restores_the_context(otel: Otel) -> None:
    handler = Handler()
    before = trace.get_current_span()
    result = await handle_webhook(
        REPORT, sign_headers(REPORT, SECRET), SECRET, handler, **otel.options()
    )
    assert result.status == 200
    assert trace.get_current_span() is before  # the webhook span is no longer current
    span = otel.span(SPAN)
    assert span.kind is SpanKind.SERVER
    assert attrs(span)["sinch.webhook.outcome"] == "accepted"
    assert attrs(span)["sinch.webhook.verification"] == "verified"
    assert handler.current[0].get_span_context().span_id == span.context.span_id
    assert events_count(otel, REPORT_TYPE, "accepted") == 1


async def test_handle_webhook_cancelled_still_ends_its_span(otel: Otel) -> None:
    started = asyncio.Event()

    async def stuck(event: WebhookEvent) -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(
        handle_webhook(REPORT, sign_headers(REPORT, SECRET), SECRET, stuck, **otel.options())
    )
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = otel.span(SPAN)  # ended, not left open
    assert span.end_time is not None
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "CancelledError"
    assert otel.metric_total(EVENTS) == 1


async def test_handle_webhook_with_telemetry_off_records_nothing(otel: Otel) -> None:
    handler = Handler()
    result = await handle_webhook(
        REPORT, sign_headers(REPORT, SECRET), SECRET, handler, telemetry=False
    )
    assert result.status == 200
    assert len(handler.events) == 1
    assert not handler.current[0].get_span_context().is_valid  # no span was current
    assert otel.spans() == []
    assert otel.metric_points(EVENTS) == []
    # Providers with telemetry off would record nothing: refused when the receiver is made.
    with pytest.raises(SinchValidationError, match="tracer_provider"):
        sinch_webhook_handler(SECRET, handler, telemetry=False, **otel.options())
    with pytest.raises(SinchValidationError, match="meter_provider"):
        sinch_webhook_router(
            PATH, SECRET, handler, telemetry=False, meter_provider=otel.meter_provider
        )


# --- nothing secret in the telemetry ----------------------------------------------------------


async def test_no_secret_nonce_signature_or_phone_number_in_any_attribute(otel: Otel) -> None:
    handler = Handler()
    guard = NonceCache()
    inbound = mo_text()
    sent: list[dict[str, str]] = []

    def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
        headers = sign_headers(body, secret)
        sent.append(headers)
        return headers

    async with aiohttp_receiver(SECRET, handler, replay_guard=guard, **otel.options()) as post:
        assert await post(REPORT, signed(REPORT)) == 200
        replayed = sent[-1]
        assert await post(REPORT, replayed) == 401
        assert await post(inbound, signed(inbound)) == 200
        assert await post(inbound, signed(inbound, "wrong-secret")) == 401
        handler.fail = RuntimeError(f"failed for {REPORT_NUMBER} with {SECRET}")
        assert await post(REPORT, signed(REPORT)) == 500
    assert len(otel.spans(SPAN)) == 5
    values = otel.all_attribute_values()
    assert values  # the scan saw something
    forbidden = {SECRET, "wrong-secret", REPORT_NUMBER, REPORT_NUMBER.lstrip("+")}
    forbidden |= {"+46700000017", "46700000017", "+46700000099", "46700000099"}
    for headers in sent:
        forbidden.add(headers[SIGNATURE_HEADER])
        forbidden.add(headers["x-sinch-webhook-signature-nonce"])
    for value in values:
        for secret in forbidden:
            assert secret not in value, (secret, value)


# --- the Redis limiter's fallback -------------------------------------------------------------


async def test_redis_limiter_fallback_counter_follows_the_outage(
    otel: Otel, redis_server: RedisServer
) -> None:
    key = "sinch:ratelimit:plan-otel"
    where = {"sinch.rate_limit.key": key}
    limiter = RedisRateLimiter(
        redis_server.url,
        "plan-otel",
        requests_per_second=1000,
        retry_interval=0.2,
        meter_provider=otel.meter_provider,
    )
    try:
        await limiter.acquire()
        limiter.release()
        assert not in_fallback(limiter)
        assert otel.metric_total(FALLBACK, where) == 0

        await asyncio.to_thread(redis_server.stop)
        await limiter.acquire()  # Redis is gone: limited locally
        limiter.release()
        assert in_fallback(limiter)
        assert otel.metric_total(FALLBACK, where) == 1
        await limiter.acquire()  # still the same outage: counted once
        limiter.release()
        assert otel.metric_total(FALLBACK, where) == 1
        assert [attributes for attributes, _ in otel.metric_points(FALLBACK)] == [where]

        await asyncio.to_thread(redis_server.start)  # same port
        for _ in range(200):  # the probe pings every 0.2 s: back within ~10 s at most
            if not in_fallback(limiter):
                break
            await asyncio.sleep(0.05)
        assert not in_fallback(limiter)
        assert otel.metric_total(FALLBACK, where) == 0
        await limiter.acquire()  # back on Redis
        limiter.release()
        assert otel.metric_total(FALLBACK, where) == 0

        await asyncio.to_thread(redis_server.stop)  # a second outage counts again
        await limiter.acquire()
        limiter.release()
        assert otel.metric_total(FALLBACK, where) == 1
    finally:
        await limiter.aclose()


async def test_redis_limiter_refuses_a_meter_provider_with_telemetry_off(
    otel: Otel, redis_client: Redis
) -> None:
    with pytest.raises(SinchValidationError, match="meter_provider"):
        RedisRateLimiter(
            redis_client, "plan-off", requests_per_second=10, telemetry=False,
            meter_provider=otel.meter_provider,
        )  # fmt: skip
