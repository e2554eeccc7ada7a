"""Benchmarks for sinch_async. Figures go in the README; timings never go in the test suite.

    python benchmarks/run.py                 # everything, full size
    python benchmarks/run.py simulator       # how fast the simulator serves sends
    python benchmarks/run.py ratelimit       # requests_per_second / messages_per_second accuracy
    python benchmarks/run.py redis           # CPU per send: RedisRateLimiter vs RateLimiter
    python benchmarks/run.py campaign        # RedisCampaign (1 producer, 2 workers) vs fan_out
    python benchmarks/run.py --smoke         # tiny sizes, for CI: checks the benchmarks run

Each section prints a Markdown table. Servers run in a child process pinned to
CPU core 0; the load generator runs here (pinned to core 1 when there are two).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import aiohttp
from _server import fast_server_process, simulator_process
from telemetry import telemetry_section

from sinch_async import AsyncSmsClient, RequestEvent

PLAN, TOKEN = "sim-plan", "sim-token"
SEND = b'{"to":["+15550000001"],"body":"Hello from the benchmark"}'


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}"
    )


async def run_concurrently(n: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> float:
    """Run ``one()`` n times with ``concurrency`` workers; return elapsed seconds."""
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


# --- 1. the simulator's throughput -------------------------------------------------------


async def simulator_section(smoke: bool) -> str:
    n = 300 if smoke else 20_000
    repeats = 1 if smoke else 3
    rows = []
    with simulator_process() as server:
        url = f"{server.url}/xms/v1/{PLAN}/batches"
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

            async def one() -> None:
                async with session.post(url, data=SEND) as resp:
                    await resp.read()
                    if resp.status != 201:
                        raise RuntimeError(f"unexpected status {resp.status}")

            await run_concurrently(min(n, 500), 64, one)  # warm up
            for _ in range(repeats):
                cpu_before = server.cpu_seconds()
                elapsed = await run_concurrently(n, 64, one)
                cpu = server.cpu_seconds() - cpu_before
                rows.append((n / elapsed, cpu / n * 1e6, cpu / elapsed))
    rate = statistics.median(r[0] for r in rows)
    cpu_us = statistics.median(r[1] for r in rows)
    busy = statistics.median(r[2] for r in rows)
    return "\n".join(
        [
            f"Simulator: {n:,} single-recipient POST /batches, 64 concurrent, "
            f"median of {repeats} (server pinned to one core)",
            "",
            "| sends/s served | server CPU per send | server core busy |",
            "|---:|---:|---:|",
            f"| {rate:,.0f} | {cpu_us:,.0f} µs | {busy:.0%} |",
        ]
    )


# --- 2. rate limiter accuracy -------------------------------------------------------------


def max_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any sliding window of ``window`` seconds."""
    best = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def ratelimit_section(smoke: bool) -> str:
    duration = 1.0 if smoke else 10.0
    target = 200.0
    lines = []
    with simulator_process() as server:
        starts: list[float] = []

        def on_request(event: RequestEvent) -> None:
            starts.append(time.monotonic())

        async with AsyncSmsClient(
            service_plan_id=PLAN,
            api_token=TOKEN,
            base_url=server.url,
            requests_per_second=target,
            on_request=on_request,
        ) as sms:
            stop_at = time.monotonic() + duration

            async def rps_worker() -> None:
                while time.monotonic() < stop_at:
                    await sms.batches.send(["+15550000001"], "rate test")

            await asyncio.gather(*(rps_worker() for _ in range(32)))
        inside = [t for t in starts if t <= stop_at]
        achieved = (len(inside) - 1) / (inside[-1] - inside[0])
        lines += [
            f"requests_per_second={target:.0f} for {duration:.0f} s, 32 concurrent senders",
            "",
            "| target | achieved | deviation | busiest 1-s window |",
            "|---:|---:|---:|---:|",
            f"| {target:.0f}/s | {achieved:.1f}/s | {100 * (achieved / target - 1):+.2f}% "
            f"| {max_window(inside)} requests |",
            "",
        ]

        # messages_per_second with mixed 1- and 1000-recipient sends
        mps = 5000.0
        big_waits: list[float] = []
        small_waits: list[float] = []
        sent_messages: list[tuple[float, int]] = []
        async with AsyncSmsClient(
            service_plan_id=PLAN, api_token=TOKEN, base_url=server.url, messages_per_second=mps
        ) as sms:
            stop_at = time.monotonic() + duration
            big_to = [f"+1555{i:07d}" for i in range(1000)]

            async def mixed_worker(big: bool) -> None:
                to = big_to if big else ["+15550000001"]
                while time.monotonic() < stop_at:
                    asked = time.monotonic()
                    await sms.batches.send(to, "pacing test")
                    done = time.monotonic()
                    (big_waits if big else small_waits).append(done - asked)
                    sent_messages.append((done, len(to)))

            await asyncio.gather(
                *(mixed_worker(big=True) for _ in range(4)),
                *(mixed_worker(big=False) for _ in range(16)),
            )
        total = sum(n for _, n in sent_messages)
        span = max(t for t, _ in sent_messages) - (stop_at - duration)
        bigs = sum(1 for _, n in sent_messages if n == 1000)
        smalls = sum(1 for _, n in sent_messages if n == 1)
        lines += [
            f"messages_per_second={mps:.0f} for {duration:.0f} s: 4 senders of 1000-recipient "
            "batches and 16 senders of 1-recipient batches at once",
            "",
            "| target | achieved | 1000-recipient sends | 1-recipient sends "
            "| longest wait, big send | longest wait, small send |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {mps:,.0f} msg/s | {total / span:,.0f} msg/s | {bigs} | {smalls} "
            f"| {max(big_waits, default=0):.2f} s | {max(small_waits, default=0):.2f} s |",
        ]
    return "\n".join(lines)


