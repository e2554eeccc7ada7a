"""Child processes for the ``RedisCampaign`` tests (``tests/test_redis_campaign.py``).

Run as ``python tests/campaign_worker.py MODE CONFIG.json``; the config is JSON.

``worker``: opens each campaign of ``campaign_ids`` (``RedisCampaign.open``) and runs
``run_worker(client, concurrency=..., claim_idle=..., block=...)`` for all of them at once,
with one ``AsyncSmsClient`` pointed at the test's simulator (``base_url``, ``plan``,
``token``, ``retry``: keyword arguments of ``RetryPolicy``). Prints ``ready`` once
connected, then one JSON line ``{"handled": {campaign_id: chunks}}`` when every campaign
is done or cancelled.

``producer``: ``RedisCampaign.create`` (the same definition on every start: it opens the
campaign when it exists) then ``enqueue`` of the rows :func:`campaign_rows` generates from
``rows`` (its keyword arguments), paced by an async generator that sleeps ``pause``
seconds every ``every`` rows (so that a test can kill it half-way). Prints one JSON line
with the progress counters at the end.

Nothing printed names a recipient: only counts.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio

from sinch_async import AsyncSmsClient, RetryPolicy
from sinch_async.redis import RedisCampaign


def number(i: int, series: int = 0) -> str:
    """The ``i``-th recipient of a series, in E.164 (``+467{series}...``)."""
    return f"+467{series}{i:07d}"


def campaign_rows(
    count: int,
    *,
    series: int = 0,
    invalid_every: int = 0,
    duplicate_every: int = 0,
    params_every: int = 0,
) -> list[Any]:
    """A campaign's input: ``count`` distinct valid numbers, plus an invalid row after every
    ``invalid_every``-th number and a duplicate of an earlier number after every
    ``duplicate_every``-th one (written as ``00...``, without ``+``, or as a
    ``(number, params)`` pair, in turn); every ``params_every``-th number comes as
    ``(number, {"name": ...})``. The same arguments give the same rows."""
    invalid = ["not-a-number", "+46", "", "12ab", ("+46700000000", "no-params")]
    rows: list[Any] = []
    for i in range(count):
        n = number(i, series)
        if params_every and i % params_every == 0:
            rows.append((n, {"name": f"N{i}"}))
        else:
            rows.append(n)
        if invalid_every and i % invalid_every == invalid_every - 1:
            rows.append(invalid[(i // invalid_every) % len(invalid)])
        if duplicate_every and i % duplicate_every == duplicate_every - 1:
            earlier = number(i // 2, series)
            form = (i // duplicate_every) % 3
            if form == 0:
                rows.append("00" + earlier[1:])
            elif form == 1:
                rows.append(earlier[1:])
            else:
                rows.append((earlier, {"name": "again"}))
    return rows


async def paced(rows: list[Any], every: int, pause: float) -> AsyncIterator[Any]:
    for position, row in enumerate(rows):
        if every and position % every == 0 and position:
            await asyncio.sleep(pause)
        yield row


async def work(config: dict[str, Any]) -> dict[str, Any]:
    client_redis = redis.asyncio.Redis.from_url(config["redis_url"])
    try:
        campaigns = [
            await RedisCampaign.open(client_redis, campaign_id, prefix=config["prefix"])
            for campaign_id in config["campaign_ids"]
        ]
        async with AsyncSmsClient(
            config["plan"],
            config["token"],
            base_url=config["base_url"],
            retry=RetryPolicy(**config.get("retry", {})),
        ) as client:
            print("ready", flush=True)
            handled = await asyncio.gather(
                *(
                    campaign.run_worker(
                        client,
                        concurrency=int(config["concurrency"]),
                        claim_idle=float(config["claim_idle"]),
                        block=float(config.get("block", 0.5)),
                    )
                    for campaign in campaigns
                )
            )
    finally:
        await client_redis.aclose()
    return {"handled": dict(zip(config["campaign_ids"], handled, strict=True))}


async def produce(config: dict[str, Any]) -> dict[str, Any]:
    client_redis = redis.asyncio.Redis.from_url(config["redis_url"])
    try:
        campaign = await RedisCampaign.create(
            client_redis,
            config["campaign_id"],
            config["body"],
            prefix=config["prefix"],
            **config.get("definition", {}),
        )
        print("ready", flush=True)
        rows = campaign_rows(**config["rows"])
        progress = await campaign.enqueue(
            paced(rows, int(config.get("every", 0)), float(config.get("pause", 0.0)))
        )
    finally:
        await client_redis.aclose()
    return {
        "read": progress.read,
        "valid": progress.valid,
        "invalid": progress.invalid,
        "duplicates": progress.duplicates,
        "chunks": progress.chunks,
        "enqueue_done": progress.enqueue_done,
    }


def main(argv: list[str]) -> int:
    mode, path = argv[1], argv[2]
    config = json.loads(Path(path).read_text(encoding="utf-8"))
    if mode == "worker":
        result = asyncio.run(work(config))
    elif mode == "producer":
        result = asyncio.run(produce(config))
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
