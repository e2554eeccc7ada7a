"""``RedisRateLimiter`` against a real Redis server and the simulator.

The multi-process tests run four worker processes (``tests/redis_worker.py``), each with
its own ``AsyncSmsClient`` and ``RedisRateLimiter`` on the same key, against one
simulator served by this test process on 127.0.0.1; the rates are measured from the
simulator's journal (server-side arrival times, on a clock that runs at real time) and
the waits from the workers' own records. The unit tests use the limiter in this process
with the same private Redis server.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sinch_async.redis import RedisRateLimiter
from sinch_async.testing import JournalEntry, SinchSimulator
from tests._redis import RedisServer
from tests.conftest import posts, sinch_env

if TYPE_CHECKING:
    from redis.asyncio import Redis

pytestmark = pytest.mark.sinch_simulator(time_scale=1, seed=15, messages_per_second=1)
# The simulator's own dispatch rate (1/s) is not what is measured here: it only keeps the
# simulator's background work small, so that the test process serving four workers on a
# small machine does not add its own delays to the arrival times.

WORKER = Path(__file__).resolve().parent / "redis_worker.py"
WORKERS = 4
STARTUP = 3.0
"""Seconds from launching the workers to their common start (imports, connections)."""


# --- running the workers ----------------------------------------------------------------------


@dataclass
class Run:
    """What one multi-process run produced."""

    start: float  # time.time() of the common start
    end: float  # start + duration: no send starts after this
    results: list[dict[str, Any]]  # one per worker, as tests/redis_worker.py writes it
    arrivals: list[JournalEntry]  # every POST /batches the simulator received, in order

    def times(self, worker: int | None = None) -> list[float]:
        """Server-side arrival times (Unix seconds), of one worker's sends or all."""
        body = None if worker is None else f"w{worker}"
        return [
            e.time.timestamp()
            for e in self.arrivals
            if body is None or (isinstance(e.json, dict) and e.json.get("body") == body)
        ]

    def weighted(self) -> list[tuple[float, int]]:
        """(arrival time, recipients) of every send."""
        return [(e.time.timestamp(), len(e.json["to"])) for e in self.arrivals]


async def run_workers(
    tmp_path: Path,
    sim: SinchSimulator,
    redis_url: str,
    *,
    limiter: dict[str, Any],
    senders: Sequence[dict[str, int]],
    duration: float,
    key: str = "plan-shared",
    during: Any = None,
) -> Run:
    """Start :data:`WORKERS` worker processes that share one ``RedisRateLimiter`` key and
    send to ``sim`` for ``duration`` seconds from a common start; ``during(start)`` (a
    coroutine function) runs in this process meanwhile. Every worker is waited for (and
    killed by its PID if it overruns)."""
    start = time.time() + STARTUP
    processes = []
    outputs = []
    for worker in range(WORKERS):
        config = {
            "worker": worker,
            "base_url": sim.url,
            "plan": sim.service_plan_id,
            "token": sim.api_token,
            "redis_url": redis_url,
            "key": key,
            "limiter": limiter,
            "start_at": start,
            "duration": duration,
            "senders": list(senders),
        }
        config_path = tmp_path / f"worker{worker}.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        output = tmp_path / f"result{worker}.json"
        outputs.append(output)
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(WORKER),
                str(config_path),
                str(output),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=sinch_env(),
            )
        )
    try:
        if during is not None:
            await during(start)
        finished = await asyncio.wait_for(
            asyncio.gather(*(p.communicate() for p in processes)),
            STARTUP + duration + 60,
        )
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    for process, (_out, err) in zip(processes, finished, strict=True):
        assert process.returncode == 0, err.decode(errors="replace")[-3000:]
    results = [json.loads(path.read_text(encoding="utf-8")) for path in outputs]
    return Run(start, start + duration, results, posts(sim))


# --- measuring ---------------------------------------------------------------------------------


