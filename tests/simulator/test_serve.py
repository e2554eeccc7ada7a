"""``python -m sinch_async.testing serve`` starts, answers, and stops on SIGTERM."""

from __future__ import annotations

import sys

import aiohttp
import pytest

from tests.conftest import serve_simulator


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_serve_prints_credentials_and_stops_on_sigterm() -> None:
    served = await serve_simulator(
        "--port", "0", "--messages-per-second", "50", "--webhook-secret", "s3cret"
    )
    try:
        text = served.banner
        assert "sim-plan" in text
        assert "sim-token" in text
        assert "sim-key-id" in text
        async with (
            aiohttp.ClientSession(headers={"Authorization": "Bearer sim-token"}) as s,
            s.post(
                served.url + "/xms/v1/sim-plan/batches",
                json={"to": ["+15550000001"], "body": "x"},
            ) as r,
        ):
            assert r.status == 201
        code, out, _ = await served.stop(15)
        assert code == 0
        assert "Simulator stopped." in out
    finally:
        await served.kill()


def test_serve_refuses_non_loopback_host() -> None:
    from sinch_async.testing.__main__ import main

    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
