"""The rate-limit layer against the simulator: pacing, weights, FIFO, 429 cool-down,
adaptive throttle, concurrency bound and a limiter shared by clients."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from sinch_async import (
    RateLimiter,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    SinchValidationError,
)
from sinch_async.testing import JournalEntry, SinchSimulator
from tests.conftest import FAST, calls, make_batch, numbers

pytestmark = pytest.mark.sinch_simulator(time_scale=1, seed=5)


def offsets(entries: list[JournalEntry]) -> list[float]:
    """Arrival times at the simulator, in seconds after the first entry."""
    t0 = entries[0].time
    return [(e.time - t0).total_seconds() for e in entries]


def max_overlap(starts: list[float], duration: float) -> int:
    """The most requests whose [start, start + duration) windows overlap."""
    return max(sum(1 for s in starts if t - duration < s <= t) for t in starts)


class Stamps:
    """An on_request hook recording (monotonic time, method, path)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, RequestEvent]] = []

    def __call__(self, event: RequestEvent) -> None:
        self.events.append((time.monotonic(), event))


# --- requests_per_second --------------------------------------------------------------------


async def test_requests_per_second_paces_requests(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    stamps = Stamps()
    async with sim.client(retry=FAST, requests_per_second=20, on_request=stamps) as sms:
        started = time.monotonic()
        await asyncio.gather(*(sms.batches.get(batch_id) for _ in range(10)))
        elapsed = time.monotonic() - started
    assert elapsed >= 0.4  # 9 intervals of 50 ms after the first request
    assert elapsed < 2.0
    times = [t for t, _ in stamps.events]
    assert len(times) == 10
    assert times[-1] - times[0] >= 0.4
    # never two requests within much less than the 50 ms interval
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.03, gaps
    arrivals = offsets(calls(sim, "GET", f"/batches/{batch_id}"))
    assert len(arrivals) == 10
    assert arrivals[-1] >= 0.4


async def test_requests_per_second_sequential_calls_are_paced(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    async with sim.client(retry=FAST, requests_per_second=25) as sms:
        started = time.monotonic()
        for _ in range(6):
            await sms.batches.get(batch_id)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.18  # 5 intervals of 40 ms
    assert sms.rate_limiter.current_request_rate == 25


# --- messages_per_second --------------------------------------------------------------------


async def test_messages_per_second_weights_by_recipients(sim: SinchSimulator) -> None:
    # 100 messages/s; the bucket holds a tenth of a second's worth (10)
    async with sim.client(retry=FAST, messages_per_second=100) as sms:
        started = time.monotonic()
        await sms.batches.send(numbers(10), "drain the bucket")  # at once
        first = time.monotonic() - started
        await sms.batches.send(numbers(40, 100), "forty")  # 0.4 s of tokens
        second = time.monotonic() - started
        await sms.batches.send(numbers(5, 200), "five")  # 0.05 s of tokens
        third = time.monotonic() - started
    assert first < 0.1
    assert second - first >= 0.35
    assert 0.03 <= third - second < 0.2
    assert len(sim.journal.batches_created()) == 3
    assert len(sim.journal.recipients_sent()) == 55


async def test_send_heavier_than_the_bucket_works(sim: SinchSimulator) -> None:
    async with sim.client(retry=FAST, messages_per_second=100) as sms:
        started = time.monotonic()
        batch = await sms.batches.send(numbers(50), "fifty")  # the bucket holds 10
        elapsed = time.monotonic() - started
    assert len(batch.to) == 50
    assert elapsed >= 0.35  # 10 at once, 40 more at 100/s
    assert elapsed < 1.5
    assert len(sim.journal.batches_created()) == 1


async def test_send_heavier_than_a_small_burst_works(sim: SinchSimulator) -> None:
    limiter = RateLimiter(messages_per_second=50, message_burst=5)
    async with sim.client(retry=FAST, rate_limiter=limiter) as sms:
        started = time.monotonic()
        batch = await sms.batches.send(numbers(20), "twenty in pieces of five")
        elapsed = time.monotonic() - started
    assert len(batch.to) == 20
    assert elapsed >= 0.25  # 5 at once, 15 more at 50/s
    assert elapsed < 1.5


async def test_big_send_queued_first_is_not_starved_by_small_ones(sim: SinchSimulator) -> None:
    limiter = RateLimiter(messages_per_second=20, message_burst=10)
    order: list[str] = []

    def on_request(event: RequestEvent) -> None:
        if event.method == "POST":
            order.append("sent")

    async with sim.client(retry=FAST, rate_limiter=limiter, on_request=on_request) as sms:
        await sms.batches.send(numbers(10), "drain")
        big = asyncio.create_task(sms.batches.send(numbers(10, 100), "big"))
        await asyncio.sleep(0.02)  # the big send is queued, waiting for 10 tokens
        smalls = []
        for i in range(4):
            smalls.append(asyncio.create_task(sms.batches.send(numbers(1, 200 + i), f"small {i}")))
            await asyncio.sleep(0.01)
        await asyncio.gather(big, *smalls)
    bodies = [b["body"] for b in sim.journal.batches_created()]
    assert bodies == ["drain", "big", "small 0", "small 1", "small 2", "small 3"]
    posts = calls(sim, "POST", "/batches")
    assert [e.json["body"] for e in posts] == bodies


# --- the 429 cool-down --------------------------------------------------------------------


async def test_requests_started_during_cooldown_wait(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=429, retry_after="0.4")
    got_429 = asyncio.Event()

    def on_response(event: ResponseEvent) -> None:
        if event.status == 429:
            got_429.set()

    limiter = RateLimiter(adaptive=False)
    async with sim.client(retry=FAST, rate_limiter=limiter, on_response=on_response) as sms:
        first = asyncio.create_task(sms.batches.get(batch_id))
        await got_429.wait()
        others = [asyncio.create_task(sms.batches.get(batch_id)) for _ in range(5)]
        await asyncio.sleep(0.25)
        during = len(calls(sim, "GET", f"/batches/{batch_id}"))
        await asyncio.gather(first, *others)
    assert during == 1  # only the 429 itself: nobody else hit the server
    entries = calls(sim, "GET", f"/batches/{batch_id}")
    assert [e.status for e in entries] == [429] + [200] * 6
    assert min(offsets(entries)[1:]) >= 0.35
    assert limiter.rate_limited_count == 1


async def test_requests_queued_by_the_rate_limit_respect_the_cooldown(
    sim: SinchSimulator,
) -> None:
    """Requests already waiting in the limiter when a 429 arrives must not reach the
    server during the cool-down."""
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=429, retry_after="0.4")
    limiter = RateLimiter(requests_per_second=20, adaptive=False)
    async with sim.client(retry=FAST, rate_limiter=limiter) as sms:
        await asyncio.gather(*(sms.batches.get(batch_id) for _ in range(6)))
    entries = calls(sim, "GET", f"/batches/{batch_id}")
    assert entries[0].status == 429
    during = [t for t in offsets(entries)[1:] if t < 0.35]
    assert during == [], f"{len(during)} requests hit the server during the 0.4 s cool-down"
    assert [e.status for e in entries[1:]] == [200] * 6


async def test_requests_waiting_for_a_slot_respect_the_cooldown(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=429, retry_after="0.4")
    limiter = RateLimiter(max_concurrency=1, adaptive=False)
    async with sim.client(retry=FAST, rate_limiter=limiter) as sms:
        await asyncio.gather(*(sms.batches.get(batch_id) for _ in range(4)))
    entries = calls(sim, "GET", f"/batches/{batch_id}")
    assert entries[0].status == 429
    during = [t for t in offsets(entries)[1:] if t < 0.35]
    assert during == [], f"{len(during)} requests hit the server during the 0.4 s cool-down"


# --- the adaptive throttle --------------------------------------------------------------------


async def test_repeated_429s_lower_the_rate_and_successes_raise_it(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=429, retry_after="0", times=2)
    limiter = RateLimiter(requests_per_second=40)
    rates: list[float | None] = []

    def on_retry(event: RetryEvent) -> None:
        rates.append(limiter.current_request_rate)

    async with sim.client(retry=FAST, rate_limiter=limiter, on_retry=on_retry) as sms:
        assert limiter.current_request_rate == 40
        await sms.batches.get(batch_id)  # 429, 429, 200
        assert rates == [20.0, 10.0]
        assert limiter.rate_limited_count == 2
        # ten successes in all at the lowered rate raise it by a quarter
        for _ in range(8):
            await sms.batches.get(batch_id)
        assert limiter.current_request_rate == 10.0
        started = time.monotonic()
        await sms.batches.get(batch_id)
        assert time.monotonic() - started < 0.5
        assert limiter.current_request_rate == 12.5
    # step by step until the configured rate is back
    seen = [limiter.current_request_rate]
    for _ in range(200):
        limiter.on_success()
        if limiter.current_request_rate != seen[-1]:
            seen.append(limiter.current_request_rate)
    assert seen[:3] == [12.5, 15.625, 19.53125]
    assert seen[-1] == 40
    assert all(a < b for a, b in itertools.pairwise(seen))


async def test_throttled_rate_actually_paces_requests(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=429, retry_after="0")
    limiter = RateLimiter(requests_per_second=100)
    async with sim.client(retry=FAST, rate_limiter=limiter) as sms:
        await sms.batches.get(batch_id)
        assert limiter.current_request_rate == 50.0
        started = time.monotonic()
        await asyncio.gather(*(sms.batches.get(batch_id) for _ in range(6)))
        elapsed = time.monotonic() - started
    assert elapsed >= 0.08  # 50/s, not 100/s: at least 5 x 20 ms minus slack


async def test_first_429_throttles_relative_to_the_observed_rate(sim: SinchSimulator) -> None:
    """Without configured limits, the first 429 should halve the rate the client was
    actually sending at, not fall to a floor of 1 request/s."""
    batch_id = await make_batch(sim)
    async with sim.client(retry=FAST) as sms:
        started = time.monotonic()
        for _ in range(20):
            await sms.batches.get(batch_id)
        assert time.monotonic() - started < 0.8
        sim.faults.add("GET /batches/{batch_id}", status=429, retry_after="0")
        await sms.batches.get(batch_id)
        rate = sms.rate_limiter.current_request_rate
    assert rate is not None
    assert rate >= 5.0, f"throttled to {rate} req/s after 20+ req/s"


# --- max_concurrency --------------------------------------------------------------------------


async def test_max_concurrency_bounds_requests_in_flight(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=None, latency=0.15, times=None)
    async with sim.client(retry=FAST, max_concurrency=2) as sms:
        started = time.monotonic()
        await asyncio.gather(*(sms.batches.get(batch_id) for _ in range(6)))
        elapsed = time.monotonic() - started
    arrivals = offsets(calls(sim, "GET", f"/batches/{batch_id}"))
    assert len(arrivals) == 6
    assert max_overlap(arrivals, 0.12) == 2
    assert elapsed >= 0.42  # three waves of 0.15 s


async def test_without_max_concurrency_requests_overlap(sim: SinchSimulator) -> None:
    """The control for the test above: the journal method does see concurrency."""
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=None, latency=0.15, times=None)
    async with sim.client(retry=FAST) as sms:
        await asyncio.gather(*(sms.batches.get(batch_id) for _ in range(6)))
    arrivals = offsets(calls(sim, "GET", f"/batches/{batch_id}"))
    assert max_overlap(arrivals, 0.12) == 6