def steady_rate(
    times: Sequence[float], weights: Sequence[int] | None, lo: float, hi: float
) -> float:
    """The rate of the arrivals in [lo, hi], from the first to the last of the heaviest ones.

    Under a saturated GCRA, consecutive starts are exactly ``weight / rate`` apart (the
    later one's weight): so the rate between two starts is the weights *after* the first
    one, up to and including the last, over the time between them. Counting whole sends in
    a fixed window instead would be off by up to one send's weight (a 1000-recipient send
    is a fifth of a second at 5000/s). The two ends are sends of the largest weight: the
    simulator stamps a request once it has read its body, so a 1-recipient send booked just
    after a 1000-recipient one can arrive first; with small sends as ends, such a swap would
    move 1000 messages in or out of the count, with large ones it moves one.
    """
    if weights is None:
        weights = [1] * len(times)
    heaviest = max(w for t, w in zip(times, weights, strict=True) if lo <= t <= hi)
    ends = [i for i, t in enumerate(times) if lo <= t <= hi and weights[i] == heaviest]
    first, last = ends[0], ends[-1]
    return sum(weights[first + 1 : last + 1]) / (times[last] - times[first])


def max_window(times: Sequence[float], weights: Sequence[int] | None = None) -> float:
    """The most (weighted) arrivals in any half-open one-second window [t, t + 1) that
    starts at an arrival (the windows with the most arrivals start at one)."""
    ordered = sorted(zip(times, weights if weights is not None else [1] * len(times), strict=True))
    best = 0.0
    total = 0.0
    j = 0
    for i, (t, _) in enumerate(ordered):
        while j < len(ordered) and ordered[j][0] < t + 1.0:
            total += ordered[j][1]
            j += 1
        best = max(best, total)
        total -= ordered[i][1]
    return best


def grid_spread(times: Sequence[float], rate: float, lo: float, hi: float) -> float:
    """How far apart (seconds) the earliest and the latest arrival in [lo, hi] are from an
    even grid of ``1 / rate``: the spread of the lateness of the requests."""
    inside = [t for t in times if lo <= t <= hi]
    lateness = [t - i / rate for i, t in enumerate(inside)]
    return max(lateness) - min(lateness)


def waits(run: Run, messages: int) -> list[float]:
    """Seconds spent in ``acquire`` by every acquire of ``messages`` recipients, after the
    start (the first bookings of each worker include connecting to Redis)."""
    return [
        end - begin
        for result in run.results
        for weight, begin, end in result["acquires"]
        if weight == messages and begin >= run.start + 0.5
    ]


def report(label: str, **figures: Any) -> None:
    """Print measured figures (shown with ``pytest -s`` or on failure)."""
    shown = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
    )
    print(f"[{label}] {shown}")


# --- 1. requests_per_second shared by four processes ------------------------------------------


async def test_four_processes_share_requests_per_second(
    tmp_path: Path, sim: SinchSimulator, redis_url: str
) -> None:
    rate = 200
    run = await run_workers(
        tmp_path,
        sim,
        redis_url,
        limiter={"requests_per_second": rate},
        senders=[{"recipients": 1, "concurrency": 8}],
        duration=8.0,
    )
    times = run.times()
    measured = steady_rate(times, None, run.start + 1.0, run.end - 0.25)
    window = max_window([t for t in times if t >= run.start + 0.5])
    per_worker = [len(run.times(w)) for w in range(WORKERS)]
    calls = sum(r["redis_calls"] for r in run.results)
    acquires = sum(len(r["acquires"]) for r in run.results)
    cpu = sum(r["cpu"] for r in run.results) / max(sum(len(r["sends"]) for r in run.results), 1)
    granted = sorted(end for r in run.results for _w, _b, end in r["acquires"])
    report(
        "rps",
        rate=measured,
        max_window=window,
        max_window_at_workers=max_window([t for t in granted if t >= run.start + 0.5]),
        per_worker=per_worker,
        redis_calls=calls,
        acquires=acquires,
        cpu_ms_per_send=cpu * 1000,
        grid_spread_ms=grid_spread(times, rate, run.start + 1.0, run.end - 0.25) * 1000,
    )
    assert abs(measured - rate) <= 0.02 * rate, measured
    # No one-second window above the rate, at the workers: the moments their acquires let the
    # requests start (what a client-side limiter controls). At the simulator the same requests
    # arrive after a loopback round trip and the simulator's own queueing in this process,
    # which on this 2-core machine bunches them by up to ~100 ms (windows of 205-213 measured
    # there while the starts never passed 200); that is reported, not asserted. The limiter's
    # 1 % headroom (198/s) leaves room for ~10 ms of wake-up jitter at the workers. On a loaded
    # 2-core machine (the full suite with other work running) a worker process can wake a few
    # milliseconds late and start a request that was booked in the previous second together
    # with this second's: measured up to 202 (1 %) there, against 199 on a quiet machine.
    # Over-booking would show in the aggregate (the 2 % check above) and here beyond 1 %.
    starts = [t for t in granted if t >= run.start + 0.5]
    jitter = grid_spread(starts, rate * 0.99, run.start + 1.0, run.end - 0.25)
    assert max_window(starts) <= rate * 1.01, (max_window(starts), jitter, window)


