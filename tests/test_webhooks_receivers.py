"""End to end: the simulator POSTs signed callbacks to real receivers on 127.0.0.1.

A batch goes through the client to the simulator with ``callback_url`` pointing at a receiver
(aiohttp on a random port, or FastAPI served by uvicorn in-process on a random port); after
``sim.advance(...)`` the receiver has verified and parsed the delivery reports, and an
injected inbound arrives too. The examples are run against the simulator the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from types import ModuleType
from typing import Any, Literal

import aiohttp
import pytest
import uvicorn
from aiohttp import web
from fastapi import FastAPI

from sinch_async import AsyncSmsClient
from sinch_async.models import (
    BatchDeliveryReportMms,
    BatchDeliveryReportSms,
    InboundBinary,
    InboundMedia,
    InboundText,
    MediaBody,
    RecipientDeliveryReportSms,
)
from sinch_async.testing import SinchSimulator
from sinch_async.webhooks import (
    Deduplicator,
    NonceCache,
    WebhookEvent,
    event_key,
    sign_headers,
    sinch_webhook_handler,
)
from sinch_async.webhooks.fastapi import sinch_webhook_router
from tests.conftest import load_example, serve

SECRET = "e2e-webhook-secret"
NUMBERS = ["+46700000001", "+46700000002", "+46700000003"]


class Events(list[WebhookEvent]):
    """What on_event received; ``fail`` makes the next calls raise."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = 0
        self.calls = 0

    async def __call__(self, event: WebhookEvent) -> None:
        self.calls += 1
        if self.fail:
            self.fail -= 1
            raise RuntimeError("handler down")
        self.append(event)

    def of(self, cls: type) -> list[Any]:
        return [e for e in self if isinstance(e, cls)]


@contextlib.asynccontextmanager
async def aiohttp_receiver(
    secret: str | None, on_event: Events, **kwargs: Any
) -> AsyncIterator[str]:
    handler = sinch_webhook_handler(secret, on_event, **kwargs)
    async with serve([web.post("/sinch/callbacks", handler)]) as url:
        yield url + "/sinch/callbacks"


class _Server(uvicorn.Server):
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()  # leave pytest's signal handlers alone


