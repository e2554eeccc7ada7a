"""The retry layer against the simulator's real HTTP faults.

Every outcome is checked in ``sim.journal``: no batch is created twice, and no send
is lost without an error that names it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from typing import Any

import pytest

from sinch_async import (
    AmbiguousSendError,
    AsyncSmsClient,
    RateLimitError,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    RetryPolicy,
    ServerError,
    SinchConnectionError,
    SinchTimeoutError,
    TextRequest,
    call_info,
)
from sinch_async.testing import JournalEntry, SinchSimulator
from tests.conftest import FAST, NUM, calls, free_port, make_batch, posts

TOKEN = "tok-SECRET-5f2a9c71"
NUM2 = "+46700000002"

pytestmark = pytest.mark.sinch_simulator(time_scale=1, seed=3, api_token=TOKEN)


def lookups(sim: SinchSimulator) -> list[JournalEntry]:
    return calls(sim, "GET", "/batches")


def created(sim: SinchSimulator, ref: str | None = None) -> list[dict[str, Any]]:
    batches = sim.journal.batches_created()
    if ref is None:
        return batches
    return [b for b in batches if b.get("client_reference") == ref]


def gap(a: JournalEntry, b: JournalEntry) -> float:
    return (b.time - a.time).total_seconds()


# --- 429 ----------------------------------------------------------------------------


async def test_429_retry_after_is_honoured(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=429, retry_after="0.2")
    async with sim.client(retry=FAST) as sms:
        started = time.monotonic()
        with call_info() as info:
            batch = await sms.batches.get(batch_id)
        elapsed = time.monotonic() - started
    assert batch.id == batch_id
    assert elapsed >= 0.18
    assert elapsed < 1.5
    assert info.retries_taken == 1
    gets = calls(sim, "GET", f"/batches/{batch_id}")
    assert [e.status for e in gets] == [429, 200]
    assert gap(gets[0], gets[1]) >= 0.18


async def test_429_on_send_is_retried_and_creates_one_batch(sim: SinchSimulator) -> None:
    sim.faults.add("POST /batches", status=429, retry_after="0.1")
    async with sim.client(retry=FAST) as sms:
        batch = await sms.batches.send([NUM], "hi")
    assert [e.status for e in posts(sim)] == [429, 201]
    assert [b["id"] for b in created(sim)] == [batch.id]


async def test_429_without_retry_after_backs_off(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=429)
    retries: list[RetryEvent] = []
    policy = RetryPolicy(backoff_base=0.2, backoff_max=0.2)
    async with sim.client(retry=policy, on_retry=retries.append) as sms:
        batch = await sms.batches.get(batch_id)
    assert batch.id == batch_id
    assert len(retries) == 1
    assert isinstance(retries[0].error, RateLimitError)
    assert retries[0].error.retry_after is None
    assert 0.0 <= retries[0].delay <= 0.2  # full-jitter backoff, not a server hint
    gets = calls(sim, "GET", f"/batches/{batch_id}")
    assert [e.status for e in gets] == [429, 200]
    # the rate limiter's default 1 s cool-down after a 429 without Retry-After
    assert gap(gets[0], gets[1]) >= 0.9


async def test_retry_after_above_cap_fails_at_once(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=429, retry_after="30")
    retries: list[RetryEvent] = []
    policy = RetryPolicy(backoff_base=0.01, backoff_max=0.05, retry_after_cap=1.0)
    async with sim.client(retry=policy, on_retry=retries.append) as sms:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            await sms.batches.get(batch_id)
        elapsed = time.monotonic() - started
    assert caught.value.retry_after == 30.0
    assert caught.value.status == 429
    assert caught.value.attempts == 1
    assert elapsed < 0.5
    assert retries == []
    assert len(calls(sim, "GET", f"/batches/{batch_id}")) == 1


async def test_retry_after_above_cap_does_not_stall_later_calls(sim: SinchSimulator) -> None:
    """A Retry-After above ``retry_after_cap`` fails that call at once; later calls on the
    client must not then sit silently in a cool-down longer than the cap."""
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=429, retry_after="30")
    policy = RetryPolicy(backoff_base=0.01, backoff_max=0.05, retry_after_cap=1.0)
    async with sim.client(retry=policy) as sms:
        with pytest.raises(RateLimitError):
            await sms.batches.get(batch_id)
        started = time.monotonic()
        try:
            await asyncio.wait_for(sms.batches.get(batch_id), 1.6)
        except RateLimitError:
            pass  # failing fast is fine too
        except asyncio.TimeoutError:
            pytest.fail("the next call waited for the whole 30 s Retry-After, above the 1 s cap")
        assert time.monotonic() - started < 1.6


# --- 5xx ----------------------------------------------------------------------------


async def test_503_burst_on_get_is_retried_and_succeeds(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=503, times=3)
    async with sim.client(retry=FAST) as sms:
        with call_info() as info:
            batch = await sms.batches.get(batch_id)
    assert batch.id == batch_id
    assert info.status == 200
    assert info.attempts == 4
    assert info.retries_taken == 3
    assert [e.status for e in calls(sim, "GET", f"/batches/{batch_id}")] == [503, 503, 503, 200]


async def test_call_info_reports_no_retries_on_first_success(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    async with sim.client(retry=FAST) as sms:
        with call_info() as info:
            await sms.batches.get(batch_id)
    assert (info.status, info.attempts, info.retries_taken, info.reconciled) == (200, 1, 0, False)


async def test_503_on_send_without_reference_is_ambiguous_and_not_created(
    sim: SinchSimulator,
) -> None:
    sim.faults.add("POST /batches", status=503)
    async with sim.client(retry=FAST) as sms:
        with pytest.raises(AmbiguousSendError) as caught:
            await sms.batches.send([NUM, NUM2], "hi")
    err = caught.value
    assert isinstance(err.request, TextRequest)
    assert err.request.to == [NUM, NUM2]
    assert err.request.body == "hi"
    assert isinstance(err.cause, ServerError)
    assert err.cause.status == 503
    assert (err.method, err.path) == ("POST", "/batches")
    assert err.attempts == 1
    assert NUM not in str(err)  # numbers are masked in the message
    # not retried blindly; the fault answered before processing: nothing was created
    assert [e.status for e in posts(sim)] == [503]
    assert created(sim) == []
    assert lookups(sim) == []


async def test_dropped_after_send_without_reference_is_ambiguous_and_created_once(
    sim: SinchSimulator,
) -> None:
    sim.faults.add("POST /batches", drop="after")
    async with sim.client(retry=FAST) as sms:
        with pytest.raises(AmbiguousSendError) as caught:
            await sms.batches.send([NUM], "hi")
    assert isinstance(caught.value.cause, SinchConnectionError)
    assert caught.value.request.to == [NUM]
    assert len(posts(sim)) == 1
    assert posts(sim)[0].dropped == "after"
    assert len(created(sim)) == 1  # the fault created it once; the client did not repeat it


async def test_dropped_before_send_without_reference_is_ambiguous_and_not_created(
    sim: SinchSimulator,
) -> None:
    sim.faults.add("POST /batches", drop="before")
    async with sim.client(retry=FAST) as sms:
        with pytest.raises(AmbiguousSendError) as caught:
            await sms.batches.send([NUM], "hi")
    assert isinstance(caught.value.cause, SinchConnectionError)
    assert len(posts(sim)) == 1
    assert created(sim) == []


# --- reconciliation by client_reference ---------------------------------------------------


async def test_503_on_send_with_reference_is_reconciled_then_sent_once(
    sim: SinchSimulator,
) -> None:
    sim.faults.add("POST /batches", status=503)
    async with sim.client(retry=FAST) as sms:
        with call_info() as info:
            batch = await sms.batches.send([NUM], "hi", client_reference="order-503")
    assert [e.status for e in posts(sim)] == [503, 201]
    [lookup] = lookups(sim)
    assert lookup.query["client_reference"] == "order-503"
    assert lookup.time <= posts(sim)[1].time
    assert [b["id"] for b in created(sim, "order-503")] == [batch.id]
    assert len(created(sim)) == 1
    assert info.reconciled is False


async def test_drop_after_with_reference_returns_the_created_batch(sim: SinchSimulator) -> None:
    sim.faults.add("POST /batches", drop="after")
    async with sim.client(retry=FAST) as sms:
        with call_info() as info:
            batch = await sms.batches.send([NUM], "hi", client_reference="order-1")
    assert len(posts(sim)) == 1  # no second POST
    assert len(lookups(sim)) == 1
    [made] = created(sim, "order-1")
    assert batch.id == made["id"]
    assert batch.client_reference == "order-1"
    assert len(created(sim)) == 1
    assert info.reconciled is True
    assert info.status == 200


async def test_drop_before_with_reference_finds_nothing_and_sends_once(
    sim: SinchSimulator,
) -> None:
    sim.faults.add("POST /batches", drop="before")
    once = dataclasses.replace(FAST, settle_window=0.0)  # one lookup, then send again
    async with sim.client(retry=once) as sms:
        with call_info() as info:
            batch = await sms.batches.send([NUM], "hi", client_reference="order-2")
    sent = posts(sim)
    assert [e.dropped for e in sent] == ["before", None]
    assert sent[1].status == 201
    assert len(lookups(sim)) == 1
    assert [b["id"] for b in created(sim, "order-2")] == [batch.id]
    assert info.reconciled is False
    assert info.retries_taken == 1


async def test_auto_client_reference_makes_reconciliation_work(sim: SinchSimulator) -> None:
    sim.faults.add("POST /batches", drop="after")
    async with sim.client(retry=FAST, auto_client_reference=True) as sms:
        batch = await sms.batches.send([NUM], "hi")
    [post] = posts(sim)
    ref = post.json["client_reference"]
    assert isinstance(ref, str)
    assert ref.startswith("sinch-async-")
    assert batch.client_reference == ref
    assert [b["id"] for b in created(sim)] == [batch.id]


async def test_auto_client_reference_gives_each_send_its_own_reference(
    sim: SinchSimulator,
) -> None:
    async with sim.client(retry=FAST, auto_client_reference=True) as sms:
        await sms.batches.send([NUM], "a")
        await sms.batches.send([NUM], "b")
        await sms.batches.send([NUM], "c", client_reference="mine")
    refs = [e.json["client_reference"] for e in posts(sim)]
    assert refs[2] == "mine"
    assert refs[0] != refs[1]


async def test_reconciliation_exhausting_attempts_reports_the_send(sim: SinchSimulator) -> None:
    sim.faults.add("POST /batches", status=503, times=None)
    policy = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05)
    async with sim.client(retry=policy) as sms:
        with pytest.raises(ServerError) as caught:
            await sms.batches.send([NUM], "hi", client_reference="order-x")
    assert (caught.value.method, caught.value.path.endswith("/batches")) == ("POST", True)
    assert caught.value.attempts == 3
    assert len(posts(sim)) == 3
    assert len(lookups(sim)) == 3  # each failure checked before the next POST
    assert created(sim) == []


async def test_unapplied_send_past_the_deadline_raises_the_send_error(
    sim: SinchSimulator,
) -> None:
    """The lookup shows the 503'd send was not applied, but the deadline leaves no time
    for another attempt: the caller gets the send's own error, with one attempt."""
    sim.faults.add("POST /batches", status=503, times=None)
    policy = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05, deadline=0.001)
    async with sim.client(retry=policy) as sms:
        with pytest.raises(ServerError) as caught:
            await sms.batches.send([NUM], "hi", client_reference="order-late")
    assert caught.value.status == 503
    assert caught.value.attempts == 1
    assert len(posts(sim)) == 1
    assert len(lookups(sim)) == 1
    assert created(sim) == []


