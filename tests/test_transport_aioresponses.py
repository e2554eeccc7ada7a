"""Narrow unit tests of the transport's error mapping, with aioresponses.

Failures such as a DNS error or a TLS handshake failure are hard to produce
with a real server on 127.0.0.1, so these few tests patch aiohttp with
aioresponses. aioresponses 0.7.9 crashes on aiohttp 3.14 (``missing 1 required
keyword-only argument: 'stream_writer'``); CI runs this file in a second
environment pinned to aiohttp 3.13.x, and here it skips on 3.14+.
"""

from __future__ import annotations

import re
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from sinch_async import AsyncSmsClient, SinchConnectionError, SinchTimeoutError

_AIOHTTP = tuple(int(part) for part in aiohttp.__version__.split(".")[:2])

pytestmark = [
    pytest.mark.aioresponses,
    pytest.mark.skipif(
        _AIOHTTP >= (3, 14),
        reason="aioresponses 0.7.9 is broken on aiohttp>=3.14; CI runs these on aiohttp 3.13",
    ),
]

aioresponses_mod = pytest.importorskip("aioresponses")

BASE = "https://eu.sms.api.sinch.com"
BATCHES = re.compile(r"^https://eu\.sms\.api\.sinch\.com/xms/v1/plan/batches.*$")
KEY = ConnectionKey("eu.sms.api.sinch.com", 443, True, True, None, None, None)


def _client() -> AsyncSmsClient:
    return AsyncSmsClient(service_plan_id="plan", api_token="tok", region="eu", retry=None)


@pytest.mark.parametrize(
    "exception",
    [
        aiohttp.ClientConnectorError(KEY, OSError(111, "Connection refused")),
        aiohttp.ClientConnectorDNSError(KEY, OSError(-2, "Name or service not known")),
        aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError("bad cert")),
        aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError("handshake failure")),
    ],
    ids=["refused", "dns", "certificate", "tls-handshake"],
)
async def test_failures_before_sending_are_marked_not_sent(exception: Exception) -> None:
    async with _client() as sms:
        with aioresponses_mod.aioresponses() as mocked:
            mocked.post(BATCHES, exception=exception)
            with pytest.raises(SinchConnectionError) as info:
                await sms.batches.send(["+46700000001"], "hi")
    assert info.value.request_sent is False
    assert info.value.method == "POST"
    assert info.value.path == "/batches"  # API-relative
    assert "tok" not in str(info.value)


@pytest.mark.parametrize(
    "exception",
    [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        aiohttp.ClientPayloadError("Response payload is not completed"),
    ],
    ids=["disconnected", "reset", "payload"],
)
async def test_failures_after_sending_are_ambiguous(exception: Exception) -> None:
    async with _client() as sms:
        with aioresponses_mod.aioresponses() as mocked:
            mocked.post(BATCHES, exception=exception)
            with pytest.raises(SinchConnectionError) as info:
                await sms.batches.send(["+46700000001"], "hi")
    assert info.value.request_sent is None
    assert not isinstance(info.value, SinchTimeoutError)


async def test_connect_timeout_is_not_sent_but_read_timeout_is_ambiguous() -> None:
    async with _client() as sms:
        with aioresponses_mod.aioresponses() as mocked:
            mocked.get(BATCHES, exception=aiohttp.ConnectionTimeoutError("connect"))
            mocked.get(BATCHES, exception=aiohttp.SocketTimeoutError("read"))
            with pytest.raises(SinchTimeoutError) as connect:
                await sms.batches.list().page(0)
            with pytest.raises(SinchTimeoutError) as read:
                await sms.batches.list().page(0)
    assert connect.value.request_sent is False
    assert read.value.request_sent is None


async def test_default_host_and_payload_with_mocked_transport() -> None:
    async with _client() as sms:
        with aioresponses_mod.aioresponses() as mocked:
            mocked.post(
                BATCHES,
                status=201,
                payload={"id": "B1", "type": "mt_text", "to": ["46700000001"], "body": "hi"},
            )
            batch = await sms.batches.send(["+46700000001"], "hi")
            [(key, calls)] = list(mocked.requests.items())
    assert batch.id == "B1"
    assert str(key[1]) == f"{BASE}/xms/v1/plan/batches"
    assert calls[0].kwargs["headers"]["Authorization"] == "Bearer tok"
