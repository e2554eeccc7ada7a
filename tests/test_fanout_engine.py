"""The fan-out engine: runs without a ``campaign_id`` never share chunk references.

A chunk reference is what an ambiguous send is reconciled by. If two runs named their
chunks alike (the old ``fanout-{id(self)}-{index}``: Python reuses object ids, and
forked workers have the same ones), the lookup after a failed send could find the
*other* run's batch, take it for its own, and never send its own recipients. Each test
hits every run with ambiguous failures and checks the report against what the
simulator received.

Run as a script (``python test_fanout_engine.py launch ...``) this module is the
worker launcher of the two-process test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sinch_async import AsyncSmsClient, RetryPolicy
from sinch_async.conversation import (
    CORRELATION_METADATA_KEY,
    ChannelIdentity,
    TextMessage,
)
from sinch_async.errors import ResponseDecodeError
from sinch_async.fanout import FanOutReport
from sinch_async.testing import Fault, SinchSimulator

FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05, reconcile_delay=0.01)
SMS_SEND = "POST /batches"
CONVERSATION_SEND = "POST /v1/projects/{project_id}/messages"
RUN_REFERENCE = re.compile(r"fanout-([0-9a-f]{12})-(\d+)")

Chunks = list[tuple[str, str]]
"""A run's chunks as ``(client_reference, batch_id)``."""


def num(i: int) -> str:
    return f"+4670{i:07d}"


def group(run: int) -> list[str]:
    """Run ``run``'s 30 recipients (no two runs share one)."""
    return [num(run * 1000 + i) for i in range(30)]


@pytest.fixture(autouse=True)
def _quiet_retries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="sinch_async")


@pytest.fixture
async def sms(sinch_simulator: SinchSimulator) -> AsyncIterator[AsyncSmsClient]:
    async with sinch_simulator.client(retry=FAST) as client:
        yield client


def ambiguous_failures(sim: SinchSimulator, route: str) -> list[Fault]:
    """The next send fails ambiguously without being applied (500), then its retry is
    applied but never answered (dropped): both are looked up by the chunk reference."""
    return [sim.faults.add(route, status=500, times=1), sim.faults.add(route, drop="after")]


def chunks_of(report: FanOutReport) -> Chunks:
    assert report.complete, report.summary()
    return [(c.client_reference, c.batch_id or "") for c in report.chunks]


def check_sms_runs(sim: SinchSimulator, runs: list[tuple[list[str], Chunks]]) -> None:
    """Each run's batches are the ones the server created for it, holding exactly its
    recipients; no batch is claimed by two runs or by none; nobody got two messages."""
    created = {b["id"]: b for b in sim.journal.batches_created()}
    claimed: list[str] = []
    for numbers, chunks in runs:
        received = ["+" + n.lstrip("+") for _, batch_id in chunks for n in created[batch_id]["to"]]
        assert sorted(received) == sorted(numbers)
        assert all(created[batch_id]["client_reference"] == ref for ref, batch_id in chunks)
        claimed += [batch_id for _, batch_id in chunks]
    assert sorted(claimed) == sorted(created)
    sim.journal.assert_each_recipient_once([n for numbers, _ in runs for n in numbers])


# --- one process ------------------------------------------------------------------------------


async def test_runs_in_one_process_never_adopt_each_others_batches(
    sinch_simulator: SinchSimulator, sms: AsyncSmsClient
) -> None:
    runs: list[tuple[list[str], Chunks]] = []
    for run in range(3):
        faults = ambiguous_failures(sinch_simulator, SMS_SEND)
        report = await sms.batches.fan_out(group(run), "Hi", chunk_size=10, concurrency=1)
        assert [f.hits for f in faults] == [1, 1], "the run met both ambiguous failures"
        runs.append((group(run), chunks_of(report)))
    check_sms_runs(sinch_simulator, runs)


async def test_conversation_runs_never_adopt_each_others_batches(
    sinch_simulator: SinchSimulator,
) -> None:
    runs: list[tuple[list[str], Chunks]] = []
    async with sinch_simulator.conversation_client(retry=FAST) as conv:
        for run in range(3):
            faults = ambiguous_failures(sinch_simulator, CONVERSATION_SEND)
            recipients = [ChannelIdentity("SMS", n) for n in group(run)]
            report = await conv.fan_out(
                "app", TextMessage("Hi"), recipients, chunk_size=10, concurrency=1
            )
            assert [f.hits for f in faults] == [1, 1], "the run met both ambiguous failures"
            runs.append((group(run), chunks_of(report)))
    batches = sinch_simulator.conversation.batches
    claimed: list[str] = []
    for numbers, chunks in runs:
        received = [
            r["recipient"]["identified_by"]["channel_identities"][0]["identity"]
            for _, batch_id in chunks
            for r in batches[batch_id].recipients
        ]
        assert sorted(received) == sorted(numbers)
        for ref, batch_id in chunks:
            assert batches[batch_id].batch_metadata[CORRELATION_METADATA_KEY] == ref
        claimed += [batch_id for _, batch_id in chunks]
    assert sorted(claimed) == sorted(batches)