async def test_failed_reconciliation_lookup_raises_ambiguous_send_error(
    sim: SinchSimulator,
) -> None:
    """The send was applied but the lookup that should prove it fails: the caller must
    get an AmbiguousSendError for the send, not an error about ``GET /batches``."""
    sim.faults.add("POST /batches", drop="after")
    sim.faults.add("GET /batches", status=503, times=None)
    async with sim.client(retry=FAST) as sms:
        with pytest.raises(AmbiguousSendError) as caught:
            await sms.batches.send([NUM], "hi", client_reference="order-lookup")
    assert caught.value.method == "POST"
    assert caught.value.path == "/batches"
    assert caught.value.request.client_reference == "order-lookup"
    assert len(posts(sim)) == 1
    assert len(created(sim, "order-lookup")) == 1


# --- timeouts and connection errors ----------------------------------------------------------


async def test_read_timeout_on_get_is_retried(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=None, latency=0.6)
    retries: list[RetryEvent] = []
    async with sim.client(retry=FAST, timeout=0.3, on_retry=retries.append) as sms:
        started = time.monotonic()
        with call_info() as info:
            batch = await sms.batches.get(batch_id)
        elapsed = time.monotonic() - started
    assert batch.id == batch_id
    assert elapsed >= 0.28
    assert info.retries_taken == 1
    assert [r.cause for r in retries] == ["timeout"]
    assert isinstance(retries[0].error, SinchTimeoutError)
    assert len(calls(sim, "GET", f"/batches/{batch_id}")) == 2
    await asyncio.sleep(0.4)  # let the simulator finish the slow request