# --- 3. fan-out of a million recipients ------------------------------------------------


async def fanout_child(n: int, url: str) -> None:
    """Run in a fresh process so that its peak RSS is the fan-out's own."""
    import json
    import resource

    def recipients() -> Iterator[tuple[str, dict[str, str]]]:
        for i in range(n):
            yield f"+1555{i:07d}", {"name": f"Customer {i}"}

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    async with AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, base_url=url) as sms:
        started = time.perf_counter()
        report = await sms.batches.fan_out(
            recipients(), "Hi ${name}, your code is 1234", campaign_id="bench", concurrency=8
        )
        elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "sent": report.sent,
                "batches": len(report.batches),
                "complete": report.complete,
                "rate": n / elapsed,
                "elapsed": elapsed,
                "peak_mb": peak,
                "base_mb": base_rss,
            }
        )
    )


async def fanout_section(smoke: bool) -> str:
    import json

    n = 20_000 if smoke else 1_000_000
    with fast_server_process() as server:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--fanout-child",
            str(n),
            server.url,
            stdout=asyncio.subprocess.PIPE,
        )
        stdout, _ = await child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"fan-out child failed with exit code {child.returncode}")
        out = stdout.decode()
    result = json.loads(out.strip().splitlines()[-1])
    if not result["complete"] or result["sent"] != n:
        raise RuntimeError(f"fan-out incomplete: {result}")
    return "\n".join(
        [
            f"fan_out of {n:,} personalised recipients from a generator (1000 per batch, "
            "8 batches in flight, resume lookups on) against a minimal local server, "
            "in a fresh process",
            "",
            "| recipients/s | batches | elapsed | peak RSS (whole process) | RSS after imports |",
            "|---:|---:|---:|---:|---:|",
            f"| {result['rate']:,.0f} | {result['batches']:,} | {result['elapsed']:.1f} s "
            f"| {result['peak_mb']:.0f} MB | {result['base_mb']:.0f} MB |",
        ]
    )


# --- 4. the client stack against raw aiohttp, side by side ------------------------------


async def _raw_sends(url: str, n: int, concurrency: int, body: bytes) -> tuple[float, float]:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        target = f"{url}/xms/v1/{PLAN}/batches"

        async def one() -> None:
            async with session.post(target, data=body) as resp:
                await resp.read()
                if resp.status != 201:
                    raise RuntimeError(f"status {resp.status}")

        await run_concurrently(200, concurrency, one)  # warm-up: connections
        cpu = time.process_time()
        elapsed = await run_concurrently(n, concurrency, one)
        return elapsed, time.process_time() - cpu


async def _client_sends(url: str, n: int, concurrency: int, to: list[str]) -> tuple[float, float]:
    async with AsyncSmsClient(
        service_plan_id=PLAN, api_token=TOKEN, base_url=url, requests_per_second=1_000_000
    ) as sms:

        async def one() -> None:
            await sms.batches.send(to, "Hello from the benchmark")

        await run_concurrently(200, concurrency, one)
        cpu = time.process_time()
        elapsed = await run_concurrently(n, concurrency, one)
        return elapsed, time.process_time() - cpu


