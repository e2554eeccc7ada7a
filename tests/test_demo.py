"""The README's main job: ``python -m sinch_async demo`` against the embedded simulator."""

from __future__ import annotations

import io
import re

import pytest

from sinch_async.__main__ import main
from sinch_async._demo import run_demo
from tests.conftest import run_python


async def test_demo_sends_every_recipient_once_and_reads_reports_back() -> None:
    out = io.StringIO()
    assert await run_demo(recipients=2345, concurrency=3, out=out) == 0
    text = out.getvalue()
    assert "2345/2345 recipients" in text
    assert "3 batches" in text
    rows = {
        m.group(1): int(m.group(2).replace(",", ""))
        for m in re.finditer(r"^\s+(Delivered|Failed|Expired)\s+\d+\s+([\d,]+)$", text, re.M)
    }
    # Numbers ending in 13 fail, in 77 expire (the demo's outcome rules).
    failed = sum(1 for i in range(2345) if f"{i:07d}".endswith("13"))
    expired = sum(1 for i in range(2345) if f"{i:07d}".endswith("77"))
    assert rows == {"Delivered": 2345 - failed - expired, "Failed": failed, "Expired": expired}
    assert "every one of the 2,345 recipients got exactly one message" in text
    assert 'First message as dispatched: "Hi Ann,' in text


async def test_demo_ignores_real_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINCH_API_TOKEN", "real-token-that-must-not-be-used")
    monkeypatch.setenv("SINCH_SERVICE_PLAN_ID", "real-plan")
    out = io.StringIO()
    assert await run_demo(recipients=10, out=out) == 0
    text = out.getvalue()
    assert "ignores them" in text
    assert "real-token-that-must-not-be-used" not in text
    assert "service plan sim-plan" in text


async def test_demo_rejects_zero_recipients() -> None:
    out = io.StringIO()
    assert await run_demo(recipients=0, out=out) == 2


def test_cli_usage_and_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_python_dash_m_demo_runs_as_a_process() -> None:
    result = run_python(["-m", "sinch_async", "demo", "--recipients", "1200"])
    assert result.returncode == 0, result.stderr
    assert "1200/1200 recipients" in result.stdout
    assert "Delivery reports read back through the API" in result.stdout