async def test_response_elapsed_excludes_waiting_for_a_slot(sim: SinchSimulator) -> None:
    """``ResponseEvent.elapsed`` is "from sending the request": time spent waiting for a
    max_concurrency slot is not part of it."""
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=None, latency=0.15, times=None)
    responses: list[ResponseEvent] = []
    async with sim.client(retry=FAST, max_concurrency=1, on_response=responses.append) as sms:
        await asyncio.gather(*(sms.batches.get(batch_id) for _ in range(3)))
    elapsed = sorted(e.elapsed for e in responses)
    assert len(elapsed) == 3
    assert elapsed[0] >= 0.14
    assert elapsed[-1] < 0.28, elapsed


# --- a shared limiter ---------------------------------------------------------------------------


async def test_shared_rate_limiter_limits_the_sum_of_two_clients(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    limiter = RateLimiter(requests_per_second=20)
    async with (
        sim.client(retry=FAST, rate_limiter=limiter) as one,
        sim.client(retry=FAST, rate_limiter=limiter) as two,
    ):
        assert one.rate_limiter is two.rate_limiter is limiter
        started = time.monotonic()
        await asyncio.gather(
            *(one.batches.get(batch_id) for _ in range(5)),
            *(two.batches.get(batch_id) for _ in range(5)),
        )
        elapsed = time.monotonic() - started
    assert elapsed >= 0.4  # 10 requests at 20/s in all, not 20/s each
    arrivals = offsets(calls(sim, "GET", f"/batches/{batch_id}"))
    assert len(arrivals) == 10
    assert sum(1 for t in arrivals if t < 0.2) <= 5


async def test_shared_limiter_shares_the_cooldown(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=429, retry_after="0.3")
    limiter = RateLimiter(adaptive=False)
    got_429 = asyncio.Event()

    def on_response(event: ResponseEvent) -> None:
        if event.status == 429:
            got_429.set()

    async with (
        sim.client(retry=FAST, rate_limiter=limiter, on_response=on_response) as one,
        sim.client(retry=FAST, rate_limiter=limiter) as two,
    ):
        first = asyncio.create_task(one.batches.get(batch_id))
        await got_429.wait()
        started = time.monotonic()
        await two.batches.get(batch_id)
        waited = time.monotonic() - started
        await first
    assert waited >= 0.2


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "limit",
    [{"requests_per_second": 5}, {"messages_per_second": 5}, {"max_concurrency": 2}],
)
async def test_rate_limiter_and_limits_together_are_rejected(
    sim: SinchSimulator, limit: dict[str, float]
) -> None:
    with pytest.raises(SinchValidationError) as caught:
        sim.client(rate_limiter=RateLimiter(requests_per_second=5), **limit)
    assert caught.value.field == "rate_limiter"
    assert next(iter(limit)) in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("requests_per_second", 0), ("messages_per_second", -1.0), ("max_concurrency", 0)],
)
async def test_bad_limits_are_validation_errors(
    sim: SinchSimulator, name: str, value: float
) -> None:
    with pytest.raises(SinchValidationError) as caught:
        sim.client(**{name: value})
    assert caught.value.field == name