@contextlib.asynccontextmanager
async def uvicorn_server(
    app: Any, *, lifespan: Literal["auto", "on", "off"] = "off", **config: Any
) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn in this event loop on a random port of 127.0.0.1;
    ``config``: more ``uvicorn.Config`` arguments (e.g. ``log_config=None``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config.setdefault("log_level", "warning")
    server = _Server(uvicorn.Config(app, lifespan=lifespan, **config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            if task.done():
                task.result()  # raises what made the server fail
            raise RuntimeError("uvicorn did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@contextlib.asynccontextmanager
async def fastapi_receiver(
    secret: str | None, on_event: Events, **kwargs: Any
) -> AsyncIterator[str]:
    app = FastAPI()
    app.include_router(sinch_webhook_router("/sinch/callbacks", secret, on_event, **kwargs))
    async with uvicorn_server(app) as url:
        yield url + "/sinch/callbacks"


RECEIVERS = {"aiohttp": aiohttp_receiver, "fastapi": fastapi_receiver}


@pytest.fixture(params=list(RECEIVERS))
def receiver(request: pytest.FixtureRequest) -> Callable[..., Any]:
    return RECEIVERS[request.param]


async def test_signed_delivery_reports_and_inbounds_end_to_end(receiver: Any) -> None:
    events = Events()
    guard = NonceCache()
    async with (
        receiver(SECRET, events, replay_guard=guard) as url,
        SinchSimulator(time_scale=0, webhook_secret=SECRET, inbound_callback_url=url) as sim,
        sim.client() as sms,
    ):
        batch = await sms.batches.send(
            NUMBERS,
            "Hello ${name}",
            from_="12345",
            parameters={"name": {"default": "you"}},
            delivery_report="per_recipient",
            callback_url=url,
            client_reference="order-1",
        )
        summary = await sms.batches.send(
            NUMBERS[:2], "Hi", from_="12345", delivery_report="full", callback_url=url
        )
        await sim.advance(10)

        sim.inject_inbound("+46700000009", "12345", "Hello John! 👋")
        sim.inject_inbound("+46700000009", "12345", "SGVsbG8=", type="mo_binary", udh="0500")
        sim.inject_inbound(
            "+46700000009",
            "12345",
            "look",
            type="mo_media",
            media=[{"url": "https://example.com/a.jpg", "content_type": "image/jpeg"}],
        )
        await sim.advance(1)
        callbacks = sim.callbacks

    # every callback was signed, verified and answered 200 at the first attempt
    assert callbacks
    assert all(c.statuses == [200] for c in callbacks)
    assert len(guard) == len(callbacks)  # one distinct nonce per callback

    recipient_reports = events.of(RecipientDeliveryReportSms)
    assert {r.batch_id for r in recipient_reports} == {batch.id}
    final = {r.recipient: r for r in recipient_reports if r.status == "Delivered"}
    assert sorted(final) == sorted(n.lstrip("+") for n in NUMBERS)
    assert all(r.code == 0 and r.client_reference == "order-1" for r in final.values())
    assert all(r.at is not None and r.at.tzinfo is not None for r in recipient_reports)

    (full,) = events.of(BatchDeliveryReportSms)
    assert full.batch_id == summary.id
    assert full.count("Delivered") == 2
    assert sorted(full.statuses[0].recipients or []) == ["46700000001", "46700000002"]

    (text,) = events.of(InboundText)
    assert text.body == "Hello John! 👋"
    assert text.from_ == "46700000009"
    (binary,) = events.of(InboundBinary)
    assert (binary.body, binary.udh) == ("SGVsbG8=", "0500")
    (media,) = events.of(InboundMedia)
    assert media.body is not None
    assert media.body.media[0].url == "https://example.com/a.jpg"
    assert media.body.media[0].status == "Uploaded"
    assert len(events) == len(callbacks)


@pytest.mark.sinch_simulator(webhook_secret=SECRET)
async def test_mms_batch_report_end_to_end(
    receiver: Any, sim: SinchSimulator, sinch_client: AsyncSmsClient
) -> None:
    events = Events()
    async with receiver(SECRET, events) as url:
        batch = await sinch_client.batches.send(
            ["+15550000001"],
            MediaBody(url="https://example.com/cat.jpg", message="Meow"),
            type="mt_media",
            from_="+15550000000",
            delivery_report="summary",
            callback_url=url,
        )
        await sim.advance(10)
    (report,) = events
    assert isinstance(report, BatchDeliveryReportMms)
    assert report.batch_id == batch.id
    assert report.statuses[0].recipients is None


@pytest.mark.sinch_simulator(webhook_secret="a-wrong-secret")
async def test_wrong_secret_answers_401_and_sinch_does_not_retry(
    receiver: Any, sim: SinchSimulator, sinch_client: AsyncSmsClient
) -> None:
    events = Events()
    async with receiver("the-right-secret", events) as url:
        await sinch_client.batches.send(
            NUMBERS[:1], "Hi", delivery_report="per_recipient_final", callback_url=url
        )
        await sim.advance(600)
        callbacks = sim.callbacks
    assert events == []
    assert [c.statuses for c in callbacks] == [[401]]
    assert callbacks[0].gave_up


@pytest.mark.sinch_simulator(webhook_secret=None)
async def test_unsigned_callbacks_are_refused_when_a_secret_is_configured(
    receiver: Any, sim: SinchSimulator, sinch_client: AsyncSmsClient
) -> None:
    events = Events()
    async with receiver(SECRET, events) as url:
        await sinch_client.batches.send(
            NUMBERS[:1], "Hi", delivery_report="summary", callback_url=url
        )
        await sim.advance(10)
        callbacks = sim.callbacks
    assert [c.statuses for c in callbacks] == [[401]]
    assert events == []


async def test_no_secret_accepts_unsigned_callbacks(receiver: Any) -> None:
    events = Events()
    async with (
        receiver(None, events) as url,
        SinchSimulator(time_scale=0, inbound_callback_url=url) as sim,
    ):
        sim.inject_inbound("+46700000009", "12345", "hi")
        await sim.advance(1)
        callbacks = sim.callbacks
    assert [c.statuses for c in callbacks] == [[200]]
    assert len(events.of(InboundText)) == 1


@pytest.mark.sinch_simulator(webhook_secret=SECRET, callback_retry_base=5)
async def test_handler_failure_answers_500_then_the_retry_is_handled_once(
    receiver: Any, sim: SinchSimulator, sinch_client: AsyncSmsClient
) -> None:
    events = Events()
    events.fail = 2
    dedup = Deduplicator()
    async with receiver(SECRET, dedup.wrap(events), replay_guard=NonceCache()) as url:
        batch = await sinch_client.batches.send(
            NUMBERS[:1], "Hi", delivery_report="per_recipient_final", callback_url=url
        )
        await sim.advance(1)
        (record,) = sim.callbacks
        assert record.statuses == [500]
        await sim.advance(30)  # retries after 5 s, then 10 s
        assert record.statuses == [500, 500, 200]
        assert record.delivered
    assert events.calls == 3
    (report,) = events
    assert isinstance(report, RecipientDeliveryReportSms)
    assert report.batch_id == batch.id
    assert report.status == "Delivered"


@pytest.mark.sinch_simulator(webhook_secret=SECRET)
async def test_duplicate_deliveries_are_handled_once(
    receiver: Any, sim: SinchSimulator, sinch_client: AsyncSmsClient
) -> None:
    """Sinch may deliver the same report twice (e.g. our 200 was lost): dedup skips it."""
    events = Events()
    dedup = Deduplicator()
    async with receiver(SECRET, dedup.wrap(events)) as url:
        await sinch_client.batches.send(NUMBERS, "Hi", delivery_report="full", callback_url=url)
        await sim.advance(10)
        (record,) = sim.callbacks
        assert record.statuses == [200]
        # the same body again, freshly signed, as a Sinch retry would be
        headers = sign_headers(record.body, SECRET)
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=record.body, headers=headers) as resp,
        ):
            assert resp.status == 200
    assert events.calls == 1
    assert event_key(events[0]).startswith("delivery_report_sms/")


# -- the examples, run against the simulator ---------------------------------------------


@pytest.fixture
def fastapi_example() -> Iterator[ModuleType]:
    yield from load_example("fastapi_app")


@pytest.fixture
def aiohttp_example() -> Iterator[ModuleType]:
    yield from load_example("aiohttp_app")


async def _exercise_example(base: str, sim: SinchSimulator, from_key: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/send", json={"to": NUMBERS[:2], "body": "Hello", from_key: "12345"}
        ) as resp:
            assert resp.status == 200, await resp.text()
            batch_id = (await resp.json())["batch_id"]
        async with http.post(
            f"{base}/simulate/inbound",
            json={from_key: "+46700000009", "to": "12345", "body": "STOP"},
        ) as resp:
            assert resp.status == 200, await resp.text()
        await sim.advance(10)
        async with http.get(f"{base}/reports/{batch_id}") as resp:
            reports = await resp.json()
        async with http.get(f"{base}/inbounds") as resp:
            inbounds = await resp.json()
    delivered = sorted(r["recipient"] for r in reports if r.get("status") == "Delivered")
    assert delivered == ["46700000001", "46700000002"]
    assert [i["body"] for i in inbounds] == ["STOP"]
    assert sim.callbacks
    assert all(c.statuses == [200] for c in sim.callbacks)
    assert sim.webhook_secret  # the example generated one: callbacks were signed


async def test_fastapi_example_against_the_simulator(fastapi_example: ModuleType) -> None:
    app = fastapi_example.create_app(simulate=True, simulator_options={"time_scale": 0})
    async with uvicorn_server(app, lifespan="on") as base:
        await _exercise_example(base, app.state.sim, "from_")
    assert app.state.sms.closed


async def test_aiohttp_example_against_the_simulator(aiohttp_example: ModuleType) -> None:
    app = aiohttp_example.create_app(simulate=True, simulator_options={"time_scale": 0})
    async with serve(app) as base:
        await _exercise_example(base, app[aiohttp_example.SIM_KEY], "from")
    assert app[aiohttp_example.SMS_KEY].closed
