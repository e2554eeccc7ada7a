"""Ctrl-C in ``sinch-async campaign``: the first says what stops and the campaign stops at
once (requests on the wire finish), the second abandons those; the partial report and how
to resume are printed. Real subprocesses against a simulator that outlives them."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from pathlib import Path

from sinch_async.testing import SinchSimulator
from tests.conftest import numbers, sinch_env


def recipient_file(path: Path) -> Path:
    path.write_text("\n".join(numbers(20_000)) + "\n", encoding="utf-8")
    return path


async def start_campaign(sim: SinchSimulator, path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sinch_async",
        "campaign",
        str(path),
        "--body",
        "Sale",
        "--campaign-id",
        "ctrl-c",
        "--messages-per-second",
        "1000",
        "--progress",
        "plain",
        env=sinch_env(sim),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_for_first_batch(sim: SinchSimulator) -> None:
    deadline = time.monotonic() + 20
    while not sim.journal.batches_created():
        assert time.monotonic() < deadline, "the campaign never sent a batch"
        await asyncio.sleep(0.05)


async def test_one_ctrl_c_stops_the_campaign_at_once_and_reports_it(
    sim: SinchSimulator, tmp_path: Path
) -> None:
    process = await start_campaign(sim, recipient_file(tmp_path / "n.txt"))
    try:
        await wait_for_first_batch(sim)
        process.send_signal(signal.SIGINT)
        pressed = time.monotonic()
        stdout, stderr = await asyncio.wait_for(process.communicate(), 15)
        stopped_in = time.monotonic() - pressed
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    out, err = stdout.decode(), stderr.decode()
    assert process.returncode == 130, err
    assert stopped_in < 3.0
    assert "stopping: " in err
    assert re.search(r"stopping: \d+ batches in flight, [\d,]+ recipients will not be sent", err)
    assert "--campaign-id ctrl-c --resume" in err
    sent_at_exit = len(sim.journal.recipients_sent())
    await asyncio.sleep(2.0)
    assert len(sim.journal.recipients_sent()) == sent_at_exit  # nothing after it exited
    assert f"sent:        {sent_at_exit:,} recipients" in out
    assert "not sent:" in out


async def test_a_second_ctrl_c_abandons_the_requests_on_the_wire(
    sim: SinchSimulator, tmp_path: Path
) -> None:
    sim.faults.add("POST /batches", status=None, latency=3.0, times=None)  # a slow server
    process = await start_campaign(sim, recipient_file(tmp_path / "n.txt"))
    try:
        deadline = time.monotonic() + 20
        while not sim.journal.find("POST", "/batches"):  # a send is on the wire
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGINT)
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGINT)
        pressed = time.monotonic()
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
        stopped_in = time.monotonic() - pressed
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    err = stderr.decode()
    assert process.returncode == 130, err
    assert stopped_in < 2.0  # did not wait out the 3 s requests
    assert "abandoning the batches in flight" in err
    assert "are unknown" in err
    assert "--campaign-id ctrl-c --resume" in err
