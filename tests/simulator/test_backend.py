"""The simulator's seams: routes see only the backend, and the backend runs on its own."""

from __future__ import annotations

import ast
import base64
import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import sinch_async.testing
from sinch_async.testing import SinchSimulator
from sinch_async.testing._app import build_app
from sinch_async.testing._backend import SimulatorBackend

PACKAGE = Path(sinch_async.testing.__file__).parent
FACADE = "_simulator.py"  # owns the backend: the one module allowed to read its privates
# Modules that may use SinchSimulator: the facade, the package front and its users.
SIMULATOR_USERS = {FACADE, "__init__.py", "__main__.py", "pytest_plugin.py"}


def _private_accesses(source: str) -> list[str]:
    """``x._name`` attribute accesses where ``x`` is not ``self`` or ``cls``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__") and node.attr.endswith("__"):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def _simulator_imports(source: str) -> list[str]:
    """Imports of SinchSimulator or of its module (type-checking-only ones included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            names = {a.name for a in node.names}
            if "SinchSimulator" in names or (node.module or "").endswith("_simulator"):
                found.append(f"line {node.lineno}: from {node.module} import {sorted(names)}")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.endswith("_simulator")
            ]
    return found


def test_the_checks_catch_what_they_look_for() -> None:
    bad = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from sinch_async.testing._simulator import SinchSimulator\n"
        "def handler(sim, self):\n"
        "    self._ok = sim._plans[self.__class__]\n"
    )
    assert _private_accesses(bad) == ["line 5: sim._plans"]
    assert _simulator_imports(bad) == [
        "line 3: from sinch_async.testing._simulator import ['SinchSimulator']"
    ]


@pytest.mark.parametrize("module", sorted(p.name for p in PACKAGE.glob("*.py") if p.name != FACADE))
def test_no_module_reads_another_objects_private_attributes(module: str) -> None:
    assert _private_accesses((PACKAGE / module).read_text()) == []


@pytest.mark.parametrize(
    "module", sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in SIMULATOR_USERS)
)
def test_routes_and_state_do_not_import_the_facade(module: str) -> None:
    assert _simulator_imports((PACKAGE / module).read_text()) == []


def test_simulator_takes_the_backends_options_plus_host_and_port() -> None:
    # SinchSimulator spells its options out for help() and IDEs; they must not drift.
    facade = dict(inspect.signature(SinchSimulator).parameters)
    assert list(facade)[:2] == ["host", "port"]
    del facade["host"], facade["port"]
    assert facade == dict(inspect.signature(SimulatorBackend).parameters)


# -- a backend without SinchSimulator ---------------------------------------------------


@pytest.fixture
def backend() -> SimulatorBackend:
    return SimulatorBackend(time_scale=0, seed=1, messages_per_second=1)


@pytest.fixture
async def http(
    backend: SimulatorBackend,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(build_app(backend), host="127.0.0.1")) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_batch_sent_over_http_shows_in_the_backend(
    backend: SimulatorBackend, http: TestClient[web.Request, web.Application]
) -> None:
    numbers = ["+15550000001", "+15550000002"]
    resp = await http.post(
        f"/xms/v1/{backend.service_plan_id}/batches",
        json={"to": numbers, "from": "12345", "body": "hi"},
        headers=_bearer(backend.api_token),
    )
    assert resp.status == 201
    batch_id = (await resp.json())["id"]

    plan = backend.plan()
    assert list(plan.batches) == [batch_id]
    assert backend.journal.recipients_sent() == numbers
    assert backend.journal.recipients_dispatched() == []  # no tick runs without a server
    backend.process()
    assert backend.journal.recipients_dispatched() == ["+15550000001"]  # 1 message/s
    await backend.advance(2)
    assert backend.journal.recipients_dispatched() == numbers
    assert {r.status for r in plan.batches[batch_id].recipients.values()} == {"Delivered"}
    (entry,) = backend.journal.find("POST", "/batches")
    assert entry.status == 201
    assert "Authorization" not in entry.headers


async def test_tokens_and_faults_are_the_backends(
    backend: SimulatorBackend, http: TestClient[web.Request, web.Application]
) -> None:
    backend.faults.add("GET /batches", status=503)
    resp = await http.get(
        f"/xms/v1/{backend.service_plan_id}/batches", headers=_bearer(backend.api_token)
    )
    assert resp.status == 503

    basic = base64.b64encode(f"{backend.key_id}:{backend.key_secret}".encode()).decode()
    resp = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    token = (await resp.json())["access_token"]
    assert backend.token_requests == 1
    assert backend.check_access_token(backend.project_id, token) == "ok"
    assert backend.check_plan_token(backend.project_id, token) == "ok"
    assert backend.check_plan_token(backend.service_plan_id, token) == "invalid"

    body = {
        "app_id": "app",
        "message": {"text_message": {"text": "hi"}},
        "recipient_and_params": [{"recipient": {"contact_id": "c1"}}],
    }
    resp = await http.post(
        f"/v1/projects/{backend.project_id}/messages", json=body, headers=_bearer(token)
    )
    assert resp.status == 200
    batch_id = (await resp.json())["batch_id"]
    assert backend.conversation.status(batch_id) == "READY"

    backend.expire_tokens()
    assert backend.check_access_token(backend.project_id, token) == "expired"
    resp = await http.get(
        f"/v1/projects/{backend.project_id}/messages/{batch_id}", headers=_bearer(token)
    )
    assert resp.status == 401
    assert "token expired" in resp.headers["WWW-Authenticate"]


async def test_simulator_attributes_write_through_to_its_backend() -> None:
    sim = SinchSimulator(time_scale=0, seed=1)
    sim.inbound_callback_url = "http://127.0.0.1:9/inbound"
    sim.inject_inbound("+15550000001", "12345", "hello")
    (record,) = sim.callbacks
    assert (record.url, record.kind) == ("http://127.0.0.1:9/inbound", "inbound")
    assert len(sim.plan.inbounds) == 1  # stored on the backend's default plan
