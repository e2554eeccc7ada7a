"""A FastAPI app that sends SMS and receives Sinch delivery reports and inbound messages.

One ``AsyncSmsClient`` lives as long as the app (opened and closed in the lifespan);
``POST /send`` sends a batch asking for per-recipient delivery reports, which Sinch POSTs to
``/sinch/callbacks`` (signed; the router checks the HMAC signature); ``GET /reports/{id}``
shows what arrived. Duplicate deliveries (Sinch retries) are skipped by a ``Deduplicator``.

Against the embedded Sinch simulator (no credentials, no real SMS; needs uvicorn)::

    pip install 'sinch_async[fastapi]' uvicorn
    python examples/fastapi_app.py --simulate
    curl -s -X POST localhost:8000/send -H 'content-type: application/json' \\
        -d '{"to": ["+46700000001", "+46700000002"], "body": "Hello"}'
    curl -s localhost:8000/reports/<batch_id>
    curl -s -X POST localhost:8000/simulate/inbound -H 'content-type: application/json' \\
        -d '{"from_": "+46700000001", "to": "12345", "body": "STOP"}'
    curl -s localhost:8000/inbounds

For real (Sinch must reach ``PUBLIC_URL``; ask your account manager to enable signed
callbacks and give you the secret)::

    SINCH_SERVICE_PLAN_ID=... SINCH_API_TOKEN=... SINCH_REGION=eu \\
    SINCH_WEBHOOK_SECRET=... PUBLIC_URL=https://sms.example.com \\
        python examples/fastapi_app.py --port 8000
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from sinch_async import AsyncSmsClient, SinchError
from sinch_async.models import (
    BatchDeliveryReportMms,
    BatchDeliveryReportSms,
    InboundBinary,
    InboundMedia,
    InboundText,
    RecipientDeliveryReportMms,
    RecipientDeliveryReportSms,
)
from sinch_async.webhooks import Deduplicator, NonceCache, WebhookEvent
from sinch_async.webhooks.fastapi import sinch_webhook_router

log = logging.getLogger("fastapi_app")
CALLBACK_PATH = "/sinch/callbacks"


class SendIn(BaseModel):
    to: list[str]
    body: str
    from_: str | None = None


class InboundIn(BaseModel):
    from_: str
    to: str
    body: str = ""


@dataclass
class Store:
    """What the callbacks told us. A real app writes this to its database."""

    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    inbounds: list[dict[str, Any]] = field(default_factory=list)


def create_app(
    *,
    simulate: bool = False,
    webhook_secret: str | None = None,
    public_url: str | None = None,
    simulator_options: Mapping[str, Any] | None = None,
) -> FastAPI:
    """Build the app. ``simulate`` runs an in-process Sinch simulator instead of Sinch."""
    if simulate and webhook_secret is None:
        webhook_secret = secrets.token_urlsafe(24)
    if webhook_secret is None:
        log.warning("no SINCH_WEBHOOK_SECRET: callbacks are accepted without a signature check")
    store = Store()

    async def on_event(event: WebhookEvent) -> None:
        match event:
            case RecipientDeliveryReportSms() | RecipientDeliveryReportMms():
                store.reports.setdefault(event.batch_id, []).append(
                    {
                        "recipient": event.recipient,
                        "status": event.status,
                        "code": event.code,
                        "at": None if event.at is None else event.at.isoformat(),
                    }
                )
            case BatchDeliveryReportSms() | BatchDeliveryReportMms():
                store.reports.setdefault(event.batch_id, []).append(
                    {"summary": {s.status: s.count for s in event.statuses}}
                )
            case InboundText() | InboundBinary() | InboundMedia():
                store.inbounds.append({"id": event.id, "from": event.from_, "body": event.body})
            case _:
                log.info("ignoring callback of type %s", event.type)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if simulate:
                from sinch_async.testing import SinchSimulator

                sim = SinchSimulator(webhook_secret=webhook_secret, **(simulator_options or {}))
                await stack.enter_async_context(sim)
                sms = sim.client()
                app.state.sim = sim
            else:
                sms = AsyncSmsClient.from_env()
            app.state.sms = await stack.enter_async_context(sms)
            yield

    app = FastAPI(title="sinch_async example", lifespan=lifespan)
    app.state.store = store
    app.include_router(
        sinch_webhook_router(
            CALLBACK_PATH,
            webhook_secret,
            Deduplicator().wrap(on_event),
            replay_guard=NonceCache(),
        )
    )

    def callback_url(request: Request) -> str:
        if public_url:
            return public_url.rstrip("/") + CALLBACK_PATH
        return str(request.url_for("sinch_webhook"))

    @app.post("/send")
    async def send(payload: SendIn, request: Request) -> dict[str, Any]:
        sms: AsyncSmsClient = request.app.state.sms
        try:
            batch = await sms.batches.send(
                payload.to,
                payload.body,
                from_=payload.from_,
                delivery_report="per_recipient",
                callback_url=callback_url(request),
            )
        except SinchError as exc:
            raise HTTPException(status_code=502, detail=str(exc)) from None
        return {"batch_id": batch.id}

    @app.get("/reports/{batch_id}")
    async def reports(batch_id: str) -> list[dict[str, Any]]:
        return store.reports.get(batch_id, [])

    @app.get("/inbounds")
    async def inbounds() -> list[dict[str, Any]]:
        return store.inbounds

    if simulate:

        @app.post("/simulate/inbound")
        async def simulate_inbound(payload: InboundIn, request: Request) -> dict[str, Any]:
            sim = request.app.state.sim
            sim.inbound_callback_url = callback_url(request)
            mo = sim.inject_inbound(payload.from_, payload.to, payload.body)
            return {"id": mo["id"]}

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulate", action="store_true", help="use the embedded simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    app = create_app(
        simulate=args.simulate or os.environ.get("SINCH_SIMULATE") == "1",
        webhook_secret=os.environ.get("SINCH_WEBHOOK_SECRET"),
        public_url=os.environ.get("PUBLIC_URL"),
    )
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
