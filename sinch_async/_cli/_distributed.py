"""Campaigns across many processes (``sinch_async.redis.RedisCampaign``) on the command line.

* ``campaign FILE --redis URL --campaign-id X --enqueue-only``: the producer. Stores the
  message once, reads FILE (the same columns, ``--body``, ``--from``, ``--default`` as a
  plain ``campaign``) and appends its chunks to the campaign's stream; re-running the same
  command continues where it stopped (no chunk is appended twice).
* ``worker --redis URL --campaign-id X``: sends chunks until the campaign is done or
  cancelled. SIGTERM or Ctrl-C stops taking chunks and lets the sends in flight finish
  (their outcomes are recorded), then it exits 0; a second signal abandons them (another
  worker claims them after ``--claim-idle`` seconds and looks each one up before sending).
* ``campaign-status --redis URL --campaign-id X``: the aggregated counters, and the report
  once the campaign is done; ``--watch`` refreshes every second until then.

Redis URLs are printed without their password; numbers are masked (the invalid rows'
examples), since this output often ends up in logs.

This module holds what the three commands share: their arguments (:func:`add_arguments`),
the Redis connection (:func:`connect_redis`), opening a campaign (:func:`open_campaign`),
the argument checks,
the signal handlers, :func:`safe_url` and :func:`progress_json`. The producer and the worker are in
:mod:`sinch_async._cli._distributed_run`; ``campaign-status`` and its text and JSON rendering
in :mod:`sinch_async._cli._distributed_status`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from sinch_async._cli._args import positive_float, positive_int
from sinch_async._cli._output import CliError, err

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from sinch_async.client import AsyncSmsClient
    from sinch_async.fanout._report import ChunkResult
    from sinch_async.redis import CampaignProgress, RedisCampaign

__all__ = [
    "EXIT_INTERRUPTED",
    "add_arguments",
    "check_distributed",
    "connect_redis",
    "handle_signals",
    "open_campaign",
    "progress_json",
    "safe_url",
]


def add_arguments(sub: Any, camp: argparse.ArgumentParser) -> None:
    """``campaign --redis --enqueue-only``, ``worker`` and ``campaign-status``."""
    distributed = camp.add_argument_group(
        "across many processes (sinch_async[redis])",
        "--redis URL --campaign-id ID --enqueue-only puts the campaign on Redis instead of "
        "sending it: the message once, then FILE's chunks; `sinch-async worker` processes "
        "send them. Re-running the same command continues where it stopped.",
    )
    distributed.add_argument(
        "--redis", metavar="URL", help="Redis URL, e.g. redis://127.0.0.1:6379/0"
    )
    distributed.add_argument(
        "--enqueue-only",
        action="store_true",
        help="only enqueue the chunks (with --redis and --campaign-id); workers send them",
    )
    json_only = argparse.ArgumentParser(add_help=False)
    json_only.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print results as JSON"
    )

    def target(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--redis", metavar="URL", required=True, help="the campaign's Redis")
        parser.add_argument(
            "--campaign-id", metavar="ID", required=True, help="the producer's --campaign-id"
        )

    text = "send a Redis campaign's chunks until it is done (one of many worker processes)"
    worker = sub.add_parser(
        "worker",
        help=text,
        description=text,
        parents=[json_only],
        epilog="Credentials come from SINCH_* as for the other commands (SINCH_BASE_URL "
        "points at `sinch-async serve`). SIGTERM or Ctrl-C: stop taking chunks, finish the "
        "ones in flight (their outcomes are recorded), exit 0; a second one abandons them "
        "(exit 130; another worker claims them after --claim-idle and looks each one up "
        "before sending). Exit 0 when the campaign is done or cancelled, whatever its "
        "outcome: see campaign-status.",
    )
    target(worker)
    worker.add_argument(
        "--concurrency",
        type=positive_int,
        default=8,
        metavar="N",
        help="chunks (batches) in flight in this process (default 8)",
    )
    worker.add_argument(
        "--claim-idle",
        type=positive_float,
        default=600.0,
        metavar="SECONDS",
        help="take over a chunk another worker left unacknowledged this long (default 600); "
        "must be longer than one chunk's send with its rate-limit waits and retries",
    )
    worker.add_argument(
        "--wait",
        type=positive_float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for the producer to create the campaign (default: fail at once)",
    )
    worker.add_argument("--consumer", metavar="NAME", help="consumer name (default HOST-PID)")

    text = "a Redis campaign's counters over every worker, and its report once done"
    status = sub.add_parser(
        "campaign-status",
        help=text,
        description=text,
        parents=[json_only],
        epilog="Exit 0, or 1 when the campaign is done and not every valid recipient was "
        "sent (failed, unknown, cancelled). --watch --json prints JSON lines: the counters when "
        "they change, at most once a second, and a last line with the report.",
    )
    target(status)
    status.add_argument(
        "--watch",
        action="store_true",
        help="refresh every second until the campaign is done (or Ctrl-C), then report",
    )


EXIT_INTERRUPTED = 130
NO_SIMULATE = (
    "{what} does not take --simulate: the embedded simulator lives in one process and ends "
    "with it, so the workers of one campaign cannot share it. Run `sinch-async serve` and "
    "point every process at it with SINCH_BASE_URL, SINCH_SERVICE_PLAN_ID and SINCH_API_TOKEN"
)
NO_REDIS_PACKAGE = "--redis needs the 'redis' package: pip install 'sinch_async[redis]'"


def safe_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for printing."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        netloc = f"{user}:***@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "<unparsable Redis URL>"


# --- Redis --------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def connect_redis(url: str) -> AsyncIterator[Redis]:
    """A ``redis.asyncio.Redis`` for ``url`` (checked with a PING), closed on exit. Redis
    errors become :class:`CliError` (exit 1) that name the URL without its password."""
    try:
        import redis.asyncio
        from redis.exceptions import RedisError
    except ImportError:
        raise CliError(NO_REDIS_PACKAGE) from None
    try:
        client = redis.asyncio.Redis.from_url(url)
    except ValueError as exc:
        raise CliError(f"--redis {safe_url(url)}: {exc}") from None
    try:
        try:
            await client.ping()
        except RedisError as exc:
            raise CliError(f"cannot reach Redis at {safe_url(url)}: {exc}", 1) from None
        try:
            yield client
        except RedisError as exc:
            raise CliError(f"Redis at {safe_url(url)}: {type(exc).__name__}: {exc}", 1) from None
    finally:
        await client.aclose()


async def open_campaign(redis: Redis, campaign_id: str, wait: float = 0.0) -> RedisCampaign:
    """The campaign (waiting up to ``wait`` seconds for a producer to create it)."""
    from sinch_async.redis import CampaignError

    deadline = time.monotonic() + wait
    said = False
    while True:
        try:
            return await _counting_campaign_class().open(redis, campaign_id)
        except CampaignError:
            if time.monotonic() >= deadline:
                raise CliError(
                    f"no campaign {campaign_id!r} in this Redis: create it first with "
                    f"`sinch-async campaign FILE --body TEXT --redis URL --campaign-id "
                    f"{campaign_id} --enqueue-only`"
                    + ("" if wait else " (or give the worker --wait SECONDS)")
                ) from None
            if not said:
                err(f"waiting up to {wait:g} s for campaign {campaign_id!r} to be created")
                said = True
            await asyncio.sleep(0.5)


def check_distributed(args: argparse.Namespace, what: str) -> None:
    """Refuse ``--simulate`` and a missing or blank ``--campaign-id`` for command ``what``."""
    if args.simulate:
        raise CliError(NO_SIMULATE.format(what=what))
    if not args.campaign_id or not args.campaign_id.strip():
        raise CliError(f"{what} needs --campaign-id (the same id for the producer and workers)")


@contextlib.contextmanager
def handle_signals(on_signal: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``on_signal`` (in the loop) for the duration."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, a thread
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


@functools.cache
def _counting_campaign_class() -> type[RedisCampaign]:
    from sinch_async.redis import RedisCampaign

    class CountingCampaign(RedisCampaign):
        """A :class:`RedisCampaign` that counts the chunks (and their recipients) this
        process handled, per outcome: the count :meth:`run_worker` returns is lost when the
        worker is stopped by a signal."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.handled: Counter[str] = Counter()
            self.recipients: Counter[str] = Counter()

        async def send_chunk(self, client: AsyncSmsClient, index: int) -> ChunkResult:
            result = await super().send_chunk(client, index)
            status = result.status
            self.handled[status] += 1
            self.recipients[status] += result.count
            return result

    return CountingCampaign


# --- output shared by the producer and campaign-status ----------------------------------------


def progress_json(p: CampaignProgress) -> dict[str, Any]:
    """A :class:`CampaignProgress` as JSON-ready builtins (with ``pending`` and ``done``)."""
    return {
        "campaign_id": p.campaign_id,
        "read": p.read,
        "valid": p.valid,
        "invalid": p.invalid,
        "duplicates": p.duplicates,
        "chunks": p.chunks,
        "chunks_done": p.chunks_done,
        "sent": p.sent,
        "failed": p.failed,
        "unknown": p.unknown,
        "pending": p.pending,
        "enqueue_done": p.enqueue_done,
        "cancelled": p.cancelled,
        "done": p.done,
    }
