"""``sinch-async campaign``: invalid rows with their line numbers (``--invalid-out`` and the
JSON report), the warning for ``${column}`` values left empty without a ``--default``, and
``--simulate`` refusing to pretend that it resumes.

Runs ``main([...])`` in-process, as tests/test_cli.py does: against the plugin's simulator
through ``SINCH_*`` variables (in a worker thread, while the test's loop serves the
simulator), with ``--simulate``, or as a subprocess for stdin.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest

from sinch_async._redact import mask_numbers
from sinch_async.fanout import normalize_e164
from sinch_async.testing import SinchSimulator
from tests.conftest import acli, cli, run_python

pytestmark = [pytest.mark.sinch_simulator(seed=5), pytest.mark.usefixtures("no_sinch_env")]

# Line numbers as an editor shows them: the header is line 1, the blank line 8 and the
# comment-free CSV has a quoted cell over lines 11-12 (its row starts on line 11).
CSV_TEXT = """\
number,name
+46700000001,Ann
+46 70-000 00 02,
0046700000001,Ann again
not-a-number,Bad
0701234567,National
+46700000003,Cai

46700000004,
+46700000005,Eli
"+46700000006
",Fay
,Nobody
12345,
"""
VALID = ["+46700000001", "+46700000002", "+46700000003", "+46700000004", "+46700000005"]
VALID.append("+46700000006")
INVALID = [(5, "not-a-number"), (6, "0701234567"), (13, ""), (14, "12345")]
"""(line, value as written) of the invalid rows; why is the library's to say."""
"""6 valid (rows 3 and 9 with an empty name), 1 duplicate (row 4), 4 invalid (row 14 with
an empty name too: not counted as an empty ${name}, it is not sent)."""


@pytest.fixture
def sim(cli_sim: SinchSimulator) -> SinchSimulator:
    return cli_sim


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    return path


