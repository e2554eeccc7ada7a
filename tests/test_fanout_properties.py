"""Property-based test of the fan-out under random fault schedules (hypothesis).

Each example runs one campaign of a few thousand recipients (with invalid and duplicate
rows) against a fresh simulator with a random schedule of faults on ``POST /batches``
(dropped before or after processing, 500, 502, 503, 429 with ``Retry-After``, a slow apply
that outlasts the client's timeout) and on the lookups ``GET /batches`` (503, dropped), and
perhaps cancels the run once or twice at a random moment. Whatever happens, in EVERY example:

1. the report's identity holds: ``read == valid + invalid + duplicates`` and
   ``valid == sent + failed + not_sent + unknown``, and it counts exactly the rows read;
2. the report agrees with the simulator's journal: a sent chunk is in the journal once (or
   as many times as ``report.duplicated`` says), failed and not-sent recipients are not in
   it, no one outside the valid recipients is, and nothing arrives after ``fan_out``
   returned except a request of a chunk reported unknown;
3. with a settle window longer than any slow apply, nothing is sent twice;
4. the telemetry agrees with the report: ``sinch_async.fanout.recipients`` by outcome equals
   the report's sent, failed, unknown and not-sent recipients, no chunk is left in flight, one
   run span, at most one chunk span per chunk, and every span ended.

The examples are derandomized, so every run (and CI) tries the same schedules. To explore
new ones locally: ``SINCH_ASYNC_EXPLORE=200 pytest tests/test_fanout_properties.py`` (a random
search of that many examples; a failure prints the ``Case`` and a reproduction blob).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sinch_async import FanOutCancelled, FanOutReport, RateLimiter, RetryPolicy
from sinch_async.testing import JournalEntry, SinchSimulator
from tests._otel import Otel

TIMEOUT = 0.25
"""The client's timeout (seconds per request): a slow apply outlasts it."""
RECONCILE_DELAY = 0.05
SETTLE_WINDOW = 0.8
"""Lookups of a send that got no answer go on this long after the first one: a slow apply
lands at most ``SLOWEST - TIMEOUT`` (0.35 s) after the timeout, well within it."""
SLOWEST = 0.6
"""The longest slow apply (server-side latency before the batch is created)."""
CANCEL_BOUND = 1.0 + TIMEOUT + 1.5
"""A cancelled run returns within about a second plus the requests on the wire (each at
most TIMEOUT); 1.5 s of slack for a loaded machine."""

_EXPLORE = int(os.environ.get("SINCH_ASYNC_EXPLORE", "0") or 0)

Kind = Literal["drop-before", "drop-after", "500", "502", "503", "429", "lag", "slow"]
"""``lag``: answered late but within the timeout; ``slow``: applied after the timeout."""
SEND = "POST /batches"
LOOKUP = "GET /batches"


@dataclass(frozen=True)
class FaultSpec:
    """One scripted fault, for one request of its route (faults are taken in order)."""

    route: str
    kind: Kind
    retry_after: float | None = None
    latency: float = 0.0
    times: int = 1
    """Consecutive requests of the route it answers (an outage of the lookups)."""

    def add_to(self, sim: SinchSimulator) -> None:
        route, times = self.route, self.times
        if self.kind in ("drop-before", "drop-after"):
            drop: Any = self.kind.removeprefix("drop-")
            sim.faults.add(route, drop=drop, times=times)
        elif self.kind in ("lag", "slow"):
            sim.faults.add(route, status=None, latency=self.latency, times=times)
        else:
            sim.faults.add(route, status=int(self.kind), retry_after=self.retry_after, times=times)

    def __repr__(self) -> str:
        extra = f" Retry-After {self.retry_after}" if self.retry_after is not None else ""
        extra += f" {self.latency} s" if self.latency else ""
        extra += f" x{self.times}" if self.times != 1 else ""
        return f"<{self.route}: {self.kind}{extra}>"


@dataclass(frozen=True)
class Case:
    """One example: the campaign, the client and the faults."""

    recipients: int
    invalid: int
    duplicates: int
    chunk_size: int
    concurrency: int
    campaign: bool
    max_attempts: int
    messages_per_second: float | None
    faults: tuple[FaultSpec, ...]
    cancel_after: float | None
    cancel_again_after: float | None
    seed: int

    @property
    def slowest(self) -> float:
        return max((f.latency for f in self.faults), default=0.0)


# --- strategies ----------------------------------------------------------------------------

_ms = st.integers(0, 20).map(lambda n: n / 100)  # 0.00 .. 0.20 s, in 10 ms steps

_PLAIN: list[Kind] = ["drop-before", "drop-after", "500", "502", "503"]
_LOOKUP_KINDS: list[Kind] = ["503", "drop-before"]

