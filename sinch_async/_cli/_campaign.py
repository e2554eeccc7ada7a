"""``sinch-async campaign FILE``: stream a recipient file through ``batches.fan_out``.

Invalid rows: the fan-out decides (its report's ``invalid``), the CLI adds each one's line
(see :class:`~sinch_async._cli._recipients.NumberAt`). ``--invalid-out FILE`` gets them as
CSV with the values as written (the user's own data, to fix the rows); what goes to stdout
and stderr (the text report, ``--json``), which often ends up in logs, masks the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TextIO

from sinch_async._cli._output import CliError, emit_json, err, out, table
from sinch_async._cli._progress import NullProgress, ProgressView, make_progress
from sinch_async._cli._recipients import RecipientFile, inspect_file, line_of, placeholders
from sinch_async._cli._runtime import Runtime, open_runtime
from sinch_async._redact import mask_numbers
from sinch_async.client import AsyncSmsClient
from sinch_async.fanout import FanOutCancelled, FanOutReport, chunk_reference

__all__ = ["CampaignPlan", "prepare_campaign", "run_campaign"]

EXIT_INTERRUPTED = 130

SERVE = (
    "`sinch-async serve` in another terminal, with SINCH_BASE_URL, SINCH_SERVICE_PLAN_ID and "
    "SINCH_API_TOKEN set to what it prints, instead of --simulate"
)
SIMULATE_RESUME = (
    "--resume cannot work with --simulate: each --simulate run starts an empty simulator that "
    "ends with the run, so an earlier run's batches are not there and every chunk would be "
    "sent again. Resuming needs a simulator that outlives the run: use " + SERVE
)
SIMULATE_NO_RESUME = (
    "a --simulate run cannot be resumed (its simulator ends with it); to try resuming "
    "against a simulator, use " + SERVE
)

INVALID_OUT_COLUMNS = ("line", "value", "reason")


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


def _rows(count: int) -> str:
    return f"{count:,} row" + "s" * (count != 1)


def _warn_empty(counts: Counter[str], when: Literal["before", "dry", "after"]) -> None:
    for name, rows in sorted(counts.items()):
        if not rows:
            continue
        where = f"${{{name}}} {'was' if when == 'after' else 'is'} empty in {_rows(rows)}"
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
    if args.simulate and args.resume:
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
    async with open_runtime(args.simulate, **options) as rt:
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
        elif rt.simulator is not None:  # the embedded simulator starts empty: nothing to skip
            how = "new campaign on an empty embedded simulator"
        else:  # an id chosen by the user may have been used before: look chunks up anyway
            how = "new campaign; chunks already sent under this id would be skipped"
        err(f"campaign id: {cid} ({how})")
        if rt.simulator is not None:
            err(
                "  a --simulate run cannot be resumed (its simulator ends with it); to try "
                f"--campaign-id {cid} --resume against a simulator, use {SERVE}"
            )
        elif plan.generated_id:
            err(f"  to resume after an interruption: --campaign-id {cid} --resume")
    fields: dict[str, Any] = {}
    if args.delivery_report:
        fields["delivery_report"] = args.delivery_report
    if args.callback_url:
        fields["callback_url"] = args.callback_url
    progress: ProgressView = NullProgress()
    if not args.dry_run:
        progress = make_progress(args.progress, plan.file.total_rows)
    cancelled = False
    try:
        report = await rt.sms.batches.fan_out(
            plan.file.recipients(plan.used_columns, plan.check_empty),
            plan.body,
            from_=args.from_,
            campaign_id=cid,
            chunk_size=args.chunk_size,
            concurrency=args.concurrency,
            on_progress=progress.update,
            resume=not plan.generated_id,  # a generated id is new: nothing to look up
            default_parameters=plan.defaults or None,
            dry_run=args.dry_run,
            **fields,
        )
    except FanOutCancelled as exc:
        progress.close(finished=False)
        report, cancelled = exc.report, True
    except BaseException:
        progress.close(finished=False)
        raise
    else:
        progress.close()
    if rt.simulator is not None and report.batches and not cancelled:
        plan.delivery = await _simulated_delivery(rt, report)
    if plan.file.empty and not plan.empty_warned:
        _warn_empty(plan.file.empty, "dry" if args.dry_run else "after")
    _write_invalid(plan, report)
    _print_report(args, plan, report)
    if cancelled:
        if args.simulate:
            err(f"interrupted: {SIMULATE_NO_RESUME}")
        else:
            err(f"interrupted: re-run with --campaign-id {cid} --resume to send the rest")
        return EXIT_INTERRUPTED
    if report.valid == 0:
        err(f"error: no valid recipients in {args.file}")
        return 2
    if args.dry_run or report.complete:
        return 0
    lost = f"{report.failed:,} recipient(s) in {len(report.failed_chunks)} chunk(s) not sent"
    if args.simulate:
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


def _write_invalid(plan: CampaignPlan, report: FanOutReport) -> None:
    """The invalid rows as CSV (line, value as written, reason) in the --invalid-out file."""
    handle = plan.invalid_out
    if handle is None:
        return
    writer = csv.writer(handle)
    writer.writerow(INVALID_OUT_COLUMNS)
    writer.writerows((line_of(bad.value), str(bad.value), bad.reason) for bad in report.invalid)
    handle.flush()
    plan.invalid_written = True
    err(
        f"invalid rows: {len(report.invalid):,} written to {plan.invalid_out_path} "
        f"({', '.join(INVALID_OUT_COLUMNS)})"
    )


def _mask(value: object) -> str:
    return mask_numbers(str(value))


def _reasons(report: FanOutReport) -> list[tuple[str, int, int | None, str]]:
    """``(reason, count, first line, first value masked)``, the commonest reason first."""
    counts: Counter[str] = Counter()
    examples: dict[str, tuple[int | None, str]] = {}
    for bad in report.invalid:
        counts[bad.reason] += 1
        if bad.reason not in examples:
            examples[bad.reason] = (line_of(bad.value), _mask(bad.value))
    return [(reason, n, *examples[reason]) for reason, n in counts.most_common()]


def _error_text(exc: BaseException | None) -> str:
    return "unknown error" if exc is None else f"{type(exc).__name__}: {exc}"


def _print_report(args: argparse.Namespace, plan: CampaignPlan, report: FanOutReport) -> None:
    existing = sum(1 for c in report.chunks if c.status == "existing")
    created = sum(1 for c in report.chunks if c.status == "created")
    reasons = _reasons(report)
    est = report.estimate
    if args.json:
        emit_json(
            {
                "campaign_id": plan.campaign_id,
                "file": args.file,
                "dry_run": report.dry_run,
                "read": report.read,
                "valid": report.valid,
                "invalid": len(report.invalid),
                "invalid_reasons": [
                    {"reason": r, "count": n, "example": e, "example_line": line}
                    for r, n, line, e in reasons
                ],
                "invalid_rows": [
                    {"line": line_of(bad.value), "value": _mask(bad.value), "reason": bad.reason}
                    for bad in report.invalid
                ],
                "invalid_out": plan.invalid_out_path,
                "empty_parameters": [
                    {"name": name, "rows": rows} for name, rows in sorted(plan.file.empty.items())
                ],
                "duplicates": report.duplicates,
                "sent": report.sent,
                "failed": report.failed,
                "not_sent": len(report.not_sent),
                "batches": len(report.batches),
                "chunks_created": created,
                "chunks_existing": existing,
                "failed_chunks": [
                    {
                        "index": c.index,
                        "client_reference": c.client_reference,
                        "recipients": len(c.recipients),
                        "error": _error_text(c.error),
                    }
                    for c in report.failed_chunks
                ],
                "estimate": est,
                "complete": report.complete,
                "elapsed": round(report.elapsed, 3),
                "delivery": [
                    {"status": s, "code": c, "count": n} for (s, c), n in plan.delivery.items()
                ],
            }
        )
        return
    title = "dry run (nothing sent)" if report.dry_run else f"campaign {plan.campaign_id}"
    out(title)
    out(f"  file:        {args.file} ({plan.file.describe()})")
    out(
        f"  read:        {report.read:,} rows: {report.valid:,} valid, "
        f"{len(report.invalid):,} invalid, {report.duplicates:,} duplicates"
    )
    if not report.dry_run:
        resumed = f", {existing:,} already sent before" if existing else ""
        out(
            f"  sent:        {report.sent:,} recipients in {len(report.batches):,} batches "
            f"({created:,} created now{resumed})"
        )
        out(f"  failed:      {report.failed:,} recipients in {len(report.failed_chunks):,} chunks")
        if report.not_sent:
            out(f"  not sent:    {len(report.not_sent):,} (interrupted)")
    if est is not None:
        encodings = "/".join(est.encodings) or "-"
        out(
            f"  estimate:    {est.messages:,} messages (SMS parts; up to {est.max_parts} per "
            f"recipient; {encodings})"
        )
    for name, count in sorted(plan.file.empty.items()):
        out(f"  empty:       ${{{name}}} in {_rows(count)} (no --default: sent without it)")
    out(f"  elapsed:     {report.elapsed:.1f} s")
    if reasons:
        out(f"invalid recipients ({len(report.invalid):,}):")
        for reason, n, line, example in reasons[:5]:
            where = "" if line is None else f"line {line}: "
            out(f"  {n:>6,} x {reason} (e.g. {where}{example!r})")
        if len(reasons) > 5:
            out(f"  ... and {len(reasons) - 5} other reason(s)")
        if plan.invalid_out_path is not None:
            out(f"  every invalid row (line, value, reason): {plan.invalid_out_path}")
        else:
            out("  --invalid-out FILE.csv writes every invalid row (line, value, reason)")
    if report.failed_chunks:
        out(f"failed chunks ({len(report.failed_chunks):,}):")
        for chunk in report.failed_chunks[:5]:
            out(
                f"  #{chunk.index} ({len(chunk.recipients):,} recipients, "
                f"{chunk.client_reference}): {_error_text(chunk.error)}"
            )
        if len(report.failed_chunks) > 5:
            out(f"  ... and {len(report.failed_chunks) - 5} more")
    if plan.delivery:
        out("delivery reports (simulator clock advanced past delivery):")
        rows = sorted(plan.delivery.items(), key=lambda kv: -kv[1])
        table(
            ("  STATUS", "CODE", "MESSAGES"),
            ((f"  {s}", str(c), f"{n:,}") for (s, c), n in rows),
        )
