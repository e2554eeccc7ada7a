"""A cancelled campaign stops, and every campaign's report equals what the server received:
chunks not on the wire are not sent, requests on the wire finish (or, cancelled twice,
are abandoned and reported unknown), ambiguous chunks are checked for duplicates."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter

import pytest

from sinch_async import FanOutProgress, FanOutReport, RetryPolicy
from sinch_async.testing import SinchSimulator
from tests.conftest import fan_out_cancelled, numbers, posts

FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05, reconcile_delay=0.05)


def journal_counts(sim: SinchSimulator) -> Counter[str]:
    return Counter(sim.journal.recipients_sent())


def assert_report_is_journal(report: FanOutReport, sim: SinchSimulator) -> None:
    """Every valid recipient in exactly one outcome, and the sent ones exactly what the
    server has (each once, or as often as its duplicated chunk was created)."""
    assert report.read == report.valid + len(report.invalid) + report.duplicates
    assert report.valid == report.sent + report.failed + len(report.not_sent) + report.unknown
    assert len(sim.journal.batches_created()) == len(report.batches) + sum(
        len(d.batch_ids) - 1 for d in report.duplicated
    )
    counts = journal_counts(sim)
    for recipient in report.not_sent:
        assert counts[recipient] == 0, recipient
    for chunk in report.failed_chunks:
        for recipient in chunk.recipients:
            assert counts[recipient] == 0, recipient


@pytest.mark.parametrize("cancels", [1, 2])
async def test_cancel_during_a_rate_limit_wait_returns_at_once_and_sends_nothing_more(
    sim: SinchSimulator, cancels: int
) -> None:
    recipients = numbers(20_000)
    async with sim.client(retry=FAST, messages_per_second=1000) as sms:
        task = asyncio.ensure_future(
            sms.batches.fan_out(recipients, "Sale", campaign_id="paced", concurrency=8)
        )
        await asyncio.sleep(1.5)  # a chunk or two sent, the rest waiting for tokens
        cancelled_at = time.monotonic()
        for _ in range(cancels):
            task.cancel()
            await asyncio.sleep(0)
        report = (await fan_out_cancelled(task)).report
        returned_in = time.monotonic() - cancelled_at
        at_return = journal_counts(sim)
        await asyncio.sleep(10.0)  # at 1000 messages/s ten more chunks would have gone
    assert returned_in < 2.0
    assert journal_counts(sim) == at_return  # nothing was sent after fan_out returned
    assert_report_is_journal(report, sim)
    assert report.sent == sum(at_return.values())
    # The chunks waiting for tokens (up to 8 in flight) were not sent; the rest never read.
    assert len(report.not_sent) >= 7000
    assert report.read - report.sent == len(report.not_sent)
    assert report.unknown == 0


async def test_a_second_cancel_abandons_the_wire_and_reports_it_unknown(
    sim: SinchSimulator,
) -> None:
    sim.faults.add("POST /batches", status=None, latency=1.0, times=None)  # slow applies
    async with sim.client(retry=FAST) as sms:
        task = asyncio.ensure_future(
            sms.batches.fan_out(numbers(3000), "Sale", campaign_id="twice", chunk_size=500)
        )
        for _ in range(1000):  # until the first chunks are on the wire (at most 10 s; a fixed
            if posts(sim):  # pause was too short on a loaded machine)
                break
            await asyncio.sleep(0.01)
        assert posts(sim)
        started = time.monotonic()
        task.cancel()
        await asyncio.sleep(0.1)
        task.cancel()  # again: do not wait for the wire
        report = (await fan_out_cancelled(task)).report
        returned_in = time.monotonic() - started
        await asyncio.sleep(1.5)  # the abandoned requests land (or not) on the server
    assert returned_in < 0.8  # did not wait out the 1 s requests
    assert report.unknown > 0
    assert report.valid == report.sent + report.failed + len(report.not_sent) + report.unknown
    counts = journal_counts(sim)
    for recipient in report.not_sent:
        assert counts[recipient] == 0
    # An abandoned request may have been applied: its recipients are in the journal at most
    # once, and only recipients of unknown chunks are there.
    unknown = {r for c in report.unknown_chunks for r in c.recipients}
    assert set(counts) <= unknown
    assert all(n == 1 for n in counts.values())


async def test_a_send_applied_after_its_settle_window_is_reported_duplicated(
    sim: SinchSimulator,
) -> None:
    # The server takes 1.5 s to apply the first chunk; the client gives up after 0.3 s,
    # looks it up for 0.2 s, finds nothing and sends it again: that chunk is texted twice.
    # The campaign is paced to last past the late landing, so the end-of-run check sees it.
    sim.faults.add("POST /batches", status=None, latency=1.5, times=1)
    policy = dataclasses.replace(FAST, settle_window=0.2)
    async with sim.client(timeout=0.3, retry=policy, messages_per_second=400) as sms:
        report = await sms.batches.fan_out(
            numbers(1000), "Sale", campaign_id="dup", chunk_size=100, concurrency=1
        )
    [duplicate] = report.duplicated
    assert duplicate.index == 0
    assert duplicate.client_reference == "dup#0"
    assert len(duplicate.batch_ids) == 2
    assert duplicate.count == 100
    assert "DUPLICATED" in report.summary()
    assert not report.complete
    assert_report_is_journal(report, sim)
    counts = journal_counts(sim)
    assert sorted(Counter(counts.values()).items()) == [(1, 900), (2, 100)]


async def test_with_the_default_settle_window_the_late_send_is_found_not_duplicated(
    sim: SinchSimulator,
) -> None:
    sim.faults.add("POST /batches", status=None, latency=1.5, times=1)
    async with sim.client(timeout=0.3, retry=FAST) as sms:
        report = await sms.batches.fan_out(numbers(300), "Sale", campaign_id="once", chunk_size=100)
        await asyncio.sleep(1.3)
    assert report.duplicated == []
    assert report.complete
    assert_report_is_journal(report, sim)
    assert set(journal_counts(sim).values()) == {1}


async def test_an_unresolved_send_is_unknown_until_the_end_of_run_check_resolves_it(
    sim: SinchSimulator,
) -> None:
    # The send is applied but its answer is lost, and the lookups during the send fail:
    # the chunk is unknown until the check at the end of the run finds its batch.
    sim.faults.add("POST /batches", drop="after", times=1)
    sim.faults.add("GET /batches", status=503, times=3)  # the reconcile lookup's attempts
    snapshots: list[FanOutProgress] = []
    async with sim.client(retry=FAST) as sms:
        report = await sms.batches.fan_out(
            numbers(200),
            "Sale",
            campaign_id="late",
            resume=False,  # no lookup before the send: the faults hit the reconcile lookup
            chunk_size=100,
            concurrency=1,
            on_progress=snapshots.append,
        )
    assert snapshots[0].recipients_unknown == 100  # as the first chunk finished
    assert [c.status for c in report.chunks] == ["created", "created"]
    assert report.unknown == 0
    assert report.complete
    assert_report_is_journal(report, sim)
    assert set(journal_counts(sim).values()) == {1}


async def test_a_50000_recipient_campaign_with_slow_sends_texts_everyone_once(
    sim: SinchSimulator,
) -> None:
    # 10 % of the sends (5 of 50 chunks) are applied only after the client's timeout.
    sim.faults.add("POST /batches", status=None, latency=1.5, times=5)
    policy = dataclasses.replace(FAST, reconcile_delay=0.2)  # the default settle window
    async with sim.client(timeout=0.5, retry=policy) as sms:
        report = await sms.batches.fan_out(numbers(50_000), "Sale", campaign_id="big-slow")
    await asyncio.sleep(1.0)
    assert report.complete
    assert report.sent == 50_000
    assert report.duplicated == []
    sim.journal.assert_each_recipient_once(numbers(50_000))
    assert_report_is_journal(report, sim)


async def test_with_a_settle_window_too_short_every_duplicated_chunk_is_reported(
    sim: SinchSimulator,
) -> None:
    sim.faults.add("POST /batches", status=None, latency=1.5, times=5)
    policy = dataclasses.replace(FAST, settle_window=0.1)
    # Paced so that the run outlasts the late landings and its final check sees them.
    async with sim.client(timeout=0.5, retry=policy, messages_per_second=20_000) as sms:
        report = await sms.batches.fan_out(numbers(50_000), "Sale", campaign_id="big-dup")
    counts = journal_counts(sim)
    texted_twice = {n for n, c in counts.items() if c == 2}
    assert len(texted_twice) == 5000  # the five slow chunks went out twice
    assert len(report.duplicated) == 5
    assert {d.count for d in report.duplicated} == {1000}
    assert sum(d.count for d in report.duplicated) == len(texted_twice)
    assert not report.complete
    assert_report_is_journal(report, sim)
