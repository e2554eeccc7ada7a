"""The producer and the worker of a campaign across many processes (see
:mod:`sinch_async._cli._distributed` for the commands and what they share).

* :func:`cmd_enqueue`: ``campaign FILE --redis URL --campaign-id X --enqueue-only`` reads
  FILE and appends its chunks to the campaign's stream (a signal stops it at the next row;
  re-running continues where it stopped).
* :func:`cmd_worker`: ``worker --redis URL --campaign-id X`` sends chunks until the campaign
  is done or cancelled, and prints what this process handled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sinch_async._cli._distributed import (
    EXIT_INTERRUPTED,
    check_distributed,
    connect_redis,
    handle_signals,
    open_campaign,
    progress_json,
    safe_url,
)
from sinch_async._cli._output import CliError, emit_json, err, out
from sinch_async._cli._runtime import client_from_env

if TYPE_CHECKING:
    from sinch_async.redis import CampaignProgress, RedisCampaign

__all__ = ["cmd_enqueue", "cmd_worker"]

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
    check_distributed(args, "campaign --enqueue-only")
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
        async with connect_redis(args.redis) as redis:
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
                with handle_signals(on_signal):
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


@dataclass
class _WorkerRun:
    consumer: str
    started: float = field(default_factory=time.monotonic)
    signals: int = 0
    outcome: str = "done"


async def cmd_worker(args: argparse.Namespace) -> int:
    """``worker --redis URL --campaign-id ID [--concurrency N]``."""
    check_distributed(args, "worker")
    consumer = args.consumer or f"{socket.gethostname()}-{os.getpid()}"
    run = _WorkerRun(consumer)
    sms = client_from_env(user_agent="sinch-async-cli")
    async with sms, connect_redis(args.redis) as redis:
        campaign = await open_campaign(redis, args.campaign_id, args.wait)
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
            with handle_signals(on_signal):
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
