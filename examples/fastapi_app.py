"""A FastAPI app that sends SMS and receives Sinch delivery reports and inbound messages.

One ``AsyncSmsClient`` lives as long as the app (opened and closed in the lifespan);
``POST /send`` sends a batch asking for per-recipient delivery reports, which Sinch POSTs to
``/sinch/callbacks`` (signed; the router checks the HMAC signature); ``GET /reports/{id}``
shows what arrived. Duplicate deliveries (Sinch retries) are skipped by a ``Deduplicator``.

``POST /send`` takes ``{"to": [...], "body": "...", "from": "..."}`` (``"from"`` optional,
``"from_"`` accepted for it too, other fields refused) and answers ``{"batch_id": ...}``.
Errors are JSON ``{"error": "..."}``: 400 for a body that is not that JSON, or for input
the client library refuses before sending (then also ``"field"`` and ``"limit"``, e.g.
1001 recipients); Sinch's own 400, 403 and 429 pass through; 502 only when Sinch fails
(server error, network, timeout, an outcome left unknown, or our credentials refused).
The aiohttp example (``aiohttp_app.py``) answers the same way.

Against the embedded Sinch simulator (no credentials, no real SMS; needs uvicorn)::

    pip install 'sinch_async[fastapi]' uvicorn
    python examples/fastapi_app.py --simulate
    curl -s -X POST localhost:8000/send -H 'content-type: application/json' \\
        -d '{"to": ["+46700000001", "+46700000002"], "body": "Hello", "from": "12345"}'
    curl -s localhost:8000/reports/<batch_id>
    curl -s -X POST localhost:8000/simulate/inbound -H 'content-type: application/json' \\
        -d '{"from": "+46700000001", "to": "12345", "body": "STOP"}'
    curl -s localhost:8000/inbounds

For real (Sinch must reach ``PUBLIC_URL``; ask your account manager to enable signed
callbacks and give you the secret)::

    SINCH_SERVICE_PLAN_ID=... SINCH_API_TOKEN=... SINCH_REGION=eu \\
    SINCH_WEBHOOK_SECRET=... PUBLIC_URL=https://sms.example.com \\
        python examples/fastapi_app.py --port 8000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from sinch_async import ApiError, AsyncSmsClient, SinchError, SinchValidationError
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
PASSED_THROUGH = frozenset({400, 403, 429})
"""Sinch's refusals of the request itself, answered with the same status."""


class SendIn(BaseModel):
    """The JSON body of ``POST /send`` (an unknown field is an error, not silently dropped)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    to: list[str]
    body: str
    from_: str | None = Field(default=None, alias="from")


class InboundIn(BaseModel):
    """The JSON body of ``POST /simulate/inbound``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: str = Field(alias="from")
    to: str
    body: str = ""


def json_error(status: int, message: str, **extra: Any) -> Response:
    """The JSON error answer every route uses: ``{"error": message, ...extra}``.

    ``json.dumps`` escapes non-ASCII, so text echoing odd input (a lone surrogate) is safe.
    """
    content = json.dumps({"error": message, **extra})
    return Response(content, status_code=status, media_type="application/json")


def send_failure(exc: SinchError) -> Response:
    """The answer to a send the client library or Sinch refused, or that failed."""
    if isinstance(exc, SinchValidationError):  # refused before any I/O: the caller's input
        return json_error(400, str(exc), field=exc.field, limit=exc.limit)
    if isinstance(exc, ApiError) and exc.status in PASSED_THROUGH:
        return json_error(exc.status, str(exc), code=exc.code)
    return json_error(502, f"Sinch failed: {exc}")


def _describe(error: Mapping[str, Any]) -> str:
    """One of pydantic's errors as ``"where: what"`` (without the input, which may be big)."""
    if error["type"] == "json_invalid":
        return f"not valid JSON: {error.get('ctx', {}).get('error', error['msg'])}"
    where = ".".join(str(part) for part in error["loc"][1:]) or "the request body"
    return f"{where}: {error['msg']}"


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

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> Response:
        """400 (not FastAPI's 422) for a body that does not fit the route's model."""
        details = "; ".join(_describe(error) for error in exc.errors())
        return json_error(400, f"invalid request body: {details}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        """FastAPI's own errors (unparsable body, 404, 405) in the same ``{"error"}`` shape."""
        response = json_error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

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

    @app.post("/send", response_model=None)
    async def send(payload: SendIn, request: Request) -> dict[str, Any] | Response:
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
            return send_failure(exc)
        return {"batch_id": batch.id}

    @app.get("/reports/{batch_id}")
    async def reports(batch_id: str) -> list[dict[str, Any]]:
        return store.reports.get(batch_id, [])

    @app.get("/inbounds")
    async def inbounds() -> list[dict[str, Any]]:
        return store.inbounds

    if simulate:

        @app.post("/simulate/inbound", response_model=None)
        async def simulate_inbound(
            payload: InboundIn, request: Request
        ) -> dict[str, Any] | Response:
            sim = request.app.state.sim
            sim.inbound_callback_url = callback_url(request)
            try:
                mo = sim.inject_inbound(payload.from_, payload.to, payload.body)
            except ValueError as exc:  # e.g. a lone surrogate: not Unicode text
                return json_error(400, str(exc))
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
