"""Scripted faults: statuses, Retry-After, latency, dropped connections, rate limit."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest

from sinch_async.testing import SinchSimulator

ONE = {"to": ["+15550000001"], "body": "x"}


async def test_status_fault_with_retry_after_applies_times(api, sim) -> None:
    fault = sim.faults.add("POST /batches", status=429, retry_after="2", times=1)
    status, err = await api.post("/batches", ONE)
    assert status == 429
    assert api.last_headers["Retry-After"] == "2"
    assert err == {"code": "too_many_requests", "text": "Too Many Requests"}
    assert sim.journal.batches_created() == []  # the faulted request was not processed
    status, _ = await api.post("/batches", ONE)
    assert status == 201
    assert fault.hits == 1
    assert fault.remaining == 0
    assert [e.status for e in sim.journal.requests] == [429, 201]
    assert sim.journal.requests[0].fault is True


async def test_route_matching_only_hits_that_route(api, sim) -> None:
    sim.faults.add("POST /batches", status=500, times=None)
    status, _ = await api.get("/batches")
    assert status == 200
    status, _ = await api.post("/groups", {})
    assert status == 201
    status, _ = await api.post("/batches", ONE)
    assert status == 500
    status, _ = await api.post("/batches", ONE)
    assert status == 500  # times=None: every time
    sim.faults.clear()
    status, _ = await api.post("/batches", ONE)
    assert status == 201


async def test_5xx_body_shapes_and_custom_bodies(api, sim) -> None:
    sim.faults.add(status=503)
    status, body = await api.get("/batches")
    assert status == 503
    assert body == {
        "error": {"code": 503, "message": "Service Unavailable", "status": "UNAVAILABLE"}
    }
    sim.faults.add(status=502, body=b"")
    status, body = await api.get("/batches")
    assert (status, body) == (502, "")
    sim.faults.add(status=400, body={"code": "custom", "text": "nope"})
    status, body = await api.get("/batches")
    assert (status, body) == (400, {"code": "custom", "text": "nope"})


async def test_glob_template_and_regex_routes(api, sim) -> None:
    batch = await api.send(["+15550000001"])
    sim.faults.add("GET /batches/*", status=404, times=None)
    assert (await api.get("/batches"))[0] == 200
    assert (await api.get(f"/batches/{batch['id']}"))[0] == 404
    sim.faults.clear()
    sim.faults.add("DELETE /batches/{batch_id}", status=500)
    assert (await api.delete(f"/batches/{batch['id']}"))[0] == 500
    sim.faults.add(re.compile(r"^GET /groups$"), status=503)
    assert (await api.get("/batches"))[0] == 200
    assert (await api.get("/groups"))[0] == 503
    sim.faults.add("/oauth2/token", status=503)
    assert (await api.call("POST", "/oauth2/token"))[0] == 503


async def test_latency_only_fault_still_processes(api, sim) -> None:
    sim.faults.add("POST /batches", status=None, latency=0.2)
    start = time.monotonic()
    status, _ = await api.post("/batches", ONE)
    assert status == 201
    assert time.monotonic() - start >= 0.2


async def test_latency_can_trigger_client_timeout(sim, session) -> None:
    sim.faults.add(status=None, latency=0.5)
    with pytest.raises(asyncio.TimeoutError):
        async with session.get(
            f"/xms/v1/{sim.service_plan_id}/batches", timeout=aiohttp.ClientTimeout(total=0.1)
        ):
            pass


async def test_drop_before_processing_leaves_state_unchanged(api, sim) -> None:
    sim.faults.add("POST /batches", drop="before")
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await api.post("/batches", ONE)
    assert sim.journal.batches_created() == []
    entry = sim.journal.requests[-1]
    assert (entry.status, entry.dropped) == (None, "before")
    status, _ = await api.post("/batches", ONE)  # the session recovers
    assert status == 201


async def test_drop_after_processing_creates_the_batch(api, sim) -> None:
    sim.faults.add("POST /batches", drop="after")
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await api.post("/batches", ONE)
    assert len(sim.journal.batches_created()) == 1
    assert sim.journal.recipients_sent() == ["+15550000001"]
    assert sim.journal.requests[-1].dropped == "after"
    _, listing = await api.get("/batches")
    assert listing["count"] == 1


@pytest.mark.sinch_simulator(rate_limit_rps=5)
async def test_global_rate_limit(sim, api) -> None:
    statuses = [s for s, _ in await asyncio.gather(*(api.get("/batches") for _ in range(20)))]
    assert statuses.count(200) >= 5
    assert statuses.count(429) >= 10
    assert sim.faults.rate_limited == statuses.count(429)
    sim.faults.set_rate_limit(None)
    assert (await api.get("/batches"))[0] == 200


def test_invalid_drop_value() -> None:
    sim = SinchSimulator()
    with pytest.raises(ValueError):
        sim.faults.add(drop="sometimes")  # type: ignore[arg-type]


def test_non_loopback_host_is_refused() -> None:
    with pytest.raises(ValueError):
        SinchSimulator(host="0.0.0.0")
    with pytest.raises(ValueError):
        SinchSimulator(host="example.com")
    assert SinchSimulator(host="localhost").host == "127.0.0.1"


async def test_restart_after_stop_keeps_state(connect) -> None:
    sim = SinchSimulator(time_scale=0)
    await sim.start()
    batch = await connect(sim).send(["+15550000001"])
    await sim.stop()
    await sim.stop()  # idempotent
    await sim.start()
    status, _ = await connect(sim).get(f"/batches/{batch['id']}")
    await sim.stop()
    assert status == 200
