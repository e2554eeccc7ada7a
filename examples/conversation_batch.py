"""Send a Conversation API batch, schedule a campaign, check and cancel it.

Against Sinch (real messages; needs a Conversation app and project access keys)::

    SINCH_PROJECT_ID=... SINCH_KEY_ID=... SINCH_KEY_SECRET=... SINCH_REGION=eu \
        python examples/conversation_batch.py APP_ID +46700000001 +46700000002

Offline, against the bundled simulator (no credentials, nothing is sent)::

    python examples/conversation_batch.py --simulate
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta, timezone

from sinch_async import SinchError
from sinch_async.conversation import (
    CAMPAIGN_METADATA_KEY,
    AsyncConversationBatchClient,
    CardMessage,
    ChannelIdentity,
    Choice,
    MediaMessage,
    TextMessage,
)


async def run(conv: AsyncConversationBatchClient, app_id: str, numbers: list[str]) -> int:
    # 1. One batch, sent now: a text with a ${name} parameter per recipient.
    try:
        sent = await conv.send(
            app_id,
            TextMessage("Hi ${name}, your order has shipped."),
            [
                (ChannelIdentity("SMS", number), {"name": f"customer {i + 1}"})
                for i, number in enumerate(numbers)
            ],
            batch_metadata={"kind": "shipping"},
            ttl=3600,
            correlation_id="shipping-2026-05-01",  # reconciled, never sent twice, on a timeout
        )
    except SinchError as exc:
        print(f"send failed: {exc}", file=sys.stderr)
        return 1
    print(f"batch {sent.batch_id} accepted")
    print(f"status: {(await conv.get(sent.batch_id)).status}")

    # 2. A scheduled campaign of any size: split into batches of 1000, resumable.
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    card = CardMessage(
        title="Spring sale, ${name}",
        description="20% off until Sunday",
        media_message=MediaMessage("https://example.com/sale.jpg"),
        choices=[Choice.url("Shop now", "https://example.com/sale")],
    )
    recipients = (
        (ChannelIdentity("SMS", f"+4670{i:07d}"), {"name": f"friend {i}"}) for i in range(2500)
    )
    report = await conv.fan_out(
        app_id,
        card,
        recipients,
        campaign_id="spring-sale-2026",
        send_after=tomorrow,
        default_parameters={"name": "friend"},
    )
    print(report.summary())
    for chunk in report.chunks:
        status = await conv.get(chunk.batch_id or "")
        print(
            f"  chunk {chunk.index}: {chunk.count} recipients, {status.status} until "
            f"{status.send_after}"
        )

    # 3. Changed our minds: cancel the whole campaign by its metadata.
    await conv.cancel(metadata={CAMPAIGN_METADATA_KEY: "spring-sale-2026"})
    first = report.chunks[0].batch_id or ""
    print(f"after cancel: {(await conv.get(first)).status}")
    return 0


async def simulate() -> int:
    from sinch_async.testing import SinchSimulator

    async with SinchSimulator() as sim, sim.conversation_client() as conv:
        return await run(conv, "demo-app", ["+46700000001", "+46700000002"])


async def live(app_id: str, numbers: list[str]) -> int:
    async with AsyncConversationBatchClient.from_env() as conv:
        return await run(conv, app_id, numbers)


if __name__ == "__main__":
    if sys.argv[1:] == ["--simulate"]:
        sys.exit(asyncio.run(simulate()))
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(asyncio.run(live(sys.argv[1], sys.argv[2:])))
