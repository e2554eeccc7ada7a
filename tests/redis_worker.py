"""A worker process for the multi-process ``RedisRateLimiter`` tests.

Run as ``python tests/redis_worker.py CONFIG.json OUT.json``: it builds an
``AsyncSmsClient`` pointed at the test's simulator with ``rate_limiter=`` a
``RedisRateLimiter`` (wrapped to time every ``acquire``), waits until the shared
start time, sends as fast as the limiter allows until the end time (each sender
kind runs ``concurrency`` coroutines that send again as soon as a send is over),
then writes what it saw as JSON:

* ``acquires``: ``[messages, start, end]`` per acquire (``time.time()``);
* ``sends``: ``[recipients, start, end, outcome]`` per send (``"ok"`` or the error's
  class name);
* ``logs``: ``[time, level, message]`` of the ``sinch_async.redis`` logger;
* ``redis_calls``, ``rate_limited_count``, ``cpu`` (``time.process_time()`` spent
  from the start time to the last send), ``in_fallback_at_end``.

The config (JSON): ``worker`` (its number, put in each message body as ``w{n}`` so
the simulator's journal tells the workers apart), ``base_url``, ``plan``, ``token``,
``redis_url``, ``key``, ``limiter`` (keyword arguments of ``RedisRateLimiter``),
``start_at`` and ``duration`` (seconds, ``time.time()``), ``senders``
(``[{"recipients": 1, "concurrency": 4}, ...]``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from sinch_async import AsyncSmsClient, RetryPolicy, SinchError
from sinch_async.redis import RedisRateLimiter


class TimedLimiter:
    """The limiter protocol around a ``RedisRateLimiter``, recording each acquire's wait."""

    def __init__(self, inner: RedisRateLimiter) -> None:
        self.inner = inner
        self.acquires: list[list[float]] = []

    async def acquire(self, messages: int = 0) -> None:
        started = time.time()
        await self.inner.acquire(messages)
        self.acquires.append([messages, started, time.time()])

    def release(self) -> None:
        self.inner.release()

    def on_rate_limited(
        self, retry_after: float | None, *, cap: float | None = None, sent_at: float | None = None
    ) -> None:
        self.inner.on_rate_limited(retry_after, cap=cap, sent_at=sent_at)

    def on_success(self) -> None:
        self.inner.on_success()


class LogRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[list[Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append([record.created, record.levelname, record.getMessage()])


def recipients(worker: int, count: int) -> list[str]:
    return [f"+467{worker:02d}{i:06d}" for i in range(count)]


async def run(config: dict[str, Any]) -> dict[str, Any]:
    worker = int(config["worker"])
    logs = LogRecorder()
    logger = logging.getLogger("sinch_async.redis")
    logger.addHandler(logs)
    logger.setLevel(logging.DEBUG)

    inner = RedisRateLimiter(config["redis_url"], config["key"], **config["limiter"])
    limiter = TimedLimiter(inner)
    sends: list[list[Any]] = []
    end_at = float(config["start_at"]) + float(config["duration"])
    body = f"w{worker}"

    async with AsyncSmsClient(
        service_plan_id=config["plan"],
        api_token=config["token"],
        base_url=config["base_url"],
        rate_limiter=limiter,
        retry=RetryPolicy(backoff_base=0.01, backoff_max=0.05),
    ) as client:

        async def sender(to: list[str]) -> None:
            while time.time() < end_at:
                started = time.time()
                try:
                    await client.batches.send(to, body)
                    outcome = "ok"
                except SinchError as exc:
                    outcome = type(exc).__name__
                sends.append([len(to), started, time.time(), outcome])

        await asyncio.sleep(max(float(config["start_at"]) - time.time(), 0.0))
        cpu_started = time.process_time()
        await asyncio.gather(
            *(
                sender(recipients(worker, int(kind["recipients"])))
                for kind in config["senders"]
                for _ in range(int(kind["concurrency"]))
            )
        )
        cpu = time.process_time() - cpu_started
    in_fallback = inner.in_fallback
    await inner.aclose()
    return {
        "worker": worker,
        "acquires": limiter.acquires,
        "sends": sends,
        "logs": logs.lines,
        "redis_calls": inner.redis_calls,
        "rate_limited_count": inner.rate_limited_count,
        "cpu": cpu,
        "in_fallback_at_end": in_fallback,
    }


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    result = asyncio.run(run(config))
    Path(argv[2]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
