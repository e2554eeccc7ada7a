"""Webhook stores on Redis (sinch_async.redis: RedisNonceCache, RedisSeenStore) against a real
private Redis server (tests/_redis.py), plus the claim/commit/release and async replay guard
machinery they plug into (sinch_async.webhooks).

Two receiver processes sharing one Redis run a handler once per callback; a failed handler
releases its claim so that Sinch's retry runs it; Redis stopped means 503 with one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio
from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sinch_async.redis import RedisNonceCache, RedisSeenStore
from sinch_async.webhooks import (
    CallbackInProgressError,
    Deduplicator,
    MemorySeenStore,
    NonceCache,
    WebhookEvent,
    WebhookStoreError,
    event_key,
    handle_webhook,
    parse_callback,
    sign_headers,
    sinch_webhook_handler,
    verify_signature,
)
from tests._redis import RedisServer
from tests.conftest import serve

SECRET = "redis-webhook-secret"
PHONE = "+46700000001"
LOGGER = "sinch_async.webhooks"


def mo_text(id_: str = "01MO0000000000000000000001") -> bytes:
    return json.dumps(
        {
            "type": "mo_text",
            "id": id_,
            "from": PHONE,
            "to": "12345",
            "body": "hello",
            "received_at": "2025-01-13T09:22:40.914Z",
        }
    ).encode()


def recipient_report() -> bytes:
    return json.dumps(
        {
            "type": "recipient_delivery_report_sms",
            "batch_id": "01FC66621XXXXX119Z8PMV1QPQ",
            "recipient": PHONE,
            "code": 0,
            "status": "Delivered",
            "at": "2025-01-13T09:22:40.914Z",
        }
    ).encode()


def no_retry_client(url: str) -> redis.asyncio.Redis:
    """A client that gives up at once when Redis is down (the default retries for seconds)."""
    return redis.asyncio.Redis.from_url(
        url, retry=Retry(NoBackoff(), 1), socket_connect_timeout=2, socket_timeout=5
    )


class Recorder:
    """An ``on_event`` recording calls; ``fail`` makes the next calls raise."""

    def __init__(self, *, hold: float = 0.0) -> None:
        self.calls = 0
        self.fail = 0
        self.hold = hold

    async def __call__(self, event: WebhookEvent) -> None:
        self.calls += 1
        if self.hold:
            await asyncio.sleep(self.hold)
        if self.fail:
            self.fail -= 1
            raise RuntimeError("handler down")


@contextlib.asynccontextmanager
async def receiver(on_event: Any, **kwargs: Any) -> AsyncIterator[str]:
    async with serve([web.post("/cb", sinch_webhook_handler(SECRET, on_event, **kwargs))]) as url:
        yield url + "/cb"


async def post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, await response.json()


def warnings_and_worse(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


# -- the replay guard -------------------------------------------------------------------------


async def test_replay_refused_across_two_nonce_caches(redis_url: str) -> None:
    first, second = no_retry_client(redis_url), no_retry_client(redis_url)
    try:
        guard_a, guard_b = RedisNonceCache(first), RedisNonceCache(second)
        body = mo_text()
        headers = sign_headers(body, SECRET, nonce="nonce-1")
        recorder = Recorder()
        ok = await handle_webhook(body, headers, SECRET, recorder, replay_guard=guard_a)
        assert ok.status == 200
        replayed = await handle_webhook(body, headers, SECRET, recorder, replay_guard=guard_b)
        assert (replayed.status, json.loads(replayed.body)["reason"]) == (401, "replayed_nonce")
        assert recorder.calls == 1

        # The key carries the prefix and expires: ttl + (timestamp ahead of now, capped).
        assert await first.keys("*") == [b"sinch:webhook:nonce:nonce-1"]
        ttl = await first.pttl("sinch:webhook:nonce:nonce-1")
        assert 0 < ttl <= 600_000
        # Only a correctly signed callback consumes a nonce.
        forged = dict(sign_headers(body, "another-secret", nonce="nonce-2"))
        bad = await handle_webhook(body, forged, SECRET, recorder, replay_guard=guard_a)
        assert bad.status == 401
        assert await first.exists("sinch:webhook:nonce:nonce-2") == 0
    finally:
        await first.aclose()
        await second.aclose()


async def test_nonce_lifetime_follows_the_signed_timestamp(
    redis_client: redis.asyncio.Redis,
) -> None:
    guard = RedisNonceCache(redis_client, prefix="p:", ttl=100)
    assert await guard.check_and_add("now", timestamp=1000.0, now=1000.0)
    assert await guard.check_and_add("ahead", timestamp=1050.0, now=1000.0)
    assert await guard.check_and_add("far", timestamp=9_000_000.0, now=1000.0)
    assert not await guard.check_and_add("now", timestamp=1000.0, now=1000.0)
    assert 90_000 < await redis_client.pttl("p:now") <= 100_000
    assert 140_000 < await redis_client.pttl("p:ahead") <= 150_000
    assert 190_000 < await redis_client.pttl("p:far") <= 200_000  # capped at 2 * ttl
    await guard.discard("now")
    assert await guard.check_and_add("now", timestamp=1000.0, now=1000.0)
    assert repr(guard) == "RedisNonceCache(prefix='p:', ttl=100)"


async def test_verify_signature_refuses_an_async_guard(redis_client: redis.asyncio.Redis) -> None:
    body = mo_text()
    guard: Any = RedisNonceCache(redis_client)
    with pytest.raises(TypeError, match="async replay guard"):
        verify_signature(body, sign_headers(body, SECRET), SECRET, replay_guard=guard)
    assert await redis_client.dbsize() == 0


async def test_a_sync_guard_still_works_through_handle_webhook() -> None:
    body = mo_text()
    headers = sign_headers(body, SECRET)
    guard = NonceCache()
    assert (
        await handle_webhook(body, headers, SECRET, Recorder(), replay_guard=guard)
    ).status == 200
    assert (
        await handle_webhook(body, headers, SECRET, Recorder(), replay_guard=guard)
    ).status == 401


# -- the de-duplication store ----------------------------------------------------------------


async def test_seen_store_claim_commit_release(redis_client: redis.asyncio.Redis) -> None:
    store = RedisSeenStore(redis_client, claim_ttl=30)
    key = event_key(parse_callback(recipient_report()))
    assert await store.claim(key, "a") == "claimed"
    assert await store.claim(key, "b") == "busy"
    assert not await store.contains(key)
    await store.release(key, "b")  # not b's claim: kept
    assert await store.claim(key, "b") == "busy"
    await store.release(key, "a")
    assert await store.claim(key, "b") == "claimed"
    await store.commit(key, "b")
    assert await store.contains(key)
    assert await store.claim(key, "c") == "done"
    await store.release(key, "b")  # after the commit a release changes nothing
    assert await store.contains(key)

    # One key, with the prefix, a TTL of about 25 h, and no phone number in its name.
    (name,) = await redis_client.keys("*")
    assert name.startswith(b"sinch:webhook:seen:")
    assert PHONE[1:].encode() not in name
    assert 24 * 3600 < await redis_client.ttl(name) <= 25 * 3600


async def test_a_claim_expires_on_its_own(redis_client: redis.asyncio.Redis) -> None:
    store = RedisSeenStore(redis_client, claim_ttl=30)
    assert await store.claim("k", "a") == "claimed"
    assert 0 < await redis_client.pttl(store.key("k")) <= 30_000


async def test_a_failing_handler_releases_the_claim_and_the_retry_runs_it(
    redis_client: redis.asyncio.Redis,
) -> None:
    store = RedisSeenStore(redis_client)
    guard = RedisNonceCache(redis_client)
    recorder = Recorder()
    recorder.fail = 1
    body = mo_text()
    headers = sign_headers(body, SECRET)
    handler = Deduplicator(store).wrap(recorder)
    async with receiver(handler, replay_guard=guard) as url, aiohttp.ClientSession() as http:
        assert (await post(http, url, body, headers))[0] == 500
        assert recorder.calls == 1
        assert await redis_client.keys("*") == []  # claim released, nonce discarded
        # Sinch's retry (here with the same signature headers) runs the handler.
        assert await post(http, url, body, headers) == (200, {"status": "ok"})
        assert recorder.calls == 2
        # A later duplicate delivery (new nonce) answers 200 without running it.
        assert (await post(http, url, body, sign_headers(body, SECRET)))[0] == 200
        assert recorder.calls == 2
    for name in await redis_client.keys("*"):
        assert await redis_client.ttl(name) > 0


async def test_a_callback_claimed_elsewhere_answers_503_then_200(
    redis_client: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    other_pod = RedisSeenStore(redis_client)
    recorder = Recorder()
    body = mo_text()
    key = event_key(parse_callback(body))
    assert await other_pod.claim(key, "other") == "claimed"
    dedup = Deduplicator(RedisSeenStore(redis_client), busy_wait=0)
    async with receiver(dedup.wrap(recorder)) as url, aiohttp.ClientSession() as http:
        with caplog.at_level(logging.INFO):
            status, answer = await post(http, url, body, sign_headers(body, SECRET))
        assert (status, answer) == (503, {"error": "retry_later"})
        (record,) = warnings_and_worse(caplog)
        assert "503" in record.getMessage()
        assert record.exc_info is None
        assert recorder.calls == 0
        await other_pod.commit(key, "other")
        assert (await post(http, url, body, sign_headers(body, SECRET)))[0] == 200
        assert recorder.calls == 0


async def test_a_waiting_delivery_sees_the_other_commit_and_skips(
    redis_client: redis.asyncio.Redis,
) -> None:
    other_pod = RedisSeenStore(redis_client)
    event = parse_callback(mo_text())
    key = event_key(event)
    assert await other_pod.claim(key, "other") == "claimed"
    recorder = Recorder()
    dedup = Deduplicator(RedisSeenStore(redis_client), busy_wait=30)
    waiting = asyncio.create_task(dedup.process(event, recorder))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await other_pod.commit(key, "other")
    assert await asyncio.wait_for(waiting, 30) is False
    assert recorder.calls == 0


async def test_a_waiting_delivery_runs_the_handler_after_a_release(
    redis_client: redis.asyncio.Redis,
) -> None:
    other_pod = RedisSeenStore(redis_client)
    event = parse_callback(mo_text())
    key = event_key(event)
    assert await other_pod.claim(key, "other") == "claimed"
    recorder = Recorder()
    dedup = Deduplicator(RedisSeenStore(redis_client), busy_wait=30)
    waiting = asyncio.create_task(dedup.process(event, recorder))
    await asyncio.sleep(0.2)
    await other_pod.release(key, "other")
    assert await asyncio.wait_for(waiting, 30) is True
    assert recorder.calls == 1
    assert await other_pod.contains(key)


# -- Redis down ---------------------------------------------------------------------------------


@pytest.mark.parametrize("with_guard", [True, False], ids=["guard+dedup", "dedup"])
async def test_redis_stopped_answers_503_with_one_log_line(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, with_guard: bool
) -> None:
    client = no_retry_client(redis_server.url)
    recorder = Recorder()
    guard = RedisNonceCache(client) if with_guard else None
    handler = Deduplicator(RedisSeenStore(client)).wrap(recorder)
    body = mo_text()
    try:
        async with receiver(handler, replay_guard=guard) as url, aiohttp.ClientSession() as http:
            assert (await post(http, url, body, sign_headers(body, SECRET)))[0] == 200
            redis_server.stop()
            caplog.clear()
            with caplog.at_level(logging.INFO):
                retry = mo_text("01MO2")
                status, answer = await post(http, url, retry, sign_headers(retry, SECRET))
            assert (status, answer) == (503, {"error": "retry_later"})
            (record,) = warnings_and_worse(caplog)
            assert record.name == LOGGER
            assert record.exc_info is None
            message = record.getMessage()
            assert "503" in message
            assert "Redis" in message
            assert SECRET not in message
            assert PHONE not in message
            assert recorder.calls == 1  # never a silent skip: the handler did not run

            # Redis back: the same receiver handles the retry.
            redis_server.start()
            assert (await post(http, url, retry, sign_headers(retry, SECRET)))[0] == 200
            assert recorder.calls == 2
    finally:
        await client.aclose()


async def test_seen_store_down_answers_503_and_frees_the_nonce_for_the_retry(
    redis_server: RedisServer, redis_client: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # The replay guard's Redis is up, the de-duplication store's Redis is down.
    with RedisServer(redis_server.binary) as seen_server:
        seen_client = no_retry_client(seen_server.url)
        seen_server.stop()
        try:
            recorder = Recorder()
            handler = Deduplicator(RedisSeenStore(seen_client)).wrap(recorder)
            body = mo_text()
            headers = sign_headers(body, SECRET)
            guard = RedisNonceCache(redis_client)
            async with (
                receiver(handler, replay_guard=guard) as url,
                aiohttp.ClientSession() as http,
            ):
                with caplog.at_level(logging.INFO):
                    assert (await post(http, url, body, headers))[0] == 503
                (record,) = warnings_and_worse(caplog)
                assert record.exc_info is None
                assert "claim" in record.getMessage()
                assert recorder.calls == 0
                assert await redis_client.keys("*") == []  # the retry is not a replay
                seen_server.start()
                assert (await post(http, url, body, headers))[0] == 200
                assert recorder.calls == 1
        finally:
            await seen_client.aclose()


async def test_store_errors_are_webhook_store_errors_without_credentials(
    redis_server: RedisServer,
) -> None:
    url = redis_server.url.replace("redis://", "redis://user:hunter2@")
    client = no_retry_client(url)
    redis_server.stop()
    try:
        for call in (
            RedisSeenStore(client).claim("k", "t"),
            RedisSeenStore(client).contains("k"),
            RedisNonceCache(client).check_and_add("n", timestamp=1.0, now=1.0),
        ):
            with pytest.raises(WebhookStoreError) as caught:
                await call
            assert "hunter2" not in str(caught.value)
    finally:
        await client.aclose()


# -- the in-memory store implements the same claims ---------------------------------------------


async def test_memory_store_claims_make_two_deduplicators_share_it() -> None:
    store = MemorySeenStore()
    first, second = Deduplicator(store), Deduplicator(store, busy_wait=0)
    event = parse_callback(mo_text())
    recorder = Recorder(hold=0.2)
    running = asyncio.create_task(first.process(event, recorder))
    await asyncio.sleep(0.05)
    with pytest.raises(CallbackInProgressError):
        await second.process(event, recorder)
    assert await running is True
    assert await second.process(event, recorder) is False
    assert recorder.calls == 1
    assert store._claims == {}

    failing = Recorder()
    failing.fail = 1
    other = parse_callback(mo_text("01MO3"))
    with pytest.raises(RuntimeError):
        await first.process(other, failing)
    assert store._claims == {}  # released
    assert await second.process(other, failing) is True


def test_deduplicator_rejects_a_negative_busy_wait() -> None:
    with pytest.raises(ValueError, match="busy_wait"):
        Deduplicator(busy_wait=-1)


# -- two processes, one Redis ------------------------------------------------------------------

_RECEIVER_PROCESS = """
import asyncio, os, sys
import redis.asyncio
from aiohttp import web
from sinch_async.redis import RedisSeenStore
from sinch_async.webhooks import Deduplicator, sinch_webhook_handler

