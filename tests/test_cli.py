"""The ``sinch-async`` command line: in-process runs of ``main([...])`` (against an embedded
simulator with ``--simulate``, or a test-owned simulator through ``SINCH_*`` variables)
and a few real subprocess runs.

``main`` calls ``asyncio.run``, so async tests run it in a worker thread
(``asyncio.to_thread``) while the test's own loop serves the simulator.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sinch_async.testing import SinchSimulator
from tests.conftest import acli, cli, run_python

CSV_TEXT = """\
number,name,city
+46700000001,Ann,Stockholm
+46 70-000 00 02,,Gothenburg
0046700000001,Ann again,Malmo
not-a-number,Bad,Nowhere
0701234567,National,Nowhere
+46700000003,Cai,Lund

46700000004,Dana,Umea
+46700000005,Eli,Kiruna
"""
"""6 valid (one with an empty name), 2 invalid, 1 duplicate (a different spelling of ...01),
one blank line (skipped, not a row)."""

VALID = ["+46700000001", "+46700000002", "+46700000003", "+46700000004", "+46700000005"]

pytestmark = [pytest.mark.sinch_simulator(seed=3), pytest.mark.usefixtures("no_sinch_env")]


@pytest.fixture
def sim(cli_sim: SinchSimulator) -> SinchSimulator:
    return cli_sim


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "spring sale.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    return path


def numbers_file(tmp_path: Path, count: int, name: str = "numbers.txt") -> Path:
    path = tmp_path / name
    path.write_text("".join(f"+1555{i:07d}\n" for i in range(count)), encoding="utf-8")
    return path


# --- usage and bad input ------------------------------------------------------------------


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("--help") == 0
    text = capsys.readouterr().out
    for command in ("send", "campaign", "batches", "delivery-report", "groups", "inbounds"):
        assert command in text
    assert "demo" in text
    assert "serve" in text
    assert cli("campaign", "--help") == 0
    assert "--resume" in capsys.readouterr().out


def test_no_command_and_unknown_command_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli() == 2
    assert cli("frobnicate") == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["send", "--body", "hi"],  # --to missing
        ["send", "--to", "+46700000001", "--body", "hi", "--delivery-report", "sometimes"],
        ["campaign", "FILE", "--body", "hi", "--chunk-size", "0"],
        ["campaign", "FILE", "--body", "hi", "--chunk-size", "1001"],
        ["campaign", "FILE", "--body", "hi", "--concurrency", "zero"],
        ["campaign", "FILE", "--body", "hi", "--messages-per-second", "-5"],
        ["campaign", "FILE", "--body", "hi", "--resume"],  # --resume needs --campaign-id
        ["campaign", "FILE", "--body", "hi", "--default", "novalue"],
        ["campaign", "FILE", "--body", "Hi ${first_name}"],  # no such column
        ["campaign", "FILE", "--body", "x" * 2001],  # the library's SinchValidationError
        ["campaign", "missing.csv", "--body", "hi"],
        ["batches", "list", "--limit", "-1"],
        ["groups"],  # action missing
        ["delivery-report", "01ABC", "--full", "--recipient", "+46700000001"],
    ],
)
def test_bad_input_exits_2_before_any_request(
    argv: list[str], csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(csv_file) if a == "FILE" else a for a in argv]
    # --simulate: even with a server to talk to, nothing gets that far.
    assert cli(*argv, "--simulate") == 2
    assert capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("id,name\n1,Ann\n", "no number column"),
        ("\n+46700000001\n", "first line is blank"),
    ],
)
def test_unusable_files_exit_2(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    assert cli("campaign", str(path), "--body", "hi", "--simulate") == 2
    assert message in capsys.readouterr().err


def test_file_without_a_valid_number_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "junk.txt"
    path.write_text("hello\n123\n", encoding="utf-8")
    assert cli("campaign", str(path), "--body", "hi", "--simulate") == 2
    captured = capsys.readouterr()
    assert "no valid recipients" in captured.err
    assert "2 invalid" in captured.out


@pytest.mark.parametrize(
    "argv",
    [
        ["send", "--to", "+46700000001", "--body", "hi"],
        ["batches", "list"],
        ["groups", "list"],
        ["inbounds", "list"],
        ["delivery-report", "01ABC"],
        ["campaign", "FILE", "--body", "hi"],
    ],
)
def test_missing_credentials_exit_2_with_a_clear_message(
    argv: list[str], csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(csv_file) if a == "FILE" else a for a in argv]
    assert cli(*argv) == 2
    text = capsys.readouterr().err
    assert "no Sinch credentials" in text
    assert "SINCH_SERVICE_PLAN_ID" in text
    assert "--simulate" in text


def test_half_given_credentials_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SINCH_SERVICE_PLAN_ID", "plan")  # no SINCH_API_TOKEN
    assert cli("batches", "list") == 2
    assert "api_token" in capsys.readouterr().err


# --- campaign -------------------------------------------------------------------------------


def test_campaign_simulated_report(csv_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Invalid rows and duplicates are reported; the exit code is still 0 because every
    valid recipient was sent (documented in ``sinch_async.cli``)."""
    assert cli("campaign", str(csv_file), "--body", "Hi ${name}!", "--simulate") == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "read:        8 rows: 5 valid, 2 invalid, 1 duplicates" in text
    assert "sent:        5 recipients in 1 batches" in text
    assert "failed:      0 recipients" in text
    assert "estimate:    5 messages" in text
    assert "national format" in text
    assert "'not-a-number'" in text
    assert re.search(r"^\s+Delivered\s+0\s+5$", text, re.M)
    # the generated campaign id (file name + time) is printed, with how to resume
    match = re.search(r"campaign id: (spring-sale-\d{8}-\d{6}-[0-9a-f]{4})", captured.err)
    assert match, captured.err
    assert f"--campaign-id {match.group(1)} --resume" in captured.err
    assert "column(s) city not used" in captured.err


