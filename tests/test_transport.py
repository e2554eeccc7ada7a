"""The wire layer: aiohttp failures become typed errors that say whether the request left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from yarl import URL

from sinch_async import AsyncSmsClient, SinchConnectionError, SinchTimeoutError
from sinch_async._core import Call, Operation
from sinch_async._retry import Idempotency
from sinch_async._transport import Transport, wire_error
from tests.conftest import free_port, tcp_server


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A server on 127.0.0.1 that accepts connections and reads, but never answers."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(65536):
                pass
        finally:
            writer.close()

    async with tcp_server(handle) as url:
        yield url


async def test_refused_connection_is_a_connection_error_that_never_left() -> None:
    port = free_port()
    transport = Transport()
    try:
        with pytest.raises(SinchConnectionError) as caught:
            await transport.send("POST", f"http://127.0.0.1:{port}/oauth2/token", body=b"x")
    finally:
        await transport.aclose()
    error = caught.value
    assert type(error) is SinchConnectionError
    assert error.request_sent is False
    assert error.method == "POST"
    assert error.path == "/oauth2/token"
    assert str(error).startswith(f"cannot connect to http://127.0.0.1:{port}: ")


async def test_no_answer_within_the_timeout_is_a_timeout_that_may_have_arrived(
    silent_server: str,
) -> None:
    transport = Transport(timeout=aiohttp.ClientTimeout(total=0.2))
    try:
        with pytest.raises(SinchTimeoutError) as caught:
            await transport.send("POST", f"{silent_server}/xms/v1/plan/batches", body=b"{}")
    finally:
        await transport.aclose()
    assert caught.value.request_sent is None  # it may have been received
    assert str(caught.value) == "timed out waiting for POST /xms/v1/plan/batches"


@pytest.mark.parametrize(
    ("exc", "kind", "sent", "message"),
    [
        (
            aiohttp.ConnectionTimeoutError("connect took too long"),
            SinchTimeoutError,
            False,
            "timed out connecting to http://127.0.0.1:9",
        ),
        (
            asyncio.TimeoutError(),
            SinchTimeoutError,
            None,
            "timed out waiting for GET /xms/v1/plan/batches/+46*****0001",
        ),
        (
            aiohttp.ServerDisconnectedError(),
            SinchConnectionError,
            None,
            "GET /xms/v1/plan/batches/+46*****0001 failed: Server disconnected",
        ),
    ],
    ids=["connect-timeout", "read-timeout", "disconnected"],
)
def test_wire_error_maps_each_failure_kind(
    exc: BaseException, kind: type[SinchConnectionError], sent: bool | None, message: str
) -> None:
    url = URL("http://127.0.0.1:9/xms/v1/plan/batches/+46700000001")
    error = wire_error(exc, "GET", url)
    assert type(error) is kind
    assert error.request_sent is sent
    assert str(error) == message  # phone numbers masked
    assert "46700000001" not in str(error)


async def test_call_repr_shows_no_body_and_masks_numbers() -> None:
    async with AsyncSmsClient(
        service_plan_id="plan", api_token="tok-SECRET", base_url="http://127.0.0.1:9"
    ) as sms:
        core = sms._core
        path = "/batches/01ABC/delivery_report/+46700000001"
        call = Call(
            core,
            Operation("test.call", "/test"),
            "GET",
            path,
            core.url(path),
            None,
            b'{"to":["+46700000002"],"body":"your code is 1234"}',
            None,
            sms._hooks,
            Idempotency.SAFE,
            0,
            None,
            None,
            True,
            0.0,
        )
        text = repr(call)
    assert text == "Call(GET /batches/01ABC/delivery_report/+46*****0001, attempt 0)"
    for secret in ("46700000001", "46700000002", "1234", "tok-SECRET"):
        assert secret not in text


async def test_urls_are_built_once_per_path_and_the_cache_stays_bounded() -> None:
    async with AsyncSmsClient(
        service_plan_id="plan", api_token="tok", base_url="http://127.0.0.1:9"
    ) as sms:
        url = sms._core.url
        first = url("/batches")
        assert str(first) == "http://127.0.0.1:9/xms/v1/plan/batches"
        assert url("/batches") is first  # cached, not rebuilt
        for index in range(1500):
            assert url(f"/batches/B{index}").path == f"/xms/v1/plan/batches/B{index}"
        assert url.cache_info().currsize <= 1024  # type: ignore[attr-defined]
        assert url("/batches/B1499").path.endswith("/B1499")
