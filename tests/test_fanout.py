"""Campaign fan-out (``sms.batches.fan_out`` / ``fan_out_iter``) against the simulator.

Every test checks what reached the simulator (its journal) as well as the report.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from sinch_async import (
    AsyncSmsClient,
    ChunkResult,
    FanOutProgress,
    FanOutReport,
    RetryPolicy,
)
from sinch_async.errors import ApiError, SinchValidationError
from sinch_async.fanout import chunk_reference, normalize_e164
from sinch_async.testing import SinchSimulator
from tests.conftest import FAST, fan_out_cancelled, num, posts

pytestmark = pytest.mark.sinch_simulator(seed=11)

FULLWIDTH = "+" + "".join(chr(0xFF10 + int(d)) for d in "46700000001")  # full-width digits


def number_of(item: Any) -> str:
    """The number of a recipient given as a number or as a (number, parameters) pair."""
    return item if isinstance(item, str) else item[0]


@pytest.fixture
async def sms(sim: SinchSimulator) -> AsyncIterator[AsyncSmsClient]:
    async with sim.client(retry=FAST) as client:
        yield client


@pytest.fixture(autouse=True)
def _quiet_retries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="sinch_async")


def batch_numbers(batch: dict[str, Any]) -> list[str]:
    """A created batch's recipients in E.164 with ``+`` (the API shows them without)."""
    return ["+" + n.lstrip("+") for n in batch["to"]]


class Counted:
    """A sync iterable that counts how many items have been pulled from it."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.pulled = 0

    def __iter__(self) -> Iterator[Any]:
        for item in self.items:
            self.pulled += 1
            yield item


class CountedAsync:
    """An async iterable that counts pulls (and yields to the loop now and then)."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.pulled = 0

    async def _gen(self) -> AsyncIterator[Any]:
        for i, item in enumerate(self.items):
            if i % 50 == 0:
                await asyncio.sleep(0)
            self.pulled += 1
            yield item

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._gen()


# --- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+46700000001", "+46700000001"),
        ("0046 70-000 00 01", "+46700000001"),
        ("46700000001", "+46700000001"),
        ("+46 (70) 000.00.01", "+46700000001"),
        ("+1 415 555 0100", "+14155550100"),
        ("+1234567", "+1234567"),  # 7 digits: the shortest accepted
        ("+123456789012345", "+123456789012345"),  # 15 digits: the longest
    ],
)
def test_normalize_e164_valid(raw: str, expected: str) -> None:
    assert normalize_e164(raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "0701234567",  # national format, no country code
        "+46abc000001",
        "46 70 ABC DE FG",
        "+123456",  # 6 digits
        "+1234567890123456",  # 16 digits
        "",
        "   ",
        "+",
        "++46700000001",
        FULLWIDTH,
        "000 46700000001",  # country code starting with 0
        46700000001,
        None,
        b"+46700000001",
    ],
)
def test_normalize_e164_invalid(raw: object) -> None:
    number, reason = normalize_e164(raw)
    assert number is None
    assert isinstance(reason, str)
    assert reason


def test_chunk_reference() -> None:
    assert chunk_reference("spring-sale", 0) == "spring-sale#0"
    assert chunk_reference("spring-sale", 41) == "spring-sale#41"
    long_id = "x" * 500
    ref = chunk_reference(long_id, 3)
    assert ref.endswith("#3")
    assert len(ref) <= 200
    assert ref == chunk_reference(long_id, 3)  # deterministic
    assert ref != chunk_reference("y" * 500, 3)


# --- input kinds and laziness ---------------------------------------------------------------


def _sync_gen(items: list[Any]) -> Iterator[Any]:
    yield from items


