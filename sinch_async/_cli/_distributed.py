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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from sinch_async._cli._output import CliError, emit_json, err, out
from sinch_async._cli._runtime import client_from_env
from sinch_async._redact import mask_numbers
from sinch_async.fanout import FanOutReport

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from sinch_async.client import AsyncSmsClient
    from sinch_async.fanout._report import ChunkResult
    from sinch_async.redis import CampaignProgress, RedisCampaign

__all__ = [
    "cmd_campaign_status",
    "cmd_enqueue",
    "cmd_worker",
    "progress_json",
    "safe_url",
]

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
async def _redis(url: str) -> AsyncIterator[Redis]:
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


async def _open(redis: Redis, campaign_id: str, wait: float = 0.0) -> RedisCampaign:
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


def _check_distributed(args: argparse.Namespace, what: str) -> None:
    if args.simulate:
        raise CliError(NO_SIMULATE.format(what=what))
    if not args.campaign_id or not args.campaign_id.strip():
        raise CliError(f"{what} needs --campaign-id (the same id for the producer and workers)")


@contextlib.contextmanager
def _signals(on_signal: Callable[[], None]) -> Iterator[None]:
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


# --- the producer: campaign FILE --enqueue-only -------------------------------------------------


class _Stopped(Exception):
    """Raised by the rows when the producer is stopped (not the end of the input)."""


