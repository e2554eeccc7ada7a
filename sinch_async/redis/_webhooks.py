"""Webhook stores on Redis, shared by every process behind one callback URL.

* :class:`RedisNonceCache`: the replay guard (an
  :class:`~sinch_async.webhooks.AsyncReplayGuard`), one ``SET NX PX`` per callback;
* :class:`RedisSeenStore`: the :class:`~sinch_async.webhooks.Deduplicator`'s store (a
  :class:`~sinch_async.webhooks.ClaimingSeenStore`): claim before the handler runs, commit
  after it succeeded, release when it failed, so that a callback delivered to two pods at
  once is handled by one of them.

The Redis used for these must not evict keys: configure it with
``maxmemory-policy noeviction`` (the default of a plain Redis server). The eviction policies
(``allkeys-lru``, ``volatile-ttl``, ...) drop exactly these expiring keys under memory
pressure, which lets a replayed callback through or runs a handler twice. With
``noeviction``, a full Redis refuses the writes instead, and the receivers answer 503.

Every Redis failure (unreachable, timeout, an error reply) is raised as
:class:`~sinch_async.webhooks.WebhookStoreError`, which the receivers answer with 503 (Sinch
retries) and one log line. Give the client timeouts (``socket_timeout=`` and
``socket_connect_timeout=`` of ``redis.asyncio.Redis``), or a request can wait for a hung
server as long as Sinch waits for the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from sinch_async.webhooks._errors import WebhookStoreError
from sinch_async.webhooks._idempotency import DEFAULT_DEDUP_TTL, ClaimOutcome
from sinch_async.webhooks._signature import DEFAULT_TOLERANCE

if TYPE_CHECKING:
    from redis.asyncio import Redis

from redis.exceptions import RedisError

__all__ = ["DEFAULT_CLAIM_TTL", "RedisNonceCache", "RedisSeenStore"]

DEFAULT_CLAIM_TTL = 60.0
"""Seconds a claim of :class:`RedisSeenStore` lives unless committed or released: longer
than any handler should take, short enough that a pod dying mid-handler does not hold
Sinch's retries off for long."""

_UNAVAILABLE = (RedisError, OSError, asyncio.TimeoutError)
"""What a Redis call raises when the server cannot be reached or answer."""

_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]*@")
_T = TypeVar("_T")

# KEYS[1]: the callback's key. ARGV[1]: this delivery's claim value, ARGV[2]: the claim's
# lifetime in ms. Claims the key unless it is claimed or done; says which.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 'claimed'
end
if redis.call('GET', KEYS[1]) == 'done' then
  return 'done'
end
return 'busy'
"""

# KEYS[1]: the callback's key. ARGV[1]: this delivery's claim value. Deletes the key only
# while it still holds that claim (not another delivery's claim, not "done").
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_DONE = "done"
_CLAIM_PREFIX = "claim:"


async def _redis_call(what: str, call: Awaitable[_T]) -> _T:
    """Await ``call``; a Redis failure becomes :class:`WebhookStoreError`."""
    try:
        return await call
    except _UNAVAILABLE as exc:
        detail = _CREDENTIALS.sub(r"\1***@", str(exc))[:200]
        raise WebhookStoreError(f"Redis {what} failed ({type(exc).__name__}: {detail})") from exc


def _text(value: object) -> str | None:
    """A Redis reply as ``str`` (bytes unless the client decodes responses)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def _positive(name: str, value: float) -> float:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number of seconds")
    return float(value)


