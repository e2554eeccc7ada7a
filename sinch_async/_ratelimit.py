"""Client-side rate limiting: the limiter protocol and the in-process :class:`RateLimiter`.

The request core talks to a limiter only through :class:`Limiter`'s four methods, once
per HTTP attempt::

    await limiter.acquire(messages)   # wait for the rate limits, a concurrency slot, the cool-down
    try:
        response = ...                # the attempt
    finally:
        limiter.release()             # give the concurrency slot back
    limiter.on_rate_limited(retry_after, cap=..., sent_at=...)   # after a 429
    limiter.on_success()              # after any other status below 400

:class:`RateLimiter` implements it in one process (aiolimiter buckets, an even pacer,
the shared 429 cool-down, an adaptive throttle); one instance may be shared by several
clients (several workers of one service plan in one process) by passing it as
``rate_limiter=``. Any object with these methods can be passed instead, for example a
limiter shared between processes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from aiolimiter import AsyncLimiter

__all__ = ["Limiter", "RateLimiter"]


@runtime_checkable
class Limiter(Protocol):
    """The limiter protocol: what the request core calls around every HTTP attempt.

    Pass any implementation as ``rate_limiter=`` to a client. Every successful
    :meth:`acquire` is followed by exactly one :meth:`release`, also when the attempt
    fails or is cancelled; a cancelled :meth:`acquire` must leave nothing held.
    """

    async def acquire(self, messages: int = 0) -> None:
        """Wait until a request carrying ``messages`` recipients (0: not a send) may start.

        Covers the request rate, the message rate (weighted by ``messages``), the
        in-flight bound and any cool-down after a 429.
        """
        ...

    def release(self) -> None:
        """The attempt that :meth:`acquire` let start is over (response read, or failed)."""
        ...

    def on_rate_limited(
        self, retry_after: float | None, *, cap: float | None = None, sent_at: float | None = None
    ) -> None:
        """A 429 came back: ``retry_after`` seconds from its header (``None``: none),
        at most ``cap``; ``sent_at`` is the ``time.monotonic()`` when the request left."""
        ...

    def on_success(self) -> None:
        """An attempt got a response below 400."""
        ...


class _FifoBucket:
    """An aiolimiter bucket served first-come-first-served, for any weight.

    aiolimiter wakes the *smallest* waiter first (which starves large
    requests) and refuses ``acquire(n)`` above ``max_rate``. Here one
    ``asyncio.Lock`` (FIFO) lets a single waiter at a time into the bucket,
    and a weight above the bucket's capacity is acquired in capacity-sized
    pieces, so a 1000-recipient send at 100 messages/s waits its turn and then
    about 9 s for its tokens instead of raising or starving.
    """

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._limiter = AsyncLimiter(burst, burst / rate)
        self._lock = asyncio.Lock()

    async def acquire(self, weight: float = 1.0) -> None:
        if weight <= 0:
            return
        limiter = self._limiter
        if not self._lock.locked() and weight <= limiter.max_rate and limiter.has_capacity(weight):
            await limiter.acquire(weight)
            return
        async with self._lock:
            remaining = weight
            while remaining > 0:
                piece = min(remaining, limiter.max_rate)
                await limiter.acquire(piece)
                remaining -= piece


class _Pacer:
    """Even pacing of requests: at most ``rate`` starts in any one-second window.

    aiolimiter's bucket with capacity 1 loses the late part of every wake-up
    (its level cannot go below zero), so under load it paces 10-20% below the
    target. Here each start has a slot on a fixed grid (``1 / rate`` apart), so
    a late wake-up does not push later slots back, and a log of the last
    ``rate`` actual starts keeps any sliding one-second window at or below
    ``rate`` even when wake-ups jitter. Waiters are served in arrival order.

    Time is ``time.monotonic()``, not ``loop.time()``: uvloop's loop time stands
    still during one loop iteration, so every request after the first in an
    iteration would look too early and wait a whole iteration for its slot.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._interval = 1.0 / rate
        self._next = 0.0
        # The window log is only needed where one-second windows are short enough to
        # jitter past the rate; above 10,000/s, the grid alone paces.
        self._log: deque[float] | None = (
            deque(maxlen=max(1, math.floor(rate))) if rate <= 10_000 else None
        )
        self._lock = asyncio.Lock()
        self._queued = 0  # callers waiting in acquire()

    def _target(self, now: float) -> float:
        if now > self._next + self._interval:
            self._next = now  # idle: no catching up on unused slots
        target = self._next
        log = self._log
        if log is not None and len(log) == log.maxlen:
            target = max(target, log[0] + 1.0)
        return target

    def _take(self, target: float, now: float) -> None:
        if self._log is not None:
            self._log.append(now)
        self._next = target + self._interval

    def try_take(self) -> bool:
        """Take a slot if one is free now (no waiting, nobody queued); else False."""
        if self._queued:
            return False
        now = self._clock()
        target = self._target(now)
        if target > now:
            return False
        self._take(target, now)
        return True

    async def acquire(self) -> None:
        if self.try_take():
            return
        clock = self._clock
        self._queued += 1
        try:
            async with self._lock:
                now = clock()
                target = self._target(now)
                # A timer may fire a little early by this clock (uvloop schedules from its
                # cached loop time): sleep again until the slot has really come.
                while now < target:
                    await asyncio.sleep(target - now)
                    now = clock()
                self._take(target, now)
        finally:
            self._queued -= 1


