"""Idempotent handling of callbacks: Sinch retries, so the same report can arrive twice."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol, runtime_checkable

import msgspec

from sinch_async._codec import format_timestamp
from sinch_async._instrument import note_duplicate
from sinch_async.models._base import UnknownVariant
from sinch_async.models.delivery_reports import _BatchReportFields, _RecipientReportFields
from sinch_async.models.inbounds import _InboundFields
from sinch_async.webhooks._errors import CallbackInProgressError, WebhookStoreError
from sinch_async.webhooks._parse import WebhookEvent

__all__ = [
    "DEFAULT_BUSY_WAIT",
    "DEFAULT_DEDUP_TTL",
    "ClaimOutcome",
    "ClaimingSeenStore",
    "Deduplicator",
    "EventHandler",
    "MemorySeenStore",
    "SeenStore",
    "event_key",
]

log = logging.getLogger("sinch_async.webhooks")

DEFAULT_DEDUP_TTL = 25 * 3600.0
"""Sinch's last retry comes 81,920 s (22 h 45 min) after the first failed attempt."""

DEFAULT_BUSY_WAIT = 1.0
"""Seconds a :class:`Deduplicator` waits for another process's claim before answering 503."""

ClaimOutcome = Literal["claimed", "busy", "done"]
"""What :meth:`ClaimingSeenStore.claim` found: the key is now ours (``"claimed"``), another
holder is handling it (``"busy"``), or it was handled already (``"done"``)."""

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

    :class:`MemorySeenStore` keeps them in this process. To keep them across restarts,
    implement these two coroutines on your database, e.g. a table with a unique ``key``
    column and a ``created_at`` column pruned after a day. To share them between processes
    that may receive the same callback at once, implement :class:`ClaimingSeenStore`
    (``sinch_async.redis.RedisSeenStore`` does): checking then adding is not atomic between
    processes.
    """

    async def contains(self, key: str) -> bool:
        """Whether ``key`` was recorded (and has not expired)."""
        ...

    async def add(self, key: str) -> None:
        """Record ``key`` (called after the handler succeeded)."""
        ...


@runtime_checkable
class ClaimingSeenStore(SeenStore, Protocol):
    """A :class:`SeenStore` shared by processes: claim a key before the handler runs, then
    commit it (handled) or release it (the handler failed).

    The :class:`Deduplicator` generates a random ``token`` per delivery and passes it to the
    three methods; a store keeps it with the claim so that only the claim's holder releases
    it. A claim should expire on its own (the holder may die mid-handler). When the store
    fails, raise :class:`~sinch_async.webhooks.WebhookStoreError`: the receivers answer 503.
    """

    async def claim(self, key: str, token: str) -> ClaimOutcome:
        """Atomically: ``"done"`` if ``key`` was committed, ``"busy"`` if someone else holds
        a claim on it, otherwise claim it for ``token`` and return ``"claimed"``."""
        ...

    async def commit(self, key: str, token: str) -> None:
        """Record ``key`` as handled (after the handler succeeded); ends the claim."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Drop the claim on ``key`` if ``token`` still holds it (the handler failed)."""
        ...


class MemorySeenStore:
    """An in-memory :class:`ClaimingSeenStore`: keys expire ``ttl`` seconds after they were
    added; at most ``max_size`` keys are kept (the oldest go first). Claims live in this
    process only, until committed or released."""

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
        self._claims: dict[str, str] = {}

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

    async def claim(self, key: str, token: str) -> ClaimOutcome:
        if await self.contains(key):
            return "done"
        if key in self._claims:
            return "busy"
        self._claims[key] = token
        return "claimed"

    async def commit(self, key: str, token: str) -> None:
        await self.add(key)
        if self._claims.get(key) == token:
            del self._claims[key]

    async def release(self, key: str, token: str) -> None:
        if self._claims.get(key) == token:
            del self._claims[key]

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

    With a :class:`ClaimingSeenStore` (:class:`MemorySeenStore`, or
    ``sinch_async.redis.RedisSeenStore`` shared by several processes) the key is claimed
    before the handler runs, committed after it returned and released if it raised. A
    delivery that finds the key claimed by another process polls for up to ``busy_wait``
    seconds: done means skipped (200), released means it runs the handler itself, still
    claimed means :class:`~sinch_async.webhooks.CallbackInProgressError` (503, Sinch
    retries later). A store failure raises :class:`~sinch_async.webhooks.WebhookStoreError`
    (503) before the handler runs; after it succeeded, a failed commit is logged and the
    callback answered 200 (the claim then expires on its own).

    Use it around a receiver's ``on_event``::

        dedup = Deduplicator()
        handler = sinch_webhook_handler(secret, dedup.wrap(on_event))
    """

    def __init__(
        self,
        store: SeenStore | None = None,
        *,
        key: Callable[[WebhookEvent], str] = event_key,
        busy_wait: float = DEFAULT_BUSY_WAIT,
    ) -> None:
        if busy_wait < 0:
            raise ValueError("busy_wait must be >= 0")
        self.store: SeenStore = MemorySeenStore() if store is None else store
        self.busy_wait = float(busy_wait)
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
                store = self.store
                if isinstance(store, ClaimingSeenStore):
                    return await self._process_claimed(store, key, event, handler)
                if await store.contains(key):
                    return False
                await handler(event)
                await store.add(key)
                return True
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _process_claimed(
        self, store: ClaimingSeenStore, key: str, event: WebhookEvent, handler: EventHandler
    ) -> bool:
        token = secrets.token_hex(16)
        if not await self._claim(store, key, token):
            return False
        try:
            await handler(event)
        except BaseException:
            try:
                await store.release(key, token)
            except WebhookStoreError as exc:  # the claim expires on its own
                log.warning("could not release the claim of a failed Sinch callback: %s", exc)
            raise
        try:
            await store.commit(key, token)
        except WebhookStoreError as exc:
            log.warning(
                "Sinch callback handled, but not recorded as done (the claim expires on its "
                "own; a later duplicate may run the handler again): %s",
                exc,
            )
        return True

    async def _claim(self, store: ClaimingSeenStore, key: str, token: str) -> bool:
        """Claim ``key``: ``True`` when ours, ``False`` when done; raises while busy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_wait
        pause = 0.05
        while True:
            outcome = await store.claim(key, token)
            if outcome == "claimed":
                return True
            if outcome == "done":
                return False
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise CallbackInProgressError(
                    "another process is handling this callback (its claim is held)"
                )
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.5)

    def wrap(self, handler: EventHandler) -> Callable[[WebhookEvent], Awaitable[None]]:
        """``handler`` as an ``on_event`` callback that skips duplicates."""

        async def on_event(event: WebhookEvent) -> None:
            if not await self.process(event, handler):
                note_duplicate()

        on_event.__name__ = getattr(handler, "__name__", "on_event")
        on_event.__doc__ = getattr(handler, "__doc__", None)
        return on_event
