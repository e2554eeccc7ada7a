"""A campaign worker: stream recipients from a database into Sinch, exactly once.

Reads (number, first_name) rows lazily from SQLite (any async or sync cursor
works the same way), fans them out in 1000-recipient batches paced to the
service plan's rate, reports progress, and writes the numbers that failed to a
file for a later retry. Re-running with the same --campaign-id after a crash
skips the batches Sinch already has.

    # against the embedded simulator (no credentials, no real SMS):
    python examples/campaign_worker.py --simulate --rows 20000
    # against Sinch (reads SINCH_* credentials from the environment):
    python examples/campaign_worker.py --db customers.sqlite --campaign-id spring-2026
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from sinch_async import AsyncSmsClient, FanOutCancelled, FanOutProgress
from sinch_async.testing import SinchSimulator


def demo_database(rows: int) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE customers (phone TEXT, first_name TEXT)")
    db.executemany(
        "INSERT INTO customers VALUES (?, ?)",
        ((f"+1 555 {i:07d}", f"Customer{i}") for i in range(rows)),
    )
    return db


async def rows_from(db: sqlite3.Connection) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """Stream rows without loading the table; yields to the event loop between pages."""
    cursor = db.execute("SELECT phone, first_name FROM customers")
    while page := cursor.fetchmany(500):
        for phone, first_name in page:
            yield phone, {"first_name": first_name}
        await asyncio.sleep(0)


def progress(p: FanOutProgress) -> None:
    logging.info(
        "%s sent, %s failed, %s batches, %.0f recipients/s",
        f"{p.recipients_sent:,}",
        f"{p.recipients_failed:,}",
        p.batches,
        p.rate,
    )


async def run(sms: AsyncSmsClient, db: sqlite3.Connection, campaign_id: str) -> int:
    try:
        report = await sms.batches.fan_out(
            rows_from(db),
            "Hi ${first_name}, our spring sale starts today!",
            from_="MyShop",
            campaign_id=campaign_id,
            default_parameters={"first_name": "there"},
            on_progress=progress,
        )
    except FanOutCancelled as cancelled:
        logging.warning("cancelled: %s", cancelled.report.summary())
        raise
    print(report.summary())
    for bad in report.invalid[:10]:
        print(f"  invalid: {bad.value!r}: {bad.reason}")
    if report.failed_chunks:
        print(f"first failure: {report.failed_chunks[0].error}")
        numbers = [r if isinstance(r, str) else r[0] for r in report.failed_recipients()]
        path = Path(f"{campaign_id}.failed.txt")
        await asyncio.to_thread(path.write_text, "\n".join(numbers) + "\n")
        print(f"{report.failed:,} recipients failed; written to {campaign_id}.failed.txt")
        return 1
    return 0


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--simulate", action="store_true", help="use the embedded simulator")
    parser.add_argument("--rows", type=int, default=20_000, help="demo rows with --simulate")
    parser.add_argument("--db", help="SQLite file with a customers(phone, first_name) table")
    parser.add_argument("--campaign-id", default="spring-sale")
    parser.add_argument("--messages-per-second", type=float, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    if args.simulate:
        async with (
            SinchSimulator(time_scale=0) as sim,
            sim.client(messages_per_second=args.messages_per_second) as sms,
        ):
            return await run(sms, demo_database(args.rows), args.campaign_id)
    if not args.db:
        parser.error("give --db FILE, or --simulate")
    with contextlib.closing(sqlite3.connect(args.db)) as db:
        async with AsyncSmsClient.from_env(messages_per_second=args.messages_per_second) as sms:
            return await run(sms, db, args.campaign_id)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
