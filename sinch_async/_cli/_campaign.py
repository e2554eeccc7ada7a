"""``sinch-async campaign FILE``: stream a recipient file through ``batches.fan_out``.

Invalid rows: the fan-out decides (its report's ``invalid``), the CLI adds each one's line
(see :class:`~sinch_async._cli._recipients.NumberAt`). ``--invalid-out FILE`` gets them as
CSV with the values as written (the user's own data, to fix the rows); what goes to stdout
and stderr (the text report, ``--json``), which often ends up in logs, masks the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TextIO

from sinch_async._cli._output import CliError, err
from sinch_async._cli._progress import NullProgress, ProgressView, make_progress
from sinch_async._cli._recipients import RecipientFile, inspect_file, placeholders
from sinch_async._cli._report import count_rows, print_report, write_invalid
from sinch_async._cli._runtime import Runtime, open_runtime
from sinch_async.client import AsyncSmsClient
from sinch_async.fanout import FanOutCancelled, FanOutReport, chunk_reference
from sinch_async.fanout._engine import FanOutEngine

__all__ = ["CampaignPlan", "prepare_campaign", "run_campaign"]

EXIT_INTERRUPTED = 130

SERVE = (
    "`sinch-async serve` in another terminal, with SINCH_BASE_URL, SINCH_SERVICE_PLAN_ID and "
    "SINCH_API_TOKEN set to what it prints, instead of --simulate"
)
SIMULATE_RESUME = (
    "--resume cannot work with --simulate alone: each --simulate run starts an empty simulator "
    "that ends with the run, so an earlier run's batches are not there and every chunk would "
    "be sent again. Add --simulate-state FILE (to both runs: the simulator's state is kept in "
    "FILE), or resume against a simulator that outlives the run: use " + SERVE
)
SIMULATE_NO_RESUME = (
    "a --simulate run cannot be resumed without --simulate-state FILE (its simulator ends "
    "with it); to keep its state add --simulate-state FILE, or use " + SERVE
)


@dataclass
class CampaignPlan:
    """Everything checked before any network I/O."""

    file: RecipientFile
    body: str
    campaign_id: str
    generated_id: bool
    used_columns: set[str]
    defaults: dict[str, str]
    delivery: dict[tuple[str, int], int] = field(default_factory=dict)
    check_empty: list[str] = field(default_factory=list)
    """Parameter columns of the body without a --default: an empty cell sends no text."""
    empty_warned: bool = False
    """The empty cells were counted and reported before sending."""
    invalid_out: TextIO | None = None
    invalid_out_path: str | None = None
    invalid_written: bool = False

    def close(self) -> None:
        """Close the files; an --invalid-out file never written (the run failed) is removed."""
        self.file.close()
        handle, self.invalid_out = self.invalid_out, None
        if handle is not None:
            handle.close()
            if not self.invalid_written and self.invalid_out_path is not None:
                with contextlib.suppress(OSError):
                    os.remove(self.invalid_out_path)


def generate_campaign_id(path: str) -> str:
    """``{file stem}-{UTC timestamp}-{4 random hex}``, e.g. ``spring-20261122-101500-3f2a``."""
    stem = "stdin" if path == "-" else os.path.splitext(os.path.basename(path))[0]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:40] or "campaign"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stem}-{stamp}-{secrets.token_hex(2)}"


def _defaults(pairs: list[str] | None) -> dict[str, str]:
    defaults: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise CliError(f"--default {pair!r}: expected NAME=VALUE")
        defaults[name.strip()] = value
    return defaults


def _warn_empty(counts: Counter[str], when: Literal["before", "dry", "after"]) -> None:
    for name, rows in sorted(counts.items()):
        if not rows:
            continue
        where = f"${{{name}}} {'was' if when == 'after' else 'is'} empty in {count_rows(rows)}"
        if when == "after":
            err(
                f"warning: {where} and had no --default; those recipients got the text "
                f"without it (not checked before sending: check the file with --dry-run "
                f"first, or add --default {name}=VALUE)"
            )
        else:
            err(
                f"warning: {where} and has no --default; those recipients "
                f"{'would get' if when == 'dry' else 'get'} the text without it "
                f"(add --default {name}=VALUE to fill it)"
            )


def _open_invalid_out(path: str, source: str) -> TextIO:
    if path == "-":
        raise CliError(
            "--invalid-out needs a file name (stdout carries the report; --json lists the "
            "invalid rows with the numbers masked)"
        )
    if source != "-" and os.path.exists(path) and os.path.samefile(path, source):
        raise CliError(f"--invalid-out {path}: that is the recipient file")
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise CliError(f"--invalid-out {path}: cannot write: {exc}") from None


def prepare_campaign(args: argparse.Namespace) -> CampaignPlan:
    """Open the file, match the body's ``${parameters}`` to its columns, pick the campaign id;
    before sending, count the rows whose ``${parameter}`` cell is empty with no --default and
    open the --invalid-out file. Raises :class:`CliError` (exit 2) on bad input."""
    if args.simulate and args.resume and not getattr(args, "simulate_state", None):
        raise CliError(SIMULATE_RESUME)
    if args.resume and not args.campaign_id:
        raise CliError("--resume needs --campaign-id (the id printed by the first run)")
    if args.campaign_id is not None and not args.campaign_id.strip():
        raise CliError("--campaign-id must not be empty")
    defaults = _defaults(args.default)
    rf = inspect_file(args.file)
    try:
        used = placeholders(args.body)
        missing = sorted(used - set(rf.columns) - set(defaults))
        if missing:
            where = "the file has no header" if rf.kind == "lines" else "the header has no column"
            raise CliError(
                f"the body uses ${{{missing[0]}}} but {where} {missing[0]!r} "
                f"(columns: {', '.join(rf.columns) or 'none'}); add the column or "
                f"--default {missing[0]}=VALUE"
            )
        unused = [c for c in rf.columns if c not in used]
        if unused:
            err(f"note: column(s) {', '.join(unused)} not used in the body; not sent")
        used_columns = used & set(rf.columns)
        check_empty = sorted(used_columns - set(defaults))
        empty_warned = False
        if check_empty and not args.dry_run:  # a dry run counts them as it reads
            counts = rf.count_empty(check_empty)
            if counts is None:
                why = "stdin is read once" if args.file == "-" else f"{args.file} is too big"
                names = ", ".join(f"${{{name}}}" for name in check_empty)
                err(f"note: {why}: empty {names} values are counted while sending, not before")
            else:
                _warn_empty(counts, "before")
                empty_warned = True
        invalid_out = None
        if args.invalid_out is not None:
            invalid_out = _open_invalid_out(args.invalid_out, args.file)
    except BaseException:
        rf.close()
        raise
    # An empty cell falls back to the default: "" unless --default gives one.
    full_defaults = dict.fromkeys(sorted(used_columns), "") | defaults
    campaign_id = args.campaign_id or generate_campaign_id(args.file)
    return CampaignPlan(
        rf,
        args.body,
        campaign_id,
        args.campaign_id is None,
        used_columns,
        full_defaults,
        check_empty=check_empty,
        empty_warned=empty_warned,
        invalid_out=invalid_out,
        invalid_out_path=args.invalid_out,
    )


async def _campaign_exists(sms: AsyncSmsClient, campaign_id: str) -> bool:
    reference = chunk_reference(campaign_id, 0)
    since = datetime.now(timezone.utc) - timedelta(days=14)
    page = await sms.batches.list(client_reference=reference, start_date=since).page(0)
    return any(b.client_reference == reference for b in page.items)


async def run_campaign(args: argparse.Namespace, plan: CampaignPlan) -> int:
    if args.dry_run:  # nothing is sent: no credentials or simulator needed
        async with AsyncSmsClient(service_plan_id="dry-run", api_token="dry-run") as sms:
            return await _run(args, plan, Runtime(sms))
    options: dict[str, Any] = {"user_agent": "sinch-async-cli"}
    if args.messages_per_second is not None:
        options["messages_per_second"] = args.messages_per_second
    state = getattr(args, "simulate_state", None)
    async with open_runtime(args.simulate, state=state, **options) as rt:
        return await _run(args, plan, rt)


async def _run(args: argparse.Namespace, plan: CampaignPlan, rt: Runtime) -> int:
    cid = plan.campaign_id
    if not args.dry_run:
        # Re-running a finished campaign by mistake is refused; chunks are looked up (and
        # never sent twice) whenever the id was given, with or without --resume.
        if not args.resume and not plan.generated_id and await _campaign_exists(rt.sms, cid):
            raise CliError(
                f"campaign {cid!r} already has batches: add --resume to send only the chunks "
                "not sent yet, or choose another --campaign-id"
            )
        if args.resume:
            how = "resuming: chunks already sent are skipped"
        elif plan.generated_id:
            how = "new campaign"
        elif rt.simulator is not None and rt.state_file is None:  # starts empty: no lookups
            how = "new campaign on an empty embedded simulator"
        else:  # an id chosen by the user may have been used before: look chunks up anyway
            how = "new campaign; chunks already sent under this id would be skipped"
        err(f"campaign id: {cid} ({how})")
        if rt.simulator is not None and rt.state_file is None:
            err(
                "  a --simulate run cannot be resumed (its simulator ends with it); to try "
                f"--campaign-id {cid} --resume against a simulator, use {SERVE}"
            )
        elif plan.generated_id:
            again = f" --simulate --simulate-state {rt.state_file}" if rt.state_file else ""
            err(f"  to resume after an interruption: --campaign-id {cid} --resume{again}")
    fields: dict[str, Any] = {}
    if args.delivery_report:
        fields["delivery_report"] = args.delivery_report
    if args.callback_url:
        fields["callback_url"] = args.callback_url
    progress: ProgressView = NullProgress()
    if not args.dry_run:
        progress = make_progress(args.progress, plan.file.total_rows)
    cancelled = False
    run = rt.sms.batches._fan_out(
        plan.file.recipients(plan.used_columns, plan.check_empty),
        plan.body,
        args.from_,
        {
            "campaign_id": cid,
            "chunk_size": args.chunk_size,
            "concurrency": args.concurrency,
            "on_progress": progress.update,
            "resume": not plan.generated_id,  # a generated id is new: nothing to look up
            "default_parameters": plan.defaults or None,
            **fields,  # type: ignore[typeddict-item]
        },
    )
    work = asyncio.ensure_future(run.estimate_only() if args.dry_run else run.complete())
    try:
        with _stop_on_ctrl_c(work, run):
            report = await work
    except asyncio.CancelledError as exc:
        stopped = FanOutCancelled.find(exc)  # (Python 3.10 wraps it in a plain CancelledError)
        progress.close(finished=False)
        if stopped is None:
            raise
        report, cancelled = stopped.report, True
    except BaseException:
        progress.close(finished=False)
        raise
    else:
        progress.close()
    if rt.simulator is not None and report.batches and not cancelled:
        plan.delivery = await _simulated_delivery(rt, report)
    if plan.file.empty and not plan.empty_warned:
        _warn_empty(plan.file.empty, "dry" if args.dry_run else "after")
    write_invalid(plan, report)
    print_report(args, plan, report)
    if cancelled:
        if report.unknown:
            err(
                f"{report.unknown:,} recipient(s) in {len(report.unknown_chunks)} chunk(s) are "
                "unknown: their requests were abandoned and may or may not have been applied"
            )
        if rt.simulator is not None and rt.state_file is None:
            err(f"interrupted: {SIMULATE_NO_RESUME}")
        else:
            err(
                f"interrupted: re-run with --campaign-id {cid} --resume to send the rest (each "
                "chunk is looked up first, so none, the unknown ones included, is sent twice)"
            )
        return EXIT_INTERRUPTED
    if report.valid == 0:
        err(f"error: no valid recipients in {args.file}")
        return 2
    if args.dry_run or report.complete:
        return 0
    if report.duplicated:
        texted = sum(d.count for d in report.duplicated)
        err(
            f"DUPLICATED: {len(report.duplicated)} chunk(s) are more than one batch at Sinch: "
            f"{texted:,} recipient(s) got the message more than once (see the report)"
        )
        if report.failed == 0 and report.unknown == 0:
            return 1
    chunks = len(report.failed_chunks) + len(report.unknown_chunks)
    outcome = "not sent" if not report.unknown else "not sent or of unknown outcome"
    lost = f"{report.failed + report.unknown:,} recipient(s) in {chunks} chunk(s) {outcome}"
    if rt.simulator is not None and rt.state_file is None:
        err(f"{lost}: {SIMULATE_NO_RESUME}")
    else:
        err(
            f"{lost}: re-run with --campaign-id {cid} --resume (same file, same --chunk-size) "
            "to retry them"
        )
    return 1


async def _simulated_delivery(rt: Runtime, report: FanOutReport) -> dict[tuple[str, int], int]:
    """Advance the simulator's clock past dispatch and delivery; read the reports back."""
    sim = rt.simulator
    assert sim is not None
    await sim.advance(report.sent / sim.messages_per_second + 10)
    totals: Counter[tuple[str, int]] = Counter()
    for chunk in report.batches:
        assert chunk.batch_id is not None
        summary = await rt.sms.delivery_reports.get(chunk.batch_id)
        for status in summary.statuses:
            totals[(status.status, status.code)] += status.count
    return dict(totals)


@contextlib.contextmanager
def _stop_on_ctrl_c(work: asyncio.Future[Any], run: FanOutEngine[Any, Any]) -> Iterator[None]:
    """Ctrl-C stops the campaign: the first says what stops and lets the requests on the
    wire finish; the second abandons them (their recipients are reported unknown)."""
    loop = asyncio.get_running_loop()
    presses = 0

    def on_ctrl_c() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            on_wire, waiting = run.in_flight()
            err(
                f"stopping: {on_wire} batches in flight, {waiting:,} recipients will not be sent "
                "(nor the rest of the file); Ctrl-C again to stop waiting for the batches in "
                "flight"
            )
        elif presses == 2:
            err("abandoning the batches in flight: their recipients are reported as unknown")
        work.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_ctrl_c)
    except (NotImplementedError, RuntimeError, ValueError):  # no signals here (Windows, thread)
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