async def test_read_timeout_on_send_without_reference_is_ambiguous(sim: SinchSimulator) -> None:
    sim.faults.add("POST /batches", status=None, latency=0.5)
    async with sim.client(retry=FAST, timeout=0.3) as sms:
        with pytest.raises(AmbiguousSendError) as caught:
            await sms.batches.send([NUM], "hi")
    assert isinstance(caught.value.cause, SinchTimeoutError)
    assert len(posts(sim)) == 1  # not retried
    await asyncio.sleep(0.4)
    # the server finished the request after the client gave up: created exactly once
    assert len(created(sim)) == 1
    assert len(posts(sim)) == 1


async def test_read_timeout_on_send_with_reference_never_creates_two_batches(
    sim: SinchSimulator,
) -> None:
    """A timed-out send may still be in progress on the server; reconciling at once finds
    nothing, so a blind re-send would create the batch a second time."""
    sim.faults.add("POST /batches", status=None, latency=0.5)
    outcome: object
    async with sim.client(retry=FAST, timeout=0.3) as sms:
        try:
            outcome = await sms.batches.send([NUM], "hi", client_reference="order-slow")
        except AmbiguousSendError as exc:
            outcome = exc
    await asyncio.sleep(0.6)  # every request has finished on the server
    made = created(sim, "order-slow")
    assert len(made) <= 1, f"{len(made)} batches created for one send ({len(posts(sim))} POSTs)"
    if isinstance(outcome, AmbiguousSendError):
        assert outcome.request.client_reference == "order-slow"
    else:
        assert [b["id"] for b in made] == [outcome.id]  # type: ignore[attr-defined]


