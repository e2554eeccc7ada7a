"""``RedisCampaign`` against a real Redis server (the private server of ``tests/_redis.py``)
and the simulator, served on 127.0.0.1 by this test process.

The multi-process tests run the producer and the workers as child processes
(``tests/campaign_worker.py``), kill some of them with SIGKILL (by PID) half-way, and check
the outcome two ways: the simulator's journal (every valid recipient exactly once, each
chunk's ``client_reference`` in one batch only) and ``RedisCampaign.report()`` (equal to the
journal, chunk by chunk). The unit tests run the campaign in this process.

Failure messages give counts and masked numbers only.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sinch_async import RetryPolicy
from sinch_async.errors import SinchValidationError
from sinch_async.fanout import FanOutReport
from sinch_async.redis import (
    CampaignCancelledError,
    CampaignError,
    RedisCampaign,
    send_chunk,
)
from sinch_async.testing import SinchSimulator
from tests.campaign_worker import campaign_rows, number
from tests.conftest import posts, sinch_env

if TYPE_CHECKING:
    from redis.asyncio import Redis

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

SCRIPT = Path(__file__).resolve().parent / "campaign_worker.py"
PREFIX = "test:campaign:"
RETRY: dict[str, Any] = {
    "backoff_base": 0.05,
    "backoff_max": 0.2,
    "reconcile_delay": 0.3,
    "settle_window": 5.0,
}
"""The workers' RetryPolicy: short backoffs; a dropped send is looked up after 0.3 s."""
FIGURES: list[str] = []


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def mask(number: str) -> str:
    """A phone number with its middle hidden, for messages."""
    return f"{number[:4]}***{number[-2:]}" if len(number) > 6 else "***"


def masked(numbers: Any, limit: int = 5) -> str:
    shown = sorted(numbers)[:limit]
    return ", ".join(mask(n) for n in shown) + (" ..." if len(numbers) > limit else "")


def figure(label: str, **values: Any) -> None:
    """Record a measured figure (printed with ``pytest -s``)."""
    text = f"{label}: " + ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )
    FIGURES.append(text)
    print(text)


# --- child processes -----------------------------------------------------------------------------


@dataclass
class Child:
    """A child process of ``tests/campaign_worker.py``, stopped by its PID."""

    name: str
    process: asyncio.subprocess.Process
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def ready(self, timeout: float = 30.0) -> None:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if line.strip() != b"ready":
            err = b""
            if self.process.stderr is not None:
                err = await asyncio.wait_for(self.process.stderr.read(), 10)
            raise AssertionError(
                f"{self.name} did not start: {line!r} {err.decode(errors='replace')[-3000:]}"
            )

    async def kill(self) -> None:
        """SIGKILL by PID, and reap."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def result(self, timeout: float) -> dict[str, Any]:
        """Wait for a normal exit; the JSON it printed last."""
        out, err = await asyncio.wait_for(self.process.communicate(), timeout)
        text = err.decode(errors="replace")[-3000:]
        assert self.process.returncode == 0, f"{self.name} exited {self.process.returncode}: {text}"
        lines = out.decode().strip().splitlines()
        result: dict[str, Any] = json.loads(lines[-1])
        return result


class Children:
    """Every child process a test starts; those still running at the end are killed."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Child] = []

    async def start(self, mode: str, name: str, config: dict[str, Any]) -> Child:
        path = self.tmp_path / f"{name}.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            mode,
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=sinch_env(),
        )
        child = Child(name, process)
        self.started.append(child)
        return child

    async def close(self) -> None:
        for child in self.started:
            await child.kill()


def worker_config(
    sim: SinchSimulator,
    redis_url: str,
    campaign_ids: list[str],
    *,
    concurrency: int,
    claim_idle: float,
) -> dict[str, Any]:
    return {
        "redis_url": redis_url,
        "prefix": PREFIX,
        "campaign_ids": campaign_ids,
        "base_url": sim.url,
        "plan": sim.service_plan_id,
        "token": sim.api_token,
        "retry": RETRY,
        "concurrency": concurrency,
        "claim_idle": claim_idle,
        "block": 0.3,
    }


async def wait_for(
    campaign: RedisCampaign, condition: Any, timeout: float, what: str, poll: float = 0.05
) -> Any:
    """Poll ``campaign.progress()`` until ``condition(progress)``; that progress."""
    deadline = time.monotonic() + timeout
    while True:
        progress = await campaign.progress()
        if condition(progress):
            return progress
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {progress}")
        await asyncio.sleep(poll)