async def test_chunk_references_of_two_runs_differ(
    sinch_simulator: SinchSimulator, sms: AsyncSmsClient
) -> None:
    first = await sms.batches.fan_out(group(0), "Hi", chunk_size=10)
    second = await sms.batches.fan_out(group(1), "Hi", chunk_size=10)
    names = []
    for report in (first, second):
        matches = [RUN_REFERENCE.fullmatch(c.client_reference) for c in report.chunks]
        assert all(matches), [c.client_reference for c in report.chunks]
        assert [int(m[2]) for m in matches if m] == [0, 1, 2]
        run_ids = {m[1] for m in matches if m}
        assert len(run_ids) == 1, "one run id per run"
        names.append(run_ids.pop())
    assert names[0] != names[1]
    references = [b["client_reference"] for b in sinch_simulator.journal.batches_created()]
    assert len(set(references)) == 6


async def test_runs_created_one_after_another_get_new_run_ids(sms: AsyncSmsClient) -> None:
    # A run dropped at once frees its memory, and the next run is often allocated at the
    # same address: an id(self)-based name would repeat here.
    references = {sms.batches._fan_out(group(0), "Hi", None, {}).reference(0) for _ in range(50)}
    assert len(references) == 50


async def test_a_resume_lookup_that_cannot_be_read_fails_only_its_chunk(
    sinch_simulator: SinchSimulator, sms: AsyncSmsClient
) -> None:
    # The resume lookup is the reconciliation's lookup: an unreadable answer is a
    # ResponseDecodeError (a SinchError), so the chunk fails and the run goes on.
    sinch_simulator.faults.add("GET /batches", status=200, body=b"{not json", times=1)
    report = await sms.batches.fan_out(
        group(0), "Hi", chunk_size=10, concurrency=1, campaign_id="unreadable", resume=True
    )
    assert [c.status for c in report.chunks] == ["failed", "created", "created"]
    assert isinstance(report.chunks[0].error, ResponseDecodeError)
    assert report.failed_recipients() == group(0)[:10]
    assert sorted(sinch_simulator.journal.recipients_sent()) == group(0)[10:]


# --- two processes ----------------------------------------------------------------------------


async def _worker(url: str, plan: str, token: str, numbers: list[str]) -> Chunks:
    async with AsyncSmsClient(
        service_plan_id=plan, api_token=token, base_url=url, retry=FAST
    ) as sms:
        report = await sms.batches.fan_out(numbers, "Hi", chunk_size=10, concurrency=1)
    return chunks_of(report)


def _launch(url: str, plan: str, token: str, out_dir: str, groups_json: str) -> None:
    """Fork one worker per group of numbers, all from the same parent (as a pre-fork
    server does), then start them one at a time when the test says so (a line on
    stdin), each writing its chunks to ``out_dir/run-{i}.json``."""
    logging.disable(logging.WARNING)
    groups: list[list[str]] = json.loads(groups_json)
    cues: list[int] = []
    pids: list[int] = []
    for i, numbers in enumerate(groups):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(write_end)
            code = 1
            if os.read(read_end, 1) == b"g":  # b"" if the launcher died: do nothing
                try:
                    chunks = asyncio.run(_worker(url, plan, token, numbers))
                    Path(out_dir, f"run-{i}.json").write_text(json.dumps(chunks))
                    code = 0
                except BaseException:
                    traceback.print_exc()
            os._exit(code)
        os.close(read_end)
        cues.append(write_end)
        pids.append(pid)
    print("ready", flush=True)
    for i, (pid, cue) in enumerate(zip(pids, cues, strict=True)):
        if not sys.stdin.readline():
            break
        os.write(cue, b"g")
        _, status = os.waitpid(pid, 0)
        print(f"done {i} {os.waitstatus_to_exitcode(status)}", flush=True)
    for cue in cues:
        os.close(cue)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the workers are forked")
async def test_runs_in_two_processes_never_adopt_each_others_batches(
    sinch_simulator: SinchSimulator, tmp_path: Path
) -> None:
    sim = sinch_simulator
    groups = [group(0), group(1)]
    args = [sim.url, sim.service_plan_id, sim.api_token, str(tmp_path), json.dumps(groups)]
    launcher = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "launch",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert launcher.stdin is not None
    assert launcher.stdout is not None
    try:
        line = await asyncio.wait_for(launcher.stdout.readline(), timeout=30)
        assert line == b"ready\n"
        for i in range(len(groups)):
            faults = ambiguous_failures(sim, SMS_SEND)
            launcher.stdin.write(b"go\n")
            await launcher.stdin.drain()
            line = await asyncio.wait_for(launcher.stdout.readline(), timeout=60)
            assert line == f"done {i} 0\n".encode()
            assert [f.hits for f in faults] == [1, 1], "the worker met both ambiguous failures"
        assert await asyncio.wait_for(launcher.wait(), timeout=30) == 0
    finally:
        if launcher.returncode is None:
            launcher.kill()  # by its PID; its workers then read b"" and exit
            await launcher.wait()
    runs: list[tuple[list[str], Chunks]] = []
    for i, numbers in enumerate(groups):
        chunks = json.loads((tmp_path / f"run-{i}.json").read_text())
        runs.append((numbers, [(ref, batch_id) for ref, batch_id in chunks]))
    check_sms_runs(sim, runs)


if __name__ == "__main__" and sys.argv[1:2] == ["launch"]:
    _launch(*sys.argv[2:])