def test_campaign_json_report(csv_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--json", "campaign", str(csv_file), "--body", "Hi ${name}", "--chunk-size", "2"]
    assert cli(*argv, "--simulate", "--campaign-id", "c1") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["campaign_id"] == "c1"
    assert (report["read"], report["valid"], report["invalid"], report["duplicates"]) == (
        8,
        5,
        2,
        1,
    )
    assert (report["sent"], report["failed"], report["batches"]) == (5, 0, 3)
    assert report["complete"] is True
    assert {r["reason"][:15] for r in report["invalid_reasons"]} == {
        "not a phone num",
        "national format",
    }
    assert report["estimate"]["messages"] == 5
    assert report["delivery"] == [{"status": "Delivered", "code": 0, "count": 5}]


async def test_campaign_sends_parameters_and_defaults(
    sim: SinchSimulator, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "Hi ${name} in ${city}"
    argv = ["campaign", str(csv_file), "--body", body, "--chunk-size", "2", "--from", "Shop"]
    dlr = ["--delivery-report", "summary", "--callback-url", "http://127.0.0.1:9/dlr"]
    assert await acli(*argv, "--default", "name=friend", *dlr) == 0
    sim.journal.assert_each_recipient_once(VALID)
    created = sim.journal.batches_created()
    assert len(created) == 3
    assert all(b["from"] == "Shop" and b["delivery_report"] == "summary" for b in created)
    refs = sorted(b["client_reference"] for b in created)
    cid = refs[0].rsplit("#", 1)[0]
    assert refs == [f"{cid}#0", f"{cid}#1", f"{cid}#2"]
    await sim.advance(30)
    bodies = {m.recipient: m.body for m in sim.journal.dispatched()}
    assert bodies["+46700000001"] == "Hi Ann in Stockholm"  # the first row wins over the dup
    assert bodies["+46700000002"] == "Hi friend in Gothenburg"  # empty cell -> --default
    assert bodies["+46700000005"] == "Hi Eli in Kiruna"
    assert f"campaign {cid}" in capsys.readouterr().out


async def test_number_list_and_semicolon_csv_are_detected(
    sim: SinchSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = tmp_path / "list.txt"
    lines.write_text("# customers\n+46700000001\n\n+46700000002\n", encoding="utf-8")
    assert await acli("campaign", str(lines), "--body", "hi", "--quiet") == 0
    assert "one number per line" in capsys.readouterr().out
    semi = tmp_path / "semi.csv"
    semi.write_text("\ufeffName;Phone\nAnn;+46700000003\n", encoding="utf-8")  # with a BOM
    assert await acli("campaign", str(semi), "--body", "Hej ${Name}", "--quiet") == 0
    assert "number column 'Phone'" in capsys.readouterr().out
    await sim.advance(10)
    assert sim.journal.dispatched()[-1].body == "Hej Ann"


async def test_dry_run_sends_nothing(
    sim: SinchSimulator, csv_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await acli("campaign", str(csv_file), "--body", "Hi ${name}", "--dry-run") == 0
    text = capsys.readouterr().out
    assert "dry run (nothing sent)" in text
    assert "5 valid" in text
    assert "estimate:    5 messages" in text
    assert sim.journal.requests == []


def test_dry_run_needs_no_credentials(csv_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long = "x" * 200  # 2 parts each in GSM-7
    assert cli("campaign", str(csv_file), "--body", long, "--dry-run") == 0
    assert "estimate:    10 messages (SMS parts; up to 2 per recipient" in capsys.readouterr().out


async def test_all_chunks_failing_exits_1(
    sim: SinchSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.faults.add("POST /batches", status=400, times=None)
    path = numbers_file(tmp_path, 30)
    argv = ["campaign", str(path), "--body", "hi", "--chunk-size", "10", "--campaign-id", "f1"]
    assert await acli(*argv) == 1
    captured = capsys.readouterr()
    assert "sent:        0 recipients in 0 batches" in captured.out
    assert "failed:      30 recipients in 3 chunks" in captured.out
    assert "BadRequestError" in captured.out
    assert "--campaign-id f1 --resume" in captured.err
    assert sim.journal.batches_created() == []


async def test_resume_skips_chunks_already_sent(
    sim: SinchSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = numbers_file(tmp_path, 50)
    argv = ["campaign", str(path), "--body", "hi", "--chunk-size", "10", "--campaign-id", "r1"]
    sim.faults.add("POST /batches", status=400, times=2)  # two of the five chunks fail
    argv += ["--concurrency", "1"]  # in order: chunks 0 and 1 fail
    assert await acli(*argv, "--json") == 1
    first = json.loads(capsys.readouterr().out)
    assert (first["sent"], first["failed"], len(first["failed_chunks"])) == (30, 20, 2)
    assert len(sim.journal.batches_created()) == 3

    # Chunks 0 and 1 failed; a re-run with the same id looks every chunk up, so even
    # without --resume the 30 recipients already sent are not sent again.
    assert await acli(*argv, "--json") == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["chunks_existing"], second["chunks_created"]) == (3, 2)
    assert (second["sent"], second["failed"], second["complete"]) == (50, 0, True)
    assert len(sim.journal.batches_created()) == 5
    sim.journal.assert_each_recipient_once(f"+1555{i:07d}" for i in range(50))

    # now that chunk 0 exists, re-running the same id without --resume is refused
    assert await acli(*argv) == 2
    assert "already has batches: add --resume" in capsys.readouterr().err

    assert await acli(*argv, "--resume") == 0
    captured = capsys.readouterr()
    assert "resuming" in captured.err
    assert "sent:        50 recipients in 5 batches (0 created now, 5 already sent before)" in (
        captured.out
    )
    assert len(sim.journal.batches_created()) == 5


async def test_generated_campaign_id_skips_lookups(
    sim: SinchSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = numbers_file(tmp_path, 30)
    assert await acli("campaign", str(path), "--body", "hi", "--chunk-size", "10") == 0
    assert [r.method for r in sim.journal.requests] == ["POST"] * 3


@pytest.mark.parametrize("mode", ["plain", "rich"])
def test_progress_displays(mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = numbers_file(tmp_path, 2500)
    argv = ["campaign", str(path), "--body", "hi", "--progress", mode, "--simulate"]
    assert cli(*argv, "--chunk-size", "500", "--messages-per-second", "100000") == 0
    captured = capsys.readouterr()
    assert "sent:        2,500 recipients in 5 batches" in captured.out
    assert "2,500 sent" in captured.err
    if mode == "plain":
        assert "sending: 2,500 sent in 5 batches, 0 failed" in captured.err
        assert "100% of ~2,500 rows" in captured.err


# --- one-call commands against a simulator through SINCH_* ------------------------------------


async def test_send_and_batches_commands(
    sim: SinchSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["send", "--to", "+46700000001", "--to", "+46700000002,+46700000003"]
    assert await acli(*argv, "--body", "hello", "--client-reference", "order-1") == 0
    match = re.search(r"batch (\S+) created: 3 recipient", capsys.readouterr().out)
    assert match
    batch_id = match.group(1)

    assert await acli("batches", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [b["id"] for b in listed] == [batch_id]
    assert listed[0]["client_reference"] == "order-1"

    assert await acli("batches", "list", "--client-reference", "nope") == 0
    assert batch_id not in capsys.readouterr().out

    assert await acli("batches", "get", batch_id) == 0
    text = capsys.readouterr().out
    assert re.search(r"^id:\s+" + re.escape(batch_id), text, re.M)
    assert "hello" in text

    assert await acli("batches", "cancel", batch_id) == 0
    assert "canceled" in capsys.readouterr().out
    assert await acli("--json", "batches", "get", batch_id) == 0
    assert json.loads(capsys.readouterr().out)["canceled"] is True

    # an API error (404) exits 1
    assert await acli("batches", "get", "01NOSUCHBATCH") == 1
    assert "NotFoundError" in capsys.readouterr().err


async def test_send_validation_error_exits_2(
    sim: SinchSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    too_many = ",".join(f"+1555{i:07d}" for i in range(1001))
    assert await acli("send", "--to", too_many, "--body", "hi") == 2
    assert "invalid input" in capsys.readouterr().err
    assert sim.journal.requests == []


async def test_send_rejected_by_the_api_exits_1(
    sim: SinchSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.faults.add("POST /batches", status=400)
    assert await acli("send", "--to", "+46700000001", "--body", "hi") == 1
    assert "BadRequestError" in capsys.readouterr().err


async def test_delivery_report_command(
    sim: SinchSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await acli("send", "--to", "+46700000001,+46700000002", "--body", "hi") == 0
    match = re.search(r"batch (\S+) created", capsys.readouterr().out)
    assert match
    batch_id = match.group(1)
    await sim.advance(30)

    assert await acli("delivery-report", batch_id) == 0
    text = capsys.readouterr().out
    assert f"batch {batch_id}: 2 message(s)" in text
    assert re.search(r"^Delivered\s+0\s+2$", text, re.M)

    assert await acli("delivery-report", batch_id, "--full") == 0
    assert "46700000001" in capsys.readouterr().out

    assert await acli("delivery-report", batch_id, "--recipient", "+46700000002") == 0
    text = capsys.readouterr().out
    assert re.search(r"^status:\s+Delivered$", text, re.M)

    assert await acli("--json", "delivery-report", batch_id) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["statuses"][0]["count"] == 2


async def test_groups_commands(sim: SinchSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["groups", "create", "--name", "VIP", "--member", "+46700000001", "+46700000002"]
    assert await acli(*argv, "--member", "+46700000003") == 0
    match = re.search(r"group (\S+) created: VIP, 3 member", capsys.readouterr().out)
    assert match, "group create output"
    group_id = match.group(1)

    assert await acli("groups", "list") == 0
    assert re.search(re.escape(group_id) + r"\s+VIP\s+3\s", capsys.readouterr().out)
    assert await acli("groups", "get", group_id, "--json") == 0
    assert json.loads(capsys.readouterr().out)["name"] == "VIP"
    assert await acli("groups", "members", group_id) == 0
    members = capsys.readouterr().out.split()
    assert sorted(m.lstrip("+") for m in members) == ["46700000001", "46700000002", "46700000003"]
    assert await acli("groups", "delete", group_id) == 0
    assert "deleted" in capsys.readouterr().out
    assert await acli("groups", "get", group_id) == 1


async def test_inbounds_command(sim: SinchSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.inject_inbound("+46700000009", "+46700000000", "STOP please")
    sim.inject_inbound("+46700000008", "+46700000000", "hello there")
    assert await acli("inbounds", "list") == 0
    text = capsys.readouterr().out
    assert "STOP please" in text
    assert "hello there" in text
    assert await acli("inbounds", "list", "--limit", "1", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_list_commands_with_simulate(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("--simulate", "batches", "list") == 0
    assert capsys.readouterr().out.startswith("ID")
    assert cli("groups", "list", "--simulate", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


# --- as a process ---------------------------------------------------------------------------


def test_python_dash_m_campaign_from_stdin() -> None:
    result = run_python(
        ["-m", "sinch_async", "campaign", "-", "--body", "Hi ${name}", "--simulate", "--json"],
        stdin="phone,name\n+46700000001,Ann\n+46700000002,Bo\n+46700000002,Bo\n",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["valid"], report["duplicates"], report["sent"]) == (2, 1, 2)
    assert report["campaign_id"].startswith("stdin-")


_WITHOUT_RICH = (
    "import sys; sys.modules['rich'] = None; "
    "from sinch_async.__main__ import main; sys.exit(main(sys.argv[1:]))"
)


def test_works_without_rich(tmp_path: Path) -> None:
    path = numbers_file(tmp_path, 20)
    argv = ["campaign", str(path), "--body", "hi", "--simulate", "--progress", "rich"]
    result = run_python(["-c", _WITHOUT_RICH, *argv])
    assert result.returncode == 0, result.stderr
    assert "install sinch_async[cli]" in result.stderr
    assert "sending: 20 sent in 1 batches" in result.stderr  # plain progress instead
    assert "sent:        20 recipients" in result.stdout
    demo = run_python(["-c", _WITHOUT_RICH, "demo", "--recipients", "10"])
    assert demo.returncode == 0, demo.stderr


def test_importing_the_cli_does_not_import_rich() -> None:
    result = run_python(
        ["-c", "import sys, sinch_async.cli, sinch_async.__main__; print('rich' in sys.modules)"]
    )
    assert result.stdout.strip() == "False", result.stderr