async def _raw_list(url: str, total: int) -> float:
    import json

    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:
        started = time.perf_counter()
        seen = 0
        page = 0
        while seen < total:
            async with session.get(
                f"{url}/xms/v1/{PLAN}/batches", params={"page": page, "page_size": 100}
            ) as resp:
                data = json.loads(await resp.read())
            seen += len(data["batches"])
            if not data["batches"]:
                break
            page += 1
        return time.perf_counter() - started


async def _client_list(url: str, total: int) -> float:
    async with AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, base_url=url) as sms:
        started = time.perf_counter()
        seen = 0
        async for _ in sms.batches.list(page_size=100):
            seen += 1
        if seen != total:
            raise RuntimeError(f"listed {seen}, expected {total}")
        return time.perf_counter() - started


def _codec_cost(repeats: int) -> tuple[float, float]:
    import msgspec

    from sinch_async._codec import decoder_for, encode
    from sinch_async.models import TextRequest
    from sinch_async.models.batches import KnownBatch

    to = [f"+1555{i:07d}" for i in range(1000)]
    params = {"name": {n: f"Customer {i}" for i, n in enumerate(to)}, "default": {}}
    request = TextRequest(to=to, body="Hi ${name}", parameters=params)
    response = msgspec.json.encode({"id": "01X", "type": "mt_text", **msgspec.to_builtins(request)})
    decoder = decoder_for(KnownBatch)
    started = time.perf_counter()
    for _ in range(repeats):
        encode(request)
    enc = (time.perf_counter() - started) / repeats
    started = time.perf_counter()
    for _ in range(repeats):
        decoder.decode(response)
    dec = (time.perf_counter() - started) / repeats
    return enc * 1e6, dec * 1e6


def _reset_peak_rss() -> None:
    """Start a new peak-RSS measurement (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    """Peak RSS since the last reset (or since the start, where it cannot be reset)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class _Side:
    """One side's measurements, one entry per round."""

    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    big: list[float] = field(default_factory=list)
    listing: list[float] = field(default_factory=list)


async def _round(kind: str, url: str, n: int, big_n: int, list_total: int, side: _Side) -> None:
    small_body = msgspec_json({"to": ["+15550000001"], "body": "Hello from the benchmark"})
    big_to = [f"+1555{i:07d}" for i in range(1000)]
    big_body = msgspec_json({"to": big_to, "body": "Hello from the benchmark"})
    _reset_peak_rss()
    if kind == "raw":
        elapsed, cpu = await _raw_sends(url, n, 64, small_body)
    else:
        elapsed, cpu = await _client_sends(url, n, 64, ["+15550000001"])
    side.peak_mb.append(_peak_rss_mb())
    side.rps.append(n / elapsed)
    side.cpu_us.append(cpu / n * 1e6)
    if kind == "raw":
        elapsed, _cpu = await _raw_sends(url, big_n, 8, big_body)
        side.listing.append(list_total / await _raw_list(url, list_total))
    else:
        elapsed, _cpu = await _client_sends(url, big_n, 8, big_to)
        side.listing.append(list_total / await _client_list(url, list_total))
    side.big.append(big_n * 1000 / elapsed)


def _paired(client: list[float], raw: list[float]) -> float:
    """The median of the per-round ratios: each round's two sides ran back to back."""
    return statistics.median(c / r for c, r in zip(client, raw, strict=True))


