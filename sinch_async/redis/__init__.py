"""Coordination between processes through Redis (``pip install 'sinch_async[redis]'``).

Several workers and web processes of one service plan share, through one Redis:

* :class:`RedisRateLimiter`: the plan's request and message rates and its 429 cool-down,
  a drop-in ``rate_limiter=`` for both clients;
* :class:`RedisNonceCache`: the webhook replay guard;
* :class:`RedisSeenStore`: the :class:`~sinch_async.webhooks.Deduplicator`'s store, so that a
  callback delivered to two pods is handled once;
* :class:`RedisCampaign`: one campaign's chunks on a Redis Stream, sent by many workers
  exactly once, with one report.

Built on the ``redis`` package's asyncio client (``redis.asyncio.Redis``). Run the Redis used
for the webhook stores with ``maxmemory-policy noeviction``.
"""

try:  # one clear message when the extra is missing (the modules below import redis)
    import redis as _redis  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        "sinch_async.redis needs the 'redis' package: pip install 'sinch_async[redis]'"
    ) from exc

from sinch_async.redis._campaign import (
    CampaignCancelledError,
    CampaignError,
    CampaignProgress,
    RedisCampaign,
    send_chunk,
)
from sinch_async.redis._limiter import RedisRateLimiter
from sinch_async.redis._webhooks import RedisNonceCache, RedisSeenStore

__all__ = [
    "CampaignCancelledError",
    "CampaignError",
    "CampaignProgress",
    "RedisCampaign",
    "RedisNonceCache",
    "RedisRateLimiter",
    "RedisSeenStore",
    "send_chunk",
]