class RedisNonceCache:
    """The webhook replay guard on Redis: a nonce is ``SET prefix+nonce 1 NX PX lifetime``.

    Like :class:`~sinch_async.webhooks.NonceCache`, a nonce is remembered until its signed
    timestamp (or now, if that is later) plus ``ttl``; with ``ttl`` equal to the receiver's
    ``tolerance`` (both 300 s by default) a replay is refused either here or by the
    timestamp window. A timestamp in the future counts for at most ``ttl`` more, so every
    key expires within ``2 * ttl``. Pass it as ``replay_guard=`` to a receiver or to
    :func:`~sinch_async.webhooks.handle_webhook` (it is async, so not to
    :func:`~sinch_async.webhooks.verify_signature`).

    ``redis`` is a ``redis.asyncio.Redis`` which the caller creates and closes; it needs
    ``maxmemory-policy noeviction`` (see the module's notes). A Redis failure raises
    :class:`~sinch_async.webhooks.WebhookStoreError`: the receivers answer 503.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "sinch:webhook:nonce:",
        ttl: float = DEFAULT_TOLERANCE,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl = _positive("ttl", ttl)

    def key(self, nonce: str) -> str:
        """The Redis key of ``nonce``."""
        return self.prefix + nonce

    async def check_and_add(self, nonce: str, *, timestamp: float, now: float) -> bool:
        """Record ``nonce`` and return ``True``, or ``False`` if it is already recorded."""
        ahead = min(max(timestamp - now, 0.0), self.ttl)
        lifetime_ms = max(1, math.ceil((ahead + self.ttl) * 1000))
        created = await _redis_call(
            "SET NX (replay guard)",
            self.redis.set(self.key(nonce), b"1", nx=True, px=lifetime_ms),
        )
        return bool(created)

    async def discard(self, nonce: str) -> None:
        """Forget ``nonce`` (the receiver calls this when ``on_event`` failed)."""
        await _redis_call("DEL (replay guard)", self.redis.delete(self.key(nonce)))

    def __repr__(self) -> str:
        return f"RedisNonceCache(prefix={self.prefix!r}, ttl={self.ttl:g})"


class RedisSeenStore:
    """The :class:`~sinch_async.webhooks.Deduplicator`'s store on Redis, shared by processes.

    For each callback key (:func:`~sinch_async.webhooks.event_key`, stored as its SHA-256 so
    that no phone number is written to Redis) one Redis key ``prefix + sha256``:

    * claim: ``SET key claim:<token> NX PX claim_ttl`` in one Lua script that also tells
      "done" from "claimed by another delivery";
    * commit: ``SET key done PX ttl`` (25 hours by default: Sinch's retries end after about
      22 h 45 min);
    * release: a Lua script deletes the key only while it still holds this delivery's claim.

    So two pods receiving the same callback run the handler once: the second waits up to
    the Deduplicator's ``busy_wait`` and then answers 200 (done) or 503 (still being handled:
    Sinch retries). If the handler fails, the claim is released and the retry runs it. A claim
    whose holder died expires after ``claim_ttl`` seconds; keep it longer than your handler
    takes. A claim lost by a Redis failover just before it replicated can let a duplicate
    run: keep handlers idempotent.

    ``redis`` is a ``redis.asyncio.Redis`` which the caller creates and closes; it needs
    ``maxmemory-policy noeviction`` (see the module's notes). A Redis failure raises
    :class:`~sinch_async.webhooks.WebhookStoreError`: the receivers answer 503.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "sinch:webhook:seen:",
        ttl: float = DEFAULT_DEDUP_TTL,
        claim_ttl: float = DEFAULT_CLAIM_TTL,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl = _positive("ttl", ttl)
        self.claim_ttl = _positive("claim_ttl", claim_ttl)
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    def key(self, key: str) -> str:
        """The Redis key of a callback key."""
        return self.prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()

    async def contains(self, key: str) -> bool:
        """Whether ``key`` was committed (a claim in progress does not count)."""
        value = await _redis_call("GET (seen store)", self.redis.get(self.key(key)))
        return _text(value) == _DONE

    async def add(self, key: str) -> None:
        """Record ``key`` as handled, for ``ttl`` seconds."""
        await _redis_call(
            "SET (seen store)",
            self.redis.set(self.key(key), _DONE, px=math.ceil(self.ttl * 1000)),
        )

    async def claim(self, key: str, token: str) -> ClaimOutcome:
        """``"claimed"`` (now ours, for ``claim_ttl``), ``"busy"`` or ``"done"``."""
        outcome = _text(
            await _redis_call(
                "claim (seen store)",
                self._claim(
                    keys=[self.key(key)],
                    args=[_CLAIM_PREFIX + token, math.ceil(self.claim_ttl * 1000)],
                ),
            )
        )
        if outcome == "claimed":
            return "claimed"
        if outcome == "done":
            return "done"
        return "busy"

    async def commit(self, key: str, token: str) -> None:
        """Record ``key`` as handled (whoever holds the claim: the handler did run)."""
        await self.add(key)

    async def release(self, key: str, token: str) -> None:
        """Delete the claim on ``key`` if this delivery (``token``) still holds it."""
        await _redis_call(
            "release (seen store)",
            self._release(keys=[self.key(key)], args=[_CLAIM_PREFIX + token]),
        )

    def __repr__(self) -> str:
        return (
            f"RedisSeenStore(prefix={self.prefix!r}, ttl={self.ttl:g}, "
            f"claim_ttl={self.claim_ttl:g})"
        )