async def client_section(smoke: bool) -> str:
    n = 500 if smoke else 5000
    rounds = 1 if smoke else 9
    big_n = 5 if smoke else 50
    list_total = 10_000
    raw, client = _Side(), _Side()
    with fast_server_process() as server:
        for index in range(rounds):
            # Alternate the order so that neither side always runs on a warmer machine.
            order = ("raw", "client") if index % 2 == 0 else ("client", "raw")
            for kind in order:
                side = raw if kind == "raw" else client
                await _round(kind, server.url, n, big_n, list_total, side)
        sdk = await _sdk_reference(server.url, 100 if smoke else 2000)
    med = statistics.median
    enc, dec = _codec_cost(50 if smoke else 500)
    loop_name = type(asyncio.get_running_loop()).__module__.split(".")[0]
    lines = [
        f"sinch_async (retry on, rate limiter configured high enough not to bind) vs raw "
        f"aiohttp, event loop: {loop_name}. {rounds} rounds, each running both sides back to "
        "back (order alternating); figures are medians over the rounds, ratios the median of "
        "the per-round ratios.",
        "",
        "| measurement | raw aiohttp | sinch_async | ratio |",
        "|---|---:|---:|---:|",
        f"| {n:,} single-recipient sends, 64 concurrent | {med(raw.rps):,.0f}/s "
        f"| {med(client.rps):,.0f}/s | {_paired(client.rps, raw.rps):.2f} |",
        f"| client CPU per send | {med(raw.cpu_us):,.0f} µs | {med(client.cpu_us):,.0f} µs "
        f"| {_paired(client.cpu_us, raw.cpu_us):.2f} |",
        f"| peak RSS of the process during those sends | {med(raw.peak_mb):.0f} MB "
        f"| {med(client.peak_mb):.0f} MB | {_paired(client.peak_mb, raw.peak_mb):.2f} |",
        f"| {big_n} sends of 1000 recipients, 8 concurrent | {med(raw.big) / 1e6:.1f} M "
        f"recipients/s | {med(client.big) / 1e6:.1f} M recipients/s "
        f"| {_paired(client.big, raw.big):.2f} |",
        f"| listing {list_total:,} batches, 100 per page | {med(raw.listing):,.0f} items/s "
        f"| {med(client.listing):,.0f} items/s | {_paired(client.listing, raw.listing):.2f} |",
        "",
        f"Encoding a 1000-recipient batch with per-recipient parameters: {enc:,.0f} µs; "
        f"decoding its response: {dec:,.0f} µs.",
    ]
    if sdk is None:
        lines.append(
            "The official `sinch` SDK is not installed (`pip install sinch`): no reference row."
        )
    else:
        rps, cpu_us, version = sdk
        lines.append(
            f"Reference: the official `sinch` SDK {version} (sync; 64 threads, the same server): "
            f"{rps:,.0f} sends/s ({rps / med(raw.rps):.2f} of raw aiohttp), {cpu_us:,.0f} µs "
            "of client CPU per send."
        )
    return "\n".join(lines)


async def _sdk_reference(url: str, n: int) -> tuple[float, float, str] | None:
    """The official SDK's sends/s and CPU per send, in a child process, if it is installed."""
    import importlib.util
    import json

    if importlib.util.find_spec("sinch") is None:
        return None
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--sdk-child", url, str(n), stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the sinch SDK run failed with exit code {child.returncode}")
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    return result["rps"], result["cpu_us"], result["version"]


