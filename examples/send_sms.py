"""Send one SMS and print its delivery report.

    SINCH_SERVICE_PLAN_ID=... SINCH_API_TOKEN=... SINCH_REGION=eu \
        python examples/send_sms.py +46700000001 "Hello from sinch_async"

This sends a real SMS: it needs real credentials in the environment.
"""

from __future__ import annotations

import asyncio
import sys

from sinch_async import AsyncSmsClient, SinchError


async def main(number: str, text: str) -> int:
    async with AsyncSmsClient.from_env() as sms:
        try:
            batch = await sms.batches.send([number], text)
        except SinchError as exc:
            print(f"send failed: {exc}", file=sys.stderr)
            return 1
        print(f"batch {batch.id} created at {batch.created_at}")
        await asyncio.sleep(5)
        report = await sms.delivery_reports.get(batch.id)
        for status in report.statuses:
            print(f"{status.status:>12} (code {status.code}): {status.count}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