# --- 2. messages_per_second, 1- and 1000-recipient sends mixed ---------------------------------


async def test_four_processes_share_messages_per_second_with_mixed_sizes(
    tmp_path: Path, sim: SinchSimulator, redis_url: str
) -> None:
    rate = 5000
    run = await run_workers(
        tmp_path,
        sim,
        redis_url,
        limiter={"messages_per_second": rate},
        # every worker sends both sizes at once: 4 small senders and 1 large one
        senders=[{"recipients": 1, "concurrency": 4}, {"recipients": 1000, "concurrency": 1}],
        duration=8.0,
    )
    arrivals = run.weighted()
    times = [t for t, _ in arrivals]
    weights = [w for _, w in arrivals]
    measured = steady_rate(times, weights, run.start + 1.0, run.end - 0.25)
    small, large = waits(run, 1), waits(run, 1000)
    steady = [(t, w) for t, w in arrivals if t >= run.start + 0.5]
    window = max_window([t for t, _ in steady], [w for _, w in steady])
    report(
        "mps",
        rate=measured,
        sends=len(arrivals),
        large_sends=sum(1 for w in weights if w == 1000),
        max_wait_small=max(small),
        max_wait_large=max(large),
        mean_wait_small=sum(small) / len(small),
        mean_wait_large=sum(large) / len(large),
        max_window=window,
    )
    assert abs(measured - rate) <= 0.02 * rate, measured
    # A one-second window that opens with a 1000-recipient send also holds a whole second's
    # worth after it (its messages all arrive at its start): at most rate + 1000, with the
    # issue's 2 % for the lateness of the arrivals. Four unshared limiters would be 4x.
    assert window <= 1.02 * rate + 1000, window
    # both sizes were sent all along (nobody starved), and waited alike: first come, first
    # served across the processes, whatever the weight
    assert len(large) >= 20, len(large)
    assert len(small) >= 50, len(small)
    assert max(large) <= 2 * max(small), (max(large), max(small))
    assert max(small) <= 2 * max(large), (max(small), max(large))


# --- 3. a 429 seen by one worker pauses all four -----------------------------------------------


def rate_between(times: Sequence[float], lo: float, hi: float) -> float:
    """Arrivals per second in [lo, hi) (whole requests: fine for 1-weight sends)."""
    return sum(1 for t in times if lo <= t < hi) / (hi - lo)


async def test_a_429_for_one_worker_pauses_all_four_then_the_rate_recovers(
    tmp_path: Path, sim: SinchSimulator, redis_url: str
) -> None:
    rate, retry_after, concurrency = 200, 2, 8

    async def inject(start: float) -> None:
        await asyncio.sleep(start + 2.0 - time.time())
        sim.faults.add("POST /batches", status=429, retry_after=str(retry_after), times=1)

    run = await run_workers(
        tmp_path,
        sim,
        redis_url,
        limiter={"requests_per_second": rate},
        senders=[{"recipients": 1, "concurrency": concurrency}],
        duration=9.0,
        during=inject,
    )
    (refused,) = [e for e in run.arrivals if e.status == 429]
    t429 = refused.time.timestamp()
    after = [t for t in run.times() if t > t429]
    resumed = next(t for a, t in itertools.pairwise([t429, *after]) if t - a >= 1.0)
    gap = resumed - max(t for t in [t429, *after] if t < resumed)
    booked_ahead = sum(1 for t in after if t < resumed)
    per_worker_in_pause = [
        sum(1 for t in run.times(w) if t429 + 0.5 <= t < t429 + retry_after - 0.3)
        for w in range(WORKERS)
    ]
    steps = [rate_between(after, resumed + i, resumed + i + 1) for i in range(5)]
    final = rate_between(after, run.end - 1.25, run.end - 0.25)
    report(
        "429",
        t429=t429 - run.start,
        gap=gap,
        resumed_after=resumed - t429,
        booked_ahead=booked_ahead,
        per_worker_in_pause=per_worker_in_pause,
        steps=[round(s) for s in steps],
        final=final,
        rate_limited=[r["rate_limited_count"] for r in run.results],
    )
    # One worker saw the 429 ...
    assert sorted(r["rate_limited_count"] for r in run.results) == [0, 0, 0, 1]
    # ... and all four paused: after the requests already booked when the 429 came (at most
    # each worker's concurrency, 32 slots = 0.16 s at 200/s), nothing arrived until about
    # Retry-After after the 429 (less the booked time and the trip of the 429 to Redis).
    assert booked_ahead <= WORKERS * concurrency, booked_ahead
    assert per_worker_in_pause == [0] * WORKERS, per_worker_in_pause
    assert gap >= retry_after - 0.4, gap
    assert resumed - t429 <= retry_after + 0.5, resumed - t429
    # Then the shared rate was halved, and went back up step by step (by a quarter after
    # each run of successes: 100, 125, 156, 195, then 200 requests/s).
    assert 0.35 * rate <= steps[0] <= 0.6 * rate, steps
    assert steps[1] > steps[0] + 10, steps
    assert max(steps) <= rate * 1.02, steps
    assert final >= 0.9 * rate, final