# --- the input and the checks ------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """What :func:`campaign_rows` generates with these arguments, counted by construction."""

    count: int
    series: int = 0
    invalid_every: int = 0
    duplicate_every: int = 0
    params_every: int = 0

    @property
    def kwargs(self) -> dict[str, int]:
        return {
            "count": self.count,
            "series": self.series,
            "invalid_every": self.invalid_every,
            "duplicate_every": self.duplicate_every,
            "params_every": self.params_every,
        }

    def rows(self) -> list[Any]:
        return campaign_rows(**self.kwargs)

    @property
    def invalid(self) -> int:
        return self.count // self.invalid_every if self.invalid_every else 0

    @property
    def duplicates(self) -> int:
        return self.count // self.duplicate_every if self.duplicate_every else 0

    @property
    def read(self) -> int:
        return self.count + self.invalid + self.duplicates

    def numbers(self) -> set[str]:
        return {number(i, self.series) for i in range(self.count)}


def plus(msisdn: str) -> str:
    """E.164 with its ``+`` (the API's batches show numbers without it)."""
    return msisdn if msisdn.startswith("+") else "+" + msisdn


def journal_share(sim: SinchSimulator, campaign_id: str) -> dict[int, list[dict[str, Any]]]:
    """The batches the simulator accepted for a campaign, by chunk index."""
    share: dict[int, list[dict[str, Any]]] = {}
    for batch in sim.journal.batches_created():
        reference = batch.get("client_reference") or ""
        head, _, index = reference.rpartition("#")
        if head == campaign_id:
            share.setdefault(int(index), []).append(batch)
    return share


def check_report_equals_journal(
    sim: SinchSimulator, campaign_id: str, report: FanOutReport, body: str | None = None
) -> list[str]:
    """Assert the campaign's report and its share of the journal agree chunk by chunk;
    the recipients the journal has for it (each once)."""
    share = journal_share(sim, campaign_id)
    twice = {i: len(b) for i, b in share.items() if len(b) > 1}
    assert not twice, f"chunks created more than once (index: batches): {twice}"
    recipients = [plus(n) for batches in share.values() for n in batches[0]["to"]]
    counts = Counter(recipients)
    repeated = [n for n, c in counts.items() if c > 1]
    assert not repeated, f"{len(repeated)} recipients sent twice: {masked(repeated)}"
    if body is not None:
        bodies = {batches[0]["body"] for batches in share.values()}
        assert bodies <= {body}, f"{campaign_id}: batches with other bodies: {bodies - {body}}"
    by_index = {chunk.index: chunk for chunk in report.chunks}
    assert len(by_index) == len(report.chunks), "a chunk recorded twice in the report"
    for index, batches in share.items():
        chunk = by_index.get(index)
        assert chunk is not None, f"chunk {index} in the journal, not in the report"
        assert chunk.ok, f"chunk {index} in the journal, reported {chunk.status}"
        assert chunk.batch_id == batches[0]["id"], f"chunk {index}: another batch ID"
        assert chunk.count == len(batches[0]["to"]), f"chunk {index}: another count"
    missing = [c.index for c in report.chunks if c.ok and c.index not in share]
    assert not missing, f"chunks reported sent, not in the journal: {missing[:10]}"
    assert report.sent == len(recipients), (report.sent, len(recipients))
    not_sent = set(report.not_sent)
    assert len(not_sent) == len(report.not_sent), "a recipient reported not sent twice"
    overlap = not_sent & counts.keys()
    assert not overlap, f"{len(overlap)} reported not sent, in the journal: {masked(overlap)}"
    return recipients


def check_counts(report: FanOutReport, given: Input) -> None:
    assert (report.read, report.valid, report.duplicates) == (
        given.read,
        given.count,
        given.duplicates,
    )
    assert len(report.invalid) == given.invalid, (len(report.invalid), given.invalid)


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    started = Children(tmp_path)
    yield started
    # (a test that fails half-way leaves children running: kill them by PID)
    for child in started.started:
        if child.process.returncode is None:
            child.process.send_signal(signal.SIGKILL)


async def reap(children: Children) -> None:
    await children.close()


# --- 1. 50,000 recipients, 3 workers, one worker and the producer killed ------------------------