class _Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_try_take_follows_the_grid_and_the_window_log() -> None:
    """The lock-free fast path takes a slot only when the slow path would not wait."""
    from sinch_async import _ratelimit

    clock = _Clock()
    pacer = _ratelimit._Pacer(4.0, clock)  # slots 0.25 s apart; window log of 4
    assert pacer.try_take()  # idle: starts at once (t=100)
    assert not pacer.try_take()  # the next slot is 0.25 s away
    clock.now = 100.45  # a late start, still on the slot of 100.25
    assert pacer.try_take()
    for now in (100.5, 100.75, 101.0):  # the grid does not move for the late one
        clock.now = now
        assert pacer.try_take()
    clock.now = 101.25  # a slot on the grid, but the start at 100.45 was < 1 s ago
    assert not pacer.try_take()
    clock.now = 101.45
    assert pacer.try_take()
    clock.now += 10.0  # idle: no catching up on the unused slots
    assert pacer.try_take()
    assert not pacer.try_take()


def test_limiter_try_acquire_defers_to_acquire_when_a_limit_applies() -> None:
    free = RateLimiter()
    assert free.try_acquire(1000)
    weighted = RateLimiter(messages_per_second=100)
    assert not weighted.try_acquire(5)  # the message bucket is awaited in acquire()
    assert weighted.try_acquire(0)  # a call carrying no messages is not weighed
    cooling = RateLimiter()
    cooling.on_rate_limited(30.0)
    assert not cooling.try_acquire()
    assert cooling.current_request_rate is not None  # the first 429 set a throttle


