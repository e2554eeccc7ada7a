"""The served simulator driven only through HTTP, as a test suite in another language would.

No ``SinchSimulator`` object and no ``sinch_async`` client here: a subprocess
``python -m sinch_async.testing serve --port 0 --time-scale 0`` (a frozen clock, moved only by
the control API), plain aiohttp requests to the SMS API and to ``/_simulator/...``, and
``examples/any_language.mjs`` run with ``node`` (skipped when Node is not installed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import serve_simulator, sinch_env

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "lang-token"
PLAN = "lang-plan"
NUMBERS = ["+15550100001", "+15550100002"]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
async def served() -> AsyncIterator[str]:
    """The URL of a simulator served by a subprocess, stopped with SIGTERM (by its PID)."""
    server = await serve_simulator(
        "--port",
        "0",
        "--time-scale",
        "0",
        "--service-plan-id",
        PLAN,
        "--api-token",
        TOKEN,
        env=sinch_env(),
    )
    try:
        yield server.url
        code, _, err = await server.stop()
        assert code == 0, err
    finally:
        await server.kill()


class Http:
    """JSON over HTTP with the simulator's API token, nothing else."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.sms = f"{url}/xms/v1/{PLAN}"
        self.control = f"{url}/_simulator"

    async def call(
        self, method: str, url: str, body: Any = None, *, token: str | None = TOKEN
    ) -> tuple[int, Any, dict[str, str]]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with self.session.request(method, url, json=body, headers=headers) as resp:
            raw = await resp.read()
            data = await resp.json(content_type=None) if raw else None
            return resp.status, data, dict(resp.headers)


async def test_send_advance_report_fault_journal_over_http_only(served: str) -> None:
    async with aiohttp.ClientSession() as session:
        http = Http(session, served)

        # The control API wants the API token.
        status, _, _ = await http.call("GET", f"{http.control}/clock", token=None)
        assert status == 401
        status, _, _ = await http.call("GET", f"{http.control}/clock", token="wrong")
        assert status == 401
        status, clock, _ = await http.call("GET", f"{http.control}/clock")
        assert status == 200
        start = clock["now"]

        # Send: with the clock frozen nothing is final yet.
        status, batch, _ = await http.call(
            "POST", f"{http.sms}/batches", {"to": NUMBERS, "body": "Hello"}
        )
        assert status == 201, batch
        report_url = f"{http.sms}/batches/{batch['id']}/delivery_report?type=full"
        _, report, _ = await http.call("GET", report_url)
        assert "Delivered" not in {s["status"] for s in report["statuses"]}

        # Advance the simulated clock; the report shows every recipient delivered.
        status, moved, _ = await http.call("POST", f"{http.control}/clock/advance", {"seconds": 60})
        assert status == 200
        assert moved["now"] > start
        _, report, _ = await http.call("GET", report_url)
        assert [(s["status"], s["code"], sorted(s["recipients"])) for s in report["statuses"]] == [
            ("Delivered", 0, [n[1:] for n in NUMBERS])
        ]

        # A fault: the next send is a 429 with Retry-After, the one after it goes through.
        status, fault, _ = await http.call(
            "POST",
            f"{http.control}/faults",
            {"route": "POST /batches", "status": 429, "retry_after": "7", "times": 1},
        )
        assert status == 201, fault
        _, listed, _ = await http.call("GET", f"{http.control}/faults")
        assert len(listed["faults"]) == 1
        send = {"to": [NUMBERS[0]], "body": "again"}
        status, _, headers = await http.call("POST", f"{http.sms}/batches", send)
        assert status == 429
        assert headers.get("Retry-After") == "7"
        status, second, _ = await http.call("POST", f"{http.sms}/batches", send)
        assert status == 201

        # The journal: requests (with the 429), batches, recipients, dispatched messages.
        _, rejected, _ = await http.call(
            "GET", f"{http.control}/journal/requests?status=429&method=POST"
        )
        assert rejected["count"] == 1
        assert rejected["items"][0]["path"] == f"/xms/v1/{PLAN}/batches"
        assert "Authorization" not in rejected["items"][0]["headers"]
        _, batches, _ = await http.call("GET", f"{http.control}/journal/batches")
        assert [b["id"] for b in batches["items"]] == [batch["id"], second["id"]]
        _, recipients, _ = await http.call("GET", f"{http.control}/journal/recipients")
        assert recipients["items"] == [*NUMBERS, NUMBERS[0]]
        _, messages, _ = await http.call(
            "GET", f"{http.control}/journal/messages?batch_id={batch['id']}"
        )
        assert sorted(m["recipient"] for m in messages["items"]) == NUMBERS
        assert {m["body"] for m in messages["items"]} == {"Hello"}

        # Paging through the journal.
        _, page, _ = await http.call("GET", f"{http.control}/journal/recipients?offset=1&limit=1")
        assert (page["count"], page["items"]) == (3, [NUMBERS[1]])


@pytest.mark.skipif(shutil.which("node") is None, reason="Node is not installed")
async def test_node_example_drives_the_served_simulator(served: str) -> None:
    node = shutil.which("node")
    assert node is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINCH_")}
    env.update(SINCH_SIMULATOR_URL=served, SINCH_SERVICE_PLAN_ID=PLAN, SINCH_API_TOKEN=TOKEN)
    proc = await asyncio.create_subprocess_exec(
        node,
        str(ROOT / "examples" / "any_language.mjs"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    assert "delivered: 2" in text
    assert "fault: 429, Retry-After 2" in text
    assert "messages to +15550100001, +15550100002" in text
    assert text.rstrip().endswith("OK")