async def test_workers_and_producer_killed_every_recipient_once(
    sim: SinchSimulator, redis_client: Redis, redis_url: str, children: Children
) -> None:
    given = Input(50_000, invalid_every=97, duplicate_every=89, params_every=7)
    chunks_expected = 50
    campaign_id = "spring"
    body = "Hi ${name}, spring sale"
    # Each send takes 0.6 s on the simulator (the request waits, then is processed, even
    # when its client is gone): the workers (3 x 2 sends at a time, ~10 chunks/s) are
    # slower than the producer, so the killed worker has sends in flight.
    sim.faults.add("POST /batches", status=None, times=None, latency=0.6)
    producer_config = {
        "redis_url": redis_url,
        "prefix": PREFIX,
        "campaign_id": campaign_id,
        "body": body,
        "definition": {"from_": "Shop", "default_parameters": {"name": "friend"}},
        "rows": given.kwargs,
        "every": 500,
        "pause": 0.03,
    }
    started = time.monotonic()
    try:
        producer = await children.start("producer", "producer1", producer_config)
        await producer.ready()
        campaign = await RedisCampaign.open(redis_client, campaign_id, prefix=PREFIX)
        config = worker_config(sim, redis_url, [campaign_id], concurrency=2, claim_idle=3.0)
        workers = [await children.start("worker", f"worker{i}", config) for i in range(3)]
        for worker in workers:
            await worker.ready()

        at_kill = await wait_for(campaign, lambda p: p.chunks >= 12, 60, "12 chunks enqueued")
        await producer.kill()
        after_kill = await campaign.progress()
        assert not after_kill.enqueue_done, "the producer must be killed mid-way"
        assert after_kill.chunks < chunks_expected, after_kill
        restarted = await children.start("producer", "producer2", producer_config)

        half = await wait_for(
            campaign, lambda p: p.chunks_done >= chunks_expected // 2, 60, "half the chunks"
        )
        await workers[0].kill()
        killed_at = await campaign.progress()
        assert killed_at.chunks_done < chunks_expected, "the worker must be killed half-way"

        produced = await restarted.result(timeout=60)
        survivors = [await w.result(timeout=90) for w in workers[1:]]
        elapsed = time.monotonic() - started
    finally:
        await reap(children)

    assert produced == {
        "read": given.read,
        "valid": given.count,
        "invalid": given.invalid,
        "duplicates": given.duplicates,
        "chunks": chunks_expected,
        "enqueue_done": True,
    }
    report = await campaign.report()
    progress = await campaign.progress()
    check_counts(report, given)
    recipients = check_report_equals_journal(sim, campaign_id, report, body)
    missing = given.numbers() - set(recipients)
    assert not missing, f"{len(missing)} valid recipients never sent: {masked(missing)}"
    assert len(recipients) == given.count == report.sent
    assert len(report.chunks) == chunks_expected
    assert all(c.ok for c in report.chunks)
    assert not report.not_sent
    assert progress.done
    assert progress.pending == 0
    assert progress.chunks_done == chunks_expected
    # The killed worker's chunks were delivered again (claimed) and looked up first.
    attempts = {
        int(k): int(v)
        for k, v in (await redis_client.hgetall(f"{PREFIX}{campaign_id}:attempts")).items()
    }
    retried = sorted(i for i, n in attempts.items() if n > 1)
    assert retried, "no chunk was claimed from the killed worker"
    existing = [c.index for c in report.chunks if c.status == "existing"]
    assert set(existing) <= set(retried)
    handled = sum(s["handled"][campaign_id] for s in survivors)
    assert handled >= chunks_expected - half.chunks_done
    figure(
        "50k, 3 workers (1 killed), producer killed+restarted",
        seconds=elapsed,
        recipients_per_s=given.count / elapsed,
        producer_killed_at_chunk=at_kill.chunks,
        worker_killed_at_chunks_done=killed_at.chunks_done,
        chunks_claimed=len(retried),
        chunks_existing=len(existing),
        posts=len(posts(sim)),
    )


# --- 2. 10 % injected 503s and drops after create ----------------------------------------------