class _Counted:
    """The recipient rows, counted as the producer reads them (for its progress lines);
    after :meth:`stop`, the next row raises :class:`_Stopped` (an error of the input, so
    the campaign's input is not marked as complete)."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self.rows = rows
        self.count = 0
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def __iter__(self) -> Iterator[Any]:
        for row in self.rows:
            if self.stopped:
                raise _Stopped
            self.count += 1
            yield row


def _check_enqueue(args: argparse.Namespace) -> None:
    if not args.enqueue_only:
        raise CliError(
            "--redis goes with --enqueue-only: the producer puts the chunks on Redis and "
            "`sinch-async worker --redis URL --campaign-id ID` processes send them"
        )
    if not args.redis:
        raise CliError("--enqueue-only needs --redis URL (where the workers find the chunks)")
    _check_distributed(args, "campaign --enqueue-only")
    refused = [
        (args.dry_run, "--dry-run", "run the file through `campaign FILE --dry-run` alone"),
        (args.resume, "--resume", "re-running the same command continues where it stopped"),
        (
            args.invalid_out is not None,
            "--invalid-out",
            "the invalid rows go to the campaign's report: see `campaign-status --json`",
        ),
        (
            args.messages_per_second is not None,
            "--messages-per-second",
            "the producer sends nothing",
        ),
    ]
    for given, option, why in refused:
        if given:
            raise CliError(f"{option} does not go with --enqueue-only: {why}")


async def cmd_enqueue(args: argparse.Namespace) -> int:
    """``campaign FILE --redis URL --campaign-id ID --enqueue-only``."""
    from sinch_async._cli._campaign import prepare_campaign
    from sinch_async.redis import CampaignError, RedisCampaign

    _check_enqueue(args)
    plan = prepare_campaign(args)
    try:
        fields: dict[str, Any] = {}
        if args.delivery_report:
            fields["delivery_report"] = args.delivery_report
        if args.callback_url:
            fields["callback_url"] = args.callback_url
        async with _redis(args.redis) as redis:
            try:
                campaign = await RedisCampaign.create(
                    redis,
                    plan.campaign_id,
                    plan.body,
                    from_=args.from_,
                    default_parameters=plan.defaults,
                    chunk_size=args.chunk_size,
                    **fields,
                )
            except CampaignError as exc:
                raise CliError(
                    f"{exc} (its body, --from, --default, --chunk-size, --delivery-report "
                    "and --callback-url must be the same on every run)"
                ) from None
            before = await campaign.progress()
            how = "continuing: chunks already enqueued are skipped" if before.chunks else "new"
            err(f"campaign id: {plan.campaign_id} ({how}) on Redis {safe_url(args.redis)}")
            rows = _Counted(plan.file.recipients(plan.used_columns, plan.check_empty))
            work = asyncio.ensure_future(campaign.enqueue(rows))
            show = _EnqueueProgress(args.progress != "none", plan.file.total_rows)
            stopped = False

            def on_signal() -> None:
                nonlocal stopped
                if not stopped:
                    err("stopping the producer: re-run the same command to continue")
                stopped = True
                # Stops at the next row (the chunk being appended is appended whole or not
                # at all). Not work.cancel(): a cancellation can be lost in the Redis calls
                # (seen with redis-py 8.1), and the producer would run to the end.
                rows.stop()

            watcher = asyncio.ensure_future(show.run(campaign, rows))
            try:
                with _signals(on_signal):
                    progress = await work
            except _Stopped:
                progress = await campaign.progress()
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            show.line(progress, rows.count, final=True)
            _print_enqueued(args, progress, stopped)
            if stopped:
                err(
                    f"interrupted after {progress.chunks:,} chunk(s): re-run the same command "
                    "(same file, same options) to enqueue the rest; no chunk is enqueued twice"
                )
                return EXIT_INTERRUPTED
            if progress.valid == 0:
                err(f"error: no valid recipients in {args.file}")
                return 2
            return 0
    finally:
        plan.close()


@dataclass
class _EnqueueProgress:
    enabled: bool
    total: int | None
    shown: tuple[int, int] | None = None

    async def run(self, campaign: RedisCampaign, rows: _Counted) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.line(await campaign.progress(), rows.count)

    def line(self, p: CampaignProgress, read_now: int, final: bool = False) -> None:
        if not self.enabled or self.shown == (p.chunks, read_now):
            return
        self.shown = (p.chunks, read_now)
        of = f" of ~{self.total:,}" if self.total and not final else ""
        err(
            f"enqueue: {read_now:,}{of} rows read by this run; {p.chunks:,} chunks on the stream "
            f"({p.valid:,} valid, {p.invalid:,} invalid, {p.duplicates:,} duplicates)"
        )


def _print_enqueued(args: argparse.Namespace, p: CampaignProgress, stopped: bool) -> None:
    if args.json:
        emit_json({**progress_json(p), "file": args.file, "interrupted": stopped})
        return
    out(f"campaign {p.campaign_id}: {'interrupted' if stopped else 'enqueued'}")
    out(f"  file:        {args.file}")
    out(
        f"  read:        {p.read:,} rows: {p.valid:,} valid, {p.invalid:,} invalid, "
        f"{p.duplicates:,} duplicates"
    )
    out(f"  chunks:      {p.chunks:,} on the stream ({p.chunks_done:,} done so far)")
    out(
        f"  workers:     sinch-async worker --redis {safe_url(args.redis)} "
        f"--campaign-id {p.campaign_id}"
    )
    out(
        f"  status:      sinch-async campaign-status --redis {safe_url(args.redis)} "
        f"--campaign-id {p.campaign_id} --watch"
    )


# --- the worker ---------------------------------------------------------------------------------


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


@dataclass
class _WorkerRun:
    consumer: str
    started: float = field(default_factory=time.monotonic)
    signals: int = 0
    outcome: str = "done"


async def cmd_worker(args: argparse.Namespace) -> int:
    """``worker --redis URL --campaign-id ID [--concurrency N]``."""
    _check_distributed(args, "worker")
    consumer = args.consumer or f"{socket.gethostname()}-{os.getpid()}"
    run = _WorkerRun(consumer)
    sms = client_from_env(user_agent="sinch-async-cli")
    async with sms, _redis(args.redis) as redis:
        campaign = await _open(redis, args.campaign_id, args.wait)
        err(
            f"worker {consumer}: campaign {args.campaign_id} on Redis {safe_url(args.redis)}, "
            f"{args.concurrency} chunk(s) at a time (SIGTERM or Ctrl-C: finish the chunks in "
            "flight and leave)"
        )
        work = asyncio.ensure_future(
            campaign.run_worker(
                sms,
                concurrency=args.concurrency,
                consumer=consumer,
                claim_idle=args.claim_idle,
            )
        )

        def on_signal() -> None:
            run.signals += 1
            if run.signals == 1:
                err(
                    f"worker {consumer}: stopping; finishing the chunks in flight (a second "
                    "signal abandons them: another worker claims them after --claim-idle)"
                )
                run.outcome = "stopped"
            elif run.signals == 2:
                err(f"worker {consumer}: abandoning the chunks in flight")
                run.outcome = "abandoned"
            work.cancel()

        try:
            with _signals(on_signal):
                await work
        except asyncio.CancelledError:
            if run.signals == 0:
                raise
        if run.outcome == "done":
            progress = await campaign.progress()
            if progress.cancelled:
                run.outcome = "cancelled"
        _print_worker(args, run, campaign)
    return EXIT_INTERRUPTED if run.outcome == "abandoned" else 0


def _print_worker(args: argparse.Namespace, run: _WorkerRun, campaign: RedisCampaign) -> None:
    handled: Counter[str] = getattr(campaign, "handled", None) or Counter()
    recipients: Counter[str] = getattr(campaign, "recipients", None) or Counter()
    elapsed = time.monotonic() - run.started
    if args.json:
        emit_json(
            {
                "campaign_id": campaign.campaign_id,
                "consumer": run.consumer,
                "outcome": run.outcome,
                "chunks": sum(handled.values()),
                "chunks_by_status": dict(sorted(handled.items())),
                "recipients_by_status": dict(sorted(recipients.items())),
                "elapsed": round(elapsed, 3),
            }
        )
        return
    why = {
        "done": "the campaign is done",
        "cancelled": "the campaign was cancelled",
        "stopped": "stopped by a signal after its chunks in flight",
        "abandoned": "stopped by a second signal; chunks in flight abandoned",
    }[run.outcome]
    labels = {"existing": "existing: found at Sinch, not sent again"}
    parts = ", ".join(
        f"{handled[s]:,} {labels.get(s, s)} ({recipients[s]:,} recipients)" for s in sorted(handled)
    )
    out(
        f"worker {run.consumer}: {sum(handled.values()):,} chunk(s) handled"
        + (f": {parts}" if parts else "")
        + f" in {elapsed:.1f} s; {why}"
    )


# --- campaign-status ------------------------------------------------------------------------------


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


def _error_text(chunk: ChunkResult) -> str:
    return "unknown error" if chunk.error is None else str(chunk.error)


def _report_json(report: FanOutReport) -> dict[str, Any]:
    reasons = Counter(bad.reason for bad in report.invalid)
    examples: dict[str, str] = {}
    for bad in report.invalid:
        examples.setdefault(bad.reason, mask_numbers(str(bad.value)))

    def chunks(items: list[ChunkResult]) -> list[dict[str, Any]]:
        return [
            {
                "index": c.index,
                "client_reference": c.client_reference,
                "recipients": c.count,
                "error": _error_text(c),
            }
            for c in items
        ]

    return {
        "read": report.read,
        "valid": report.valid,
        "invalid": len(report.invalid),
        "invalid_reasons": [
            {"reason": r, "count": n, "example": examples[r]} for r, n in reasons.most_common()
        ],
        "duplicates": report.duplicates,
        "sent": report.sent,
        "batches": len(report.batches),
        "batch_ids": [c.batch_id for c in report.batches],
        "failed": report.failed,
        "failed_chunks": chunks(report.failed_chunks),
        "unknown": report.unknown,
        "unknown_chunks": chunks(report.unknown_chunks),
        "not_sent": len(report.not_sent),
        "complete": report.complete,
    }


def _status_line(p: CampaignProgress) -> str:
    state = (
        "cancelled"
        if p.cancelled
        else "done"
        if p.done
        else "enqueuing"
        if not (p.enqueue_done)
        else "sending"
    )
    return (
        f"{p.campaign_id} [{state}]: {p.sent:,} sent, {p.failed:,} failed, {p.unknown:,} "
        f"unknown, {p.pending:,} pending of {p.valid:,} valid; chunks {p.chunks_done:,}/"
        f"{p.chunks:,}{'' if p.enqueue_done else '+'}"
    )


def _print_status(p: CampaignProgress, report: FanOutReport | None) -> None:
    out(f"campaign {p.campaign_id}")
    enq = "done" if p.enqueue_done else "in progress"
    out(
        f"  read:        {p.read:,} rows: {p.valid:,} valid, {p.invalid:,} invalid, "
        f"{p.duplicates:,} duplicates (enqueue {enq})"
    )
    out(f"  chunks:      {p.chunks_done:,} of {p.chunks:,} done")
    out(f"  sent:        {p.sent:,}")
    out(f"  failed:      {p.failed:,}")
    if p.unknown:
        out(f"  unknown:     {p.unknown:,} (may or may not have been sent)")
    out(f"  pending:     {p.pending:,}")
    if p.cancelled:
        out("  cancelled:   yes")
    if report is None:
        return
    out("report:")
    for line in mask_numbers(report.summary()).splitlines():
        out(f"  {line}")
    reasons = Counter(bad.reason for bad in report.invalid)
    if reasons:
        out(f"invalid recipients ({len(report.invalid):,} kept):")
        for reason, n in reasons.most_common(5):
            out(f"  {n:>6,} x {reason}")
    for title, items in (("failed", report.failed_chunks), ("unknown", report.unknown_chunks)):
        if items:
            out(f"{title} chunks ({len(items):,}):")
            for chunk in items[:5]:
                out(
                    f"  #{chunk.index} ({chunk.count:,} recipients, {chunk.client_reference}): "
                    f"{mask_numbers(_error_text(chunk))}"
                )
            if len(items) > 5:
                out(f"  ... and {len(items) - 5} more")


async def cmd_campaign_status(args: argparse.Namespace) -> int:
    """``campaign-status --redis URL --campaign-id ID [--json] [--watch]``."""
    _check_distributed(args, "campaign-status")
    async with _redis(args.redis) as redis:
        campaign = await _open(redis, args.campaign_id)
        if args.watch and await _watch(args, campaign) is None:
            return EXIT_INTERRUPTED
        progress = await campaign.progress()
        report = await campaign.report() if progress.done else None
        if args.json:
            data = progress_json(progress)
            data["report"] = None if report is None else _report_json(report)
            if args.watch:  # JSON lines: the last one has the report
                sys.stdout.write(json.dumps(data) + "\n")
            else:
                emit_json(data)
        else:
            _print_status(progress, report)
    if report is not None and not report.complete:
        return 1
    return 0


async def _watch(args: argparse.Namespace, campaign: RedisCampaign) -> CampaignProgress | None:
    """Print the counters every second until the campaign is done (its progress) or a signal
    (None): a line when they change, on stderr (JSON lines on stdout with ``--json``)."""
    stop = asyncio.Event()
    tty = not args.json and sys.stderr.isatty()
    shown: CampaignProgress | None = None
    with _signals(stop.set):
        while True:
            p = await campaign.progress()
            if p != shown:
                shown = p
                if args.json and p.done:
                    pass  # the last line, with the report, is printed after the watch
                elif args.json:
                    sys.stdout.write(json.dumps(progress_json(p)) + "\n")
                    sys.stdout.flush()
                elif tty:
                    sys.stderr.write(f"\r{_status_line(p)}\x1b[K")
                    sys.stderr.flush()
                else:
                    err(_status_line(p))
            if p.done:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if stop.is_set():
                break
    if tty:
        sys.stderr.write("\n")
    if stop.is_set():
        err("interrupted")
        return None
    return shown