async def _async_gen(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        await asyncio.sleep(0)
        yield item


@pytest.mark.parametrize("kind", ["list", "tuple", "sync-generator", "async-generator", "pairs"])
async def test_input_kinds(sim: SinchSimulator, sms: AsyncSmsClient, kind: str) -> None:
    numbers = [num(i) for i in range(7)]
    items: list[Any] = numbers
    source: Any
    if kind == "pairs":
        items = [(n, {"name": f"N{i}"}) for i, n in enumerate(numbers)]
    if kind in ("list", "pairs"):
        source = list(items)
    elif kind == "tuple":
        source = tuple(items)
    elif kind == "sync-generator":
        source = _sync_gen(items)
    else:
        source = _async_gen(items)
    report = await sms.batches.fan_out(source, "Hi ${name}", chunk_size=3)
    assert report.read == 7
    assert report.valid == 7
    assert report.sent == 7
    assert report.complete
    assert sim.journal.recipients_sent() == numbers
    assert [len(b["to"]) for b in sim.journal.batches_created()] == [3, 3, 1]
    if kind == "pairs":
        await sim.advance(60)
        bodies = {m.recipient: m.body for m in sim.journal.dispatched()}
        assert bodies == {n: f"Hi N{i}" for i, n in enumerate(numbers)}


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_input_is_consumed_lazily(sim: SinchSimulator, kind: str) -> None:
    total, chunk_size, concurrency = 20_000, 100, 3
    items = [num(i) for i in range(total)]
    source: Counted | CountedAsync = Counted(items) if kind == "sync" else CountedAsync(items)
    at_post: list[tuple[int, int]] = []  # (pulled, batches created) at each POST /batches

    def on_request(event: Any) -> None:
        if event.method == "POST" and event.path == "/batches":
            at_post.append((source.pulled, len(sim.journal.batches_created())))

    async with sim.client(retry=FAST, on_request=on_request) as sms:
        report = await sms.batches.fan_out(
            source, "Hello", chunk_size=chunk_size, concurrency=concurrency
        )
    bound = (concurrency + 1) * chunk_size
    first_pulled, _ = at_post[0]
    assert first_pulled <= bound, f"{first_pulled} of {total} read before the first send"
    # At every send, the input read ahead of what is already created stays bounded.
    for pulled, created in at_post:
        assert pulled - created * chunk_size <= bound
    assert source.pulled == total
    assert report.read == total
    assert report.sent == total
    assert len(sim.journal.batches_created()) == total // chunk_size


# --- validation, de-duplication ---------------------------------------------------------------


async def test_invalid_recipients_are_reported_and_not_sent(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    bad_pair_1 = ("+46700000009", "not a mapping")
    bad_pair_2 = ("+46700000009",)
    bad_pair_3 = ("+46700000009", {"a": "b"}, "extra")
    items: list[Any] = [
        "0046 70-000 00 01",
        "0701234567",
        "46700000002",
        "+46abc000003",
        "+123456",
        "+1234567890123456",
        "",
        46700000004,
        None,
        bad_pair_1,
        bad_pair_2,
        bad_pair_3,
        ("0701234567", {"name": "national"}),
        ("+46 70 000 00 05", {"name": "E"}),
    ]
    report = await sms.batches.fan_out(items, "Hi ${name}", default_parameters={"name": "you"})
    expected_sent = ["+46700000001", "+46700000002", "+46700000005"]
    assert sim.journal.recipients_sent() == expected_sent
    assert report.read == len(items)
    assert report.valid == 3
    assert report.sent == 3
    assert report.duplicates == 0
    reasons = {repr(r.value): r.reason for r in report.invalid}
    assert len(report.invalid) == 11
    for value, keyword in [
        ("0701234567", "national"),
        ("+46abc000003", "phone number"),
        ("+123456", "short"),
        ("+1234567890123456", "long"),
        ("", "empty"),
        (46700000004, "string"),
        (None, "string"),
    ]:
        assert keyword in reasons[repr(value)].lower(), (value, reasons[repr(value)])
    for pair in (bad_pair_1, bad_pair_2, bad_pair_3):
        assert reasons[repr(pair)]
    # The invalid number inside a pair is reported too (as the number or the pair).
    assert sum("0701234567" in repr(r.value) for r in report.invalid) == 2
    assert report.complete


SPELLINGS = [
    "+46700000001",
    "+46700000002",
    "+46700000003",
    "0046 70 000 00 01",
    "46700000002",
    "+46 (70) 000.00.03",
    "+46700000004",
]
"""Numbers 1 to 4, three of them twice in other spellings."""


async def test_duplicates_removed_across_chunks_and_spellings(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    items = [*SPELLINGS, "+46700000001"]
    report = await sms.batches.fan_out(items, "Hello", chunk_size=2)
    assert report.read == 8
    assert report.valid == 4
    assert report.duplicates == 4
    assert report.sent == 4
    assert report.complete
    sim.journal.assert_each_recipient_once([num(1), num(2), num(3), num(4)])
    assert [batch_numbers(b) for b in sim.journal.batches_created()] == [
        [num(1), num(2)],
        [num(3), num(4)],
    ]


async def test_duplicates_kept_with_dedupe_false(sim: SinchSimulator, sms: AsyncSmsClient) -> None:
    items = list(SPELLINGS)
    report = await sms.batches.fan_out(items, "Hello", chunk_size=2, dedupe=False)
    assert report.read == 7
    assert report.valid == 7
    assert report.duplicates == 0
    assert report.sent == 7
    sent = sim.journal.recipients_sent()
    assert sorted(sent) == sorted([num(1), num(1), num(2), num(2), num(3), num(3), num(4)])
    with pytest.raises(AssertionError):
        sim.journal.assert_each_recipient_once()


# --- parameters -------------------------------------------------------------------------------


async def test_each_batch_carries_only_its_own_parameters(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    items: list[Any] = [
        (num(1), {"name": "Alice", "code": "A1"}),
        (num(2), {"name": "Bob"}),
        num(3),
        (num(4), {"name": "Dora", "code": "D4"}),
        num(5),
        num(6),
        (num(7), {"code": "G7"}),
    ]
    report = await sms.batches.fan_out(
        items,
        "Hi ${name}, your code is ${code}",
        chunk_size=3,
        default_parameters={"name": "friend", "code": "NONE"},
        campaign_id="params",
    )
    assert report.complete
    batches = sim.journal.batches_created()
    assert len(batches) == 3
    by_index = {b["client_reference"]: b for b in batches}
    assert by_index["params#0"]["parameters"] == {
        "name": {num(1): "Alice", num(2): "Bob", "default": "friend"},
        "code": {num(1): "A1", "default": "NONE"},
    }
    assert by_index["params#1"]["parameters"] == {
        "name": {num(4): "Dora", "default": "friend"},
        "code": {num(4): "D4", "default": "NONE"},
    }
    assert by_index["params#2"]["parameters"] == {
        "name": {"default": "friend"},
        "code": {num(7): "G7", "default": "NONE"},
    }
    # Every number in a batch's parameters is one of that batch's recipients.
    for b in batches:
        recipients = set(batch_numbers(b))
        for values in b["parameters"].values():
            assert set(values) - {"default"} <= recipients

    await sim.advance(60)
    bodies = {m.recipient: m.body for m in sim.journal.dispatched()}
    assert bodies == {
        num(1): "Hi Alice, your code is A1",
        num(2): "Hi Bob, your code is NONE",
        num(3): "Hi friend, your code is NONE",
        num(4): "Hi Dora, your code is D4",
        num(5): "Hi friend, your code is NONE",
        num(6): "Hi friend, your code is NONE",
        num(7): "Hi friend, your code is G7",
    }


async def test_batches_without_values_or_defaults_have_no_parameters(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    report = await sms.batches.fan_out([num(1), num(2), num(3)], "Plain", chunk_size=2)
    assert report.complete
    for b in sim.journal.batches_created():
        assert not b.get("parameters")


async def test_non_string_parameter_values_do_not_crash_the_campaign(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    """A value like ``42`` is either sent as ``"42"`` or reported; never a raw TypeError."""
    items: list[Any] = [(num(1), {"age": 42}), (num(2), {"age": "7"})]
    report = await sms.batches.fan_out(items, "You are ${age}")
    assert report.read == 2
    assert report.valid + len(report.invalid) == 2
    assert report.sent == report.valid
    await sim.advance(60)
    bodies = {m.recipient: m.body for m in sim.journal.dispatched()}
    assert bodies[num(2)] == "You are 7"
    if num(1) in bodies:
        assert bodies[num(1)] == "You are 42"


# --- chunks and concurrency ---------------------------------------------------------------------


async def test_chunk_size_and_client_references(sim: SinchSimulator, sms: AsyncSmsClient) -> None:
    numbers = [num(i) for i in range(2500)]
    report = await sms.batches.fan_out(
        iter(numbers), "Hello", chunk_size=1000, campaign_id="spring"
    )
    batches = sim.journal.batches_created()
    assert sorted(len(b["to"]) for b in batches) == [500, 1000, 1000]
    refs = {b["client_reference"]: batch_numbers(b) for b in batches}
    assert refs == {
        "spring#0": numbers[:1000],
        "spring#1": numbers[1000:2000],
        "spring#2": numbers[2000:],
    }
    assert [c.index for c in report.chunks] == [0, 1, 2]
    assert [c.client_reference for c in report.chunks] == ["spring#0", "spring#1", "spring#2"]
    assert [c.status for c in report.chunks] == ["created"] * 3
    assert {c.batch_id for c in report.chunks} == {b["id"] for b in batches}
    by_ref = {b["client_reference"]: b["id"] for b in batches}
    for c in report.chunks:
        assert by_ref[c.client_reference] == c.batch_id
    assert report.sent == 2500
    assert report.complete
    sim.journal.assert_each_recipient_once(numbers)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
async def test_chunk_size_boundaries(
    sim: SinchSimulator, sms: AsyncSmsClient, chunk_size: int
) -> None:
    numbers = [num(i) for i in range(15)]
    await sms.batches.fan_out(numbers, "Hello", chunk_size=chunk_size)
    sizes = [len(b["to"]) for b in sim.journal.batches_created()]
    assert sum(sizes) == 15
    assert max(sizes) == min(chunk_size, 15)
    assert len(sizes) == -(-15 // chunk_size)


@pytest.mark.parametrize(("concurrency", "campaign_id"), [(1, None), (3, None), (4, "conc")])
async def test_concurrency_bound(
    sim: SinchSimulator, concurrency: int, campaign_id: str | None
) -> None:
    in_flight = 0
    peak = 0

    def on_request(event: Any) -> None:
        nonlocal in_flight, peak
        if event.method == "POST" and event.path == "/batches":
            in_flight += 1
            peak = max(peak, in_flight)

    def on_response(event: Any) -> None:
        nonlocal in_flight
        if event.method == "POST" and event.path == "/batches":
            in_flight -= 1

    sim.faults.add("POST /batches", status=None, latency=0.03, times=None)
    async with sim.client(retry=FAST, on_request=on_request, on_response=on_response) as sms:
        report = await sms.batches.fan_out(
            [num(i) for i in range(60)],
            "Hello",
            chunk_size=5,
            concurrency=concurrency,
            campaign_id=campaign_id,
        )
    assert report.complete
    assert len(sim.journal.batches_created()) == 12
    assert peak == concurrency
    assert in_flight == 0


# --- faults: duplicate-safe -------------------------------------------------------------------


async def test_large_campaign_under_faults_sends_each_recipient_once(sim: SinchSimulator) -> None:
    total = 100_000
    extra_invalid = 0
    extra_dupes = 0

    def source() -> Iterator[str]:
        nonlocal extra_invalid, extra_dupes
        for i in range(total):
            yield num(i)
            if i % 10_000 == 5:
                extra_dupes += 1
                yield f"0046 70 {i:07d}"  # the same number, spelt differently
            if i % 25_000 == 7:
                extra_invalid += 1
                yield "07012345"

    faults = [
        sim.faults.add("POST /batches", status=429, retry_after="0.05", times=3),
        sim.faults.add("POST /batches", status=429, times=2),
        sim.faults.add("POST /batches", status=503, times=3),
        sim.faults.add("POST /batches", drop="before", times=2),
        sim.faults.add("POST /batches", drop="after", times=2),
        sim.faults.add("POST /batches", status=502, times=1),
    ]
    # The faults are taken in order, so one chunk may meet several: allow enough attempts.
    # A short settle window: the dropped-before sends are looked up for 0.3 s, then resent.
    policy = RetryPolicy(backoff_base=0.01, backoff_max=0.05, max_attempts=15, settle_window=0.3)
    async with sim.client(retry=policy) as sms:
        report = await asyncio.wait_for(
            sms.batches.fan_out(source(), "Big sale!", campaign_id="big"), timeout=30
        )
    assert [f.hits for f in faults] == [f.times for f in faults], "every fault was exercised"

    expected = [num(i) for i in range(total)]
    sim.journal.assert_each_recipient_once(expected)
    created = sim.journal.batches_created()
    assert len(created) == 100
    assert len(posts(sim)) > 100  # the faults made the client retry
    assert report.read == total + extra_dupes + extra_invalid
    assert report.duplicates == extra_dupes
    assert len(report.invalid) == extra_invalid
    assert report.valid == total
    assert report.sent == len(sim.journal.recipients_sent()) == total
    assert report.failed == 0
    assert report.complete
    assert [c.status for c in report.chunks] == ["created"] * 100
    assert sorted(c.batch_id for c in report.batches) == sorted(b["id"] for b in created)
    by_ref = {b["client_reference"]: b["id"] for b in created}
    assert {c.client_reference: c.batch_id for c in report.chunks} == by_ref


async def test_ambiguous_failure_is_reconciled_not_resent(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    sim.faults.add("POST /batches", drop="after", times=1)
    sim.faults.add("POST /batches", status=503, times=1)
    report = await sms.batches.fan_out(
        [num(i) for i in range(30)], "Hi", chunk_size=10, concurrency=1, campaign_id="amb"
    )
    assert report.complete
    created = sim.journal.batches_created()
    assert len(created) == 3
    sim.journal.assert_each_recipient_once([num(i) for i in range(30)])
    assert {c.batch_id for c in report.chunks} == {b["id"] for b in created}


# --- cancellation and resume -------------------------------------------------------------------


def _check_cancelled_report(
    sim: SinchSimulator, report: FanOutReport, numbers: list[str], campaign_id: str
) -> None:
    created = sim.journal.batches_created()
    by_ref = {b["client_reference"]: b for b in created}
    assert report.failed == 0
    assert report.read < len(numbers)
    # Every chunk in the report is a batch the simulator has, and vice versa.
    assert all(c.status == "created" for c in report.chunks)
    assert sorted(c.batch_id for c in report.chunks) == sorted(b["id"] for b in created)
    assert [c.index for c in report.chunks] == list(range(len(report.chunks)))
    for c in report.chunks:
        assert c.client_reference == f"{campaign_id}#{c.index}"
        assert by_ref[c.client_reference]["id"] == c.batch_id
    # The report agrees with the journal.
    sent = sim.journal.recipients_sent()
    assert report.sent == len(sent)
    # Every recipient read is in a created batch or in not_sent, never in both.
    read = numbers[: report.read]
    assert not set(sent) & set(report.not_sent)
    assert sorted(sent + report.not_sent) == sorted(read)
    assert report.valid == report.sent + report.failed + len(report.not_sent)
    assert report.read == report.valid + len(report.invalid) + report.duplicates


async def _resume_and_check(
    sim: SinchSimulator,
    sms: AsyncSmsClient,
    first: FanOutReport,
    numbers: list[str],
    campaign_id: str,
) -> None:
    before = {c.index: c.batch_id for c in first.batches}
    report = await sms.batches.fan_out(
        list(numbers), "Sale", chunk_size=10, concurrency=2, campaign_id=campaign_id
    )
    assert report.complete
    assert report.sent == len(numbers)
    statuses = {c.index: c.status for c in report.chunks}
    assert len(statuses) == len(numbers) // 10
    for index, status in statuses.items():
        assert status == ("existing" if index in before else "created"), index
    for c in report.chunks:
        if c.index in before:
            assert c.batch_id == before[c.index]
    sim.journal.assert_each_recipient_once(numbers)
    created = sim.journal.batches_created()
    assert len(created) == len(numbers) // 10
    assert sorted(c.batch_id for c in report.chunks) == sorted(b["id"] for b in created)


async def test_cancel_half_way_then_resume(sim: SinchSimulator, sms: AsyncSmsClient) -> None:
    numbers = [num(i) for i in range(300)]
    reached = asyncio.Event()
    calls: list[FanOutProgress] = []

    def on_progress(p: FanOutProgress) -> None:
        calls.append(p)
        if p.batches >= 5:
            reached.set()

    sim.faults.add("POST /batches", status=None, latency=0.05, times=None)
    task = asyncio.create_task(
        sms.batches.fan_out(
            Counted(numbers),
            "Sale",
            chunk_size=10,
            concurrency=2,
            campaign_id="half",
            on_progress=on_progress,
        )
    )
    await asyncio.wait_for(reached.wait(), 10)
    task.cancel()
    cancelled = await fan_out_cancelled(task)
    assert isinstance(cancelled, asyncio.CancelledError)
    report = cancelled.report
    assert 5 <= len(report.batches) < 30
    _check_cancelled_report(sim, report, numbers, "half")
    # Chunks in flight finished before fan_out returned; nothing is sent afterwards.
    count = len(sim.journal.batches_created())
    await asyncio.sleep(0.2)
    assert len(sim.journal.batches_created()) == count

    sim.faults.clear()
    await _resume_and_check(sim, sms, report, numbers, "half")


async def test_cancel_while_reading_reports_partial_chunk_as_not_sent(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    numbers = [num(i) for i in range(100)]
    paused = asyncio.Event()
    never = asyncio.Event()

    async def slow_source() -> AsyncIterator[str]:
        for i, n in enumerate(numbers):
            if i == 55:
                paused.set()
                await never.wait()  # the source stalls mid-chunk
            yield n

    # Latency well above scheduling noise, so that a chunk is surely in flight at the stall.
    sim.faults.add("POST /batches", status=None, latency=0.3, times=None)
    task = asyncio.create_task(
        sms.batches.fan_out(
            slow_source(), "Sale", chunk_size=10, concurrency=2, campaign_id="stall"
        )
    )
    await asyncio.wait_for(paused.wait(), 10)
    created_at_cancel = len(sim.journal.batches_created())
    task.cancel()
    report = (await fan_out_cancelled(task)).report
    assert report.read == 55
    # The partial chunk is not sent; so is a started chunk whose POST was not on the wire.
    assert report.not_sent[-5:] == numbers[50:55]
    assert report.valid == report.sent + report.failed + len(report.not_sent) + report.unknown
    assert not report.complete
    assert [c.index for c in report.chunks][:3] == [0, 1, 2]
    # Chunks on the wire at the cancellation were let finish; nothing was sent after it.
    assert created_at_cancel <= len(report.batches) == len(sim.journal.batches_created())
    sent = [n for b in sim.journal.batches_created() for n in b["to"]]
    assert sorted(f"+{n}" for n in sent) == sorted(set(numbers[:55]) - set(report.not_sent))
    _check_cancelled_report(sim, report, numbers, "stall")

    sim.faults.clear()
    await _resume_and_check(sim, sms, report, numbers, "stall")


async def test_fan_out_cancelled_is_not_swallowed_by_except_exception(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    started = asyncio.Event()

    async def source() -> AsyncIterator[str]:
        yield num(1)
        started.set()
        await asyncio.Event().wait()
        yield num(2)  # pragma: no cover

    async def guarded() -> str:
        try:
            await sms.batches.fan_out(source(), "Hi", chunk_size=1)
        except Exception:  # must not catch the cancellation
            return "swallowed"
        return "finished"

    task = asyncio.create_task(guarded())
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_source_error_waits_for_chunks_in_flight(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    """A source that fails mid-campaign: the error propagates, but only once the chunks
    already handed to Sinch have finished; nothing is created after fan_out returns."""

    def source() -> Iterator[str]:
        yield from (num(i) for i in range(25))
        raise RuntimeError("cursor broke")

    sim.faults.add("POST /batches", status=None, latency=0.1, times=None)
    with pytest.raises(RuntimeError, match="cursor broke"):
        await sms.batches.fan_out(source(), "Hi", chunk_size=10, concurrency=3)
    created = len(sim.journal.batches_created())
    await asyncio.sleep(0.3)
    assert len(sim.journal.batches_created()) == created


# --- accounting and failed chunks -------------------------------------------------------------


async def test_accounting_failed_chunks_and_retrying_failed_recipients(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    valid: list[Any] = []
    for i in range(50):
        valid.append((num(i), {"name": f"P{i}"}) if i % 3 else num(i))
    items: list[Any] = [*valid[:20], "0701234567", num(3), "+46 70 000 00 04", "junk"]
    items += [*valid[20:], ("+46700000010", {"name": "dupe"}), "", num(49), None, "0046700000011"]
    sim.faults.add("POST /batches", status=400, times=2)

    report = await sms.batches.fan_out(
        items,
        "Hello ${name}",
        chunk_size=10,
        concurrency=3,
        campaign_id="acct",
        default_parameters={"name": "there"},
    )
    assert report.read == len(items) == 59
    assert len(report.invalid) == 4
    assert report.duplicates == 5
    assert report.valid == 50
    assert report.read == report.valid + len(report.invalid) + report.duplicates
    assert report.valid == report.sent + report.failed + len(report.not_sent)
    assert report.not_sent == []
    assert not report.complete

    failed = report.failed_chunks
    assert len(failed) == 2
    assert report.failed == 20
    assert report.sent == 30 == len(sim.journal.recipients_sent())
    assert len(sim.journal.batches_created()) == 3
    expected_retry: list[Any] = []
    for chunk in failed:
        assert chunk.status == "failed"
        assert not chunk.ok
        assert chunk.batch_id is None
        assert isinstance(chunk.error, ApiError)
        assert chunk.error.status == 400
        own = valid[chunk.index * 10 : chunk.index * 10 + 10]
        assert chunk.recipients == [number_of(n) for n in own]
        expected_retry += own
    retry = report.failed_recipients()
    assert retry == expected_retry
    assert not set(sim.journal.recipients_sent()) & {number_of(r) for r in retry}

    second = await sms.batches.fan_out(
        retry,
        "Hello ${name}",
        chunk_size=10,
        campaign_id="acct-retry",
        default_parameters={"name": "there"},
    )
    assert second.complete
    assert second.sent == 20
    sim.journal.assert_each_recipient_once([number_of(n) for n in valid])
    await sim.advance(60)
    bodies = {m.recipient: m.body for m in sim.journal.dispatched()}
    assert bodies == {
        number_of(n): ("Hello there" if isinstance(n, str) else f"Hello {n[1]['name']}")
        for n in valid
    }


async def test_rerunning_the_same_campaign_retries_only_failed_chunks(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    numbers = [num(i) for i in range(40)]
    sim.faults.add("POST /batches", status=400, times=1)
    first = await sms.batches.fan_out(numbers, "Hi", chunk_size=10, campaign_id="rerun")
    assert len(first.failed_chunks) == 1
    failed_index = first.failed_chunks[0].index
    second = await sms.batches.fan_out(numbers, "Hi", chunk_size=10, campaign_id="rerun")
    assert second.complete
    assert {c.index: c.status for c in second.chunks} == {
        i: ("created" if i == failed_index else "existing") for i in range(4)
    }
    sim.journal.assert_each_recipient_once(numbers)


# --- fan_out_iter and progress ---------------------------------------------------------------


async def test_fan_out_iter_yields_results_as_chunks_complete(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    slow = sim.faults.add("POST /batches", status=None, latency=0.4, times=1)
    numbers = [num(i) for i in range(20)]
    seen: list[ChunkResult] = []
    created_when_yielded: list[set[str]] = []
    async for result in sms.batches.fan_out_iter(
        numbers, "Hi", chunk_size=5, concurrency=3, campaign_id="iter"
    ):
        seen.append(result)
        created_when_yielded.append({b["id"] for b in sim.journal.batches_created()})
    assert slow.hits == 1
    slow_ref = next(e.json["client_reference"] for e in posts(sim) if e.fault)
    slow_index = int(slow_ref.rsplit("#", 1)[1])
    order = [r.index for r in seen]
    assert sorted(order) == [0, 1, 2, 3]
    # The delayed chunk comes last: the others are yielded as soon as they complete.
    assert order[-1] == slow_index
    for result, created in zip(seen, created_when_yielded, strict=True):
        assert result.status == "created"
        assert result.batch_id in created
        assert len(result.recipients) == 5
        assert result.recipients == numbers[result.index * 5 : result.index * 5 + 5]
    sim.journal.assert_each_recipient_once(numbers)


async def test_breaking_out_of_fan_out_iter_stops_new_chunks(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    source = Counted([num(i) for i in range(200)])
    sim.faults.add("POST /batches", status=None, latency=0.05, times=None)
    concurrency = 2
    first: ChunkResult | None = None
    async for result in sms.batches.fan_out_iter(
        source, "Hi", chunk_size=2, concurrency=concurrency
    ):
        first = result
        break
    assert first is not None
    assert first.status == "created"
    await asyncio.sleep(0.3)
    created = len(sim.journal.batches_created())
    assert 1 <= created <= concurrency + 1
    assert source.pulled <= (concurrency + 2) * 2
    await asyncio.sleep(0.2)
    assert len(sim.journal.batches_created()) == created
    assert len(posts(sim)) == created


async def test_on_progress_once_per_chunk_monotonic(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    calls: list[FanOutProgress] = []
    items = [num(i) for i in range(47)] + ["bad", num(0)]
    report = await sms.batches.fan_out(
        items, "Hi", chunk_size=5, concurrency=3, on_progress=calls.append
    )
    assert len(calls) == 10 == len(report.chunks)
    sent = [p.recipients_sent for p in calls]
    assert all(b > a for a, b in itertools.pairwise(sent))
    assert sent[-1] == report.sent == 47
    assert [p.batches for p in calls] == list(range(1, 11))
    read = [p.recipients_read for p in calls]
    assert read == sorted(read)
    assert calls[-1].recipients_read == report.read == 49
    assert calls[-1].invalid == 1
    assert calls[-1].duplicates == 1
    assert all(p.chunks_failed == 0 and p.recipients_failed == 0 for p in calls)
    assert all(p.elapsed >= 0 for p in calls)


async def test_on_progress_with_concurrency_1(sim: SinchSimulator, sms: AsyncSmsClient) -> None:
    calls: list[int] = []
    await sms.batches.fan_out(
        [num(i) for i in range(9)],
        "Hi",
        chunk_size=3,
        concurrency=1,
        on_progress=lambda p: calls.append(p.recipients_sent),
    )
    assert calls == [3, 6, 9]


# --- dry run and estimate -------------------------------------------------------------------


async def test_dry_run_sends_nothing(sim: SinchSimulator, sms: AsyncSmsClient) -> None:
    source = Counted([num(i) for i in range(2500)] + ["0701234567", num(1)])
    report = await sms.batches.fan_out(source, "Hello", dry_run=True, campaign_id="dry")
    assert sim.journal.requests == []
    assert sim.journal.batches_created() == []
    assert report.dry_run
    assert report.chunks == []
    assert report.sent == 0
    assert report.read == 2502
    assert report.valid == 2500
    assert len(report.invalid) == 1
    assert report.duplicates == 1
    assert report.estimate is not None
    assert report.estimate.recipients == 2500
    assert report.estimate.messages == 2500
    assert report.estimate.max_parts == 1
    assert report.estimate.encodings == ("GSM-7",)


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        ("x" * 160, 1),
        ("x" * 161, 2),
        ("x" * 306, 2),
        ("x" * 307, 3),
        ("€" * 80, 1),  # 160 septets
        ("€" * 81, 2),  # 162 septets, only 81 characters
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("ж" * 134, 2),
        ("ж" * 135, 3),
        ("x" * 100 + "😀", 2),  # UCS-2: 102 code units
    ],
)
async def test_dry_run_estimate_parts(
    sim: SinchSimulator, sms: AsyncSmsClient, body: str, parts: int
) -> None:
    report = await sms.batches.fan_out([num(i) for i in range(3)], body, dry_run=True)
    assert sim.journal.requests == []
    assert report.estimate is not None
    assert report.estimate.messages == 3 * parts
    assert report.estimate.max_parts == parts
    expected_encoding = "GSM-7" if body[0] in "x€" and "😀" not in body else "UCS-2"
    assert report.estimate.encodings == (expected_encoding,)


async def test_dry_run_estimate_depends_on_parameter_values(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    body = "x" * 150 + "${name}"  # 150 septets before the name
    items: list[Any] = [
        (num(1), {"name": "Bob"}),  # 153 septets: 1 part
        (num(2), {"name": "€€€€€€"}),  # 6 characters, 12 septets: 162, 2 parts
        (num(3), {"name": "Zoë"}),  # ë is not GSM-7: UCS-2, 153 units: 3 parts
        num(4),  # default "pal": 153 septets: 1 part
        (num(1), {"name": "x" * 100}),  # a duplicate: not counted
    ]
    report = await sms.batches.fan_out(
        items, body, dry_run=True, default_parameters={"name": "pal"}
    )
    assert sim.journal.requests == []
    assert report.estimate is not None
    assert report.estimate.recipients == 4
    assert report.estimate.messages == 1 + 2 + 3 + 1
    assert report.estimate.max_parts == 3
    assert report.estimate.encodings == ("GSM-7", "UCS-2")


async def test_estimate_of_a_real_run_matches_the_simulator(
    sim: SinchSimulator, sms: AsyncSmsClient
) -> None:
    items: list[Any] = [(num(i), {"v": "€" * (i * 3)}) for i in range(10)]
    body = "y" * 140 + "${v}"
    report = await sms.batches.fan_out(items, body, chunk_size=4)
    assert report.estimate is not None
    await sim.advance(60)
    assert report.estimate.messages == sum(m.parts for m in sim.journal.dispatched())


# --- validation before any I/O ----------------------------------------------------------------


NUMS = ["+46700000001", "+46700000002"]


@pytest.mark.parametrize(
    ("recipients", "body", "kwargs", "field"),
    [
        pytest.param(NUMS, "x" * 2001, {}, "body", id="body-too-long"),
        pytest.param(NUMS, "", {}, "body", id="body-empty"),
        pytest.param(NUMS, "Hi", {"chunk_size": 0}, "chunk_size", id="chunk-size-0"),
        pytest.param(NUMS, "Hi", {"chunk_size": 1001}, "chunk_size", id="chunk-size-1001"),
        pytest.param(NUMS, "Hi", {"concurrency": 0}, "concurrency", id="concurrency-0"),
        pytest.param(NUMS, "Hi", {"colour": "red"}, "colour", id="unknown-field"),
        pytest.param(NUMS, "Hi", {"to": ["+46700000003"]}, "to", id="to-as-field"),
        pytest.param(
            NUMS, "Hi", {"parameters": {"n": {"default": "x"}}}, "parameters", id="parameters"
        ),
        pytest.param(NUMS, "Hi", {"client_reference": "x"}, "client_reference", id="client-ref"),
        pytest.param("+46700000001", "Hi", {}, "recipients", id="recipients-string"),
        pytest.param(b"+46700000001", "Hi", {}, "recipients", id="recipients-bytes"),
        pytest.param(NUMS, "Hi", {"campaign_id": ""}, "campaign_id", id="campaign-id-empty"),
        pytest.param(NUMS, "Hi", {"resume": True}, "resume", id="resume-without-campaign"),
        pytest.param(NUMS, "Hi", {"delivery_report": "sometimes"}, "delivery_report", id="bad-dr"),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
async def test_validation_before_any_io(
    sim: SinchSimulator,
    sms: AsyncSmsClient,
    recipients: Any,
    body: str,
    kwargs: dict[str, Any],
    field: str,
    dry_run: bool,
) -> None:
    pulled = Counted(list(recipients)) if isinstance(recipients, list) else recipients
    with pytest.raises(SinchValidationError) as caught:
        await sms.batches.fan_out(pulled, body, dry_run=dry_run, **kwargs)
    assert caught.value.field == field
    assert sim.journal.requests == []
    if isinstance(pulled, Counted):
        assert pulled.pulled == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"chunk_size": 1001}, "chunk_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"to": NUMS}, "to"),
    ],
)
async def test_fan_out_iter_validates_before_any_io(
    sim: SinchSimulator, sms: AsyncSmsClient, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(SinchValidationError) as caught:
        async for _ in sms.batches.fan_out_iter(NUMS, "Hi", **kwargs):
            pass  # pragma: no cover
    assert caught.value.field == field
    assert sim.journal.requests == []


async def test_extra_fields_go_into_every_batch(sim: SinchSimulator, sms: AsyncSmsClient) -> None:
    report = await sms.batches.fan_out(
        [num(i) for i in range(5)],
        "Hi",
        chunk_size=2,
        from_="Shop",
        delivery_report="summary",
        callback_url="https://example.com/cb",
    )
    assert report.complete
    batches = sim.journal.batches_created()
    assert len(batches) == 3
    for b in batches:
        assert b["from"] == "Shop"
        assert b["delivery_report"] == "summary"
        assert b["callback_url"] == "https://example.com/cb"


async def test_empty_input(sim: SinchSimulator, sms: AsyncSmsClient) -> None:
    report = await sms.batches.fan_out([], "Hi", campaign_id="nothing")
    assert report.read == report.valid == report.sent == 0
    assert report.chunks == []
    assert report.complete
    assert posts(sim) == []
