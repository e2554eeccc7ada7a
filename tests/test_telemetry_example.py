"""examples/telemetry.py: the demo campaign with the OpenTelemetry SDK printing to stdout."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from sinch_async._demo import demo_recipients
from tests.conftest import EXAMPLES, run_python

pytest.importorskip("opentelemetry.sdk")


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object printed at the start of a line (the console exporters' output)."""
    decoder = json.JSONDecoder()
    found = []
    for match in re.finditer(r"^\{", text, re.MULTILINE):
        value, _ = decoder.raw_decode(text, match.start())
        found.append(value)
    return found


def test_telemetry_example_prints_spans_and_metrics_without_numbers() -> None:
    result = run_python([str(EXAMPLES / "telemetry.py")])
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout

    printed = json_objects(out)
    spans = [o for o in printed if "context" in o and "kind" in o]
    names = [s["name"] for s in spans]
    for name in ("sinch fan_out", "sinch fan_out.chunk", "sinch batches.send"):
        assert name in names, names
    assert names.count("sinch fan_out.chunk") == 3  # 2,500 recipients, 1000 per chunk
    assert names.count("sinch batches.send") == 3
    (run,) = [s for s in spans if s["name"] == "sinch fan_out"]
    assert run["attributes"]["sinch.recipients.sent"] == 2500
    # Every span is in the run's trace (the lookup after it is a trace of its own).
    in_run = [s for s in spans if s["context"]["trace_id"] == run["context"]["trace_id"]]
    assert {s["name"] for s in in_run} >= {"sinch fan_out.chunk", "sinch batches.send"}

    metrics = {
        metric["name"]: metric
        for o in printed
        for resource in o.get("resource_metrics", [])
        for scope in resource["scope_metrics"]
        for metric in scope["metrics"]
    }
    assert "sinch_async.messages.sent" in metrics, sorted(metrics)
    points = metrics["sinch_async.messages.sent"]["data"]["data_points"]
    assert sum(p["value"] for p in points) == 2500
    assert "Campaign report:" in out

    # The demo's numbers never appear in full; the per-recipient lookup's URL is masked.
    numbers = [number for number, _ in demo_recipients(2500)]
    for number in (numbers[0], numbers[1], numbers[-1]):
        assert number not in out
        assert number[1:] not in out  # nor without "+" (e.g. after %2B)
    assert not re.search(r"(\+|%2B)1555\d{7}", out)
    (lookup,) = [s for s in spans if s["name"].startswith("GET") and "recipient" in s["name"]]
    url = lookup["attributes"]["url.full"]
    assert url.endswith(numbers[0][-4:]), url
    assert "*" in url, url