def test_pacer_in_one_loop_iteration_does_not_wait_for_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starts inside one loop iteration must not queue when the rate leaves room.

    uvloop's ``loop.time()`` stands still during an iteration; a pacer reading it
    sent every request after the first through a timer (one loop iteration each).
    """
    from sinch_async import _ratelimit

    class FrozenLoop:  # uvloop-like: the loop's time does not move within an iteration
        def time(self) -> float:
            return 100.0

    monkeypatch.setattr(_ratelimit.asyncio, "get_running_loop", FrozenLoop)
    pacer = _ratelimit._Pacer(1_000_000.0)
    taken = 0
    for _ in range(50):
        until = time.monotonic() + 20e-6  # 20 µs of work per request: 20 slots
        while time.monotonic() < until:
            pass
        taken += pacer.try_take()
    assert taken == 50


async def test_pacer_sleeps_again_when_a_timer_fires_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sinch_async import _ratelimit

    clock = _Clock()
    pacer = _ratelimit._Pacer(2.0, clock)
    assert pacer.try_take()  # the next slot is at 100.5
    sleeps: list[float] = []

    async def early_sleep(delay: float) -> None:
        sleeps.append(delay)
        clock.now += delay * 0.5 if len(sleeps) == 1 else delay  # the first wake-up is early

    monkeypatch.setattr(_ratelimit.asyncio, "sleep", early_sleep)
    await pacer.acquire()
    assert clock.now >= 100.5
    assert len(sleeps) == 2