def read_invalid(path: Path) -> list[tuple[int, str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["line", "value", "reason"]
    return [(int(line), value, reason) for line, value, reason in rows[1:]]


def reason(value: str) -> str:
    """Why the fan-out refuses ``value``: the library's rule, not the CLI's."""
    number, why = normalize_e164(value)
    assert number is None
    assert why
    return why


# --- invalid rows: --invalid-out and the JSON report ------------------------------------------


async def test_invalid_out_lists_every_invalid_row_with_its_line(
    sim: SinchSimulator, csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_path = tmp_path / "invalid.csv"
    argv = ["campaign", str(csv_file), "--body", "Hi ${name}", "--default", "name=you"]
    assert await acli(*argv, "--invalid-out", str(out_path), "--chunk-size", "2") == 0
    # the values as written (the user fixes these rows), the library's reasons
    assert read_invalid(out_path) == [(line, value, reason(value)) for line, value in INVALID]
    sim.journal.assert_each_recipient_once(VALID)
    captured = capsys.readouterr()
    assert f"invalid rows: 4 written to {out_path}" in captured.err
    assert f"(e.g. line 6: {mask_numbers('0701234567')!r})" in captured.out
    assert f"every invalid row (line, value, reason): {out_path}" in captured.out


async def test_json_report_lists_invalid_rows_with_numbers_masked(
    sim: SinchSimulator, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--json", "campaign", str(csv_file), "--body", "Hi ${name}", "--default", "name=x"]
    assert await acli(*argv) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    rows = report["invalid_rows"]
    assert [row["line"] for row in rows] == [line for line, _ in INVALID]
    assert [row["value"] for row in rows] == [mask_numbers(value) for _, value in INVALID]
    assert rows[1]["value"] != "0701234567"
    assert [row["reason"] for row in rows] == [reason(value) for _, value in INVALID]
    assert report["invalid"] == 4
    assert report["invalid_out"] is None
    lines = {r["reason"]: r["example_line"] for r in report["invalid_reasons"]}
    assert lines[reason("0701234567")] == 6
    # the numbers of invalid rows never reach stdout or stderr (they end up in logs)
    assert "0701234567" not in captured.out + captured.err


def test_line_numbers_of_a_number_list_count_comments_and_blank_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "list.txt"
    path.write_text("# customers\n+46700000001\n\n46 70 1\n+46700000002\r\nabc\n", "utf-8")
    out_path = tmp_path / "bad.csv"
    assert (
        cli("campaign", str(path), "--body", "hi", "--dry-run", "--invalid-out", str(out_path)) == 0
    )
    assert [(line, value) for line, value, _ in read_invalid(out_path)] == [
        (4, "46 70 1"),
        (6, "abc"),
    ]
    assert "dry run" in capsys.readouterr().out


async def test_invalid_out_with_no_invalid_row_has_the_header_only(
    sim: SinchSimulator, tmp_path: Path
) -> None:
    path = tmp_path / "good.txt"
    path.write_text("+46700000001\n", encoding="utf-8")
    out_path = tmp_path / "bad.csv"
    assert await acli("campaign", str(path), "--body", "hi", "--invalid-out", str(out_path)) == 0
    assert await asyncio.to_thread(out_path.read_bytes) == b"line,value,reason\r\n"


async def test_invalid_out_that_cannot_be_written_exits_2_before_any_request(
    sim: SinchSimulator, csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["campaign", str(csv_file), "--body", "hi"]
    assert await acli(*argv, "--invalid-out", str(tmp_path)) == 2  # a directory
    assert "--invalid-out" in capsys.readouterr().err
    assert await acli(*argv, "--invalid-out", str(csv_file)) == 2  # the input itself
    assert "that is the recipient file" in capsys.readouterr().err
    assert await acli(*argv, "--invalid-out", "-") == 2  # stdout carries the report
    assert "--invalid-out needs a file name" in capsys.readouterr().err
    assert await asyncio.to_thread(csv_file.read_text, encoding="utf-8") == CSV_TEXT
    assert sim.journal.requests == []


def test_invalid_out_is_not_left_behind_when_the_run_fails(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_path = tmp_path / "bad.csv"
    # no credentials: the run stops before any report, so no (misleading, empty) file
    assert cli("campaign", str(csv_file), "--body", "hi", "--invalid-out", str(out_path)) == 2
    assert "no Sinch credentials" in capsys.readouterr().err
    assert not out_path.exists()


# --- empty ${column} values without a --default ----------------------------------------------


async def test_empty_parameter_is_warned_with_a_count_before_sending(
    sim: SinchSimulator, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["campaign", str(csv_file), "--body", "Hi ${name}", "--progress", "plain"]
    assert await acli(*argv) == 0
    err = capsys.readouterr().err
    warning = (
        "warning: ${name} is empty in 2 rows and has no --default; those recipients get "
        "the text without it"
    )
    assert warning in err
    assert err.count("${name} is empty") == 1
    assert err.index(warning) < err.index("campaign id:") < err.index("sending:")
    await sim.advance(30)
    bodies = {m.recipient: m.body for m in sim.journal.dispatched()}
    assert bodies["+46700000002"] == "Hi "  # still sent as before: the warning told why
    assert bodies["+46700000001"] == "Hi Ann"


async def test_no_warning_when_a_default_fills_the_empty_cells(
    sim: SinchSimulator, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["campaign", str(csv_file), "--body", "Hi ${name}", "--default", "name=friend"]
    assert await acli(*argv, "--json") == 0
    captured = capsys.readouterr()
    assert "is empty" not in captured.err
    assert json.loads(captured.out)["empty_parameters"] == []


def test_dry_run_warns_and_the_reports_count_the_empty_rows(
    csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("campaign", str(csv_file), "--body", "Hi ${name}", "--dry-run") == 0
    captured = capsys.readouterr()
    assert "warning: ${name} is empty in 2 rows" in captured.err
    assert "would get the text without it" in captured.err
    assert "empty:       ${name} in 2 rows" in captured.out
    assert cli("--json", "campaign", str(csv_file), "--body", "Hi ${name}", "--dry-run") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["empty_parameters"] == [{"name": "name", "rows": 2}]


def test_stdin_is_checked_while_sending_and_warned_after(tmp_path: Path) -> None:
    argv = ["campaign", "-", "--body", "Hi ${name}", "--simulate", "--progress", "none"]
    result = run_python(["-m", "sinch_async", *argv], stdin=CSV_TEXT)
    assert result.returncode == 0, result.stderr
    assert "stdin is read once: empty ${name} values are counted while sending" in result.stderr
    assert "warning: ${name} was empty in 2 rows and had no --default" in result.stderr


async def test_a_file_too_big_to_read_twice_is_checked_while_sending(
    sim: SinchSimulator,
    csv_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sinch_async._cli._recipients as recipients

    monkeypatch.setattr(recipients, "_COUNT_LIMIT", 10)
    assert await acli("campaign", str(csv_file), "--body", "Hi ${name}") == 0
    err = capsys.readouterr().err
    assert f"note: {csv_file} is too big: empty ${{name}} values are counted while sending" in err
    assert "warning: ${name} was empty in 2 rows and had no --default" in err
    assert "check the file with --dry-run first" in err
    assert len(sim.journal.batches_created()) == 1


# --- --simulate does not pretend to resume -----------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--dry-run"]])
def test_simulate_with_resume_is_a_usage_error(
    extra: list[str], csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["campaign", str(csv_file), "--body", "hi", "--simulate"]
    assert cli(*argv, "--campaign-id", "c1", "--resume", *extra) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no report: nothing was run
    assert "--resume cannot work with --simulate" in captured.err
    assert "sinch-async serve" in captured.err
    assert "SINCH_BASE_URL" in captured.err
    assert "resuming:" not in captured.err


def test_simulate_with_a_campaign_id_does_not_claim_to_skip_chunks(
    csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["campaign", str(csv_file), "--body", "hi", "--simulate", "--campaign-id", "c1"]
    assert cli(*argv) == 0
    err = capsys.readouterr().err
    assert "campaign id: c1 (new campaign on an empty embedded simulator)" in err
    assert "would be skipped" not in err
    assert "a --simulate run cannot be resumed" in err
    assert "sinch-async serve" in err


def test_simulate_failed_chunks_do_not_advise_a_resume_that_cannot_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sinch_async.testing

    class FailingSimulator(SinchSimulator):
        async def __aenter__(self) -> SinchSimulator:
            sim = await super().__aenter__()
            sim.faults.add("POST /batches", status=400, times=None)
            return sim

    monkeypatch.setattr(sinch_async.testing, "SinchSimulator", FailingSimulator)
    path = tmp_path / "n.txt"
    path.write_text("+46700000001\n", encoding="utf-8")
    assert cli("campaign", str(path), "--body", "hi", "--simulate") == 1
    err = capsys.readouterr().err
    assert "1 recipient(s) in 1 chunk(s) not sent: a --simulate run cannot be resumed" in err
    assert "sinch-async serve" in err


async def test_resume_still_works_against_a_simulator_that_outlives_the_run(
    sim: SinchSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the message points to: the same id and --resume, against a running simulator
    (here the test's, as `sinch-async serve` would be), sends nothing twice."""
    path = tmp_path / "n.txt"
    path.write_text("".join(f"+4670000{i:04d}\n" for i in range(30)), encoding="utf-8")
    argv = ["campaign", str(path), "--body", "hi", "--chunk-size", "10", "--campaign-id", "s1"]
    assert await acli(*argv) == 0
    assert await acli(*argv, "--resume") == 0
    assert "resuming" in capsys.readouterr().err
    assert len(sim.journal.batches_created()) == 3


def test_help_documents_the_new_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("campaign", "--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--invalid-out FILE.csv" in text
    assert "line, value as written, reason" in text
    assert "Not with --simulate" in text
    assert "a warning counts those rows" in text
