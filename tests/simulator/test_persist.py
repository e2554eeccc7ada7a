"""``serve --state FILE``: the simulator's state survives a restart of the served process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sinch_async import AsyncSmsClient
from sinch_async.fanout import FanOutProgress
from sinch_async.testing import SinchSimulator
from tests.conftest import ServedSimulator, fan_out_cancelled, serve_simulator

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer sim-token"}
N = 5000
CHUNK = 500
NUMBERS = [f"+4670{i:07d}" for i in range(N)]


def _client(url: str) -> AsyncSmsClient:
    return AsyncSmsClient(
        service_plan_id="sim-plan", api_token="sim-token", base_url=url, retry=None
    )


@contextlib.asynccontextmanager
async def served(*args: str) -> AsyncIterator[ServedSimulator]:
    server = await serve_simulator("--time-scale", "0", *args)
    try:
        yield server
    finally:
        await server.kill()


async def _call(
    s: aiohttp.ClientSession, method: str, url: str, body: Any = None, **params: str
) -> Any:
    async with s.request(method, url, json=body, params=params or None) as r:
        assert r.status < 300, (r.status, await r.text())
        return await r.json()


async def _all_batches(s: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    since = (datetime.now(timezone.utc) - timedelta(days=7)).isoformat()
    out: list[dict[str, Any]] = []
    page = 0
    while True:
        data = await _call(
            s, "GET", f"{url}/xms/v1/sim-plan/batches", page=str(page), start_date=since
        )
        out += data["batches"]
        if (page + 1) * 30 >= data["count"]:
            return out
        page += 1


async def _interrupted_campaign(server: ServedSimulator) -> int:
    """fan_out cancelled once 3 chunks are done; the chunks known to be sent."""
    enough = asyncio.Event()

    def progress(p: FanOutProgress) -> None:
        if p.batches >= 3:
            enough.set()

    async with _client(server.url) as sms:
        task = asyncio.ensure_future(
            sms.batches.fan_out(
                NUMBERS,
                "Hello",
                campaign_id="persist",
                chunk_size=CHUNK,
                concurrency=2,
                on_progress=progress,
            )
        )
        waiter = asyncio.ensure_future(enough.wait())
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED, timeout=60)
        waiter.cancel()
        task.cancel()
        report = (await fan_out_cancelled(task)).report  # (3.10 wraps it: see the helper)
    assert 3 <= len(report.batches) < N // CHUNK
    return len(report.batches)


async def test_state_survives_a_restart_and_a_campaign_resumes(tmp_path: Path) -> None:
    state = tmp_path / "sim-state.json"
    async with served("--port", "0", "--state", str(state)) as first:
        assert "State loaded" not in first.banner
        url = first.url
        async with aiohttp.ClientSession(headers=AUTH) as s:
            group = await _call(
                s,
                "POST",
                f"{url}/xms/v1/sim-plan/groups",
                {"name": "vip", "members": ["46700000001", "46700000002"]},
            )
            inbound = await _call(
                s,
                "POST",
                f"{url}/_simulator/inbounds",
                {"from": "46700000009", "to": "12345", "body": "STOP"},
            )
            sent_before = await _interrupted_campaign(first)
            await _call(s, "POST", f"{url}/_simulator/clock/advance", {"seconds": 60})
            before = await _all_batches(s, url)
            first_id = before[-1]["id"]
            report_before = await _call(
                s, "GET", f"{url}/xms/v1/sim-plan/batches/{first_id}/delivery_report"
            )
            clock_before = (await _call(s, "GET", f"{url}/_simulator/clock"))["now"]
        code, out, err = await first.stop()
    assert code == 0, err
    assert f"State saved to {state}" in out
    assert "Traceback" not in err
    assert json.loads(state.read_text())["format"] == "sinch_async.testing state"
    assert len(before) >= sent_before  # chunks in flight at the cancel may exist too
    assert report_before["statuses"] == [{"code": 0, "status": "Delivered", "count": CHUNK}]

    port = url.rsplit(":", 1)[1]
    async with served("--port", port, "--state", str(state)) as second:
        assert "State loaded from" in second.banner
        async with aiohttp.ClientSession(headers=AUTH) as s:
            assert (await _call(s, "GET", f"{url}/_simulator/clock"))["now"] == clock_before
            after = await _all_batches(s, url)
            assert [b["id"] for b in after] == [b["id"] for b in before]
            got = await _call(s, "GET", f"{url}/xms/v1/sim-plan/batches/{first_id}/delivery_report")
            assert got == report_before
            one = await _call(
                s,
                "GET",
                f"{url}/xms/v1/sim-plan/batches/{first_id}/delivery_report/{NUMBERS[0][1:]}",
            )
            assert one["status"] == "Delivered"
            g = await _call(s, "GET", f"{url}/xms/v1/sim-plan/groups/{group['id']}")
            assert g["name"] == "vip"
            assert g["size"] == 2
            members = await _call(s, "GET", f"{url}/xms/v1/sim-plan/groups/{group['id']}/members")
            assert sorted(members) == ["46700000001", "46700000002"]
            i = await _call(s, "GET", f"{url}/xms/v1/sim-plan/inbounds/{inbound['id']}")
            assert i["body"] == "STOP"

            async with _client(second.url) as sms:
                report = await sms.batches.fan_out(
                    NUMBERS, "Hello", campaign_id="persist", chunk_size=CHUNK, concurrency=2
                )
            assert report.complete
            existing = [c for c in report.chunks if c.status == "existing"]
            assert len(existing) >= sent_before  # found by client_reference, not sent again
            final = await _all_batches(s, url)
            counts = Counter(n for b in final for n in b["to"])
            assert len(final) == N // CHUNK
            assert sorted(counts) == sorted(n[1:] for n in NUMBERS)
            assert set(counts.values()) == {1}  # every recipient exactly once
            # New batches are dispatched and delivered after the restart.
            await _call(s, "POST", f"{url}/_simulator/clock/advance", {"seconds": 60})
            last = await _call(
                s, "GET", f"{url}/xms/v1/sim-plan/batches/{final[0]['id']}/delivery_report"
            )
            assert last["statuses"] == [{"code": 0, "status": "Delivered", "count": CHUNK}]
        code, _, err = await second.stop()
    assert code == 0, err


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    from sinch_async.testing.__main__ import main

    state = tmp_path / "state.json"
    state.write_text('{"format": "sinch_async.testing state", "version": 1, "plans": [')
    proc = subprocess.run(
        [sys.executable, "-m", "sinch_async.testing", "serve", "--port", "0", "--state", state],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"state file {state} is not valid JSON" in proc.stderr
    assert "listening" not in proc.stdout
    assert state.read_text().endswith("[")  # left as it was
    # Valid JSON that is not a state, or a damaged one: the same kind of error, no traceback.
    for text in ('{"a": 1}', '{"format": "sinch_async.testing state", "version": 1}'):
        state.write_text(text)
        assert main(["serve", "--port", "0", "--state", str(state)]) == 2
    # A directory that does not exist: refused at start, not at shutdown.
    assert main(["serve", "--port", "0", "--state", str(tmp_path / "no" / "s.json")]) == 2


async def test_snapshot_round_trip_keeps_in_flight_work() -> None:
    """Queued, dispatched and scheduled messages carry on after a restore."""
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    async with SinchSimulator(time_scale=0, start_time=start, messages_per_second=10) as a:
        async with a.client(retry=None) as sms:
            now_batch = await sms.batches.send(NUMBERS[:50], "now")
            later = await sms.batches.send(
                NUMBERS[50:60], "later", send_at=start + timedelta(hours=1)
            )
        await a.advance(2)  # some dispatched, most still queued
        snap = a.snapshot()
    snap = json.loads(json.dumps(snap))  # through JSON, as in the file
    async with SinchSimulator(time_scale=0, messages_per_second=10) as b:
        b.restore(snap)
        assert b.clock.now() == start + timedelta(seconds=2)
        b.journal.assert_each_recipient_once(NUMBERS[:60])
        await b.advance(3600)
        async with b.client(retry=None) as sms:
            for batch in (now_batch, later):
                report = await sms.delivery_reports.get(batch.id)
                assert [(x.status, x.count) for x in report.statuses] == [
                    ("Delivered", len(batch.to))
                ]
        b.journal.assert_each_recipient_once(NUMBERS[:60], dispatched=True)
        with pytest.raises(ValueError, match="not empty"):
            b.restore(snap)


def test_cli_simulate_resume_with_a_state_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sinch_async.testing
    from tests.conftest import cli

    class FailingSimulator(SinchSimulator):
        async def __aenter__(self) -> SinchSimulator:
            sim = await super().__aenter__()
            sim.faults.add("POST /batches", status=400, times=2)  # two chunks fail
            return sim

    numbers = NUMBERS[:50]
    csv = tmp_path / "n.csv"
    csv.write_text("number\n" + "".join(f"{n}\n" for n in numbers))
    state = tmp_path / "sim.json"
    argv = ["campaign", str(csv), "--body", "hi", "--simulate", "--campaign-id", "c1"]
    argv += ["--chunk-size", "10", "--progress", "none", "--simulate-state", str(state)]

    assert cli(*argv[:-2], "--resume") == 2  # --resume with --simulate needs a state file
    assert "--simulate-state FILE" in capsys.readouterr().err
    assert cli("batches", "list", "--simulate-state", str(state)) == 2
    assert "--simulate-state needs --simulate" in capsys.readouterr().err

    monkeypatch.setattr(sinch_async.testing, "SinchSimulator", FailingSimulator)
    assert cli(*argv) == 1
    err = capsys.readouterr().err
    assert "20 recipient(s) in 2 chunk(s) not sent: re-run with --campaign-id c1 --resume" in err
    monkeypatch.undo()

    assert cli(*argv, "--resume") == 0
    assert "resuming" in capsys.readouterr().err

    async def check() -> None:
        sim = SinchSimulator()
        assert sim.load_state(state)
        sim.journal.assert_each_recipient_once(numbers)
        assert len(sim.journal.batches_created()) == 5

    asyncio.run(check())

    state.write_text("not json")
    assert cli(*argv, "--resume") == 2
    assert f"--simulate-state: state file {state} is not valid JSON" in capsys.readouterr().err