send_faults = st.one_of(
    st.sampled_from(_PLAIN).map(lambda kind: FaultSpec(SEND, kind)),
    st.builds(FaultSpec, st.just(SEND), st.just("429"), st.one_of(st.none(), _ms)),
    st.integers(5, round(TIMEOUT * 100) - 5).map(
        lambda cs: FaultSpec(SEND, "lag", latency=cs / 100)
    ),
    st.integers(round(TIMEOUT * 100) + 5, round(SLOWEST * 100)).map(
        lambda cs: FaultSpec(SEND, "slow", latency=cs / 100)
    ),
)
lookup_faults = st.builds(
    FaultSpec,
    st.just(LOOKUP),
    st.sampled_from(_LOOKUP_KINDS),
    times=st.integers(1, 3),
)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    max_attempts = draw(st.sampled_from([2, 3, 5]))
    sends = draw(st.lists(send_faults, max_size=12))
    lookups = draw(st.lists(lookup_faults, max_size=4))
    cancel_after = draw(st.one_of(st.none(), st.integers(0, 150).map(lambda n: n / 100)))
    again = None
    if cancel_after is not None:
        again = draw(st.one_of(st.none(), st.integers(0, 40).map(lambda n: n / 100)))
    return Case(
        recipients=draw(st.integers(2000, 5000)),
        invalid=draw(st.integers(0, 30)),
        duplicates=draw(st.integers(0, 30)),
        chunk_size=draw(st.integers(100, 500)),
        concurrency=draw(st.integers(1, 8)),
        campaign=draw(st.booleans()),
        max_attempts=max_attempts,
        messages_per_second=draw(st.sampled_from([None, 5000.0, 20000.0])),
        faults=tuple(sends + lookups),
        cancel_after=cancel_after,
        cancel_again_after=again,
        seed=draw(st.integers(0, 2**16)),
    )


# --- one run --------------------------------------------------------------------------------


def number(i: int) -> str:
    return f"+4670{i:07d}"


def rows(case: Case) -> tuple[list[str], list[str | None]]:
    """The input rows and, for each, the E.164 number it stands for (None: invalid).

    Duplicates repeat an earlier number, as written or spelt ``0046 70...``."""
    rng = random.Random(case.seed)
    items = [number(i) for i in range(case.recipients)]
    meaning: list[str | None] = list(items)
    bad = ["not a number", "+123", "", "+46 70 abc", "++46700000001"]
    for _ in range(case.invalid):
        at = rng.randrange(len(items) + 1)
        items.insert(at, rng.choice(bad))
        meaning.insert(at, None)
    for _ in range(case.duplicates):
        at = rng.randrange(1, len(items) + 1)
        earlier = [m for m in meaning[:at] if m is not None]
        if not earlier:
            continue
        original = rng.choice(earlier)
        spelt = original if rng.random() < 0.5 else "0046 70" + original[5:]
        items.insert(at, spelt)
        meaning.insert(at, original)
    return items, meaning


