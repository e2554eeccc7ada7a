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
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sinch_async.testing import JournalEntry, SinchSimulator
from tests.conftest import posts, sinch_env

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
    report(
        "rps",
        rate=measured,
        max_window=window,
        per_worker=per_worker,
        redis_calls=calls,
        acquires=acquires,
        cpu_ms_per_send=cpu * 1000,
        grid_spread_ms=grid_spread(times, rate, run.start + 1.0, run.end - 0.25) * 1000,
    )
    assert abs(measured - rate) <= 0.02 * rate, measured
    # No one-second window above the rate, up to the requests' lateness: the slots are booked
    # exactly 1/rate apart on Redis's clock, but each request reaches the simulator after a
    # wake-up and a loopback round trip of varying length. A window opened by a late request
    # k can then also hold requests k + rate, k + rate + 1, ... if those were less late: with
    # a spread s (seconds) of the lateness, at most ceil(rate * (1 + s)) arrivals, and never
    # more unless more than the rate was booked. Measured here (2 cores, shared): spreads of
    # 5 to 10 ms, so windows of 201 or 202 at 200/s. The 2 % bounds it as well.
    spread = grid_spread(times, rate, run.start + 1.0, run.end - 0.25)
    assert window <= math.ceil(rate * (1 + spread) + 1e-9), (window, spread)
    assert window <= rate * 1.02, (window, spread)


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