# --- 4. Redis goes away mid-run and comes back --------------------------------------------------


async def test_workers_fall_back_to_their_share_while_redis_is_down_and_rejoin(
    tmp_path: Path, sim: SinchSimulator, redis_server: RedisServer
) -> None:
    rate, share = 200, 0.25
    outage: dict[str, float] = {}

    async def stop_and_restart(start: float) -> None:
        await asyncio.sleep(start + 1.5 - time.time())
        outage["stopped"] = time.time()
        await asyncio.to_thread(redis_server.stop)
        await asyncio.sleep(start + 5.5 - time.time())
        outage["started"] = time.time()  # it answers before start() returns
        await asyncio.to_thread(redis_server.start)  # the same port

    run = await run_workers(
        tmp_path,
        sim,
        redis_server.url,
        limiter={"requests_per_second": rate, "fallback_share": share},
        senders=[{"recipients": 1, "concurrency": 8}],
        duration=10.0,
        during=stop_and_restart,
    )
    entered, left, fallback_rates, dead = [], [], [], []
    for worker, result in enumerate(run.results):
        warnings = [(t, m) for t, level, m in result["logs"] if level == "WARNING"]
        ins = [t for t, m in warnings if "unreachable" in m]
        outs = [t for t, m in warnings if "is back" in m]
        # once on entering and once on leaving, and no password or number in them
        assert len(ins) == 1, warnings
        assert len(outs) == 1, warnings
        assert len(warnings) == 2, warnings
        entered.append(ins[0])
        left.append(outs[0])
        dead.append(ins[0] - outage["stopped"])
        fallback_rates.append(rate_between(run.times(worker), ins[0] + 0.5, outs[0] - 0.1))
        assert not result["in_fallback_at_end"]
    times = run.times()
    rejoined = max(left)
    after = steady_rate(times, None, rejoined + 1.0, run.end - 0.25)
    window_after = max_window([t for t in times if t >= rejoined + 1.0])
    report(
        "outage",
        stopped=outage["stopped"] - run.start,
        started=outage["started"] - run.start,
        entered=[round(t - run.start, 2) for t in entered],
        left=[round(t - run.start, 2) for t in left],
        dead_before_fallback=[round(d, 2) for d in dead],
        fallback_rates=[round(r, 1) for r in fallback_rates],
        aggregate_in_fallback=rate_between(times, max(entered) + 0.5, min(left) - 0.1),
        rate_after=after,
        window_after=window_after,
    )
    assert all(t >= outage["stopped"] for t in entered), entered
    assert all(t >= outage["started"] for t in left), left
    # In fallback each worker is limited locally at its share (50/s): not unlimited, not zero.
    # The local limiter paces on its own, so 10 % covers the short measuring spell.
    for measured in fallback_rates:
        assert abs(measured - rate * share) <= 0.1 * rate * share, fallback_rates
    # Back on Redis, the four share the rate again.
    assert abs(after - rate) <= 0.02 * rate, after
    assert window_after <= rate * 1.02, window_after


# --- 5. fallback=False: no send while Redis is down ---------------------------------------------


