"""Callbacks to a local aiohttp receiver: delivery reports, inbounds, signing, retries."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from typing import Any

import msgspec
import pytest
from aiohttp import web

from sinch_async.testing import SinchSimulator, sign_webhook
from tests.conftest import LocalServer

SECRET = "KayakingTheSwell"


class Receiver:
    """A real HTTP server on 127.0.0.1 recording callbacks; answers from a status script."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.script: list[int] = []
        self.url = ""
        self.got = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        self.got.set()
        return web.Response(status=self.script.pop(0) if self.script else 200)

    def bodies(self) -> list[Any]:
        return [msgspec.json.decode(body) for _, body in self.calls]


@pytest.fixture
async def receiver(local_server: LocalServer) -> Receiver:
    rec = Receiver()
    rec.url = await local_server([web.post("/cb", rec.handle)]) + "/cb"
    return rec


def verify(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """An independent implementation of Sinch's check (not the simulator's helper)."""
    nonce = headers["x-sinch-webhook-signature-nonce"]
    ts = headers["x-sinch-webhook-signature-timestamp"]
    mac = hmac.new(secret.encode(), body + f".{nonce}.{ts}".encode(), hashlib.sha256)
    expected = base64.b64encode(mac.digest()).decode()
    return hmac.compare_digest(expected, headers["x-sinch-webhook-signature"])


def test_sign_webhook_reproduces_the_documented_test_vector() -> None:
    body = (
        b'{"at":"2025-01-13T09:22:40.914Z","batch_id":"01JHFFHQ0P99JPPNQPJDV7JTBP",'
        b'"client_reference":"a client reference","code":0,'
        b'"operator_status_at":"2025-01-13T09:22:00Z","recipient":"33662162466",'
        b'"status":"Delivered","type":"recipient_delivery_report_sms"}'
    )
    signature = sign_webhook(body, "SMSWebhooksSecret", "01JHFFHWYY7HSS4FWTMDTQEK8V", 1736760161)
    assert signature == "ZoHei66PPN/kZjw7hFVfGhJOnml3iGNCMWoyQVcE5o0="


@pytest.mark.sinch_simulator(webhook_secret=SECRET)
async def test_summary_callback_is_signed_and_sent_once(receiver, sim, api) -> None:
    batch = await api.send(
        ["+15550000001", "+15550000002"],
        delivery_report="summary",
        callback_url=receiver.url,
        client_reference="ref",
    )
    await sim.advance(0.2)
    assert receiver.calls == []  # not all recipients final yet
    await sim.advance(5)
    assert len(receiver.calls) == 1
    headers, raw = receiver.calls[0]
    assert verify(headers, raw, SECRET)
    assert not verify(headers, raw, "wrong secret")
    assert headers["x-sinch-webhook-signature-algorithm"] == "HmacSHA256"
    assert headers["Content-Type"] == "application/json"
    assert msgspec.json.decode(raw) == {
        "type": "delivery_report_sms",
        "batch_id": batch["id"],
        "total_message_count": 2,
        "statuses": [{"code": 0, "status": "Delivered", "count": 2}],
        "client_reference": "ref",
    }
    assert sim.callbacks[0].delivered is True
    assert sim.callbacks[0].statuses == [200]


async def test_full_report_lists_recipients_and_default_callback_url(receiver, connect) -> None:
    async with SinchSimulator(time_scale=0, default_callback_url=receiver.url) as sim:
        api = connect(sim)
        await api.send(["+15550000001"], delivery_report="full")
        await sim.advance(1)
        (report,) = receiver.bodies()
        assert report["statuses"][0]["recipients"] == ["15550000001"]
        assert "x-sinch-webhook-signature" not in receiver.calls[0][0]  # no secret, no signature


@pytest.mark.sinch_simulator(failure_rules={"+1555999": "Failed"})
async def test_per_recipient_reports_each_status_change(receiver, sim, api) -> None:
    await api.send(
        ["+15550000001", "+15559990000"],
        delivery_report="per_recipient",
        callback_url=receiver.url,
    )
    await sim.advance(2)
    seen = [(b["recipient"], b["status"], b["code"]) for b in receiver.bodies()]
    assert seen == [
        ("15550000001", "Dispatched", 401),
        ("15559990000", "Dispatched", 401),
        ("15550000001", "Delivered", 0),
        ("15559990000", "Failed", 15),
    ]
    assert all(b["type"] == "recipient_delivery_report_sms" for b in receiver.bodies())


async def test_per_recipient_final_reports_once_per_recipient(receiver, sim, api) -> None:
    batch = await api.send(
        ["+15550000001", "+15550000002"],
        "Hi ${x}",
        delivery_report="per_recipient_final",
        callback_url=receiver.url,
        parameters={"x": {"+15550000001": "A"}},
    )
    await sim.advance(2)
    got = sorted((b["recipient"], b["status"], b["code"]) for b in receiver.bodies())
    assert got == [("15550000001", "Delivered", 0), ("15550000002", "Aborted", 405)]
    assert {b["batch_id"] for b in receiver.bodies()} == {batch["id"]}


async def test_retries_5xx_with_doubling_delays_on_the_sim_clock(receiver, sim, api) -> None:
    receiver.script = [500, 429]
    await api.send(["+15550000001"], delivery_report="summary", callback_url=receiver.url)
    await sim.advance(1)  # delivered at +0.5 -> attempt 1 (500), retry due at +5.5
    assert len(receiver.calls) == 1
    await sim.advance(4)  # t=5
    assert len(receiver.calls) == 1
    await sim.advance(1)  # t=6: attempt 2 (429), retry due at +15.5
    assert len(receiver.calls) == 2
    await sim.advance(9)  # t=15
    assert len(receiver.calls) == 2
    await sim.advance(1)  # t=16: attempt 3 succeeds
    assert len(receiver.calls) == 3
    record = sim.callbacks[0]
    assert record.statuses == [500, 429, 200]
    assert record.delivered is True
    assert receiver.calls[0][1] == receiver.calls[2][1]  # same body each time


@pytest.mark.sinch_simulator(callback_max_attempts=3)
async def test_4xx_is_not_retried_and_attempts_are_bounded(receiver, sim, api) -> None:
    receiver.script = [400]
    await api.send(["+15550000001"], delivery_report="summary", callback_url=receiver.url)
    await sim.advance(600)
    assert sim.callbacks[0].statuses == [400]
    assert sim.callbacks[0].gave_up is True
    receiver.script = [503, 503, 503, 503]
    await api.send(["+15550000002"], delivery_report="summary", callback_url=receiver.url)
    await sim.advance(600)
    assert sim.callbacks[1].statuses == [503, 503, 503]
    assert sim.callbacks[1].gave_up is True


@pytest.mark.sinch_simulator(callback_max_attempts=2)
async def test_unreachable_callback_is_retried(sim, api) -> None:
    await api.send(
        ["+15550000001"], delivery_report="summary", callback_url="http://127.0.0.1:9/nothing"
    )
    await sim.advance(60)
    assert sim.callbacks[0].statuses == [None, None]
    assert sim.callbacks[0].gave_up is True


async def test_inbound_callback_is_posted_without_advance(receiver) -> None:
    async with SinchSimulator(
        time_scale=0, inbound_callback_url=receiver.url, webhook_secret=SECRET
    ) as sim:
        mo = sim.inject_inbound("+46701234567", "+12015550000", "Hello John! 👋")
        await asyncio.wait_for(receiver.got.wait(), 5)
        headers, raw = receiver.calls[0]
        assert verify(headers, raw, SECRET)
        assert msgspec.json.decode(raw) == mo
        assert sim.callbacks[0].kind == "inbound"
