"""Exactly once when the server is slow: an ambiguous send is looked up over the settle
window before it is sent again, so a request the server accepted late is found, not
repeated. Every outcome is checked in the simulator's journal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from sinch_async import RetryPolicy, SinchTimeoutError, call_info
from sinch_async.conversation import TextMessage
from sinch_async.testing import SinchSimulator
from tests.conftest import NUM

POLICY = RetryPolicy(backoff_base=0.01, backoff_max=0.05, reconcile_delay=0.2)
CONVERSATION_SEND = "POST /v1/projects/{project_id}/messages"


async def until_landed(started: float, latency: float) -> None:
    """Wait until a request slowed by ``latency`` (sent at ``started``) has surely landed."""
    await asyncio.sleep(max(0.0, started + latency + 0.3 - time.monotonic()))


def batches_with(sim: SinchSimulator, reference: str) -> list[str]:
    return [
        b["id"] for b in sim.journal.batches_created() if b.get("client_reference") == reference
    ]


async def test_a_send_the_server_applies_after_the_timeout_is_found_not_resent(
    sim: SinchSimulator,
) -> None:
    sim.faults.add("POST /batches", status=None, latency=2.0, times=1)
    started = time.monotonic()
    async with sim.client(timeout=0.5, retry=POLICY) as sms:
        with call_info() as info:
            batch = await sms.batches.send([NUM], "hi", client_reference="order-42")
    await until_landed(started, 2.0)
    assert batches_with(sim, "order-42") == [batch.id]  # one batch: texted once
    assert info.reconciled
    assert info.attempts == 1
    lookups = sim.journal.find("GET", "/batches")
    assert len(lookups) >= 2  # not found at first: looked up again until it showed up


async def test_auto_client_reference_gets_the_same_guarantee(sim: SinchSimulator) -> None:
    sim.faults.add("POST /batches", status=None, latency=1.5, times=1)
    started = time.monotonic()
    async with sim.client(timeout=0.5, retry=POLICY, auto_client_reference=True) as sms:
        batch = await sms.batches.send([NUM], "hi")
    await until_landed(started, 1.5)
    assert [b["id"] for b in sim.journal.batches_created()] == [batch.id]


async def test_a_send_that_never_arrives_is_sent_again_after_the_settle_window(
    sim: SinchSimulator,
) -> None:
    sim.faults.add("POST /batches", drop="before", times=1)
    policy = dataclasses.replace(POLICY, settle_window=1.0)
    async with sim.client(retry=policy) as sms:
        started = time.monotonic()
        batch = await sms.batches.send([NUM], "hi", client_reference="order-7")
        waited = time.monotonic() - started
    assert batches_with(sim, "order-7") == [batch.id]
    assert waited >= 1.0  # looked up over the whole window before sending again
    assert len(sim.journal.find("GET", "/batches")) >= 3


async def test_past_the_settle_window_the_outcome_is_raised_not_guessed(
    sim: SinchSimulator,
) -> None:
    # No retries left after the lookups: the caller gets the timeout, and one batch exists
    # (applied late), which the caller can find by its reference.
    sim.faults.add("POST /batches", status=None, latency=2.0, times=1)
    policy = RetryPolicy(max_attempts=1, reconcile_delay=0.1, settle_window=0.2)
    async with sim.client(timeout=0.5, retry=policy) as sms:
        with pytest.raises(SinchTimeoutError) as caught:
            await sms.batches.send([NUM], "hi", client_reference="order-9")
    assert caught.value.attempts == 1
    await asyncio.sleep(2.0)  # the slow request lands after the call gave up
    assert len(batches_with(sim, "order-9")) == 1  # applied once, never sent twice


async def test_conversation_correlation_id_gets_the_same_guarantee(sim: SinchSimulator) -> None:
    sim.faults.add(CONVERSATION_SEND, status=None, latency=1.5, times=1)
    started = time.monotonic()
    async with sim.conversation_client(timeout=0.5, retry=POLICY) as conv:
        result = await conv.send("app", TextMessage("x"), ["c1"], correlation_id="order-5")
    await until_landed(started, 1.5)
    assert list(sim.conversation.batches) == [result.batch_id]


def test_the_settle_window_is_checked() -> None:
    with pytest.raises(ValueError, match="settle_window"):
        RetryPolicy(settle_window=-1)
    assert RetryPolicy().settle_window == 30.0