async def test_connection_refused_on_send_is_retried() -> None:
    port = free_port()
    retries: list[RetryEvent] = []
    policy = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05)
    async with AsyncSmsClient(
        service_plan_id="p",
        api_token=TOKEN,
        base_url=f"http://127.0.0.1:{port}",
        retry=policy,
        on_retry=retries.append,
    ) as sms:
        with pytest.raises(SinchConnectionError) as caught:
            await sms.batches.send([NUM], "hi")
    assert not isinstance(caught.value, AmbiguousSendError)
    assert caught.value.request_sent is False
    assert caught.value.attempts == 3
    assert [r.cause for r in retries] == ["connection error", "connection error"]
    assert TOKEN not in str(caught.value)


async def test_connection_refused_then_server_comes_up_sends_once() -> None:
    port = free_port()
    sim = SinchSimulator(time_scale=1, port=port, api_token=TOKEN)
    started: list[int] = []

    async def start_server(event: RetryEvent) -> None:
        if not started:
            started.append(event.attempt)
            await sim.start()

    try:
        async with AsyncSmsClient(
            service_plan_id=sim.service_plan_id,
            api_token=TOKEN,
            base_url=f"http://127.0.0.1:{port}",
            retry=FAST,
            on_retry=start_server,
        ) as sms:
            with call_info() as info:
                batch = await sms.batches.send([NUM], "hi")
        assert started == [2]
        assert info.retries_taken == 1
        assert [e.status for e in posts(sim)] == [201]
        assert [b["id"] for b in created(sim)] == [batch.id]
    finally:
        await sim.stop()


# --- OAuth token expiry ----------------------------------------------------------------------


