"""Fixtures: a plain aiohttp client for the simulator (``sim``, from ``tests/conftest.py``,
is the plugin's ``sinch_simulator``: a frozen clock, and seed 1 in this folder)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sinch_async.testing import SinchSimulator

HERE = Path(__file__).resolve().parent


class Api:
    """Tiny helper around an aiohttp session: paths are relative to /xms/v1/{plan}."""

    def __init__(self, session: aiohttp.ClientSession, sim: SinchSimulator, plan_id: str) -> None:
        self.session = session
        self.sim = sim
        self.prefix = f"/xms/v1/{plan_id}"

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
    ) -> tuple[int, Any]:
        url = path if path.startswith("/oauth2") else self.prefix + path
        async with self.session.request(
            method, url, json=json, params=params, headers=headers, data=data
        ) as resp:
            raw = await resp.read()
            self.last_headers = resp.headers
            if resp.content_type == "application/json" and raw:
                return resp.status, await resp.json()
            return resp.status, raw.decode()

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        return await self.call("GET", path, params=params or None)

    async def post(self, path: str, json: Any = None, **params: Any) -> tuple[int, Any]:
        return await self.call("POST", path, json=json, params=params or None)

    async def put(self, path: str, json: Any = None) -> tuple[int, Any]:
        return await self.call("PUT", path, json=json)

    async def delete(self, path: str) -> tuple[int, Any]:
        return await self.call("DELETE", path)

    async def send(self, to: list[str], body: Any = "Hello", **fields: Any) -> dict[str, Any]:
        status, data = await self.post("/batches", {"to": to, "body": body, **fields})
        assert status == 201, data
        return data  # type: ignore[no-any-return]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Seed 1 for the ``sim`` (the plugin's ``sinch_simulator``) of every test in this folder.

    The marker goes on the folder's package node, so a module's ``pytestmark`` or a test's own
    ``@pytest.mark.sinch_simulator(...)`` still wins, key by key.
    """
    for item in items:
        package = item.getparent(pytest.Package)
        if package is None or package.path != HERE:
            continue
        if not any(mark.name == "sinch_simulator" for mark in package.own_markers):
            package.add_marker(pytest.mark.sinch_simulator(seed=1))


@pytest.fixture
async def session(sim: SinchSimulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        base_url=sim.url, headers={"Authorization": f"Bearer {sim.api_token}"}
    ) as s:
        yield s


@pytest.fixture
def api(session: aiohttp.ClientSession, sim: SinchSimulator) -> Api:
    return Api(session, sim, sim.service_plan_id)


@pytest.fixture
async def anon(sim: SinchSimulator) -> AsyncIterator[Api]:
    """An Api helper whose session sends no Authorization header by default."""
    async with aiohttp.ClientSession(base_url=sim.url) as s:
        yield Api(s, sim, sim.service_plan_id)


@pytest.fixture
async def connect() -> AsyncIterator[Any]:
    """``connect(sim, token=None, plan_id=None) -> Api`` for extra simulators; closed after."""
    sessions: list[aiohttp.ClientSession] = []

    def make(sim: SinchSimulator, token: str | None = None, plan_id: str | None = None) -> Api:
        headers = {"Authorization": f"Bearer {token or sim.api_token}"}
        s = aiohttp.ClientSession(base_url=sim.url, headers=headers)
        sessions.append(s)
        return Api(s, sim, plan_id or sim.service_plan_id)

    yield make
    for s in sessions:
        await s.close()
