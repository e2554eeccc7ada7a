"""Shared fixtures: a recording HTTP server on 127.0.0.1 and clients wired to it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sinch_async import AsyncSmsClient

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / (
    "sinch-sdk-java-sms-fixtures"
)
LOCAL_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sinch-sdk-java-sms-fixtures"


def fixture_dir() -> Path:
    """The Java SDK fixtures: the copy in the repo, else the shared reference folder."""
    return LOCAL_FIXTURES if LOCAL_FIXTURES.is_dir() else FIXTURES


def load_fixture(relative: str) -> Any:
    return json.loads((fixture_dir() / relative).read_text(encoding="utf-8"))


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    query_string: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class RecordingServer:
    """A real aiohttp server that records every request and answers from a queue.

    ``respond(...)`` queues answers in order; with an empty queue the server
    answers 200 with ``{}``. ``requests`` lists what was received.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._queue: list[Canned] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    def respond(
        self,
        status: int = 200,
        json_body: Any = None,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if body is None:
            body = b"" if json_body is None else json.dumps(json_body).encode()
        hdrs = dict(headers or {})
        if json_body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        self._queue.append(Canned(status, body, hdrs))

    @property
    def last(self) -> Recorded:
        assert self.requests, "no request reached the server"
        return self.requests[-1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                raw_path=request.raw_path.split("?", 1)[0],
                query=dict(request.query),
                query_string=request.query_string,
                headers=dict(request.headers),
                body=body,
            )
        )
        canned = self._queue.pop(0) if self._queue else Canned(200, b"{}", {})
        return web.Response(status=canned.status, body=canned.body, headers=canned.headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    srv = RecordingServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


PLAN = "plan123"
TOKEN = "secret-token-abc"


@pytest.fixture
async def sms(server: RecordingServer) -> AsyncIterator[AsyncSmsClient]:
    """A client with service-plan credentials pointed at the recording server."""
    async with AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, base_url=server.url) as c:
        yield c


def api_path(rest: str) -> str:
    return f"/xms/v1/{PLAN}{rest}"
