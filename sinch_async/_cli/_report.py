"""The campaign's report: the invalid-rows file, the text report and ``--json``.

Numbers printed here (stdout, stderr) are masked, since that output often ends up in logs;
only the ``--invalid-out`` file holds the values as written.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from typing import TYPE_CHECKING

from sinch_async._cli._output import emit_json, err, out, table
from sinch_async._cli._recipients import line_of
from sinch_async._redact import mask_numbers
from sinch_async.fanout import FanOutReport

if TYPE_CHECKING:
    from sinch_async._cli._campaign import CampaignPlan

__all__ = ["INVALID_OUT_COLUMNS", "count_rows", "print_report", "write_invalid"]

INVALID_OUT_COLUMNS = ("line", "value", "reason")


def count_rows(count: int) -> str:
    """``"1 row"``, ``"12 rows"``."""
    return f"{count:,} row" + "s" * (count != 1)


def write_invalid(plan: CampaignPlan, report: FanOutReport) -> None:
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


def print_report(args: argparse.Namespace, plan: CampaignPlan, report: FanOutReport) -> None:
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
                "unknown": report.unknown,
                "unknown_chunks": [
                    {
                        "index": c.index,
                        "client_reference": c.client_reference,
                        "recipients": len(c.recipients),
                        "error": _error_text(c.error),
                    }
                    for c in report.unknown_chunks
                ],
                "duplicated": [
                    {
                        "index": d.index,
                        "client_reference": d.client_reference,
                        "batch_ids": list(d.batch_ids),
                        "recipients": d.count,
                    }
                    for d in report.duplicated
                ],
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
        if report.unknown:
            out(
                f"  unknown:     {report.unknown:,} recipients in "
                f"{len(report.unknown_chunks):,} chunks (may or may not have been sent)"
            )
        for dup in report.duplicated:
            out(
                f"  DUPLICATED:  chunk #{dup.index} ({dup.client_reference}, {dup.count:,} "
                f"recipients) is {len(dup.batch_ids)} batches: {', '.join(dup.batch_ids)}"
            )
    if est is not None:
        encodings = "/".join(est.encodings) or "-"
        out(
            f"  estimate:    {est.messages:,} messages (SMS parts; up to {est.max_parts} per "
            f"recipient; {encodings})"
        )
    for name, count in sorted(plan.file.empty.items()):
        out(f"  empty:       ${{{name}}} in {count_rows(count)} (no --default: sent without it)")
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