async def test_expired_oauth_token_is_refreshed_once(sim: SinchSimulator) -> None:
    async with sim.oauth_client(retry=FAST) as sms:
        first = await sms.batches.send([NUM], "first")
        assert sim.token_requests == 1
        sim.expire_tokens()
        results = await asyncio.gather(*(sms.batches.get(first.id) for _ in range(5)))
        assert {b.id for b in results} == {first.id}
        assert sim.token_requests == 2  # one refresh shared by all five calls
        await sms.batches.get(first.id)
        assert sim.token_requests == 2
    project_gets = [
        e for e in sim.journal.requests if e.method == "GET" and e.path.endswith(first.id)
    ]
    assert all(e.status in (200, 401) for e in project_gets)
    assert sum(e.status == 200 for e in project_gets) == 6


async def test_expired_oauth_token_on_send_creates_the_batch_once(sim: SinchSimulator) -> None:
    async with sim.oauth_client(retry=FAST) as sms:
        await sms.batches.send([NUM], "warm up")
        sim.expire_tokens()
        with call_info() as info:
            batch = await sms.batches.send([NUM2], "after expiry")
    assert info.status == 201
    assert sim.token_requests == 2
    posts = [e for e in sim.journal.requests if e.method == "POST" and e.path.endswith("/batches")]
    assert [e.status for e in posts] == [201, 401, 201]
    assert [b["id"] for b in created(sim)][1:] == [batch.id]
    assert len(created(sim)) == 2


# --- retry=None and per-call options ---------------------------------------------------------


async def test_retry_none_makes_one_attempt(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=503, times=None)
    retries: list[RetryEvent] = []
    async with sim.client(retry=None, on_retry=retries.append) as sms:
        with pytest.raises(ServerError) as caught:
            await sms.batches.get(batch_id)
    assert caught.value.attempts == 1
    assert retries == []
    assert len(calls(sim, "GET", f"/batches/{batch_id}")) == 1


async def test_retry_none_does_not_retry_429(sim: SinchSimulator) -> None:
    sim.faults.add("POST /batches", status=429, retry_after="0.1")
    async with sim.client(retry=None) as sms:
        with pytest.raises(RateLimitError) as caught:
            await sms.batches.send([NUM], "hi", client_reference="r")
    assert caught.value.retry_after == 0.1
    assert caught.value.attempts == 1
    assert len(posts(sim)) == 1
    assert lookups(sim) == []
    assert created(sim) == []


async def test_with_options_retry_none_applies_per_call(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    async with sim.client(retry=FAST) as sms:
        sim.faults.add("GET /batches/{batch_id}", status=503)
        with pytest.raises(ServerError) as caught:
            await sms.with_options(retry=None).batches.get(batch_id)
        assert caught.value.attempts == 1
        assert len(calls(sim, "GET", f"/batches/{batch_id}")) == 1
        # the client itself still retries
        sim.faults.add("GET /batches/{batch_id}", status=503)
        with call_info() as info:
            await sms.batches.get(batch_id)
        assert info.retries_taken == 1
        assert sms.retry is FAST
    assert [e.status for e in calls(sim, "GET", f"/batches/{batch_id}")] == [503, 503, 200]


async def test_with_options_retry_none_send_is_single_attempt(sim: SinchSimulator) -> None:
    sim.faults.add("POST /batches", drop="before")
    async with sim.client(retry=FAST) as sms:
        with pytest.raises(SinchConnectionError):
            await sms.with_options(retry=None).batches.send([NUM], "hi", client_reference="one")
    assert len(posts(sim)) == 1
    assert lookups(sim) == []  # no reconciliation without retries
    assert created(sim) == []


async def test_errors_carry_attempts(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=503, times=None)
    policy = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05)
    async with sim.client(retry=policy) as sms:
        with pytest.raises(ServerError) as caught:
            await sms.batches.get(batch_id)
    assert caught.value.attempts == 3
    assert len(calls(sim, "GET", f"/batches/{batch_id}")) == 3


async def test_non_retryable_status_is_not_retried(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=400, times=None)
    async with sim.client(retry=FAST) as sms:
        with pytest.raises(Exception) as caught:
            await sms.batches.get(batch_id)
    assert getattr(caught.value, "status", None) == 400
    assert getattr(caught.value, "attempts", None) == 1
    assert len(calls(sim, "GET", f"/batches/{batch_id}")) == 1


