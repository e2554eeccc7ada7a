"""``sinch-async campaign --redis --enqueue-only``, ``worker`` and ``campaign-status``, and
``examples/distributed_campaign.py``, against a private Redis (the ``redis_url`` fixture) and
the simulator served by this test process on 127.0.0.1.

The producer and ``campaign-status`` run in-process (``acli``: the CLI in a thread, while
this loop serves the simulator); the workers run as separate processes (``python -m
sinch_async worker``), pointed at the simulator by ``SINCH_*`` variables, and are stopped
by their PID.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from sinch_async._cli._distributed import safe_url
from sinch_async.redis import RedisCampaign
from sinch_async.testing import SinchSimulator
from tests._redis import require_server_binary
from tests.conftest import EXAMPLES, acli, posts, sinch_env

pytestmark = [pytest.mark.sinch_simulator(seed=16), pytest.mark.usefixtures("no_sinch_env")]

WORKER_TIMEOUT = 120.0
VALID = [f"+4670{i:07d}" for i in range(4500)]
INVALID = ["0701234567", "not-a-number"]
"""A national number (masked wherever it is printed) and text."""


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    """4,500 valid rows with a name, 2 invalid rows, 1 duplicate."""
    path = tmp_path / "customers.csv"
    lines = ["number,name", *(f"{n},N{i}" for i, n in enumerate(VALID))]
    lines += [f"{INVALID[0]},National", f"{INVALID[1]},Text", f"{VALID[7]},Again"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def producer(csv_file: Path, redis_url: str, campaign_id: str, *extra: str) -> list[str]:
    return [
        "campaign", str(csv_file),
        "--body", "Hi ${name}",
        "--from", "Shop",
        "--chunk-size", "500",
        "--redis", redis_url,
        "--campaign-id", campaign_id,
        "--enqueue-only", "-q",
        *extra,
    ]  # fmt: skip


class Workers:
    """``python -m sinch_async worker`` processes, killed by their PID if still running."""

    def __init__(self, sim: SinchSimulator, redis_url: str, campaign_id: str) -> None:
        self.env = sinch_env(sim)
        self.target = ["--redis", redis_url, "--campaign-id", campaign_id]
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self, *extra: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sinch_async", "worker", *self.target, "--json", *extra,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )  # fmt: skip
        self.processes.append(process)
        return process

    @staticmethod
    async def result(process: asyncio.subprocess.Process) -> tuple[int, dict[str, Any], str]:
        """Exit code, the worker's JSON (stdout) and its stderr."""
        out, err = await asyncio.wait_for(process.communicate(), WORKER_TIMEOUT)
        assert process.returncode is not None
        text = err.decode(errors="replace")
        assert out, f"no output (exit {process.returncode}): {text[-2000:]}"
        return process.returncode, json.loads(out), text

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                os.kill(process.pid, signal.SIGKILL)
                await process.wait()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def status_json(
    capsys: pytest.CaptureFixture[str], redis_url: str, campaign_id: str
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = await acli(
        "campaign-status", "--redis", redis_url, "--campaign-id", campaign_id, "--json"
    )
    return code, json.loads(capsys.readouterr().out)


def assert_report_equals_journal(status: dict[str, Any], sim: SinchSimulator) -> None:
    sim.journal.assert_each_recipient_once(VALID)
    batches = sim.journal.batches_created()
    report = status["report"]
    assert report is not None
    assert status["sent"] == report["sent"] == len(sim.journal.recipients_sent()) == len(VALID)
    assert report["batches"] == len(batches)
    assert sorted(report["batch_ids"]) == sorted(b["id"] for b in batches)
    assert report["complete"] is True
    assert status["failed"] == status["unknown"] == status["pending"] == 0


# --- the three commands ------------------------------------------------------------------------


async def test_producer_twice_then_two_workers_then_status_equals_the_journal(
    sim: SinchSimulator,
    redis_url: str,
    redis: Redis,
    csv_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await acli(*producer(csv_file, redis_url, "spring")) == 0
    first = capsys.readouterr()
    assert "campaign id: spring (new)" in first.err
    assert "9 on the stream" in first.out
    # Re-running the producer continues: nothing appended twice.
    assert await acli(*producer(csv_file, redis_url, "spring", "--json")) == 0
    again = capsys.readouterr()
    assert "continuing" in again.err
    enqueued = json.loads(again.out)
    assert (enqueued["chunks"], enqueued["valid"], enqueued["invalid"]) == (9, 4500, 2)
    assert enqueued["duplicates"] == 1
    assert enqueued["enqueue_done"] is True
    assert await redis.xlen("sinch:campaign:spring:chunks") == 9
    code, before = await status_json(capsys, redis_url, "spring")
    assert (code, before["done"], before["report"], before["pending"]) == (0, False, None, 4500)

    workers = Workers(sim, redis_url, "spring")
    try:
        started = [await workers.start("--concurrency", "2") for _ in range(2)]
        results = [await workers.result(p) for p in started]
    finally:
        await workers.stop()
    for code, data, err in results:
        assert code == 0, err
        assert data["outcome"] == "done"
    assert sum(data["chunks"] for _, data, _ in results) == 9  # each chunk handled once
    assert sum(data["recipients_by_status"].get("created", 0) for _, data, _ in results) == 4500

    code, status = await status_json(capsys, redis_url, "spring")
    assert code == 0
    assert status["done"] is True
    assert_report_equals_journal(status, sim)
    assert status["invalid"] == status["report"]["invalid"] == 2
    assert status["duplicates"] == 1
    examples = {r["example"] for r in status["report"]["invalid_reasons"]}
    assert INVALID[0] not in examples  # masked
    assert all(b["body"] == "Hi ${name}" for b in sim.journal.batches_created())
    assert {b["from"] for b in sim.journal.batches_created()} == {"Shop"}

    # The text report masks numbers too.
    capsys.readouterr()
    assert await acli("campaign-status", "--redis", redis_url, "--campaign-id", "spring") == 0
    text = capsys.readouterr().out
    assert "sent 4,500 in 9 batches" in text
    assert INVALID[0] not in text


async def test_sigterm_stops_the_producer_and_a_rerun_continues(
    redis_url: str, redis: Redis, tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    # Big enough that the producer is still reading when the signal comes, on a loaded machine.
    rows = 1_000_000
    big.write_text("number,name\n" + "".join(f"+4671{i:07d},N\n" for i in range(rows)))
    argv = [sys.executable, "-m", "sinch_async", *producer(big, redis_url, "big")]
    argv[argv.index("500")] = "1000"
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=sinch_env()
    )
    try:
        for _ in range(int(WORKER_TIMEOUT * 50)):
            assert process.returncode is None, (await process.communicate())[1]
            if await redis.exists("sinch:campaign:big:chunks") and (
                await redis.xlen("sinch:campaign:big:chunks") >= 5
            ):
                break
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), WORKER_TIMEOUT)
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
            await process.wait()
    assert process.returncode == 130, err.decode(errors="replace")
    assert b"re-run the same command" in err
    stopped = await (await RedisCampaign.open(redis, "big")).progress()
    assert not stopped.enqueue_done
    assert 5 <= stopped.chunks < rows // 1000
    assert await redis.xlen("sinch:campaign:big:chunks") == stopped.chunks

    rerun = await asyncio.create_subprocess_exec(
        *argv, "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=sinch_env(),
    )  # fmt: skip
    out, err = await asyncio.wait_for(rerun.communicate(), WORKER_TIMEOUT)
    assert rerun.returncode == 0, err.decode(errors="replace")
    done = json.loads(out)
    assert (done["chunks"], done["valid"], done["enqueue_done"]) == (rows // 1000, rows, True)
    assert await redis.xlen("sinch:campaign:big:chunks") == rows // 1000  # none appended twice


async def test_sigterm_finishes_the_chunks_in_flight_and_exits_0(
    sim: SinchSimulator,
    redis_url: str,
    redis: Redis,
    csv_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await acli(*producer(csv_file, redis_url, "term")) == 0
    # Every send waits 1 s in the simulator: the signal finds chunks in flight.
    sim.faults.add("POST /batches", status=None, times=None, latency=1.0)
    workers = Workers(sim, redis_url, "term")
    try:
        process = await workers.start("--concurrency", "3")
        for _ in range(int(WORKER_TIMEOUT * 20)):
            if posts(sim) or process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert posts(sim), "the worker sent nothing"
        process.send_signal(signal.SIGTERM)
        code, data, err = await workers.result(process)
    finally:
        await workers.stop()
    assert code == 0, err
    assert data["outcome"] == "stopped"
    assert "stopping" in err
    campaign = await RedisCampaign.open(redis, "term")
    progress = await campaign.progress()
    # Every chunk it took was sent and recorded; it took no other after the signal.
    assert 1 <= data["chunks"] == progress.chunks_done < progress.chunks
    assert len(sim.journal.batches_created()) == len(posts(sim)) == progress.chunks_done
    assert progress.sent == len(sim.journal.recipients_sent())

    sim.faults.clear()  # another worker finishes the campaign
    workers = Workers(sim, redis_url, "term")
    try:
        code, rest, err = await workers.result(await workers.start())
    finally:
        await workers.stop()
    assert code == 0, err
    assert rest["chunks"] == progress.chunks - progress.chunks_done
    code, status = await status_json(capsys, redis_url, "term")
    assert code == 0
    assert_report_equals_journal(status, sim)


async def test_a_cancelled_campaign_stops_workers_and_status_exits_1(
    sim: SinchSimulator,
    redis_url: str,
    redis: Redis,
    csv_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await acli(*producer(csv_file, redis_url, "stop")) == 0
    await (await RedisCampaign.open(redis, "stop")).cancel()
    workers = Workers(sim, redis_url, "stop")
    try:
        code, data, err = await workers.result(await workers.start())
    finally:
        await workers.stop()
    assert (code, data["outcome"], data["chunks"]) == (0, "cancelled", 0), err
    code, status = await status_json(capsys, redis_url, "stop")
    assert code == 1
    assert status["cancelled"] is True
    assert status["report"]["not_sent"] == 4500
    assert status["report"]["complete"] is False
    assert sim.journal.recipients_sent() == []


async def test_watch_json_prints_lines_until_done(
    sim: SinchSimulator,
    redis_url: str,
    csv_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await acli(*producer(csv_file, redis_url, "watch")) == 0
    capsys.readouterr()
    watch = asyncio.ensure_future(
        acli("campaign-status", "--redis", redis_url, "--campaign-id", "watch", "--watch", "--json")
    )
    workers = Workers(sim, redis_url, "watch")
    try:
        code, _, err = await workers.result(await workers.start("--concurrency", "1"))
        assert code == 0, err
        assert await asyncio.wait_for(watch, WORKER_TIMEOUT) == 0
    finally:
        await workers.stop()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["done"] is False
    assert lines[-1]["report"] is not None  # the last line has the report
    assert all("report" not in line for line in lines[:-1])
    assert lines[-1]["done"] is True
    assert_report_equals_journal(lines[-1], sim)


# --- input errors ------------------------------------------------------------------------------


async def test_bad_arguments_exit_2(
    redis_url: str, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["campaign", str(csv_file), "--body", "Hi", "--campaign-id", "x"]
    cases = [
        ([*base, "--enqueue-only"], "--enqueue-only needs --redis"),
        ([*base, "--redis", redis_url], "--redis goes with --enqueue-only"),
        ([*base, "--redis", redis_url, "--enqueue-only", "--simulate"], "sinch-async serve"),
        ([*base, "--redis", redis_url, "--enqueue-only", "--dry-run"], "--dry-run"),
        ([*base, "--redis", redis_url, "--enqueue-only", "--resume"], "continues"),
        (["campaign", str(csv_file), "--body", "Hi", "--redis", redis_url, "--enqueue-only"],
         "needs --campaign-id"),
        (["worker", "--redis", redis_url, "--campaign-id", "nope"], "no campaign 'nope'"),
        (["--simulate", "worker", "--redis", redis_url, "--campaign-id", "x"], "--simulate"),
        (["campaign-status", "--redis", redis_url, "--campaign-id", "nope"], "no campaign"),
    ]  # fmt: skip
    for argv, message in cases:
        capsys.readouterr()
        env = {"SINCH_SERVICE_PLAN_ID": "p", "SINCH_API_TOKEN": "t"} if "worker" in argv else {}
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            assert await acli(*argv) == 2, argv
        assert message in capsys.readouterr().err, argv


async def test_the_producer_refuses_another_definition(
    redis_url: str, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await acli(*producer(csv_file, redis_url, "def")) == 0
    capsys.readouterr()
    argv = producer(csv_file, redis_url, "def")
    argv[argv.index("Hi ${name}")] = "Hello ${name}"
    assert await acli(*argv) == 2
    assert "another definition" in capsys.readouterr().err


async def test_an_unreachable_redis_exits_1_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests._redis import free_port

    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    assert await acli("campaign-status", "--redis", url, "--campaign-id", "x") == 1
    err = capsys.readouterr().err
    assert "cannot reach Redis at redis://:***@127.0.0.1:" in err
    assert "hunter2" not in err


def test_safe_url_hides_only_the_password() -> None:
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert safe_url("rediss://user:pw@host:6380/1") == "rediss://user:***@host:6380/1"
    assert safe_url("redis://:pw@[::1]:6379") == "redis://:***@[::1]:6379"


# --- the example ---------------------------------------------------------------------------------


def test_the_example_runs_end_to_end() -> None:
    require_server_binary()  # the example starts its own private Redis, found the same way
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "distributed_campaign.py"), "--recipients", "20000"],
        capture_output=True,
        text=True,
        timeout=240,
        env=sinch_env(),
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "SIGKILL" in done.stdout
    assert "worker-1: exit -9" in done.stdout
    assert "VERDICT:   every one of the 20,000 valid recipients texted exactly once" in done.stdout
    assert "sent 20,000 in 80 batches" in done.stdout
