"""Idempotent handling of callbacks: Sinch retries, so the same report can arrive twice."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import msgspec

from sinch_async._codec import format_timestamp
from sinch_async.models._base import UnknownVariant
from sinch_async.models.delivery_reports import _BatchReportFields, _RecipientReportFields
from sinch_async.models.inbounds import _InboundFields
from sinch_async.webhooks._parse import WebhookEvent

__all__ = [
    "DEFAULT_DEDUP_TTL",
    "Deduplicator",
    "EventHandler",
    "MemorySeenStore",
    "SeenStore",
    "event_key",
]

DEFAULT_DEDUP_TTL = 25 * 3600.0
"""Sinch's last retry comes 81,920 s (22 h 45 min) after the first failed attempt."""

EventHandler = Callable[[WebhookEvent], Awaitable[object]]
"""An ``async def on_event(event)`` callback; its return value is ignored."""


def event_key(event: WebhookEvent) -> str:
    """A stable key for a callback: the same for every (re)delivery of the same report.

    * recipient delivery report: ``type/batch_id/recipient/status/code/at``;
    * batch delivery report: ``type/batch_id/`` + the sorted ``status:code:count`` buckets;
    * inbound message: ``type/id``;
    * a fallback (``Unknown*``) model: ``type/`` + SHA-256 of its canonical JSON.
    """
    if isinstance(event, UnknownVariant):
        canonical = msgspec.json.encode(event.raw, order="sorted")
        return f"{event.type}/{hashlib.sha256(canonical).hexdigest()}"
    if isinstance(event, _RecipientReportFields):
        at = "" if event.at is None else format_timestamp(event.at)
        parts = (event.batch_id, event.recipient, event.status, str(event.code), at)
        return f"{event.type}/" + "/".join(parts)
    if isinstance(event, _BatchReportFields):
        buckets = sorted(f"{s.status}:{s.code}:{s.count}" for s in event.statuses)
        return f"{event.type}/{event.batch_id}/" + ",".join(buckets)
    if isinstance(event, _InboundFields):
        return f"{event.type}/{event.id}"
    raise TypeError(f"not a webhook event: {type(event).__name__}")


@runtime_checkable
class SeenStore(Protocol):
    """Where a :class:`Deduplicator` records the keys of callbacks already handled.

    :class:`MemorySeenStore` keeps them in this process. To share them between processes or
    keep them across restarts, implement these two coroutines on your database, e.g. a
    table with a unique ``key`` column and a ``created_at`` column pruned after a day.
    """

    async def contains(self, key: str) -> bool:
        """Whether ``key`` was recorded (and has not expired)."""
        ...

    async def add(self, key: str) -> None:
        """Record ``key`` (called after the handler succeeded)."""
        ...


class MemorySeenStore:
    """An in-memory :class:`SeenStore`: keys expire ``ttl`` seconds after they were added;
    at most ``max_size`` keys are kept (the oldest go first)."""

    def __init__(
        self,
        ttl: float = DEFAULT_DEDUP_TTL,
        max_size: int = 100_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be > 0")
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        self.ttl = float(ttl)
        self.max_size = max_size
        self._clock = clock
        self._keys: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    async def contains(self, key: str) -> bool:
        self._purge()
        return key in self._keys

    async def add(self, key: str) -> None:
        self._purge()
        self._keys[key] = self._clock() + self.ttl
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_size:
            self._keys.popitem(last=False)

    def _purge(self) -> None:
        now = self._clock()
        keys = self._keys
        while keys:
            key, expiry = next(iter(keys.items()))
            if expiry > now:
                break
            del keys[key]


class Deduplicator:
    """Runs a handler at most once per :func:`event_key`, however often Sinch delivers it.

    The key is recorded in ``store`` only after the handler returned: if it raised, the
    receiver answers 500, Sinch retries, and the retry runs the handler again. A duplicate
    arriving while the first delivery is still being handled (in this process) waits for it,
    then is skipped if it succeeded. This gives at-least-once handling; for exactly-once,
    make the handler's side effect and the recording of the key one database transaction.

    Use it around a receiver's ``on_event``::

        dedup = Deduplicator()
        handler = sinch_webhook_handler(secret, dedup.wrap(on_event))
    """

    def __init__(
        self,
        store: SeenStore | None = None,
        *,
        key: Callable[[WebhookEvent], str] = event_key,
    ) -> None:
        self.store: SeenStore = MemorySeenStore() if store is None else store
        self._key = key
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def seen(self, event: WebhookEvent) -> bool:
        """Whether ``event`` was already handled."""
        return await self.store.contains(self._key(event))

    async def process(self, event: WebhookEvent, handler: EventHandler) -> bool:
        """Run ``await handler(event)`` unless already done; ``True`` if it ran."""
        key = self._key(event)
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                if await self.store.contains(key):
                    return False
                await handler(event)
                await self.store.add(key)
                return True
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def wrap(self, handler: EventHandler) -> Callable[[WebhookEvent], Awaitable[None]]:
        """``handler`` as an ``on_event`` callback that skips duplicates."""

        async def on_event(event: WebhookEvent) -> None:
            await self.process(event, handler)

        on_event.__name__ = getattr(handler, "__name__", "on_event")
        on_event.__doc__ = getattr(handler, "__doc__", None)
        return on_event