def sdk_child(url: str, n: int) -> None:
    """Single-recipient sends with the official sync SDK from 64 threads."""
    import json
    from concurrent.futures import ThreadPoolExecutor
    from importlib.metadata import version

    from sinch import SinchClient  # type: ignore[import-not-found, unused-ignore]

    sdk = SinchClient(service_plan_id=PLAN, sms_api_token=TOKEN, sms_region="us")
    sdk.configuration.sms_origin_with_service_plan_id = url

    def one(_: int) -> None:
        sdk.sms.batches.send_sms(
            to=["+15550000001"], from_="Bench", body="Hello from the benchmark"
        )

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(one, range(200)))  # warm-up: connections
        cpu = time.process_time()
        started = time.perf_counter()
        list(pool.map(one, range(n)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    result = {"rps": n / elapsed, "cpu_us": cpu / n * 1e6, "version": version("sinch")}
    print(json.dumps(result))


# --- 5. the Redis rate limiter against the in-process one ----------------------------------


async def _limited_sends(
    url: str, n: int, limiter: object, concurrency: int = 64
) -> tuple[float, float]:
    """``n`` single-recipient sends, ``concurrency`` at a time, through ``limiter``:
    (seconds, CPU seconds)."""
    async with AsyncSmsClient(
        service_plan_id=PLAN,
        api_token=TOKEN,
        base_url=url,
        rate_limiter=limiter,  # type: ignore[arg-type]
    ) as sms:

        async def one() -> None:
            await sms.batches.send(["+15550000001"], "Hello from the benchmark")

        await run_concurrently(200, concurrency, one)
        cpu = time.process_time()
        elapsed = await run_concurrently(n, concurrency, one)
        return elapsed, time.process_time() - cpu


async def redis_section(smoke: bool) -> str:
    """Client CPU per send with ``RedisRateLimiter`` against ``RateLimiter``, both at a rate
    that does not bind, side by side; the Redis server runs pinned to core 0."""
    try:
        from sinch_async.redis import RedisRateLimiter
        from tests._redis import NoRedisServer, RedisServer
    except ImportError as exc:
        return f"Redis section skipped: {exc} (pip install -e '.[dev]')"
    from sinch_async import RateLimiter

    n = 300 if smoke else 5000
    rounds = 1 if smoke else 7
    cases = {64: n, 1: n // 5}  # concurrency: sends
    cpu: dict[tuple[str, int], list[float]] = {}
    rps: dict[tuple[str, int], list[float]] = {}
    calls: dict[int, list[float]] = {}
    try:
        redis_server = RedisServer()
    except NoRedisServer as exc:
        return f"Redis section skipped: {exc}"
    with fast_server_process() as server, redis_server:
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(redis_server.pid, {0})
        for index in range(rounds):
            order = ("local", "redis") if index % 2 == 0 else ("redis", "local")
            for concurrency, count in cases.items():
                for kind in order:
                    limiter: RateLimiter | RedisRateLimiter
                    if kind == "local":
                        limiter = RateLimiter(requests_per_second=1_000_000)
                    else:
                        key = f"bench-{index}-{concurrency}"
                        limiter = RedisRateLimiter(
                            redis_server.url, key, requests_per_second=1_000_000
                        )
                    elapsed, used = await _limited_sends(server.url, count, limiter, concurrency)
                    if isinstance(limiter, RedisRateLimiter):
                        calls.setdefault(concurrency, []).append(
                            limiter.redis_calls / (count + 200)
                        )
                        await limiter.aclose()
                    cpu.setdefault((kind, concurrency), []).append(used / count * 1e6)
                    rps.setdefault((kind, concurrency), []).append(count / elapsed)
    med = statistics.median
    lines = [
        "`RedisRateLimiter` against the in-process `RateLimiter`, both at 1,000,000 "
        f"requests/s (not binding), single-recipient sends, {rounds} rounds alternating the "
        "two; medians, ratios the median of the per-round ratios. Requests that arrive while "
        "a booking is on its way are booked together by the next call.",
        "",
        "| measurement | RateLimiter | RedisRateLimiter | ratio |",
        "|---|---:|---:|---:|",
    ]
    for concurrency, count in cases.items():
        local_cpu, redis_cpu = cpu[("local", concurrency)], cpu[("redis", concurrency)]
        local_rps, redis_rps = rps[("local", concurrency)], rps[("redis", concurrency)]
        what = f"{count:,} sends, {concurrency} concurrent"
        lines += [
            f"| {what}: client CPU per send | {med(local_cpu):,.0f} µs "
            f"| {med(redis_cpu):,.0f} µs | {_paired(redis_cpu, local_cpu):.2f} |",
            f"| {what}: sends per second | {med(local_rps):,.0f}/s "
            f"| {med(redis_rps):,.0f}/s | {_paired(redis_rps, local_rps):.2f} |",
            f"| {what}: Redis calls per request | 0 | {med(calls[concurrency]):.2f} | |",
        ]
    return "\n".join(lines)


# --- 6. a campaign across processes (RedisCampaign) against one in-process fan_out --------


def _peak_rss_of_process_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss would count the parent's)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _peak_rss_mb()


async def campaign_child(role: str, n: int, url: str, redis_url: str) -> None:
    """A producer or a worker of the benchmark campaign, in a fresh process."""
    import json

    from redis.asyncio import Redis

    from sinch_async.redis import CampaignError, RedisCampaign

    redis = Redis.from_url(redis_url)
    started = time.perf_counter()
    handled = 0
    if role == "producer":

        def recipients() -> Iterator[tuple[str, dict[str, str]]]:
            for i in range(n):
                yield f"+1555{i:07d}", {"name": f"Customer {i}"}

        campaign = await RedisCampaign.create(redis, "bench", "Hi ${name}, your code is 1234")
        await campaign.enqueue(recipients())
    else:
        while True:
            try:
                campaign = await RedisCampaign.open(redis, "bench")
                break
            except CampaignError:
                await asyncio.sleep(0.05)
        async with AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, base_url=url) as sms:
            handled = await campaign.run_worker(sms, concurrency=8)
    elapsed = time.perf_counter() - started
    peak = _peak_rss_of_process_mb()
    await redis.aclose()
    print(json.dumps({"role": role, "elapsed": elapsed, "peak_mb": peak, "chunks": handled}))


async def _child_json(*args: str) -> dict[str, object]:
    import json

    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE
    )
    if hasattr(os, "sched_setaffinity"):  # every core: using more than one is the point
        os.sched_setaffinity(child.pid, range(os.cpu_count() or 1))
    stdout, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"{args[0]} child failed with exit code {child.returncode}")
    result: dict[str, object] = json.loads(stdout.decode().strip().splitlines()[-1])
    return result


