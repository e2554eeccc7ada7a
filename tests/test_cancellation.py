"""Cancelling calls wherever they wait: retry backoff, rate-limit wait, 429 cool-down,
a concurrency slot, or the request itself. Cancellation is prompt, never retried, and
leaves no connection in use and no task behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import pytest

from sinch_async import AsyncSmsClient, RateLimiter, RetryEvent, RetryPolicy
from sinch_async._retry import Idempotency
from sinch_async.testing import SinchSimulator
from tests.conftest import NUM, calls, make_batch

pytestmark = pytest.mark.sinch_simulator(time_scale=1, seed=9)


class SlowBackoff(RetryPolicy):
    """A policy whose every backoff is 3 s (no jitter), so a call surely sits in it."""

    def backoff(self, retry_number: int) -> float:
        return 3.0


def _is_server_task(task: asyncio.Task[Any]) -> bool:
    """The simulator's own per-connection tasks (aiohttp's server side)."""
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", "") or ""
    return name.startswith(("RequestHandler.", "BaseProtocol.")) or "web_protocol" in repr(coro)


async def leaked_tasks(before: set[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    await asyncio.sleep(0.05)  # let finished tasks be collected from all_tasks()
    current = asyncio.current_task()
    return [
        t
        for t in asyncio.all_tasks() - before
        if t is not current and not t.done() and not _is_server_task(t)
    ]


def connections_in_use(sms: AsyncSmsClient) -> int:
    connector = sms._transport.session()._connector
    assert connector is not None
    return len(connector._acquired)


def idle_connections(sms: AsyncSmsClient) -> int:
    connector = sms._transport.session()._connector
    assert connector is not None
    return sum(len(conns) for conns in connector._conns.values())


async def cancel_and_time(task: asyncio.Task[Any]) -> float:
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    return time.monotonic() - started


async def wait_until(predicate: Any, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def spawn(coro: Awaitable[Any]) -> asyncio.Task[Any]:
    return asyncio.ensure_future(coro)


# --- CancelledError is never retried ------------------------------------------------------------


@pytest.mark.parametrize("idempotency", [Idempotency.SAFE, Idempotency.UNSAFE])
def test_cancelled_error_is_never_retryable(idempotency: Idempotency) -> None:
    for policy in (RetryPolicy(), RetryPolicy(retry_connection_errors=True)):
        assert policy.is_retryable(asyncio.CancelledError(), idempotency) is False
        assert policy.is_retryable(KeyboardInterrupt(), idempotency) is False


async def test_cancel_in_flight_request_is_not_retried(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=None, latency=0.8)
    retries: list[RetryEvent] = []
    async with sim.client(retry=RetryPolicy(backoff_base=0.01), on_retry=retries.append) as sms:
        before = asyncio.all_tasks()
        task = spawn(sms.batches.get(batch_id))
        await wait_until(lambda: len(calls(sim, "GET", f"/batches/{batch_id}")) == 1)
        took = await cancel_and_time(task)
        assert took < 0.5
        await asyncio.sleep(0.2)
        assert retries == []
        assert len(calls(sim, "GET", f"/batches/{batch_id}")) == 1  # no second attempt
        assert connections_in_use(sms) == 0
        assert idle_connections(sms) == 0  # the half-used connection was closed, not pooled
        assert await leaked_tasks(before) == []


async def test_cancel_in_flight_send_is_neither_retried_nor_reconciled(
    sim: SinchSimulator,
) -> None:
    sim.faults.add("POST /batches", status=None, latency=0.5)
    async with sim.client(retry=RetryPolicy(backoff_base=0.01)) as sms:
        task = spawn(sms.batches.send([NUM], "hi", client_reference="cancel-me"))
        await wait_until(lambda: len(calls(sim, "POST", "/batches")) == 1)
        assert await cancel_and_time(task) < 0.5
        await asyncio.sleep(0.6)  # the server finishes the request it received
        assert connections_in_use(sms) == 0
    assert len(calls(sim, "POST", "/batches")) == 1
    assert calls(sim, "GET", "/batches") == []  # no reconciliation lookup either
    assert len(sim.journal.batches_created()) <= 1


# --- cancelling a call waiting in retry backoff ----------------------------------------------


async def test_cancel_during_retry_backoff_is_prompt_and_clean(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=503, times=None)
    in_backoff = asyncio.Event()
    retries: list[RetryEvent] = []

    def on_retry(event: RetryEvent) -> None:
        retries.append(event)
        in_backoff.set()

    async with sim.client(retry=SlowBackoff(), on_retry=on_retry) as sms:
        before = asyncio.all_tasks()
        task = spawn(sms.batches.get(batch_id))
        await asyncio.wait_for(in_backoff.wait(), 1.0)
        await asyncio.sleep(0.05)
        assert not task.done()
        assert [r.delay for r in retries] == [3.0]
        took = await cancel_and_time(task)
        assert took < 1.0
        assert took < 0.2  # well under the 3 s backoff
        assert connections_in_use(sms) == 0
        assert await leaked_tasks(before) == []
        await asyncio.sleep(0.1)
    assert len(calls(sim, "GET", f"/batches/{batch_id}")) == 1


async def test_cancel_send_during_backoff_after_429_sends_nothing(sim: SinchSimulator) -> None:
    sim.faults.add("POST /batches", status=429, retry_after="3")
    async with sim.client(retry=RetryPolicy(backoff_base=0.01)) as sms:
        before = asyncio.all_tasks()
        task = spawn(sms.batches.send([NUM], "hi", client_reference="never"))
        await wait_until(lambda: sms.rate_limiter.rate_limited_count == 1)
        await asyncio.sleep(0.05)
        assert await cancel_and_time(task) < 0.5
        assert connections_in_use(sms) == 0
        assert await leaked_tasks(before) == []
    assert [e.status for e in calls(sim, "POST", "/batches")] == [429]
    assert sim.journal.batches_created() == []


async def test_wait_for_timeout_during_backoff(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=503, times=None)
    async with sim.client(retry=SlowBackoff()) as sms:
        before = asyncio.all_tasks()
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(sms.batches.get(batch_id), 0.3)
        took = time.monotonic() - started
        assert 0.25 <= took < 1.0
        assert connections_in_use(sms) == 0
        assert await leaked_tasks(before) == []


# --- cancelling a call waiting in the rate limiter ------------------------------------------------


async def test_cancel_during_rate_limit_wait_is_prompt_and_clean(sim: SinchSimulator) -> None:
    async with sim.client(retry=RetryPolicy(backoff_base=0.01), messages_per_second=10) as sms:
        await sms.batches.send([NUM], "drains the one-message bucket")
        before = asyncio.all_tasks()
        recipients = [f"+4670{i:07d}" for i in range(20)]
        task = spawn(sms.batches.send(recipients, "waits about 2 s for tokens"))
        await asyncio.sleep(0.1)
        assert not task.done()
        took = await cancel_and_time(task)
        assert took < 1.0
        assert took < 0.2
        assert connections_in_use(sms) == 0
        assert await leaked_tasks(before) == []
        # the cancelled waiter neither holds the queue nor keeps taking tokens
        started = time.monotonic()
        await sms.batches.send([NUM], "next")
        assert time.monotonic() - started < 0.5
    bodies = [b["body"] for b in sim.journal.batches_created()]
    assert bodies == ["drains the one-message bucket", "next"]


async def test_cancel_while_waiting_for_request_pacing(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    async with sim.client(retry=RetryPolicy(backoff_base=0.01), requests_per_second=2) as sms:
        await sms.batches.get(batch_id)
        before = asyncio.all_tasks()
        waiting = [spawn(sms.batches.get(batch_id)) for _ in range(3)]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        for task in waiting:
            task.cancel()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert time.monotonic() - started < 0.2
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert await leaked_tasks(before) == []
    assert len(calls(sim, "GET", f"/batches/{batch_id}")) == 1


async def test_cancel_during_429_cooldown_is_prompt_and_clean(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=429, retry_after="3")
    limiter = RateLimiter(adaptive=False)
    async with sim.client(retry=RetryPolicy(backoff_base=0.01), rate_limiter=limiter) as sms:
        before = asyncio.all_tasks()
        first = spawn(sms.batches.get(batch_id))  # gets the 429, then backs off 3 s
        await wait_until(lambda: limiter.rate_limited_count == 1)
        second = spawn(sms.batches.get(batch_id))  # waits in the 3 s cool-down
        await asyncio.sleep(0.1)
        assert not second.done()
        assert await cancel_and_time(second) < 0.2
        assert await cancel_and_time(first) < 0.2
        assert connections_in_use(sms) == 0
        assert await leaked_tasks(before) == []
    assert [e.status for e in calls(sim, "GET", f"/batches/{batch_id}")] == [429]


async def test_cancel_while_waiting_for_a_concurrency_slot(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=None, latency=0.3)
    async with sim.client(retry=RetryPolicy(backoff_base=0.01), max_concurrency=1) as sms:
        before = asyncio.all_tasks()
        holder = spawn(sms.batches.get(batch_id))
        await wait_until(lambda: len(calls(sim, "GET", f"/batches/{batch_id}")) == 1)
        waiter = spawn(sms.batches.get(batch_id))
        await asyncio.sleep(0.05)
        assert await cancel_and_time(waiter) < 0.2
        await holder
        # the slot is free again: the next call goes straight through
        started = time.monotonic()
        await sms.batches.get(batch_id)
        assert time.monotonic() - started < 0.2
        assert connections_in_use(sms) == 0
        assert await leaked_tasks(before) == []
    assert len(calls(sim, "GET", f"/batches/{batch_id}")) == 2
