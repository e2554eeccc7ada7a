"""The private Redis server fixture (tests/_redis.py): it starts, answers, runs Lua, restarts
on the same port and is gone after ``stop()``."""

from __future__ import annotations

import pytest
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

from tests._redis import RedisServer, pid_alive, ping


async def test_server_answers_and_is_private(
    redis_server: RedisServer, redis_client: redis.asyncio.Redis
) -> None:
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert await redis_client.ping() is True
    assert await redis_client.dbsize() == 0  # fresh server: nothing from another test
    await redis_client.set("k", "v")
    assert await redis_client.get("k") == b"v"
    config = await redis_client.config_get("maxmemory-policy")
    assert config["maxmemory-policy"] == "noeviction"
    persistence = await redis_client.config_get("save")
    assert persistence["save"] == ""
    assert (await redis_client.config_get("appendonly"))["appendonly"] == "no"


async def test_lua_scripts_by_sha(redis_client: redis.asyncio.Redis) -> None:
    script = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
    sha = await redis_client.script_load(script)
    assert await redis_client.evalsha(sha, 1, "counter", 5) == 5
    assert await redis_client.evalsha(sha, 1, "counter", 2) == 7
    # The server's clock, which the rate limiter relies on, is readable from scripts.
    seconds, _micros = await redis_client.time()
    assert seconds > 1_600_000_000


async def test_stop_and_start_on_the_same_port(redis_server: RedisServer) -> None:
    port, first_pid = redis_server.port, redis_server.pid
    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        await client.set("before", "1")
        redis_server.stop()
        assert not redis_server.running
        assert not pid_alive(first_pid)
        assert not ping(port)
        with pytest.raises((RedisConnectionError, OSError)):
            await client.ping()

        redis_server.start()
        assert redis_server.port == port
        assert redis_server.pid != first_pid
        assert ping(port)
        # The same client reconnects; nothing persisted across the restart.
        assert await client.ping() is True
        assert await client.get("before") is None
    finally:
        await client.aclose()


def test_context_manager_from_sync_code(redis_server: RedisServer) -> None:
    # redis_server only to find the binary (or skip); this test runs its own second server.
    with RedisServer(redis_server.binary) as other:
        assert other.port != redis_server.port
        assert ping(other.port)
        pid = other.pid
    assert not pid_alive(pid)
    assert not ping(other.port)