async def test_injected_503s_and_drops_every_recipient_once(
    sim: SinchSimulator, redis_client: Redis, redis_url: str, children: Children
) -> None:
    given = Input(20_000, series=1, invalid_every=50, duplicate_every=40, params_every=3)
    chunk_size = 200
    chunks_expected = given.count // chunk_size
    campaign_id = "faults"
    body = "Hello ${name}"
    # Every 10th POST /batches fails: a 503 (not created), or created and its connection
    # dropped with no answer, in turn; the faults are taken in order, one use each.
    injected = []
    for round_ in range(14):
        sim.faults.add("POST /batches", status=None, times=9)
        if round_ % 2:
            injected.append(sim.faults.add("POST /batches", drop="after", times=1))
        else:
            injected.append(sim.faults.add("POST /batches", status=503, times=1))
    sim.faults.add("POST /batches", status=None, times=None, latency=0.1)
    campaign = await RedisCampaign.create(
        redis_client,
        campaign_id,
        body,
        prefix=PREFIX,
        chunk_size=chunk_size,
        default_parameters={"name": "you"},
    )
    progress = await campaign.enqueue(given.rows())
    assert progress.chunks == chunks_expected
    assert progress.enqueue_done
    started = time.monotonic()
    try:
        config = worker_config(sim, redis_url, [campaign_id], concurrency=3, claim_idle=4.0)
        workers = [await children.start("worker", f"worker{i}", config) for i in range(3)]
        for worker in workers:
            await worker.ready()
        await wait_for(campaign, lambda p: p.chunks_done >= chunks_expected // 2, 60, "half")
        await workers[2].kill()
        for worker in workers[:2]:
            await worker.result(timeout=90)
        elapsed = time.monotonic() - started
    finally:
        await reap(children)

    drops = sum(f.hits for f in injected if f.drop == "after")
    errors = sum(f.hits for f in injected if f.status == 503)
    assert drops >= 3, (drops, errors)
    assert errors >= 3, (drops, errors)
    report = await campaign.report()
    check_counts(report, given)
    recipients = check_report_equals_journal(sim, campaign_id, report, body)
    assert report.sent + report.failed + report.unknown + len(report.not_sent) == given.count
    # With five attempts per send and one fault in ten, every chunk goes through.
    assert report.sent == given.count, report.summary()
    same = set(recipients) == given.numbers()
    assert same, "the journal's recipients are not the valid ones"
    figure(
        "20k, 10% faults, 3 workers (1 killed)",
        seconds=elapsed,
        recipients_per_s=given.count / elapsed,
        drops_after_create=drops,
        injected_503=errors,
        posts=len(posts(sim)),
        existing=sum(c.status == "existing" for c in report.chunks),
    )


# --- 3. cancelled mid-way ----------------------------------------------------------------------


async def test_cancel_mid_way_nothing_sent_after_workers_return(
    sim: SinchSimulator, redis_client: Redis, redis_url: str, children: Children
) -> None:
    given = Input(20_000, series=2, invalid_every=100)
    chunk_size = 200
    chunks_expected = given.count // chunk_size
    campaign_id = "cancelled"
    sim.faults.add("POST /batches", status=None, times=None, latency=0.3)
    campaign = await RedisCampaign.create(
        redis_client, campaign_id, "Last call", prefix=PREFIX, chunk_size=chunk_size
    )
    await campaign.enqueue(given.rows())
    started = time.monotonic()
    try:
        config = worker_config(sim, redis_url, [campaign_id], concurrency=2, claim_idle=30.0)
        workers = [await children.start("worker", f"worker{i}", config) for i in range(2)]
        for worker in workers:
            await worker.ready()
        third = await wait_for(
            campaign, lambda p: p.chunks_done >= chunks_expected // 3, 60, "a third done"
        )
        await campaign.cancel()
        results = [await w.result(timeout=30) for w in workers]
        returned = time.monotonic() - started
    finally:
        await reap(children)

    count_at_return = len(sim.journal.recipients_sent())
    posts_at_return = len(posts(sim))
    await asyncio.sleep(1.5)
    assert len(sim.journal.recipients_sent()) == count_at_return
    assert len(posts(sim)) == posts_at_return

    report = await campaign.report()
    progress = await campaign.progress()
    assert progress.cancelled
    assert progress.done
    recipients = check_report_equals_journal(sim, campaign_id, report)
    assert report.sent == count_at_return
    assert report.sent + report.failed + report.unknown + len(report.not_sent) == given.count
    assert 0 < report.sent < given.count, "the cancel must land mid-way"
    same = set(recipients) | set(report.not_sent) == given.numbers()
    assert same, "sent + not sent is not every valid recipient"
    # A worker (or a queue) asked for a chunk not sent gets CampaignCancelledError.
    unsent = sorted(int(i) for i in await redis_client.hkeys(f"{PREFIX}{campaign_id}:data"))
    assert unsent
    async with sim.client(retry=RetryPolicy(**RETRY)) as client:
        with pytest.raises(CampaignCancelledError):
            await campaign.send_chunk(client, unsent[0])
    assert len(posts(sim)) == posts_at_return
    figure(
        "20k, cancel at a third, 2 workers",
        seconds_to_return=returned,
        chunks_done_at_cancel=third.chunks_done,
        sent=report.sent,
        not_sent=len(report.not_sent),
        handled=sum(sum(r["handled"].values()) for r in results),
    )


# --- 4. two campaigns in one Redis -------------------------------------------------------------


async def test_two_campaigns_in_one_redis_do_not_mix(
    sim: SinchSimulator, redis_client: Redis, redis_url: str, children: Children
) -> None:
    # The same numbers in both (every one of beta's is in alpha): each campaign
    # de-duplicates on its own and sends its own body.
    alpha_input = Input(10_000, series=3, invalid_every=200)
    beta_input = Input(8_000, series=3, duplicate_every=100, params_every=2)
    alpha = await RedisCampaign.create(
        redis_client, "alpha", "Alpha news", prefix=PREFIX, chunk_size=500
    )
    beta = await RedisCampaign.create(
        redis_client,
        "beta",
        "Beta for ${name}",
        prefix=PREFIX,
        chunk_size=400,
        default_parameters={"name": "all"},
    )
    await asyncio.gather(alpha.enqueue(alpha_input.rows()), beta.enqueue(beta_input.rows()))
    started = time.monotonic()
    try:
        config = worker_config(sim, redis_url, ["alpha", "beta"], concurrency=3, claim_idle=30.0)
        workers = [await children.start("worker", f"worker{i}", config) for i in range(2)]
        results = [await w.result(timeout=90) for w in workers]
        elapsed = time.monotonic() - started
    finally:
        await reap(children)

    for campaign, given, chunks in ((alpha, alpha_input, 20), (beta, beta_input, 20)):
        report = await campaign.report()
        check_counts(report, given)
        recipients = check_report_equals_journal(sim, campaign.campaign_id, report, campaign.body)
        same = set(recipients) == given.numbers()
        assert same, f"{campaign.campaign_id}: the journal's recipients are not its own"
        assert len(report.chunks) == chunks
        assert report.sent == given.count
    assert len(sim.journal.batches_created()) == 40
    # (each worker's count of the chunks it handled can miss its last ones: see
    # test_run_worker_counts_every_chunk_it_handled)
    handled = {c: sum(r["handled"][c] for r in results) for c in ("alpha", "beta")}
    assert 0 < handled["alpha"] <= 20, handled
    assert 0 < handled["beta"] <= 20, handled
    figure(
        "two campaigns (10k + 8k), 2 workers",
        seconds=elapsed,
        recipients_per_s=(alpha_input.count + beta_input.count) / elapsed,
    )


# --- 5. in-process unit tests ------------------------------------------------------------------


async def test_create_is_idempotent_and_refuses_another_definition(redis_client: Redis) -> None:
    first = await RedisCampaign.create(
        redis_client, "c1", "Hi", from_="Shop", delivery_report="none", prefix=PREFIX
    )
    again = await RedisCampaign.create(
        redis_client, "c1", "Hi", from_="Shop", delivery_report="none", prefix=PREFIX
    )
    assert again.body == first.body == "Hi"
    for other in (
        {"body": "Hello", "from_": "Shop", "delivery_report": "none"},
        {"body": "Hi", "from_": "Other", "delivery_report": "none"},
        {"body": "Hi", "from_": "Shop"},
        {"body": "Hi", "from_": "Shop", "delivery_report": "none", "chunk_size": 10},
    ):
        with pytest.raises(CampaignError, match="another definition"):
            await RedisCampaign.create(redis_client, "c1", prefix=PREFIX, **other)
    opened = await RedisCampaign.open(redis_client, "c1", prefix=PREFIX)
    assert opened.body == "Hi"


async def test_open_missing_campaign_raises(redis_client: Redis) -> None:
    with pytest.raises(CampaignError, match="no campaign"):
        await RedisCampaign.open(redis_client, "nope", prefix=PREFIX)
    await RedisCampaign.create(redis_client, "there", "Hi", prefix=PREFIX)
    with pytest.raises(CampaignError):  # another prefix: another namespace
        await RedisCampaign.open(redis_client, "there")
    with pytest.raises(SinchValidationError):
        await RedisCampaign.open(redis_client, "", prefix=PREFIX)
    assert await redis_client.keys("sinch:campaign:*") == []


async def test_keys_carry_the_prefix_and_delete_removes_them(
    sim: SinchSimulator, redis_client: Redis
) -> None:
    await redis_client.set("unrelated", "1")
    campaign = await RedisCampaign.create(redis_client, "pref", "Hi", prefix="acme:", chunk_size=10)
    await campaign.enqueue([number(i, 4) for i in range(25)] + ["bad"])
    async with sim.client() as client:
        await campaign.send_chunk(client, 0)
    keys = sorted(text(k) for k in await redis_client.keys("*"))
    ours = [k for k in keys if k != "unrelated"]
    assert ours
    assert all(k.startswith("acme:pref:") for k in ours), ours
    assert {"acme:pref:def", "acme:pref:state", "acme:pref:chunks"} <= set(ours)
    await campaign.delete()
    assert [text(k) for k in await redis_client.keys("*")] == ["unrelated"]


async def test_enqueue_twice_enqueues_no_chunk_twice(redis_client: Redis) -> None:
    given = Input(2_500, series=5, invalid_every=7, duplicate_every=11, params_every=5)
    campaign = await RedisCampaign.create(redis_client, "twice", "Hi", prefix=PREFIX)
    first = await campaign.enqueue(given.rows())
    second = await campaign.enqueue(iter(given.rows()))
    assert first == second
    assert (second.read, second.valid, second.invalid, second.duplicates) == (
        given.read,
        given.count,
        given.invalid,
        given.duplicates,
    )
    assert second.chunks == 3
    assert second.enqueue_done
    assert await redis_client.xlen(f"{PREFIX}twice:chunks") == 3
    assert await redis_client.hlen(f"{PREFIX}twice:data") == 3
    report = await campaign.report()
    check_counts(report, given)


async def test_enqueue_resumes_after_a_crash_mid_input(redis_client: Redis) -> None:
    given = Input(3_000, series=5, invalid_every=13, duplicate_every=17)
    rows = given.rows()
    campaign = await RedisCampaign.create(
        redis_client, "crash", "Hi", prefix=PREFIX, chunk_size=250
    )

    def crashing() -> Iterator[Any]:
        for position, row in enumerate(rows):
            if position == len(rows) // 2:
                raise RuntimeError("the producer died")
            yield row

    with pytest.raises(RuntimeError):
        await campaign.enqueue(crashing())
    half = await campaign.progress()
    assert 0 < half.chunks < 12
    assert not half.enqueue_done
    done = await campaign.enqueue(rows)
    assert done.chunks == 12
    assert done.enqueue_done
    assert await redis_client.xlen(f"{PREFIX}crash:chunks") == 12
    report = await campaign.report()
    check_counts(report, given)  # the invalid rows of the first half are not stored twice


async def test_send_chunk_twice_sends_once(sim: SinchSimulator, redis_client: Redis) -> None:
    campaign = await RedisCampaign.create(redis_client, "once", "Hi", prefix=PREFIX, chunk_size=100)
    await campaign.enqueue([number(i, 6) for i in range(250)])
    async with sim.client() as client:
        first = await campaign.send_chunk(client, 1)
        second = await campaign.send_chunk(client, 1)
        third = await send_chunk(client, redis_client, "once", 1, prefix=PREFIX)
        with pytest.raises(CampaignError):
            await campaign.send_chunk(client, 7)  # no such chunk
    assert first.status == "created"
    assert first.batch_id
    assert (second.status, second.batch_id, second.count) == ("created", first.batch_id, 100)
    assert (third.status, third.batch_id) == ("created", first.batch_id)
    assert len(posts(sim)) == 1
    assert first.client_reference == "once#1"
    batch = sim.journal.batches_created()[0]
    assert batch["client_reference"] == "once#1"
    same = [plus(n) for n in batch["to"]] == [number(i, 6) for i in range(100, 200)]
    assert same, "the batch does not hold chunk 1's recipients, in order"
    progress = await campaign.progress()
    assert (progress.chunks, progress.chunks_done, progress.sent, progress.pending) == (
        3,
        1,
        100,
        150,
    )
    assert not progress.done


async def test_send_chunk_after_cancel_sends_nothing(
    sim: SinchSimulator, redis_client: Redis
) -> None:
    campaign = await RedisCampaign.create(redis_client, "stop", "Hi", prefix=PREFIX, chunk_size=100)
    await campaign.enqueue([number(i, 7) for i in range(300)])
    async with sim.client() as client:
        await campaign.send_chunk(client, 0)
        await campaign.cancel()
        with pytest.raises(CampaignCancelledError):
            await campaign.send_chunk(client, 1)
        with pytest.raises(CampaignCancelledError):
            await send_chunk(client, redis_client, "stop", 2, prefix=PREFIX)
        # a chunk with an outcome still answers with it
        assert (await campaign.send_chunk(client, 0)).status == "created"
        assert await campaign.run_worker(client, concurrency=2, block=0.1) == 0
    assert len(posts(sim)) == 1
    report = await campaign.report()
    assert report.sent == 100
    assert len(report.not_sent) == 200
    same = set(report.not_sent) == {number(i, 7) for i in range(100, 300)}
    assert same, "not sent: not the recipients of chunks 1 and 2"
    progress = await campaign.progress()
    assert progress.cancelled
    assert progress.done


async def test_chunk_tried_before_is_looked_up_first(
    sim: SinchSimulator, redis_client: Redis
) -> None:
    campaign = await RedisCampaign.create(redis_client, "again", "Hi", prefix=PREFIX, chunk_size=50)
    await campaign.enqueue([number(i, 8) for i in range(100)])
    async with sim.client() as client:
        # An earlier delivery of chunk 0 created its batch, then its worker died before
        # recording the outcome.
        earlier = await client.batches.send(
            [number(i, 8) for i in range(50)], "Hi", client_reference="again#0"
        )
        await redis_client.hincrby(f"{PREFIX}again:attempts", "0", 1)
        sim.journal.clear()
        result = await campaign.send_chunk(client, 0)
        assert (result.status, result.batch_id, result.count) == ("existing", earlier.id, 50)
        assert posts(sim) == []
        lookups = [e for e in sim.journal.requests if e.method == "GET"]
        assert lookups
        assert lookups[0].query.get("client_reference") == "again#0"
        # A chunk tried before but not created is looked up, then sent.
        await redis_client.hincrby(f"{PREFIX}again:attempts", "1", 1)
        sim.journal.clear()
        fresh = await campaign.send_chunk(client, 1)
        assert fresh.status == "created"
        assert [e.method for e in sim.journal.requests] == ["GET", "POST"]
    progress = await campaign.progress()
    assert (progress.sent, progress.chunks_done, progress.done) == (100, 2, True)


async def test_first_try_is_not_looked_up(sim: SinchSimulator, redis_client: Redis) -> None:
    campaign = await RedisCampaign.create(redis_client, "first", "Hi", prefix=PREFIX)
    await campaign.enqueue([number(i, 9) for i in range(10)])
    async with sim.client() as client:
        result = await campaign.send_chunk(client, 0)
    assert result.status == "created"
    assert [e.method for e in sim.journal.requests] == ["POST"]


async def test_progress_counts(sim: SinchSimulator, redis_client: Redis) -> None:
    campaign = await RedisCampaign.create(redis_client, "count", "Hi", prefix=PREFIX, chunk_size=40)
    empty = await campaign.progress()
    assert (empty.read, empty.chunks, empty.enqueue_done, empty.done) == (0, 0, False, False)
    rows: list[Any] = [number(i, 9) for i in range(100)] + ["bad", "+46", number(3, 9)]
    after = await campaign.enqueue(rows)
    assert (after.read, after.valid, after.invalid, after.duplicates) == (103, 100, 2, 1)
    assert (after.chunks, after.chunks_done, after.pending, after.done) == (3, 0, 100, False)
    async with sim.client() as client:
        handled = await campaign.run_worker(client, concurrency=2, block=0.1)
    assert handled == 3
    done = await campaign.progress()
    assert (done.sent, done.failed, done.unknown, done.chunks_done, done.done) == (
        100,
        0,
        0,
        3,
        True,
    )
    assert await redis_client.xlen(f"{PREFIX}count:chunks") == 0
    report = await campaign.report()
    assert sorted(r.reason for r in report.invalid) == sorted(
        [
            "not a phone number: it has letters",
            "too short for an international number (7 to 15 digits)",
        ]
    )
    check_report_equals_journal(sim, "count", report, "Hi")


class SlowAck(RedisCampaign):
    """A campaign whose chunk tasks take a while to return after the outcome is recorded
    (as when the acknowledgement is slow: a busy Redis, a slow network)."""

    async def _handle(self, client: Any, entry_id: bytes, index: int) -> None:
        await super()._handle(client, entry_id, index)
        await asyncio.sleep(0.5)


async def test_run_worker_counts_every_chunk_it_handled(
    sim: SinchSimulator, redis_client: Redis
) -> None:
    await RedisCampaign.create(redis_client, "slow", "Hi", prefix=PREFIX, chunk_size=10)
    campaign = await SlowAck.open(redis_client, "slow", prefix=PREFIX)
    await campaign.enqueue([number(i, 9) for i in range(10)])
    async with sim.client() as client:
        handled = await campaign.run_worker(client, concurrency=1, block=0.1)
    assert (await campaign.progress()).sent == 10
    assert await redis_client.xlen(f"{PREFIX}slow:chunks") == 0  # sent and acknowledged
    assert handled == 1


async def test_create_twice_with_a_decoding_client(redis_url: str) -> None:
    import redis.asyncio

    decoding = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await RedisCampaign.create(decoding, "dec", "Hi", prefix=PREFIX)
        again = await RedisCampaign.create(decoding, "dec", "Hi", prefix=PREFIX)
        assert again.body == "Hi"
    finally:
        await decoding.aclose()


async def test_a_worker_with_a_decoding_client(sim: SinchSimulator, redis_url: str) -> None:
    import redis.asyncio

    decoding = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        campaign = await RedisCampaign.create(decoding, "dec", "Hi", prefix=PREFIX, chunk_size=20)
        await campaign.enqueue([number(i, 9) for i in range(50)] + ["bad"])
        async with sim.client() as client:
            await campaign.run_worker(client, concurrency=2, block=0.1)
            assert (await campaign.send_chunk(client, 1)).status == "created"
        report = await campaign.report()
    finally:
        await decoding.aclose()
    assert report.sent == 50
    assert len(report.invalid) == 1
    check_report_equals_journal(sim, "dec", report, "Hi")


async def test_a_failed_chunk_is_recorded_once_with_its_recipients(
    sim: SinchSimulator, redis_client: Redis
) -> None:
    campaign = await RedisCampaign.create(redis_client, "fail", "Hi", prefix=PREFIX, chunk_size=10)
    await campaign.enqueue([number(i, 9) for i in range(30)])
    sim.faults.add("POST /batches", status=400, times=1)
    async with sim.client() as client:
        failed = await campaign.send_chunk(client, 0)
        assert failed.status == "failed"
        assert failed.error is not None
        again = await campaign.send_chunk(client, 0)
        assert again.status == "failed"  # the recorded outcome: not sent again
        await campaign.run_worker(client, concurrency=2, block=0.1)
    assert len(posts(sim)) == 3
    progress = await campaign.progress()
    assert (progress.sent, progress.failed, progress.chunks_done, progress.done) == (
        20,
        10,
        3,
        True,
    )
    report = await campaign.report()
    assert report.failed == 10
    assert report.sent == 20
    same = report.failed_recipients() == [number(i, 9) for i in range(10)]
    assert same, "the failed chunk's recipients are not in the report"
    check_report_equals_journal(sim, "fail", report, "Hi")


async def test_enqueue_stops_once_the_campaign_is_cancelled(redis_client: Redis) -> None:
    campaign = await RedisCampaign.create(redis_client, "stop", "Hi", prefix=PREFIX, chunk_size=10)
    await campaign.enqueue([number(i, 7) for i in range(30)])
    await campaign.cancel()
    again = await campaign.enqueue([number(i, 7) for i in range(100)])  # a longer input
    assert again.chunks == 3  # nothing appended after the cancel
    assert await redis_client.xlen(f"{PREFIX}stop:chunks") == 3


async def test_a_send_applied_after_its_settle_window_is_reported_duplicated(
    sim: SinchSimulator, redis_client: Redis
) -> None:
    # The simulator applies the first chunk's send after 1.5 s; the client gives up after
    # 0.3 s, looks it up for 0.2 s, finds nothing and sends it again. The worker paces its
    # sends past the late landing, so the end-of-campaign check of ambiguous chunks sees
    # both batches: the report lists the chunk as duplicated, as the journal shows it.
    campaign = await RedisCampaign.create(redis_client, "dup", "Hi", prefix=PREFIX, chunk_size=100)
    await campaign.enqueue([number(i, 3) for i in range(1000)])
    sim.faults.add("POST /batches", status=None, latency=1.5, times=1)
    policy = RetryPolicy(
        backoff_base=0.01, backoff_max=0.05, reconcile_delay=0.05, settle_window=0.2
    )
    async with sim.client(timeout=0.3, retry=policy, messages_per_second=400) as client:
        await campaign.run_worker(client, concurrency=1, block=0.1)
    report = await campaign.report()
    [duplicate] = report.duplicated
    assert (duplicate.index, duplicate.client_reference) == (0, "dup#0")
    assert len(duplicate.batch_ids) == 2
    assert duplicate.count == 100
    assert not report.complete
    counts = Counter(sim.journal.recipients_sent())
    assert sorted(Counter(counts.values()).items()) == [(1, 900), (2, 100)]
    assert report.sent == 1000
