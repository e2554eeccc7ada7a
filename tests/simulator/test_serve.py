"""``python -m sinch_async.testing serve`` starts, answers, and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_serve_prints_credentials_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sinch_async.testing",
        "serve",
        "--port",
        "0",
        "--messages-per-second",
        "50",
        "--webhook-secret",
        "s3cret",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for _ in range(20):
            line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
            lines.append(line)
            if line.startswith("Press Ctrl-C") or not line:
                break
        text = "".join(lines)
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
        assert url, text
        assert "sim-plan" in text
        assert "sim-token" in text
        assert "sim-key-id" in text
        async with (
            aiohttp.ClientSession(headers={"Authorization": "Bearer sim-token"}) as s,
            s.post(
                url.group(1) + "/xms/v1/sim-plan/batches",
                json={"to": ["+15550000001"], "body": "x"},
            ) as r,
        ):
            assert r.status == 201
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0
        assert b"Simulator stopped." in out
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_serve_refuses_non_loopback_host() -> None:
    from sinch_async.testing.__main__ import main

    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
