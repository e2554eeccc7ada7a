"""The example apps (examples/aiohttp_app.py and examples/fastapi_app.py) against their
embedded simulator, served on 127.0.0.1: both take the same JSON for ``/send`` (``"from"``
honoured), answer bad input with a 400 JSON message and no traceback, a client-side
validation error with 400 naming the field and the limit, Sinch's own 400 as 400, and
give 502 only when Sinch fails.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from sinch_async.testing import SinchSimulator
from tests.conftest import load_example, serve
from tests.test_webhooks_receivers import uvicorn_server

NUMBER = "+46700000001"
JSON = {"Content-Type": "application/json"}


@dataclass
class Running:
    """An example app being served: its kind, base URL, simulator and an HTTP session."""

    kind: str
    url: str
    sim: SinchSimulator
    http: aiohttp.ClientSession

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
        data = io.BytesIO(body)  # aiohttp warns about large raw bytes bodies
        async with self.http.post(self.url + path, data=data, headers=headers or JSON) as resp:
            assert resp.content_type == "application/json", (resp.status, await resp.text())
            return resp.status, await resp.json()

    async def send(self, payload: dict[str, Any]) -> Any:
        async with self.http.post(self.url + "/send", json=payload) as resp:
            assert resp.content_type == "application/json", (resp.status, await resp.text())
            return resp.status, await resp.json()


@contextlib.asynccontextmanager
async def running(kind: str) -> AsyncIterator[Running]:
    """The example app ``kind`` ("aiohttp" or "fastapi") served on 127.0.0.1, simulating."""
    for module in load_example(f"{kind}_app"):
        example = module.create_app(simulate=True, simulator_options={"time_scale": 0})
        async with aiohttp.ClientSession() as http:
            if kind == "aiohttp":
                async with serve(example) as url:
                    yield Running(kind, url, example[module.SIM_KEY], http)
            else:  # log_config=None: uvicorn's records reach caplog
                async with uvicorn_server(example, lifespan="on", log_config=None) as url:
                    yield Running(kind, url, example.state.sim, http)


@pytest.fixture(params=["aiohttp", "fastapi"])
async def app(request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    async with running(request.param) as served:
        yield served


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def _assert_error(status: int, data: Any, expected: int = 400) -> str:
    assert status == expected, data
    assert isinstance(data["error"], str), data
    assert data["error"], data
    message: str = data["error"]
    return message


# -- the JSON both apps take ------------------------------------------------------------


async def test_send_honours_from(app: Running) -> None:
    status, data = await app.send({"to": [NUMBER], "body": "Hello", "from": "12345"})
    assert status == 200, data
    created = app.sim.journal.batches_created()
    assert [(b["id"], b["from"]) for b in created] == [(data["batch_id"], "12345")]


async def test_send_without_from_uses_the_simulators_default(app: Running) -> None:
    status, data = await app.send({"to": [NUMBER], "body": "Hello"})
    assert status == 200, data
    assert app.sim.journal.requests[-1].json is not None
    assert "from" not in app.sim.journal.requests[-1].json


async def test_simulate_inbound_takes_from(app: Running) -> None:
    status, data = await app.post(
        "/simulate/inbound", b'{"from": "+46700000009", "to": "12345", "body": "STOP"}'
    )
    assert status == 200, data
    sim = app.sim
    url = f"{sim.url}/xms/v1/{sim.service_plan_id}/inbounds/{data['id']}"
    headers = {"Authorization": f"Bearer {sim.api_token}"}
    async with app.http.get(url, headers=headers) as resp:
        assert resp.status == 200
        assert (await resp.json())["from"] == "46700000009"


async def test_fastapi_also_accepts_from_underscore(app: Running) -> None:
    status, data = await app.send({"to": [NUMBER], "body": "Hello", "from_": "12345"})
    if app.kind == "fastapi":  # its earlier spelling, kept working
        assert status == 200, data
        assert app.sim.journal.batches_created()[0]["from"] == "12345"
    else:  # refused loudly, not silently dropped
        assert "from_" in _assert_error(status, data)
        assert app.sim.journal.batches_created() == []


# -- bad input: 400 with a message, no traceback, nothing sent --------------------------

BAD_BODIES: dict[str, bytes] = {
    "empty": b"",
    "not json": b"hello",
    "truncated": b'{"to": ["+46700000001"], "body": "hi"',
    "invalid utf-8": b'{"to": ["+46700000001"], "body": "\xff\xfe"}',
    "array": b'["+46700000001"]',
    "null": b"null",
    "missing to": b'{"body": "hi"}',
    "missing body": b'{"to": ["+46700000001"]}',
    "to is a string": b'{"to": "+46700000001", "body": "hi"}',
    "body is a number": b'{"to": ["+46700000001"], "body": 12}',
    "to holds a number": b'{"to": [46700000001], "body": "hi"}',
    "from is a number": b'{"to": ["+46700000001"], "body": "hi", "from": 12345}',
    "unknown field": b'{"to": ["+46700000001"], "body": "hi", "form": "12345"}',
    "deep nesting": b'{"to": ["+46700000001"], "body": "hi", "from": '
    + b"[" * 5000
    + b"]" * 5000
    + b"}",
}


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
async def test_bad_input_is_a_400_with_a_message(
    app: Running, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    status, data = await app.post("/send", body)
    _assert_error(status, data)
    assert _tracebacks(caplog) == []
    assert app.sim.journal.requests == []  # nothing reached Sinch


async def test_the_400_names_what_is_wrong(app: Running) -> None:
    status, data = await app.post("/send", b'{"to": ["+46700000001"]}')
    assert "body" in _assert_error(status, data)
    status, data = await app.post("/send", b'{"to": "+46700000001", "body": "hi"}')
    assert "to" in _assert_error(status, data)
    status, data = await app.post("/send", b"hello")
    assert "JSON" in _assert_error(status, data)


async def test_a_non_json_content_type_is_a_400(
    app: Running, caplog: pytest.LogCaptureFixture
) -> None:
    status, data = await app.post("/send", b"to=1&body=hi", {"Content-Type": "text/plain"})
    _assert_error(status, data)
    assert _tracebacks(caplog) == []


async def test_bad_simulate_inbound_is_a_400(
    app: Running, caplog: pytest.LogCaptureFixture
) -> None:
    for body in (b"", b"{}", b'{"to": "12345"}', b'{"from": 1, "to": "12345"}', b"\xff"):
        status, data = await app.post("/simulate/inbound", body)
        _assert_error(status, data)
    assert _tracebacks(caplog) == []


# -- client-side validation errors: 400 naming the field and the limit -----------------------


async def test_1001_recipients_is_a_400_naming_the_limit(app: Running) -> None:
    numbers = [f"+4670{i:07d}" for i in range(1001)]
    status, data = await app.send({"to": numbers, "body": "Hello"})
    message = _assert_error(status, data)
    assert data["field"] == "to"
    assert "1000" in data["limit"]
    assert "1001" in message
    assert app.sim.journal.requests == []


async def test_an_invalid_number_is_a_400_naming_the_field(app: Running) -> None:
    status, data = await app.send({"to": [NUMBER, "+1"], "body": "Hello"})
    _assert_error(status, data)
    assert data["field"] == "to[1]"
    assert app.sim.journal.requests == []


async def test_a_lone_surrogate_is_a_400(app: Running, caplog: pytest.LogCaptureFixture) -> None:
    status, data = await app.post("/send", b'{"to": ["+46700000001"], "body": "hi \\udcff"}')
    _assert_error(status, data)
    assert _tracebacks(caplog) == []
    assert app.sim.journal.requests == []


# -- Sinch's answers: its refusals pass through, its failures are a 502 ----------------


async def test_sinch_refusing_the_request_is_passed_through(app: Running) -> None:
    refusal = {"code": "syntax_invalid_parameter_format", "text": "'to[0]' is not allowed."}
    app.sim.faults.add("POST /batches", status=400, body=refusal, times=None)
    status, data = await app.send({"to": [NUMBER], "body": "Hello"})
    assert "is not allowed" in _assert_error(status, data, 400)
    assert data["code"] == "syntax_invalid_parameter_format"


async def test_a_sinch_server_error_is_a_502(
    app: Running, caplog: pytest.LogCaptureFixture
) -> None:
    fault = app.sim.faults.add("POST /batches", status=500, times=None)
    status, data = await app.send({"to": [NUMBER], "body": "Hello"})
    _assert_error(status, data, 502)
    assert fault.hits >= 1
    assert _tracebacks(caplog) == []


async def test_sinch_refusing_our_credentials_is_a_502(app: Running) -> None:
    app.sim.faults.add("POST /batches", status=401, times=None)
    status, data = await app.send({"to": [NUMBER], "body": "Hello"})
    _assert_error(status, data, 502)


async def test_a_dropped_connection_is_a_502(app: Running) -> None:
    app.sim.faults.add("POST /batches", drop="before", times=None)
    status, data = await app.send({"to": [NUMBER], "body": "Hello", "from": "12345"})
    _assert_error(status, data, 502)


async def test_aiohttp_app_refuses_a_body_over_its_cap_with_a_json_413(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = b'{"to": ["+46700000001"], "body": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    async with running("aiohttp") as app:
        status, data = await app.post("/send", body)
        assert "bytes" in _assert_error(status, data, 413)
        assert app.sim.journal.requests == []
    assert _tracebacks(caplog) == []
