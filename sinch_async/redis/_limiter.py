"""``RedisRateLimiter``: one service plan's rate limits, shared by every process through Redis.

A Lua script books each request's slot in a generic cell rate algorithm (GCRA) on the
Redis server's clock and returns how long to wait: requests are paced evenly, a send to
1000 recipients takes 1000 message cells, and waiters in every process are served in the
order they booked, so a large send is never starved by small ones. The requests of one
process that arrive while its booking is on its way are booked together, in order, by the
next call: at most one Redis call per request. A second script records a 429: the
cool-down (``Retry-After``) for everyone and, on repeated 429s, a lower shared request
rate that recovers step by step with the successes that each process reports on its
next booking.

State is one hash per limiter key (``{prefix}{key}``), expiring when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from sinch_async._instrument import resolve_telemetry
from sinch_async._ratelimit import RateLimiter
from sinch_async.redis._lua import BOOK, RATE_LIMITED

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from redis.asyncio import Redis

import redis.asyncio as _redis_asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

__all__ = ["RedisRateLimiter"]

logger = logging.getLogger("sinch_async.redis")

_UNAVAILABLE = (RedisError, OSError, asyncio.TimeoutError)
"""What a Redis call raises when the server cannot be reached or answer."""


class RedisRateLimiter:
    """Request and message rate limits and the 429 cool-down, shared through Redis.

    A drop-in for ``rate_limiter=`` on both clients (it implements
    :class:`~sinch_async.Limiter`). Every process that uses the same Redis and ``key``
    (for example the service plan ID) shares the limits::

        from redis.asyncio import Redis
        from sinch_async.redis import RedisRateLimiter

        redis = Redis.from_url("redis://localhost:6379/0", socket_timeout=1)
        limiter = RedisRateLimiter(redis, "my-plan", messages_per_second=100)
        sms = AsyncSmsClient(service_plan_id=..., api_token=..., rate_limiter=limiter)

    Args:
        redis: A ``redis.asyncio.Redis`` client (the caller closes it), or a URL, from
            which one is made with 1 s socket timeouts (closed by :meth:`aclose`). Give
            a client of your own socket timeouts, so that a Redis that stops answering
            sends this limiter into its fallback instead of hanging.
        key: The name shared by the processes (the service plan ID).
        requests_per_second, messages_per_second, request_burst, message_burst,
        cooldown, adaptive: as for :class:`~sinch_async.RateLimiter`, but for all
            processes together: the message rate is weighted by recipients, a weight
            above the rate is paced (not refused), a 429 anywhere starts the cool-down
            for everyone (``Retry-After``, or ``cooldown`` seconds), and repeated 429s
            halve the shared request rate, which recovers by a quarter after each run
            of successes.
        max_concurrency: Requests in flight **in this process**. It stays per process:
            a shared count would be left too high forever by a process that dies
            holding slots, and needs a second Redis call per request to give one back;
            the connection pool bounds each process anyway.
        fallback: While Redis cannot be reached, limit locally at ``fallback_share`` of
            the rates (True, the default; logged once on entering and once on leaving,
            Redis retried every ``retry_interval`` seconds in the background), or wait
            for Redis to come back (False). Never unlimited.
        fallback_share: The share of the rates one process may use in fallback (0.25:
            for about four processes; give ``1 / number of workers``).
        prefix: Of the Redis key (``sinch:ratelimit:``).
        idle_ttl: Seconds after the last use when the key expires (600).
        retry_interval: Seconds between pings of an unreachable Redis (1).
        headroom: Pace this share below the rates (0.01): requests reach Sinch with
            varying delay, and a few milliseconds of it would otherwise put a one-second
            window one or two requests above the rate.
        telemetry, meter_provider: With the OpenTelemetry API installed, the
            ``sinch_async.rate_limit.fallback`` up-down counter is 1 for this key while
            in fallback (``telemetry=False``: not recorded; ``meter_provider`` replaces
            the global one).

    Cancelling a waiting :meth:`acquire` leaves its booked slot unused: the limits
    are never exceeded, the plan's capacity for that slot is lost.
    """

    def __init__(
        self,
        redis: Redis | str,
        key: str,
        *,
        requests_per_second: float | None = None,
        messages_per_second: float | None = None,
        max_concurrency: int | None = None,
        request_burst: float = 1.0,
        message_burst: float | None = None,
        cooldown: float = 1.0,
        adaptive: bool = True,
        fallback: bool = True,
        fallback_share: float = 0.25,
        prefix: str = "sinch:ratelimit:",
        idle_ttl: float = 600.0,
        retry_interval: float = 1.0,
        headroom: float = 0.01,
        telemetry: bool = True,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        for name, value in (
            ("requests_per_second", requests_per_second),
            ("messages_per_second", messages_per_second),
        ):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number or None")
        if requests_per_second is None and messages_per_second is None:
            raise ValueError("give requests_per_second, messages_per_second or both")
        if not 0 < fallback_share <= 1:
            raise ValueError("fallback_share must be in (0, 1]")
        if request_burst < 1:
            raise ValueError("request_burst must be at least 1")
        if message_burst is not None and message_burst < 1:
            raise ValueError("message_burst must be at least 1")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1 or None")
        for name, value in (
            ("idle_ttl", idle_ttl),
            ("retry_interval", retry_interval),
            ("cooldown", cooldown),
        ):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number")
        if not 0 <= headroom < 0.5:
            raise ValueError("headroom must be in [0, 0.5)")
        if not key:
            raise ValueError("key must be a non-empty string")
        self._telemetry = resolve_telemetry(telemetry, None, meter_provider)
        if isinstance(redis, str):
            self.redis: Redis = _redis_asyncio.Redis.from_url(
                redis,
                socket_timeout=1.0,
                socket_connect_timeout=1.0,
                retry=Retry(NoBackoff(), 1),  # fall back at once rather than retry 10 times
            )
            self._owns_redis = True
        else:
            self.redis = redis
            self._owns_redis = False
        self.key = prefix + key
        self.requests_per_second = requests_per_second
        self.messages_per_second = messages_per_second
        self.max_concurrency = max_concurrency
        self.request_burst = request_burst
        self.message_burst = (
            message_burst
            if message_burst is not None
            else max((messages_per_second or 0) / 10.0, 1.0)
        )
        self.cooldown = cooldown
        self.adaptive = adaptive
        self.fallback = fallback
        self.fallback_share = fallback_share
        self.idle_ttl = idle_ttl
        self.retry_interval = retry_interval
        self.semaphore = None if max_concurrency is None else asyncio.Semaphore(max_concurrency)
        """The in-flight bound of this process (``None`` without ``max_concurrency``)."""
        self._book = self.redis.register_script(BOOK)
        self._rate_limited = self.redis.register_script(RATE_LIMITED)
        self.headroom = headroom
        pace = 1.0 - headroom
        self._book_args: list[Any] = [
            (requests_per_second or 0) * pace,
            request_burst,
            (messages_per_second or 0) * pace,
            self.message_burst,
            0,
            int(idle_ttl * 1000),
        ]
        # Requests waiting to be booked, in arrival order, and the task booking them: all
        # the requests that arrive while one booking is on its way go in the next, together.
        self._pending: list[tuple[int, asyncio.Future[float | None]]] = []
        self._booker: asyncio.Task[None] | None = None
        self._successes = 0  # reported with the next booking
        self._offset_ms = 0.0  # server clock (ms) minus time.monotonic() (ms)
        self._cooldown_until = 0.0  # monotonic; a 429 this process saw
        self._throttle_rate: float | None = None
        self._local: RateLimiter | None = None  # the fallback while Redis is unreachable
        self._probe: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.rate_limited_count = 0
        """429 responses this process saw."""
        self.redis_calls = 0
        """Calls made to Redis (bookings and 429 records), for metrics and tests."""

    def __repr__(self) -> str:
        return (
            f"RedisRateLimiter(key={self.key!r}, requests_per_second={self.requests_per_second}, "
            f"messages_per_second={self.messages_per_second}, "
            f"max_concurrency={self.max_concurrency}, in_fallback={self.in_fallback})"
        )

    @property
    def in_fallback(self) -> bool:
        """True while Redis is unreachable and the local fallback limits this process."""
        return self._local is not None

    @property
    def current_request_rate(self) -> float | None:
        """The shared request rate in force at the last booking (lowered after 429s)."""
        if self._throttle_rate is not None:
            return self._throttle_rate
        return self.requests_per_second

    @property
    def cooling_down(self) -> bool:
        """True while a cool-down this process knows of is running."""
        return time.monotonic() < self._cooldown_until

    async def acquire(self, messages: int = 0) -> None:
        """Book a slot for a request of ``messages`` recipients, wait for it, then take a
        concurrency slot of this process. At most one Redis call (requests that arrive
        together share one)."""
        wait = None if self._local is not None else await self._booking(messages)
        if wait is None:  # Redis is unreachable: the local fallback's terms
            local = self._local
            assert local is not None
            await local.acquire(messages)
        elif wait > 0:
            await asyncio.sleep(wait)
        semaphore = self.semaphore
        if semaphore is not None:
            await semaphore.acquire()
        remaining = self._cooldown_until - time.monotonic()
        if remaining > 0:  # a 429 this process saw after the slot was booked
            try:
                await asyncio.sleep(remaining)
            except BaseException:
                self.release()
                raise

    def release(self) -> None:
        """Give back this process's concurrency slot."""
        if self.semaphore is not None:
            self.semaphore.release()

    def on_rate_limited(
        self, retry_after: float | None, *, cap: float | None = None, sent_at: float | None = None
    ) -> None:
        """A 429: the cool-down starts here at once, and for every process through Redis
        (in the background: this method is synchronous)."""
        self.rate_limited_count += 1
        pause = self.cooldown if retry_after is None else retry_after
        if cap is not None:
            pause = min(pause, cap)
        self._cooldown_until = max(self._cooldown_until, time.monotonic() + pause)
        self._successes = 0
        local = self._local
        if local is not None:
            local.on_rate_limited(retry_after, cap=cap, sent_at=sent_at)
            return
        sent_ms = -1.0 if sent_at is None else sent_at * 1000 + self._offset_ms
        task = asyncio.get_running_loop().create_task(self._record_rate_limited(pause, sent_ms))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_success(self) -> None:
        """A success: counted, and reported with the next booking (for the recovery)."""
        self._successes += 1
        if self._local is not None:
            self._local.on_success()

    async def aclose(self) -> None:
        """Stop the background work (and close the Redis client if made from a URL)."""
        tasks = [
            *self._tasks,
            *(task for task in (self._probe, self._booker) if task is not None),
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._probe = None
        if self._owns_redis:
            await self.redis.aclose()

    # -- Redis ---------------------------------------------------------------------------

    async def _booking(self, messages: int) -> float | None:
        """Seconds to wait for the slot booked in Redis; ``None`` when Redis is unreachable
        and the fallback is on (then the local fallback limits this request).

        Requests that arrive while a booking is on its way are booked together by the next
        one, in order: one Redis call for many requests, never more than one per request.
        """
        future: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        self._pending.append((messages, future))
        if self._booker is None:
            self._booker = asyncio.get_running_loop().create_task(self._book_pending())
        return await future

    async def _book_pending(self) -> None:
        """Book the waiting requests, batch after batch, until none is left."""
        batch: list[tuple[int, asyncio.Future[float | None]]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                waits = await self._book_batch([weight for weight, _ in batch])
                for (_, future), wait in zip(batch, waits, strict=True):
                    if not future.done():  # (a cancelled acquire leaves its slot unused)
                        future.set_result(wait)
        except BaseException as exc:  # cancelled by aclose(), or a bug: no waiter hangs
            error = exc if isinstance(exc, Exception) else RuntimeError("the limiter was closed")
            for _, future in [*batch, *self._pending]:
                if not future.done():
                    future.set_exception(error)
            self._pending = []
            raise
        finally:
            self._booker = None

    async def _book_batch(self, weights: list[int]) -> list[float | None]:
        """One script call booking ``weights`` in order; ``None`` each in fallback."""
        while True:
            reported = self._successes
            args = self._book_args
            args[4] = reported
            try:
                self.redis_calls += 1
                result = await self._book(keys=[self.key], args=[*args, *weights])
            except _UNAVAILABLE as exc:
                outage = self._outage(exc)
                if self.fallback:
                    return [None] * len(weights)
                await asyncio.shield(outage)  # fallback=False: wait for Redis, then book
                continue
            self._successes = max(self._successes - reported, 0)
            now_ms, throttle, *waits_us = (int(value) for value in result)
            self._offset_ms = now_ms - time.monotonic() * 1000
            self._throttle_rate = throttle / 1000 if throttle else None
            return [max(wait, 0) / 1_000_000 for wait in waits_us]

    async def _record_rate_limited(self, pause: float, sent_ms: float) -> None:
        args = [
            int(pause * 1000),
            sent_ms,
            self._book_args[0],  # the request rate as paced
            1 if self.adaptive else 0,
            int(self.idle_ttl * 1000),
        ]
        try:
            self.redis_calls += 1
            await self._rate_limited(keys=[self.key], args=args)
        except _UNAVAILABLE as exc:
            self._outage(exc)

    # -- while Redis is unreachable ----------------------------------------------------------

    def _outage(self, exc: BaseException) -> asyncio.Task[None]:
        """Redis failed: start the outage once (the fallback limiter, if on, one log line and
        the background probe); returns the probe, which ends when Redis answers again."""
        probe = self._probe
        if probe is not None:
            return probe
        if self.fallback:
            share = self.fallback_share
            self._local = RateLimiter(
                requests_per_second=_share(self.requests_per_second, share),
                messages_per_second=_share(self.messages_per_second, share),
                request_burst=self.request_burst,
                message_burst=max(self.message_burst * share, 1.0),
                cooldown=self.cooldown,
                adaptive=self.adaptive,
            )
            how = f"limiting this process locally at {share:.0%} of the rates"
        else:
            how = "waiting for it (fallback=False)"
        logger.warning(
            "Redis unreachable for rate limiter %s (%s); %s until it returns",
            self.key,
            type(exc).__name__,
            how,
        )
        probe = self._probe = asyncio.get_running_loop().create_task(self._probe_redis())
        self._count_fallback(1)
        return probe

    def _count_fallback(self, change: int) -> None:
        """``sinch_async.rate_limit.fallback``: 1 for this key while Redis is unreachable."""
        if self._telemetry is not None:
            attributes = {"sinch.rate_limit.key": self.key}
            self._telemetry.instruments.limiter_fallback.add(change, attributes)

    async def _probe_redis(self) -> None:
        """Ping Redis every ``retry_interval`` seconds; end the outage when it answers."""
        while True:
            await asyncio.sleep(self.retry_interval)
            try:
                await self.redis.ping()
            except _UNAVAILABLE:
                continue
            self._local = None
            self._probe = None
            self._count_fallback(-1)
            logger.warning("Redis is back for rate limiter %s; sharing the limits again", self.key)
            return


def _share(rate: float | None, share: float) -> float | None:
    return None if rate is None else rate * share