async def campaign_section(smoke: bool) -> str:
    """1 producer and 2 workers on one Redis, against one in-process ``fan_out``; the same
    minimal server, run one after the other, every child process free to use every core
    (the server and Redis stay pinned to core 0)."""
    try:
        from redis.asyncio import Redis

        from sinch_async.redis import RedisCampaign
        from tests._redis import NoRedisServer, RedisServer
    except ImportError as exc:
        return f"Campaign section skipped: {exc} (pip install -e '.[dev]')"
    n = 20_000 if smoke else 1_000_000
    try:
        redis_server = RedisServer()
    except NoRedisServer as exc:
        return f"Campaign section skipped: {exc}"
    with fast_server_process() as server, redis_server:
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(redis_server.pid, {0})
        single = await _child_json("--fanout-child", str(n), server.url)
        started = time.perf_counter()
        roles = ("producer", "worker", "worker")
        results = await asyncio.gather(
            *(
                _child_json("--campaign-child", role, str(n), server.url, redis_server.url)
                for role in roles
            )
        )
        elapsed = time.perf_counter() - started
        redis = Redis.from_url(redis_server.url)
        report = await (await RedisCampaign.open(redis, "bench")).report()
        await redis.aclose()
    if report.sent != n or not report.complete:
        raise RuntimeError(f"campaign incomplete: {report.summary()}")
    rows = [
        f"| in-process `fan_out` | 1 | {float(str(single['rate'])):,.0f} "
        f"| {float(str(single['peak_mb'])):.0f} MB |",
        f"| `RedisCampaign`: 1 producer + 2 workers | 3 | {n / elapsed:,.0f} | "
        + ", ".join(f"{r['role']} {float(str(r['peak_mb'])):.0f} MB" for r in results)
        + " |",
    ]
    return "\n".join(
        [
            f"{n:,} personalised recipients (1000 per batch, 8 batches in flight per process) "
            "against a minimal local server (pinned to core 0 with Redis); each run's processes "
            "may use every core. The campaign's time runs from starting its three processes to "
            "the last worker's return (enqueue and sending overlap).",
            "",
            "| run | processes | recipients/s | peak RSS per process |",
            "|---|---:|---:|---|",
            *rows,
        ]
    )


def msgspec_json(value: object) -> bytes:
    import msgspec

    return msgspec.json.encode(value)


SECTIONS = {
    "client": client_section,
    "simulator": simulator_section,
    "ratelimit": ratelimit_section,
    "fanout": fanout_section,
    "redis": redis_section,
    "campaign": campaign_section,
    "telemetry": telemetry_section,
}


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("sections", nargs="*", help=f"any of: {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument(
        "--no-uvloop", action="store_true", help="skip the uvloop rerun of the client section"
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    chosen = args.sections or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    print(f"Machine: {machine()}\n")
    for name in chosen:
        print(await SECTIONS[name](args.smoke))
        print()
        if name == "client" and not args.no_uvloop:
            print(await uvloop_rerun(args.smoke))
            print()
    return 0


async def uvloop_rerun(smoke: bool) -> str:
    """The client section again in a child process on uvloop, when uvloop is installed."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "uvloop is not installed (pip install 'sinch_async[uvloop]'): no uvloop run."
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--uvloop-child",
        "smoke" if smoke else "full",
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError("uvloop run failed")
    return stdout.decode().strip()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--uvloop-child":
        import uvloop

        print(uvloop.run(client_section(sys.argv[2] == "smoke")))
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "--sdk-child":
        sdk_child(sys.argv[2], int(sys.argv[3]))
        sys.exit(0)
    if len(sys.argv) == 6 and sys.argv[1] == "--campaign-child":
        asyncio.run(campaign_child(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]))
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "--fanout-child":
        asyncio.run(fanout_child(int(sys.argv[2]), sys.argv[3]))
        sys.exit(0)
    sys.exit(asyncio.run(main()))
