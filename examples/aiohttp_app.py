"""An aiohttp app that sends SMS and receives Sinch delivery reports and inbound messages.

One ``AsyncSmsClient`` lives as long as the app (opened and closed in a ``cleanup_ctx``);
``POST /send`` sends a batch asking for per-recipient delivery reports, which Sinch POSTs to
``/sinch/callbacks`` (signed; the handler checks the HMAC signature); ``GET /reports/{id}``
shows what arrived. Duplicate deliveries (Sinch retries) are skipped by a ``Deduplicator``.

``POST /send`` takes ``{"to": [...], "body": "...", "from": "..."}`` (``"from"`` optional,
other fields refused) and answers ``{"batch_id": ...}``. Errors are JSON
``{"error": "..."}``: 400 for a body that is not that JSON, or for input the client
library refuses before sending (then also ``"field"`` and ``"limit"``, e.g. 1001
recipients); Sinch's own 400, 403 and 429 pass through; 502 only when Sinch fails
(server error, network, timeout, an outcome left unknown, or our credentials refused).
The FastAPI example (``fastapi_app.py``) answers the same way.

Against the embedded Sinch simulator (no credentials, no real SMS)::

    python examples/aiohttp_app.py --simulate
    curl -s -X POST localhost:8080/send -H 'content-type: application/json' \\
        -d '{"to": ["+46700000001", "+46700000002"], "body": "Hello", "from": "12345"}'
    curl -s localhost:8080/reports/<batch_id>
    curl -s -X POST localhost:8080/simulate/inbound -H 'content-type: application/json' \\
        -d '{"from": "+46700000001", "to": "12345", "body": "STOP"}'
    curl -s localhost:8080/inbounds

For real (Sinch must reach ``PUBLIC_URL``; ask your account manager to enable signed
callbacks and give you the secret)::

    SINCH_SERVICE_PLAN_ID=... SINCH_API_TOKEN=... SINCH_REGION=eu \\
    SINCH_WEBHOOK_SECRET=... PUBLIC_URL=https://sms.example.com \\
        python examples/aiohttp_app.py --port 8080
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from aiohttp import web

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
from sinch_async.webhooks import Deduplicator, NonceCache, WebhookEvent, sinch_webhook_handler

if TYPE_CHECKING:
    from sinch_async.testing import SinchSimulator

log = logging.getLogger("aiohttp_app")
CALLBACK_PATH = "/sinch/callbacks"
PASSED_THROUGH = frozenset({400, 403, 429})
"""Sinch's refusals of the request itself, answered with the same status."""


class SendIn(msgspec.Struct, forbid_unknown_fields=True):
    """The JSON body of ``POST /send`` (an unknown field is an error, not silently dropped)."""

    to: list[str]
    body: str
    from_: str | None = msgspec.field(default=None, name="from")


class InboundIn(msgspec.Struct, forbid_unknown_fields=True):
    """The JSON body of ``POST /simulate/inbound``."""

    from_: str = msgspec.field(name="from")
    to: str
    body: str = ""


Body = TypeVar("Body", SendIn, InboundIn)


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    """The JSON error answer every route uses: ``{"error": message, ...extra}``."""
    return web.json_response({"error": message, **extra}, status=status)


def send_failure(exc: SinchError) -> web.Response:
    """The answer to a send the client library or Sinch refused, or that failed."""
    if isinstance(exc, SinchValidationError):  # refused before any I/O: the caller's input
        return json_error(400, str(exc), field=exc.field, limit=exc.limit)
    if isinstance(exc, ApiError) and exc.status in PASSED_THROUGH:
        return json_error(exc.status, str(exc), code=exc.code)
    return json_error(502, f"Sinch failed: {exc}")


async def read_body(request: web.Request, model: type[Body]) -> Body | web.Response:
    """The request's JSON body as ``model``, or the 400 (413) answer saying what is wrong."""
    try:
        raw = await request.read()  # at most the app's client_max_size (1 MiB by default)
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, f"the request body is over {request.client_max_size} bytes")
    if not raw.strip():
        return json_error(400, "the request body is empty; send a JSON object")
    try:
        return msgspec.json.decode(raw, type=model)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return json_error(400, f"invalid request body: {exc}")


@dataclass
class Store:
    """What the callbacks told us. A real app writes this to its database."""

    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    inbounds: list[dict[str, Any]] = field(default_factory=list)


SMS_KEY = web.AppKey("sms", AsyncSmsClient)
STORE_KEY = web.AppKey("store", Store)
SIM_KEY: web.AppKey[SinchSimulator] = web.AppKey("sim")


def create_app(
    *,
    simulate: bool = False,
    webhook_secret: str | None = None,
    public_url: str | None = None,
    simulator_options: Mapping[str, Any] | None = None,
) -> web.Application:
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

    async def sinch_client(app: web.Application) -> AsyncIterator[None]:
        if simulate:
            from sinch_async.testing import SinchSimulator

            async with SinchSimulator(
                webhook_secret=webhook_secret, **(simulator_options or {})
            ) as sim:
                app[SIM_KEY] = sim
                async with sim.client() as sms:
                    app[SMS_KEY] = sms
                    yield
        else:
            async with AsyncSmsClient.from_env() as sms:
                app[SMS_KEY] = sms
                yield

    def callback_url(request: web.Request) -> str:
        if public_url:
            return public_url.rstrip("/") + CALLBACK_PATH
        return str(request.url.with_path(CALLBACK_PATH).with_query(None))

    async def send(request: web.Request) -> web.Response:
        payload = await read_body(request, SendIn)
        if isinstance(payload, web.Response):
            return payload
        try:
            batch = await request.app[SMS_KEY].batches.send(
                payload.to,
                payload.body,
                from_=payload.from_,
                delivery_report="per_recipient",
                callback_url=callback_url(request),
            )
        except SinchError as exc:
            return send_failure(exc)
        return web.json_response({"batch_id": batch.id})

    async def reports(request: web.Request) -> web.Response:
        return web.json_response(store.reports.get(request.match_info["batch_id"], []))

    async def inbounds(request: web.Request) -> web.Response:
        return web.json_response(store.inbounds)

    async def simulate_inbound(request: web.Request) -> web.Response:
        payload = await read_body(request, InboundIn)
        if isinstance(payload, web.Response):
            return payload
        sim = request.app[SIM_KEY]
        sim.inbound_callback_url = callback_url(request)
        try:
            mo = sim.inject_inbound(payload.from_, payload.to, payload.body)
        except ValueError as exc:  # e.g. a lone surrogate: not Unicode text
            return json_error(400, str(exc))
        return web.json_response({"id": mo["id"]})

    app = web.Application()
    app[STORE_KEY] = store
    app.cleanup_ctx.append(sinch_client)
    app.router.add_post(
        CALLBACK_PATH,
        sinch_webhook_handler(
            webhook_secret, Deduplicator().wrap(on_event), replay_guard=NonceCache()
        ),
    )
    app.router.add_post("/send", send)
    app.router.add_get("/reports/{batch_id}", reports)
    app.router.add_get("/inbounds", inbounds)
    if simulate:
        app.router.add_post("/simulate/inbound", simulate_inbound)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulate", action="store_true", help="use the embedded simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    app = create_app(
        simulate=args.simulate or os.environ.get("SINCH_SIMULATE") == "1",
        webhook_secret=os.environ.get("SINCH_WEBHOOK_SECRET"),
        public_url=os.environ.get("PUBLIC_URL"),
    )
    web.run_app(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
