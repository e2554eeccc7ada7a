"""A campaign process killed half-way (SIGKILL) and resumed sends every recipient exactly once."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from sinch_async.testing import SinchSimulator
from tests.conftest import sinch_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

N = 2000
CHUNK = 100


async def _run_cli(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sinch_async",
        "campaign",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_killed_campaign_resumes_without_duplicates(
    sim: SinchSimulator, tmp_path: Path
) -> None:
    numbers = [f"+1555{i:07d}" for i in range(N)]
    csv = tmp_path / "numbers.csv"
    csv.write_text("number,name\n" + "".join(f"{n},Name{i}\n" for i, n in enumerate(numbers)))
    env = sinch_env(sim)
    common = [
        str(csv),
        "--body",
        "Hi ${name}",
        "--campaign-id",
        "kill-test",
        "--chunk-size",
        str(CHUNK),
        "--progress",
        "none",
    ]
    # A paced run (about 5 s at 400 messages/s), killed once some batches exist.
    first = await _run_cli(env, *common, "--messages-per-second", "400", "--concurrency", "2")
    for _ in range(400):
        if len(sim.journal.batches_created()) >= 5:
            break
        await asyncio.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    created_before = len(sim.journal.batches_created())
    assert 5 <= created_before < N // CHUNK, "the run must be killed half-way"

    second = await _run_cli(env, *common, "--resume")
    out, err = await second.communicate()
    assert second.returncode == 0, (out.decode(), err.decode())

    sim.journal.assert_each_recipient_once(numbers)
    assert len(sim.journal.batches_created()) == N // CHUNK
    references = sorted(b["client_reference"] for b in sim.journal.batches_created())
    assert references == sorted(f"kill-test#{i}" for i in range(N // CHUNK))