async def test_deadline_stops_retrying(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=503, times=None)
    policy = RetryPolicy(max_attempts=50, backoff_base=0.1, backoff_max=0.1, deadline=0.5)
    async with sim.client(retry=policy) as sms:
        started = time.monotonic()
        with pytest.raises(ServerError):
            await sms.batches.get(batch_id)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert 2 <= len(calls(sim, "GET", f"/batches/{batch_id}")) < 50


# --- hooks ---------------------------------------------------------------------------------


async def test_hooks_see_each_attempt_response_and_retry(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=503, times=2)
    requests: list[RequestEvent] = []
    responses: list[ResponseEvent] = []
    retries: list[RetryEvent] = []

    async def on_retry(event: RetryEvent) -> None:  # async hooks are awaited
        await asyncio.sleep(0)
        retries.append(event)

    policy = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05)
    async with sim.client(
        retry=policy, on_request=requests.append, on_response=responses.append, on_retry=on_retry
    ) as sms:
        await sms.batches.get(batch_id)
    path = f"/batches/{batch_id}"
    assert [(e.method, e.path, e.attempt) for e in requests] == [
        ("GET", path, 1),
        ("GET", path, 2),
        ("GET", path, 3),
    ]
    assert [(e.path, e.attempt, e.status) for e in responses] == [
        (path, 1, 503),
        (path, 2, 503),
        (path, 3, 200),
    ]
    assert all(e.elapsed >= 0 for e in responses)
    assert [(e.method, e.path, e.attempt, e.max_attempts, e.cause) for e in retries] == [
        ("GET", path, 2, 4, "503"),
        ("GET", path, 3, 4, "503"),
    ]
    assert all(isinstance(e.error, ServerError) for e in retries)
    assert all(0.0 <= e.delay <= 0.05 for e in retries)


async def test_failing_hook_does_not_break_the_call(
    sim: SinchSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: object) -> None:
        raise RuntimeError("metrics down")

    async with sim.client(retry=FAST, on_request=broken, on_response=broken) as sms:
        batch = await sms.batches.send([NUM], "hi")
    assert [b["id"] for b in created(sim)] == [batch.id]
    assert "metrics down" in caplog.text


# --- logging -------------------------------------------------------------------------------


RETRY_LINE = re.compile(r"^retry (\d+)/(\d+) in \d+\.\d s after (\S+) on (\S+) (\S+)$")


def retry_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "sinch_async" and r.getMessage().startswith("retry ")
    ]


async def test_one_warning_per_retry(sim: SinchSimulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sinch_async")
    sim.faults.add("POST /batches", status=429, retry_after="0.2")
    sim.faults.add("POST /batches", status=429, retry_after="0.05")
    async with sim.client(retry=FAST) as sms:
        await sms.batches.send([NUM], "hi")
    lines = retry_lines(caplog)
    assert [r.levelno for r in lines] == [logging.WARNING, logging.WARNING]
    messages = [r.getMessage() for r in lines]
    assert re.fullmatch(r"retry 2/5 in 0\.[23] s after 429 on POST /batches", messages[0])
    assert re.fullmatch(r"retry 3/5 in 0\.[01] s after 429 on POST /batches", messages[1])
    for message in messages:
        assert RETRY_LINE.match(message)
    assert TOKEN not in caplog.text
    assert len(created(sim)) == 1


async def test_retry_log_masks_numbers_and_hides_token(
    sim: SinchSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sinch_async")
    async with sim.client(retry=FAST) as sms:
        batch = await sms.batches.send([NUM], "hi")
        sim.faults.add("GET /batches/{batch_id}/delivery_report/{recipient_msisdn}", status=503)
        await sms.delivery_reports.get_for_recipient(batch.id, NUM)
    [line] = retry_lines(caplog)
    message = line.getMessage()
    assert message.startswith("retry 2/5 in ")
    assert "after 503 on GET /batches/" in message
    assert "0001" in message  # enough left to correlate
    digits = NUM.lstrip("+")
    for record in caplog.records:
        text = record.getMessage()
        assert digits not in text, text
        assert TOKEN not in text, text
    assert TOKEN not in caplog.text
    assert digits not in caplog.text