async def main(url, secret, hold, busy_wait):
    client = redis.asyncio.Redis.from_url(url)

    async def on_event(event):
        await client.incr("test:handled")
        await client.rpush("test:handled_by", os.getpid())
        await asyncio.sleep(hold)

    dedup = Deduplicator(RedisSeenStore(client), busy_wait=busy_wait)
    app = web.Application()
    app.router.add_post("/cb", sinch_webhook_handler(secret, dedup.wrap(on_event)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print("PORT", runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()  # until SIGTERM

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
"""


@contextlib.contextmanager
def receiver_process(redis_url: str, log: Path, *, hold: float, busy_wait: float) -> Iterator[int]:
    """A receiver in its own Python process; yields its port, stops it by its PID."""
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", _RECEIVER_PROCESS, redis_url, SECRET, str(hold), str(busy_wait)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    assert process.stdout is not None
    try:
        line = process.stdout.readline().decode()  # blocks until the receiver listens
        if not line.startswith("PORT "):
            process.wait(timeout=30)
            raise AssertionError(f"receiver process failed: {log.read_text()[-2000:]}")
        yield int(line.split()[1])
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        process.stdout.close()


async def test_two_processes_receiving_the_same_callbacks_run_the_handler_once(
    redis_url: str, redis_client: redis.asyncio.Redis, tmp_path: Path
) -> None:
    bodies = [mo_text(f"01MO{i:022d}") for i in range(6)]
    with (
        receiver_process(redis_url, tmp_path / "a.log", hold=0.3, busy_wait=10) as port_a,
        receiver_process(redis_url, tmp_path / "b.log", hold=0.3, busy_wait=10) as port_b,
    ):
        urls = [f"http://127.0.0.1:{port}/cb" for port in (port_a, port_b)]
        async with aiohttp.ClientSession() as http:
            for body in bodies:
                headers = sign_headers(body, SECRET)  # the same delivery, to both pods at once
                answers = await asyncio.gather(*(post(http, url, body, headers) for url in urls))
                statuses = sorted(status for status, _ in answers)
                assert statuses in ([200, 200], [200, 503]), answers
                if 503 in statuses:  # a slow machine outlasted busy_wait: Sinch retries
                    assert (await post(http, urls[0], body, headers))[0] == 200
            handled = int(await redis_client.get("test:handled") or 0)
            assert handled == len(bodies)
            # A redelivery later, to either pod, does not run it again.
            for url, body in zip(urls, bodies[:2], strict=True):
                assert (await post(http, url, body, sign_headers(body, SECRET)))[0] == 200
            assert int(await redis_client.get("test:handled") or 0) == len(bodies)
    handled_by = {int(pid) for pid in await redis_client.lrange("test:handled_by", 0, -1)}
    assert len(handled_by) >= 1
    assert os.getpid() not in handled_by
