"""``campaign-status --redis URL --campaign-id X [--json] [--watch]``: the aggregated
counters of a campaign across many processes, and its report once it is done, as text or
JSON (see :mod:`sinch_async._cli._distributed` for the other commands). Numbers in the
report (the invalid rows' examples, chunk errors) are masked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from sinch_async._cli._distributed import (
    EXIT_INTERRUPTED,
    check_distributed,
    connect_redis,
    handle_signals,
    open_campaign,
    progress_json,
)
from sinch_async._cli._output import emit_json, err, out
from sinch_async._redact import mask_numbers
from sinch_async.fanout import FanOutReport

if TYPE_CHECKING:
    from sinch_async.fanout._report import ChunkResult
    from sinch_async.redis import CampaignProgress, RedisCampaign

__all__ = ["cmd_campaign_status"]


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
    check_distributed(args, "campaign-status")
    async with connect_redis(args.redis) as redis:
        campaign = await open_campaign(redis, args.campaign_id)
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
    with handle_signals(stop.set):
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
