"""List the batches of the last day and the inbound messages, page by page.

SINCH_SERVICE_PLAN_ID=... SINCH_API_TOKEN=... python examples/list_recent.py
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from sinch_async import AsyncSmsClient, normalize_number


async def main() -> None:
    since = datetime.now(timezone.utc) - timedelta(days=1)
    async with AsyncSmsClient.from_env() as sms:
        async for page in sms.batches.list(start_date=since).pages():
            print(f"page {page.page}: {len(page.items)} of {page.count} batches")
            for batch in page.items:
                recipients = ", ".join(normalize_number(n) for n in batch.to[:3])
                print(f"  {batch.id} {batch.type} to {recipients}")
        async for inbound in sms.inbounds.list(start_date=since, limit=20):
            print(f"MO {inbound.id} from {inbound.from_}: {getattr(inbound, 'body', None)!r}")


if __name__ == "__main__":
    asyncio.run(main())
