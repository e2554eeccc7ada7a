"""Closing a client while calls wait for a connection or are on the wire: every caller gets
a library error, never a bare ``CancelledError`` it did not ask for."""

from __future__ import annotations

import asyncio
import sys

import pytest

from sinch_async import AmbiguousSendError, ClientClosedError, SinchError
from sinch_async.testing import SinchSimulator
from tests.conftest import FAST, NUM, make_batch


async def outcomes(tasks: list[asyncio.Task[object]]) -> list[BaseException | None]:
    results: list[BaseException | None] = []
    for task in tasks:
        try:
            await task
            results.append(None)
        except BaseException as exc:
            results.append(exc)
    return results


async def test_reads_in_flight_get_client_closed_error(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=None, latency=0.5, times=None)
    # (the one on the wire is not aborted by the close: it ends by its timeout)
    sms = sim.client(max_connections=1, retry=FAST, timeout=1.0)
    tasks = [asyncio.ensure_future(sms.batches.get(batch_id)) for _ in range(4)]
    await asyncio.sleep(0.1)  # one on the wire, three waiting for the one connection
    await sms.aclose()
    results = await outcomes(tasks)
    assert not any(isinstance(r, asyncio.CancelledError) for r in results)
    assert all(isinstance(r, SinchError) for r in results)
    assert sum(isinstance(r, ClientClosedError) for r in results) >= 3


async def test_sends_in_flight_are_ambiguous_not_cancelled(sim: SinchSimulator) -> None:
    sim.faults.add("POST /batches", status=None, latency=0.5, times=None)
    sms = sim.client(max_connections=1, retry=FAST)
    tasks = [
        asyncio.ensure_future(sms.batches.send([NUM], "hi", client_reference=f"close-{i}"))
        for i in range(4)
    ]
    await asyncio.sleep(0.1)
    await sms.aclose()
    results = await outcomes(tasks)
    assert not any(isinstance(r, asyncio.CancelledError) for r in results)
    # A send that may have reached the server is ambiguous (it cannot be looked up any
    # more: the client is closed), and it carries the request for the caller to check.
    for result in results:
        assert isinstance(result, AmbiguousSendError)
        assert result.request is not None
    await asyncio.sleep(0.6)
    assert len(sim.journal.batches_created()) <= 1  # only the one that was on the wire


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is 3.11+")
async def test_the_callers_own_cancellation_stays_a_cancellation(sim: SinchSimulator) -> None:
    batch_id = await make_batch(sim)
    sim.faults.add("GET /batches/{batch_id}", status=None, latency=0.5, times=None)
    sms = sim.client(max_connections=1, retry=FAST)
    task = asyncio.ensure_future(sms.batches.get(batch_id))
    await asyncio.sleep(0.1)
    close = asyncio.ensure_future(sms.aclose())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await close
