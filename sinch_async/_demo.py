"""``python -m sinch_async demo``: a demo campaign against the embedded simulator.

It runs the real client stack (session, retries, rate limits, msgspec models)
against :class:`sinch_async.testing.SinchSimulator` on 127.0.0.1, so it needs no
credentials and sends no real SMS.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TextIO

from sinch_async.client import AsyncSmsClient
from sinch_async.errors import SinchError
from sinch_async.fanout import FanOutProgress, FanOutReport

__all__ = ["run_demo"]

_NAMES = ("Ann", "Bo", "Cai", "Dana", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun")
CHUNK = 1000


def demo_recipients(count: int) -> Iterator[tuple[str, str]]:
    """Fictional numbers (+1 555 01xx xxxx) with a first name each."""
    for i in range(count):
        yield f"+1555{i:07d}", _NAMES[i % len(_NAMES)]


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return "#" * filled + "-" * (width - filled)


async def _send_campaign(
    sms: AsyncSmsClient, count: int, concurrency: int, out: TextIO
) -> FanOutReport:
    tty = out.isatty()

    def progress(p: FanOutProgress) -> None:
        line = (
            f"  [{_bar(p.recipients_sent, count)}] {p.recipients_sent:>6}/{count} recipients, "
            f"{p.batches:>3} batches, {p.rate:,.0f} recipients/s"
        )
        out.write(f"\r{line}" if tty else f"{line}\n")
        out.flush()

    report = await sms.batches.fan_out(
        ((number, {"name": name}) for number, name in demo_recipients(count)),
        "Hi ${name}, spring sale: 20% off today only!",
        from_="SinchDemo",
        campaign_id="demo-spring-sale",
        chunk_size=CHUNK,
        concurrency=concurrency,
        default_parameters={"name": "there"},
        on_progress=progress,
    )
    if tty:
        out.write("\n")
    return report


async def run_demo(
    *, recipients: int = 5000, concurrency: int = 4, out: TextIO = sys.stdout
) -> int:
    """Run the demo campaign; returns a process exit code."""
    from sinch_async.testing import SinchSimulator

    if recipients < 1:
        out.write("--recipients must be at least 1\n")
        return 2
    if any(os.environ.get(v) for v in ("SINCH_API_TOKEN", "SINCH_KEY_SECRET")):
        out.write(
            "SINCH_* credentials are set in the environment; the demo ignores them and runs\n"
            "against the embedded simulator, so no real SMS is sent.\n\n"
        )

    # Numbers ending in 13 fail and ending in 77 expire, so the report shows more than one status.
    def outcome(number: str) -> str | None:
        if number.endswith("13"):
            return "Failed"
        if number.endswith("77"):
            return "Expired"
        return None

    async with SinchSimulator(
        time_scale=0, messages_per_second=2000, failure_rules=outcome, seed=7
    ) as sim:
        out.write(f"Sinch simulator on {sim.url} (service plan {sim.service_plan_id})\n")
        out.write(
            f"Sending a personalised campaign to {recipients:,} recipients with "
            f"sms.batches.fan_out() in batches of {CHUNK}, {concurrency} at a time:\n"
        )
        async with sim.client() as sms:
            try:
                report = await _send_campaign(sms, recipients, concurrency, out)
            except SinchError as exc:
                out.write(f"\ncampaign failed: {exc}\n")
                return 1
            out.write(f"{report.summary()}\n")
            if not report.complete:
                out.write("some recipients were not sent\n")
                return 1
            seconds = recipients / 2000 + 5
            out.write(f"Simulated clock: {seconds:.0f} s of dispatch and delivery...\n")
            await sim.advance(seconds)

            totals: Counter[tuple[str, int]] = Counter()
            for chunk in report.batches:
                assert chunk.batch_id is not None
                summary = await sms.delivery_reports.get(chunk.batch_id)
                for status in summary.statuses:
                    totals[(status.status, status.code)] += status.count
            out.write("\nDelivery reports read back through the API:\n")
            out.write(f"  {'status':<12}{'code':>6}{'messages':>12}\n")
            for (name, code), n in sorted(totals.items(), key=lambda kv: -kv[1]):
                out.write(f"  {name:<12}{code:>6}{n:>12,}\n")
            out.write(f"  {'total':<18}{sum(totals.values()):>12,}\n")

            first_batch = report.batches[0].batch_id or ""
            sample = await sms.delivery_reports.get_for_recipient(first_batch, "+15550000001")
            out.write(f"\nOne recipient: +15550000001 -> {sample.status} at {sample.at}\n")
        try:
            sim.journal.assert_each_recipient_once(n for n, _ in demo_recipients(recipients))
        except AssertionError as exc:
            out.write(f"journal check FAILED: {exc}\n")
            return 1
        first = sim.journal.dispatched()[0]
        out.write(f'First message as dispatched: "{first.body}"\n')
        out.write(
            f"Journal: {len(sim.journal.batches_created())} batches, every one of the "
            f"{recipients:,} recipients got exactly one message.\n"
        )
    return 0


def main_demo(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m sinch_async demo",
        description="Run a demo campaign against the embedded Sinch simulator "
        "(no credentials needed, no real SMS sent).",
    )
    parser.add_argument("--recipients", type=int, default=5000, help="default 5000")
    parser.add_argument("--concurrency", type=int, default=4, help="batches in flight (4)")
    args = parser.parse_args(list(argv))
    return asyncio.run(run_demo(recipients=args.recipients, concurrency=args.concurrency))