async def test_without_fallback_a_send_waits_for_redis_to_return(
    sim: SinchSimulator, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RedisRateLimiter(
        redis_server.url, "plan-blocking", requests_per_second=50, fallback=False,
        retry_interval=0.2,
    )  # fmt: skip
    try:
        async with sim.client(rate_limiter=limiter, retry=None) as sms:
            await sms.batches.send(["+46700000001"], "before")
            await asyncio.to_thread(redis_server.stop)
            with caplog.at_level(logging.WARNING, logger="sinch_async.redis"):
                sending = asyncio.create_task(sms.batches.send(["+46700000002"], "during"))
                await asyncio.sleep(2.0)
                assert not sending.done()
                assert [e.json["body"] for e in posts(sim)] == ["before"]
                assert not limiter.in_fallback
                await asyncio.to_thread(redis_server.start)
                await asyncio.wait_for(sending, 15)
        assert [e.json["body"] for e in posts(sim)] == ["before", "during"]
        messages = [r.getMessage() for r in caplog.records if r.name == "sinch_async.redis"]
        assert len(messages) == 2, messages
        assert "waiting for it (fallback=False)" in messages[0]
        assert "is back" in messages[1]
    finally:
        await limiter.aclose()


# --- 6. in this process, with the real Redis ----------------------------------------------------


async def test_the_key_has_the_prefix_a_ttl_and_a_bounded_size(
    redis_url: str, redis_client: Redis
) -> None:
    limiter = RedisRateLimiter(
        redis_client, "plan-a", requests_per_second=1000, prefix="test:rl:", idle_ttl=30
    )
    default = RedisRateLimiter(redis_client, "plan-b", messages_per_second=1000)
    try:
        for _ in range(50):
            await limiter.acquire()
            limiter.release()
            await default.acquire(3)
            default.release()
        limiter.on_rate_limited(0.01)
        await asyncio.sleep(0.05)  # the 429 is recorded in the background
        await limiter.acquire()
        limiter.release()
        assert sorted(await redis_client.keys("*")) == [
            b"sinch:ratelimit:plan-b",
            b"test:rl:plan-a",
        ]
        assert 0 < await redis_client.pttl("test:rl:plan-a") <= 30_000
        assert 0 < await redis_client.pttl("sinch:ratelimit:plan-b") <= 600_000
        # one hash of a few fields per key, however many requests
        assert await redis_client.hlen("test:rl:plan-a") <= 16
    finally:
        await limiter.aclose()
        await default.aclose()


SCRIPT_COMMANDS = {"time", "hmget", "hset", "hdel", "pexpire"}
"""What the limiter's scripts call inside Redis (counted by the server, but no round trips)."""


async def command_calls(client: Redis) -> dict[str, int]:
    """Calls per command the server has processed (``INFO commandstats``)."""
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def round_trips(client: Redis, before: dict[str, int]) -> dict[str, int]:
    """The commands sent to the server since ``before``, other than the scripts' own calls
    and the INFO commands of this measurement."""
    after = await command_calls(client)
    return {
        name: calls - before.get(name, 0)
        for name, calls in after.items()
        if calls != before.get(name, 0) and name not in SCRIPT_COMMANDS | {"info"}
    }


async def test_at_most_one_redis_call_per_request(redis_url: str, redis_client: Redis) -> None:
    limiter = RedisRateLimiter(redis_url, "plan-calls", requests_per_second=10_000)
    try:
        await limiter.acquire()  # connects, loads the script
        limiter.release()
        before, calls_before = await command_calls(redis_client), limiter.redis_calls
        for _ in range(20):  # one at a time: one call each
            await limiter.acquire()
            limiter.release()
        assert await round_trips(redis_client, before) == {"evalsha": 20}
        assert limiter.redis_calls - calls_before == 20

        async def one() -> None:
            await limiter.acquire()
            limiter.release()

        before, calls_before = await command_calls(redis_client), limiter.redis_calls
        await asyncio.gather(*(one() for _ in range(50)))  # together: fewer calls
        concurrent = await round_trips(redis_client, before)
        report("calls", concurrent_50=concurrent)
        assert set(concurrent) == {"evalsha"}, concurrent
        assert 1 <= concurrent["evalsha"] <= 50
        assert limiter.redis_calls - calls_before == concurrent["evalsha"]
    finally:
        await limiter.aclose()


async def test_a_weight_above_the_rate_is_paced_not_refused(redis_client: Redis) -> None:
    # 120 messages at 100/s (burst 10): the first waits 1.1 s, the second 1.2 s more
    limiter = RedisRateLimiter(redis_client, "plan-big", messages_per_second=100)
    try:
        started = time.monotonic()
        await limiter.acquire(120)
        first = time.monotonic() - started
        limiter.release()
        await limiter.acquire(120)
        second = time.monotonic() - started
        limiter.release()
    finally:
        await limiter.aclose()
    report("big", first=first, second=second)
    assert 0.9 <= first <= 3.0, first
    assert second - first >= 1.1, (first, second)
    assert second <= 5.0, second


async def test_a_large_send_booked_first_is_not_starved_by_small_ones(redis_client: Redis) -> None:
    # two limiters on one key: two processes. 1000 messages/s, burst 100.
    big = RedisRateLimiter(redis_client, "plan-fcfs", messages_per_second=1000)
    small = RedisRateLimiter(redis_client, "plan-fcfs", messages_per_second=1000)
    done: list[tuple[str, float]] = []

    async def one(limiter: RedisRateLimiter, messages: int, name: str) -> None:
        await limiter.acquire(messages)
        done.append((name, time.monotonic()))
        limiter.release()

    try:
        started = time.monotonic()
        large = asyncio.create_task(one(big, 1000, "large"))
        await asyncio.sleep(0.3)  # booked by now (a local round trip); due at 0.9 s
        assert not large.done()
        await asyncio.gather(large, *(one(small, 1, "small") for _ in range(500)))
    finally:
        await big.aclose()
        await small.aclose()
    order = [name for name, _ in done]
    large_at = dict(done)["large"] - started
    report("fcfs", large_at=large_at, small_before=order.index("large"))
    # The 500 small ones (0.5 s of the rate) were booked after it: it goes at about 0.9 s,
    # they from then on (timers of a few ms may let one or two in first); starved, it would
    # have gone after them, at 1.4 s.
    assert large_at <= 1.2, large_at
    assert order.index("large") <= 25, order.index("large")
    assert done[-1][1] - started >= 1.3


async def test_max_concurrency_is_per_process(redis_client: Redis) -> None:
    first = RedisRateLimiter(redis_client, "plan-c", requests_per_second=1000, max_concurrency=2)
    second = RedisRateLimiter(redis_client, "plan-c", requests_per_second=1000, max_concurrency=2)
    try:
        await first.acquire()
        await first.acquire()
        third = asyncio.create_task(first.acquire())
        await asyncio.sleep(0.3)
        assert not third.done()  # this process's two slots are taken
        # the other process's are its own
        await asyncio.wait_for(asyncio.gather(second.acquire(), second.acquire()), 5)
        first.release()
        await asyncio.wait_for(third, 5)
        for limiter in (first, first, second, second):
            limiter.release()
    finally:
        await first.aclose()
        await second.aclose()


async def test_no_secret_in_the_repr_or_the_logs(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.stop()  # nothing answers on that port now
    url = f"redis://:hunter2-secret@127.0.0.1:{redis_server.port}/0"
    limiter = RedisRateLimiter(url, "plan-secret", requests_per_second=100, retry_interval=0.1)
    try:
        assert "hunter2" not in repr(limiter)
        with caplog.at_level(logging.DEBUG, logger="sinch_async"):
            await limiter.acquire()  # fallback: limited locally
            limiter.release()
        assert limiter.in_fallback
        assert "hunter2" not in repr(limiter)
        assert "in_fallback=True" in repr(limiter)
        assert caplog.records
        assert all("hunter2" not in r.getMessage() for r in caplog.records)
    finally:
        await limiter.aclose()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"requests_per_second": 0},
        {"requests_per_second": -5},
        {"messages_per_second": math.inf},
        {"messages_per_second": math.nan},
        {"requests_per_second": 10, "fallback_share": 0},
        {"requests_per_second": 10, "fallback_share": 1.5},
        {"requests_per_second": 10, "request_burst": 0.5},
    ],
)
async def test_invalid_arguments_raise_value_error(
    redis_client: Redis, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        RedisRateLimiter(redis_client, "plan", **kwargs)


async def test_an_empty_key_raises_value_error(redis_client: Redis) -> None:
    with pytest.raises(ValueError):
        RedisRateLimiter(redis_client, "", requests_per_second=10)


async def test_max_concurrency_below_one_raises_value_error(redis_client: Redis) -> None:
    with pytest.raises(ValueError):
        RedisRateLimiter(redis_client, "plan", requests_per_second=10, max_concurrency=0)


@pytest.mark.parametrize("kwargs", [{"retry_interval": 0}, {"idle_ttl": -1}])
async def test_non_positive_intervals_raise_value_error(
    redis_client: Redis, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        RedisRateLimiter(redis_client, "plan", requests_per_second=10, **kwargs)