class RateLimiter:
    """Request and message rate limits, a concurrency bound and the 429 cool-down.

    Args:
        requests_per_second: At most this many requests start per second
            (``None``: no limit). Paced evenly: no burst above ``request_burst``.
        messages_per_second: A limit weighted by recipients: a send to 1000
            recipients takes 1000 tokens (``None``: no limit). Use the service
            plan's rate to pace a campaign instead of filling Sinch's queue.
        max_concurrency: At most this many requests in flight (``None``: no bound
            other than the connection pool).
        request_burst: Requests that may start back to back after an idle spell (1:
            evenly paced, and no sliding one-second window above the rate).
        message_burst: Messages that may go at once after an idle spell
            (default: a tenth of a second's worth, at least 1).
        cooldown: Seconds every request waits after a 429 without ``Retry-After`` (1 s).
        adaptive: Lower the request rate on repeated 429s and raise it again step
            by step while requests succeed (on).
    """

    def __init__(
        self,
        *,
        requests_per_second: float | None = None,
        messages_per_second: float | None = None,
        max_concurrency: int | None = None,
        request_burst: float = 1.0,
        message_burst: float | None = None,
        cooldown: float = 1.0,
        adaptive: bool = True,
    ) -> None:
        for name, value in (
            ("requests_per_second", requests_per_second),
            ("messages_per_second", messages_per_second),
        ):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number or None")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1 or None")
        if request_burst < 1:
            raise ValueError("request_burst must be at least 1")
        self.requests_per_second = requests_per_second
        self.messages_per_second = messages_per_second
        self.max_concurrency = max_concurrency
        self.cooldown = cooldown
        self.adaptive = adaptive
        self._requests: _Pacer | _FifoBucket | None = None
        if requests_per_second is not None:
            self._requests = (
                _Pacer(requests_per_second)
                if request_burst == 1
                else _FifoBucket(requests_per_second, request_burst)
            )
        self._messages = (
            None
            if messages_per_second is None
            else _FifoBucket(
                messages_per_second, message_burst or max(messages_per_second / 10.0, 1.0)
            )
        )
        self.semaphore = None if max_concurrency is None else asyncio.Semaphore(max_concurrency)
        """The in-flight bound (``None`` without ``max_concurrency``)."""
        self._cooldown_until = 0.0
        # Adaptive throttle after 429s (multiplicative decrease, step-wise increase).
        self._throttle: _Pacer | None = None
        self._throttle_rate = 0.0
        self._throttle_ceiling = 0.0
        self._last_decrease = -math.inf
        self._successes = 0
        self._recent: deque[float] = deque(maxlen=4096)
        self.rate_limited_count = 0
        """429 responses seen (for metrics and tests)."""

    @property
    def cooling_down(self) -> bool:
        """True while the shared cool-down after a 429 is running."""
        return self._cooldown_until > 0.0 and time.monotonic() < self._cooldown_until

    @property
    def current_request_rate(self) -> float | None:
        """The request rate in force now (lowered after 429s), or ``None`` if unlimited."""
        if self._throttle is not None:
            return self._throttle_rate
        return self.requests_per_second

    def __repr__(self) -> str:
        return (
            f"RateLimiter(requests_per_second={self.requests_per_second}, "
            f"messages_per_second={self.messages_per_second}, "
            f"max_concurrency={self.max_concurrency})"
        )

    async def acquire(self, messages: int = 0) -> None:
        """Wait until a request (carrying ``messages`` recipients) may start.

        In order: the message rate, the request rate (and the throttle after 429s),
        a concurrency slot, then the cool-down, so that requests that queued for a
        limit or a slot while a 429 arrived wait it out too. Pair with :meth:`release`.
        """
        if not self.try_acquire(messages):
            if self._messages is not None and messages:
                await self._messages.acquire(messages)
            if self._requests is not None:
                await self._requests.acquire()
            throttle = self._throttle
            if throttle is not None:
                await throttle.acquire()
            self._recent.append(time.monotonic())
        semaphore = self.semaphore
        if semaphore is not None:
            await semaphore.acquire()
        if self._cooldown_until > 0.0:
            try:
                await self.wait_cooldown()
            except BaseException:
                self.release()
                raise

    def release(self) -> None:
        """Give back the concurrency slot taken by :meth:`acquire`."""
        if self.semaphore is not None:
            self.semaphore.release()

    def try_acquire(self, messages: int = 0) -> bool:
        """Pass the rate limits now if nothing makes them wait; False if something would.

        False means nothing was taken. The concurrency slot and the cool-down are
        not part of it: :meth:`acquire` takes those after the rate limits.
        """
        if (self._messages is not None and messages) or self._throttle is not None:
            return False
        cooldown_until = self._cooldown_until
        if cooldown_until > 0.0 and time.monotonic() < cooldown_until:
            return False
        requests = self._requests
        if requests is None:
            # Only needed without a request rate: the first 429 throttles relative to it.
            self._recent.append(time.monotonic())
            return True
        return isinstance(requests, _Pacer) and requests.try_take()

    async def wait_cooldown(self) -> None:
        """Wait until the shared cool-down after a 429 is over."""
        while True:
            remaining = self._cooldown_until - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(remaining)

    def observed_rate(self) -> float:
        """Requests started in the last second."""
        now = time.monotonic()
        count = 0
        for started in reversed(self._recent):
            if now - started > 1.0:
                break
            count += 1
        return float(count)

    def on_rate_limited(
        self, retry_after: float | None, *, cap: float | None = None, sent_at: float | None = None
    ) -> None:
        """Record a 429: start (or extend) the shared cool-down and lower the rate.

        The cool-down lasts ``retry_after`` (or :attr:`cooldown` without one), at
        most ``cap`` seconds (the retry policy's ``retry_after_cap``). The rate is
        halved again only by a 429 to a request sent (``sent_at``, monotonic time)
        after the last decrease: a burst of 429s to requests that were already in
        flight counts once.
        """
        self.rate_limited_count += 1
        pause = self.cooldown if retry_after is None else retry_after
        if cap is not None:
            pause = min(pause, cap)
        now = time.monotonic()
        self._cooldown_until = max(self._cooldown_until, now + pause)
        self._successes = 0
        if not self.adaptive:
            return
        if (sent_at if sent_at is not None else now) < self._last_decrease:
            return
        self._last_decrease = now
        current = self.current_request_rate
        if current is None:
            current = max(self.observed_rate(), 2.0)
            self._throttle_ceiling = current * 2.0
        elif self._throttle is None:
            self._throttle_ceiling = current
        new_rate = max(current / 2.0, 0.5)
        self._throttle_rate = new_rate
        self._throttle = _Pacer(new_rate)

    def on_success(self) -> None:
        """Record a success: after a run of them, raise a lowered rate by a quarter."""
        if self._throttle is None:
            return
        self._successes += 1
        if self._successes < max(5, int(self._throttle_rate)):
            return
        self._successes = 0
        new_rate = self._throttle_rate * 1.25
        ceiling = self.requests_per_second or self._throttle_ceiling
        if new_rate >= ceiling:
            self._throttle = None
            return
        self._throttle_rate = new_rate
        self._throttle = _Pacer(new_rate)