@dataclass
class Snapshot:
    """The simulator's journal at one moment."""

    batches: list[dict[str, Any]]
    sends: list[JournalEntry]

    def by_reference(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for batch in self.batches:
            found[str(batch.get("client_reference"))].append(batch)
        return found


def snapshot(sim: SinchSimulator) -> Snapshot:
    sends = [e for e in sim.journal.requests if e.method == "POST" and e.path.endswith("/batches")]
    return Snapshot(sim.journal.batches_created(), sends)


@dataclass
class Outcome:
    report: FanOutReport
    cancelled: bool
    stop_took: float | None
    """Seconds from the first cancel to the return (None: not cancelled)."""
    at_return: Snapshot
    after: Snapshot
    campaign_id: str | None
    otel: Otel


async def run(case: Case, items: list[str]) -> Outcome:
    campaign_id = f"prop-{case.seed}" if case.campaign else None
    policy = RetryPolicy(
        backoff_base=0.01,
        backoff_max=0.05,
        max_attempts=case.max_attempts,
        reconcile_delay=RECONCILE_DELAY,
        settle_window=SETTLE_WINDOW,
    )
    # Not adaptive: a 429 early in a run would throttle it to a request or two per second
    # for many seconds; that throttle is a wait before the wire like the messages/s bucket
    # and the 429 cool-down, which the examples do exercise.
    limiter = RateLimiter(
        messages_per_second=case.messages_per_second, cooldown=0.2, adaptive=False
    )
    returned: list[tuple[float, Snapshot]] = []
    otel = Otel()
    async with SinchSimulator(time_scale=0, seed=case.seed) as sim:
        for fault in case.faults:
            fault.add_to(sim)
        async with sim.client(
            timeout=TIMEOUT, retry=policy, rate_limiter=limiter, **otel.options()
        ) as sms:

            async def fan_out() -> FanOutReport:
                try:
                    return await sms.batches.fan_out(
                        items,
                        "Spring sale!",
                        chunk_size=case.chunk_size,
                        concurrency=case.concurrency,
                        campaign_id=campaign_id,
                    )
                finally:  # the journal the moment fan_out returns, before anything else runs
                    returned.append((time.monotonic(), snapshot(sim)))

            task = asyncio.ensure_future(fan_out())
            cancelled_at: float | None = None
            if case.cancel_after is not None:
                await asyncio.wait({task}, timeout=case.cancel_after)
                if not task.done():
                    task.cancel()
                    cancelled_at = time.monotonic()
                    if case.cancel_again_after is not None:
                        await asyncio.wait({task}, timeout=case.cancel_again_after)
                        if not task.done():
                            task.cancel()
            await asyncio.wait({task}, timeout=60)
            assert task.done(), "fan_out still running after 60 s"
            try:
                report = task.result()
                cancelled = False
            except asyncio.CancelledError as exc:
                found = FanOutCancelled.find(exc)
                assert found is not None, "a cancelled fan_out raises FanOutCancelled"
                report, cancelled = found.report, True
            # Wait out every request still on the server (the slow applies).
            await asyncio.sleep(case.slowest + 0.3)
            after = snapshot(sim)
    (returned_at, at_return) = returned[0]
    took = None if cancelled_at is None else returned_at - cancelled_at
    return Outcome(report, cancelled, took, at_return, after, campaign_id, otel)


# --- the properties -------------------------------------------------------------------------


def plus(n: str) -> str:
    return "+" + n.lstrip("+")


def recipients_of(batches: list[dict[str, Any]]) -> Iterator[str]:
    for batch in batches:
        yield from (plus(n) for n in batch["to"])


def check(items: list[str], meaning: list[str | None], out: Outcome) -> None:
    report = out.report

    # 1. The identity, and the counts of the rows actually read.
    assert report.read <= len(items)
    if not out.cancelled:
        assert report.read == len(items), "a run that was not cancelled reads every row"
    valid: list[str] = []
    seen: set[str] = set()
    invalid = duplicates = 0
    for value in meaning[: report.read]:
        if value is None:
            invalid += 1
        elif value in seen:
            duplicates += 1
        else:
            seen.add(value)
            valid.append(value)
    assert (report.valid, len(report.invalid), report.duplicates) == (
        len(valid),
        invalid,
        duplicates,
    )
    assert report.read == report.valid + len(report.invalid) + report.duplicates
    assert report.valid == report.sent + report.failed + len(report.not_sent) + report.unknown
    if out.cancelled:
        assert out.stop_took is not None
        assert out.stop_took < CANCEL_BOUND, f"cancelled, returned after {out.stop_took:.2f} s"

    # The chunks: one result per index, with this run's references.
    indexes = [c.index for c in report.chunks]
    assert len(set(indexes)) == len(indexes)
    references = {c.client_reference: c for c in report.chunks}
    for chunk in report.chunks:
        if out.campaign_id is not None:
            assert chunk.client_reference == f"{out.campaign_id}#{chunk.index}"
        else:
            assert chunk.client_reference.startswith("fanout-")
    duplicated = {d.client_reference: d for d in report.duplicated}
    assert set(duplicated) <= set(references)

    # 2. The journal agrees with the report.
    at_return, after = out.at_return.by_reference(), out.after.by_reference()
    unknown = {c.client_reference for c in report.chunks if c.status == "unknown"}
    assert set(after) <= set(references), "every batch is a chunk of the report"
    sent: Counter[str] = Counter()
    for chunk in report.chunks:
        ref = chunk.client_reference
        landed = after.get(ref, [])
        if chunk.ok:
            assert [b["id"] for b in landed] == [b["id"] for b in at_return.get(ref, [])], (
                f"{ref}: a batch arrived after fan_out returned"
            )
            ids = [b["id"] for b in landed]
            assert chunk.batch_id in ids, f"{ref}: reported {chunk.batch_id}, journal {ids}"
            if ref in duplicated:
                assert sorted(duplicated[ref].batch_ids) == sorted(ids)
                assert len(ids) > 1
            else:
                assert len(ids) == 1, f"{ref} is {len(ids)} batches, not reported duplicated"
            for batch in landed:
                assert len(batch["to"]) == chunk.count
            sent.update(recipients_of(landed))
        elif chunk.status == "failed":
            assert landed == [], f"{ref} reported failed but the server has it"
            assert ref not in duplicated
            assert len(chunk.recipients) == chunk.count
        else:
            assert chunk.status == "unknown", chunk.status
            assert len(chunk.recipients) == chunk.count
            for batch in landed:  # sent after all, perhaps late: then as a whole
                assert sorted(recipients_of([batch])) == sorted(chunk.recipients)
    failed = [n for c in report.chunks if c.status == "failed" for n in c.recipients]
    unsure = [n for c in report.chunks if c.status == "unknown" for n in c.recipients]
    not_sent = list(report.not_sent)
    assert len(sent) == report.sent
    # Every valid recipient read is in exactly one of sent, failed, not sent, unknown.
    for name, group in (("failed", failed), ("not sent", not_sent), ("unknown", unsure)):
        assert len(set(group)) == len(group), f"a recipient twice among the {name}"
    groups = [set(sent), set(failed), set(not_sent), set(unsure)]
    assert sum(map(len, groups)) == len(set().union(*groups)), "a recipient in two places"
    assert set().union(*groups) == set(valid)
    # The journal: sent recipients as often as their chunk's batches, unknown ones perhaps,
    # nobody else.
    journal = Counter(recipients_of(out.after.batches))
    assert set(journal) <= set(sent) | set(unsure), "failed or not-sent recipients were sent"
    for n, times in sent.items():
        assert journal[n] == times
    # Nothing arrives after the return but a request of a chunk reported unknown.
    landed_before = {b["id"] for b in out.at_return.batches}
    for batch in (b for b in out.after.batches if b["id"] not in landed_before):
        assert batch["client_reference"] in unknown, f"{batch['client_reference']} landed late"
    for entry in out.after.sends[len(out.at_return.sends) :]:
        reference = (entry.json or {}).get("client_reference")
        assert reference in unknown, f"POST {reference} arrived after fan_out returned"

    # 3. The settle window outlasts every slow apply: nobody was texted twice.
    assert report.duplicated == []
    assert max(journal.values(), default=0) <= 1

    # 4. The telemetry agrees with the report.
    otel = out.otel
    done = {
        outcome: otel.metric_total("sinch_async.fanout.recipients", {"sinch.outcome": outcome})
        for outcome in ("created", "existing", "failed", "unknown", "not_sent")
    }
    assert (
        done["created"] + done["existing"],
        done["failed"],
        done["unknown"],
        done["not_sent"],
    ) == (report.sent, report.failed, report.unknown, len(report.not_sent)), done
    assert otel.metric_total("sinch_async.fanout.chunks_in_flight") == 0
    assert len(otel.spans("sinch fan_out")) == 1
    chunk_spans = otel.spans("sinch fan_out.chunk")
    assert len({dict(s.attributes or {})["sinch.chunk.index"] for s in chunk_spans}) == len(
        chunk_spans
    )
    statuses = {c.index: c.status for c in report.chunks}
    for span in chunk_spans:
        attributes = dict(span.attributes or {})
        index = attributes["sinch.chunk.index"]
        if attributes["sinch.chunk.status"] != "stopped":  # stopped: its recipients not sent
            assert index in statuses, f"chunk {index} has a span but no result"
    assert otel.unended() == 0, "a span was never ended"
    otel.shutdown()


# --- the test -------------------------------------------------------------------------------


@settings(
    max_examples=_EXPLORE or 20,
    deadline=None,
    derandomize=not _EXPLORE,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=cases())
def test_report_identity_and_journal_agree_under_random_faults(case: Case) -> None:
    items, meaning = rows(case)
    logger = logging.getLogger("sinch_async")
    level = logger.level
    logger.setLevel(logging.ERROR)  # thousands of retry warnings otherwise
    try:
        outcome = asyncio.run(run(case, items))
    finally:
        logger.setLevel(level)
    check(items, meaning, outcome)


# --- a failing example, kept apart --------------------------------------------------------------

UNRESOLVED_SLOW_SEND = Case(
    recipients=2000,
    invalid=0,
    duplicates=0,
    chunk_size=500,
    concurrency=8,
    campaign=False,
    max_attempts=2,
    messages_per_second=None,
    # Chunk 0's send is applied 1 s after it arrives (the client gives up at 0.25 s); both
    # attempts of its first lookup get a 503, so the send ends unresolved ("unknown").
    faults=(FaultSpec(SEND, "slow", latency=1.0), FaultSpec(LOOKUP, "503", times=2)),
    cancel_after=None,
    cancel_again_after=None,
    seed=1,
)


def test_a_slow_send_whose_lookup_failed_is_not_reported_failed() -> None:
    items, meaning = rows(UNRESOLVED_SLOW_SEND)
    outcome = asyncio.run(run(UNRESOLVED_SLOW_SEND, items))
    check(items, meaning, outcome)
