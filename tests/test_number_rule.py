"""One phone-number rule for every entry point, and numbers masked however they are written.

The table below goes through ``sms.batches.send`` (keyword form and request struct),
``dry_run``, ``update`` (``to_add`` / ``to_remove``, keyword form and request struct),
``replace``, ``sms.groups`` (create / replace / update members), ``fan_out``, the command
line and ``normalize_number``. A valid number reaches the simulator as the caller wrote it
(its journal shows the request); an invalid one raises :class:`SinchValidationError` before
any request (the journal stays empty), naming the position, the masked number and the
reason; the fan-out reports it instead of raising.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sinch_async import (
    AsyncSmsClient,
    BadRequestError,
    SinchValidationError,
    normalize_number,
    same_number,
)
from sinch_async.__main__ import main
from sinch_async._redact import mask_numbers
from sinch_async._validate import check_phone_numbers, check_recipients
from sinch_async.conversation import ChannelIdentity, TextMessage
from sinch_async.conversation._validate import PHONE_IDENTITY_CHANNELS
from sinch_async.conversation.fanout import PHONE_CHANNELS
from sinch_async.fanout import normalize_e164
from sinch_async.models.batches import TextRequest, UpdateBatchRequest
from sinch_async.numbers import _plain_patterns, is_group_id, recipient_problem
from sinch_async.testing import SinchSimulator
from tests.conftest import FAST, RecordingServer, sinch_env

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc)
pytestmark = pytest.mark.sinch_simulator(start_time=START)

OTHER = "+46700000099"
"""A valid number sent with every value of the table (first), so that positions show."""

FULLWIDTH = "\uff0b\uff14\uff16\uff17\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff11"
ARABIC_INDIC = "+\u0664\u0666\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0661"

VALID = [  # (as written, E.164)
    ("+46700000001", "+46700000001"),
    ("46700000002", "+46700000002"),
    ("0046700000003", "+46700000003"),
    ("+46 70-000 00 04", "+46700000004"),
    ("(+1) 201.777.7777", "+12017777777"),
    ("+1234567", "+1234567"),  # 7 digits: the shortest
    ("+123456789012345", "+123456789012345"),  # 15 digits: the longest
]

INVALID = [  # (as written, words of the reason, what normalize_number does: raise | keep)
    ("0701234567", "national format", "raise"),
    ("(070) 123-4567", "national format", "raise"),
    ("000 46700000001", "country code cannot start with 0", "raise"),
    ("+46abc000001", "letters", "raise"),
    ("SINCH", "letters", "keep"),  # an alphanumeric sender ID, not a number
    (FULLWIDTH, "digits other than 0-9", "raise"),
    (ARABIC_INDIC, "digits other than 0-9", "raise"),
    ("+123456", "too short", "raise"),
    ("12345", "too short", "raise"),  # a numeric short code is not a recipient number
    ("+1234567890123456", "too long", "raise"),
    ("++46700000001", "not a phone number", "raise"),
    ("+46 70\u00a0000 00 01", "not a phone number", "raise"),  # separators are ASCII only
    ("   ", "empty", "keep"),
    ("01234567890123456789012345", "national format", "raise"),  # 26 digits: no group ID
]

VALID_IDS = [raw for raw, _ in VALID]
INVALID_IDS = [repr(raw) for raw, _, _ in INVALID]


def assert_masked(raw: str, message: str) -> None:
    """``raw`` (a number as written) does not appear unmasked in ``message``."""
    if raw.strip():
        assert raw.strip() not in message


# --- the entry points --------------------------------------------------------------------------


@dataclass
class Ctx:
    sms: AsyncSmsClient
    sim: SinchSimulator
    batch_id: str
    group_id: str


@dataclass(frozen=True)
class EntryPoint:
    name: str
    key: str  # the JSON field that carries the list
    field: str  # the field named by the error
    call: Callable[[Ctx, list[str]], Awaitable[Any]]
    group_ids: bool = True  # group IDs accepted (a batch's recipients; not group members)

    def __repr__(self) -> str:
        return self.name


ENTRY_POINTS = [
    EntryPoint("send", "to", "to", lambda c, to: c.sms.batches.send(to, "hi")),
    EntryPoint(
        "send(TextRequest)",
        "to",
        "to",
        lambda c, to: c.sms.batches.send(TextRequest(to=to, body="hi")),
    ),
    EntryPoint("dry_run", "to", "to", lambda c, to: c.sms.batches.dry_run(to, "hi")),
    EntryPoint(
        "update(to_add)",
        "to_add",
        "to_add",
        lambda c, to: c.sms.batches.update(c.batch_id, to_add=to),
    ),
    EntryPoint(
        "update(to_remove)",
        "to_remove",
        "to_remove",
        lambda c, to: c.sms.batches.update(c.batch_id, to_remove=to),
    ),
    EntryPoint(
        "update(request)",
        "to_add",
        "to_add",
        lambda c, to: c.sms.batches.update(c.batch_id, request=UpdateBatchRequest(to_add=to)),
    ),
    EntryPoint("replace", "to", "to", lambda c, to: c.sms.batches.replace(c.batch_id, to, "hi")),
    EntryPoint(
        "groups.create",
        "members",
        "members",
        lambda c, to: c.sms.groups.create(name="table", members=to),
        group_ids=False,
    ),
    EntryPoint(
        "groups.replace",
        "members",
        "members",
        lambda c, to: c.sms.groups.replace(c.group_id, members=to),
        group_ids=False,
    ),
    EntryPoint(
        "groups.update(add)",
        "add",
        "add",
        lambda c, to: c.sms.groups.update(c.group_id, add=to),
        group_ids=False,
    ),
    EntryPoint(
        "groups.update(remove)",
        "remove",
        "remove",
        lambda c, to: c.sms.groups.update(c.group_id, remove=to),
        group_ids=False,
    ),
]


@pytest.fixture
async def ctx(sim: SinchSimulator, sinch_client: AsyncSmsClient) -> Ctx:
    """A batch to update or replace (scheduled: not dispatched) and a group; the journal
    cleared."""
    later = START + timedelta(hours=2)
    batch = await sinch_client.batches.send(["+46700000097"], "seed", send_at=later)
    group = await sinch_client.groups.create(name="existing", members=["+46700000098"])
    sim.journal.clear()
    return Ctx(sinch_client, sim, batch.id, group.id)


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=repr)
@pytest.mark.parametrize(("raw", "e164"), VALID, ids=VALID_IDS)
async def test_a_valid_number_reaches_the_simulator_as_written(
    ctx: Ctx, entry: EntryPoint, raw: str, e164: str
) -> None:
    await entry.call(ctx, [OTHER, raw])
    (request,) = ctx.sim.journal.requests
    assert request.status in (200, 201), request
    assert request.json[entry.key] == [OTHER, raw]  # the wire format is the caller's


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=repr)
@pytest.mark.parametrize(("raw", "reason", "_"), INVALID, ids=INVALID_IDS)
async def test_an_invalid_number_raises_before_any_request(
    ctx: Ctx, entry: EntryPoint, raw: str, reason: str, _: str
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await entry.call(ctx, [OTHER, raw])
    error = info.value
    assert error.field == f"{entry.field}[1]"
    assert reason in str(error)
    assert_masked(raw, str(error))
    assert ctx.sim.journal.requests == []


async def test_the_sends_deliver_the_valid_numbers(ctx: Ctx) -> None:
    """Every valid form reaches the recipient's E.164 number on the simulator."""
    await ctx.sms.batches.send(VALID_IDS, "hi")
    assert sorted(ctx.sim.journal.recipients_sent()) == sorted(e164 for _, e164 in VALID)


async def test_group_ids_are_recipients_not_members(ctx: Ctx) -> None:
    for entry in ENTRY_POINTS:
        ctx.sim.journal.clear()
        if entry.group_ids:
            await entry.call(ctx, [OTHER, ctx.group_id])
            (request,) = ctx.sim.journal.requests
            assert request.status in (200, 201), (entry, request)
        else:
            with pytest.raises(SinchValidationError, match="letters") as info:
                await entry.call(ctx, [OTHER, ctx.group_id])
            assert info.value.field == f"{entry.field}[1]", entry
            assert ctx.sim.journal.requests == [], entry
    # the group's member got the message sent to the group
    ctx.sim.journal.clear()
    await ctx.sms.batches.send([ctx.group_id], "to the group")
    await ctx.sim.advance(5)
    assert ctx.sim.journal.recipients_sent() == ["+46700000098"]
    # not a phone number: normalize_number leaves it alone
    assert normalize_number(f" {ctx.group_id} ") == ctx.group_id


@pytest.mark.parametrize(
    "value",
    [
        "01FC66621XXXXX119Z8PMV1QPU",  # Sinch's documentation (Java SDK fixtures)
        "01HEABZ9S80D4ENE3X6CPMATZR",
        "01ABCDEFGHIJKLMNOPQRSTUVWX",  # the README's example of an unknown group
        "01fc66621xxxxx119z8pmv1qpu",
    ],
)
def test_group_id_shapes(value: str) -> None:
    assert is_group_id(value)
    assert recipient_problem(value) is None
    assert check_recipients([value]) == [value]


@pytest.mark.parametrize(
    "value",
    [
        "0701234567",  # a national number is never a group ID
        "01234567890123456789012345",  # 26 digits, no letter
        "01FC66621XXXXX119Z8PMV1QP",  # 25 characters
        "01FC66621XXXXX119Z8PMV1QPUX",  # 27
        "01FC66621XXXXX119Z8PMV1QP-",
        " 01FC66621XXXXX119Z8PMV1QPU",
        "01FC66621XXXXX119Z8PMV1QP\uff35",  # a fullwidth U
    ],
)
def test_not_group_ids(value: str) -> None:
    assert not is_group_id(value)
    assert recipient_problem(value) is not None
    with pytest.raises(SinchValidationError) as info:
        check_recipients([value])
    assert info.value.field == "to[0]"


# --- the fan-out: invalid recipients are reported, not raised ----------------------------------


@pytest.mark.parametrize(("raw", "e164"), VALID, ids=VALID_IDS)
async def test_fan_out_sends_a_valid_number(ctx: Ctx, raw: str, e164: str) -> None:
    report = await ctx.sms.batches.fan_out([OTHER, raw], "hi")
    assert (report.sent, report.invalid) == (2, [])
    assert ctx.sim.journal.recipients_sent() == [OTHER, e164]


@pytest.mark.parametrize(("raw", "reason", "_"), INVALID, ids=INVALID_IDS)
async def test_fan_out_reports_an_invalid_number(ctx: Ctx, raw: str, reason: str, _: str) -> None:
    report = await ctx.sms.batches.fan_out([OTHER, raw], "hi")
    assert report.sent == 1
    (invalid,) = report.invalid
    assert invalid.value == raw
    assert reason in invalid.reason
    assert invalid.reason == normalize_e164(raw)[1]  # the same rule, the same words
    assert ctx.sim.journal.recipients_sent() == [OTHER]


async def test_fan_out_reports_a_group_id(ctx: Ctx) -> None:
    report = await ctx.sms.batches.fan_out([OTHER, ctx.group_id], "hi")
    assert report.sent == 1
    assert [bad.reason for bad in report.invalid] == [normalize_e164(ctx.group_id)[1]]


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def cli_sim(sim: SinchSimulator, monkeypatch: pytest.MonkeyPatch) -> SinchSimulator:
    for name in list(os.environ):
        if name.startswith("SINCH_"):
            monkeypatch.delenv(name)
    for name, value in sinch_env(sim).items():
        if name.startswith("SINCH_"):
            monkeypatch.setenv(name, value)
    return sim


async def acli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


@pytest.mark.parametrize(("raw", "e164"), VALID, ids=VALID_IDS)
async def test_cli_send_accepts_a_valid_number(
    cli_sim: SinchSimulator, raw: str, e164: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await acli("send", "--to", f"{OTHER},{raw}", "--body", "hi") == 0
    assert cli_sim.journal.recipients_sent() == [OTHER, e164]
    assert "2 recipient" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("raw", "reason", "_"), [row for row in INVALID if row[0].strip()], ids=INVALID_IDS[:-1]
)
async def test_cli_send_refuses_an_invalid_number(
    cli_sim: SinchSimulator, raw: str, reason: str, _: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await acli("send", "--to", f"{OTHER},{raw}", "--body", "hi") == 2
    err = capsys.readouterr().err
    assert "invalid input: to[1]" in err
    assert reason in err
    assert_masked(raw, err)
    assert cli_sim.journal.requests == []


def test_cli_send_simulate_in_a_subprocess() -> None:
    """``sinch-async send --to ... --simulate`` as a user runs it."""
    argv = [sys.executable, "-m", "sinch_async", "send", "--body", "hi", "--simulate", "--to"]
    env = sinch_env()
    bad = subprocess.run([*argv, "0701234567"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2, bad.stderr
    assert "to[0]" in bad.stderr
    assert "national format" in bad.stderr
    assert "0701234567" not in bad.stderr + bad.stdout
    good = subprocess.run([*argv, "+46 70-000 00 01"], capture_output=True, text=True, env=env)
    assert good.returncode == 0, good.stderr
    assert "1 recipient" in good.stdout


# --- normalize_number --------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "e164"), VALID, ids=VALID_IDS)
def test_normalize_number_valid(raw: str, e164: str) -> None:
    assert normalize_number(raw) == e164
    assert normalize_number(f"  {raw} ") == e164
    assert same_number(raw, e164)


@pytest.mark.parametrize(("raw", "reason", "verdict"), INVALID, ids=INVALID_IDS)
def test_normalize_number_invalid(raw: str, reason: str, verdict: str) -> None:
    """Written as a number (a leading +, or digits and no letters): raises; a string with
    letters (a sender ID, a group ID) is not a number and comes back stripped."""
    if verdict == "keep":
        assert normalize_number(raw) == raw.strip()
        return
    with pytest.raises(SinchValidationError) as info:
        normalize_number(raw)
    assert info.value.field == "number"
    assert reason in str(info.value)
    assert_masked(raw, str(info.value))
    with pytest.raises(SinchValidationError):
        same_number(raw, "+46700000001")


def test_normalize_number_never_invents_a_number() -> None:
    """The issue's example: a national number is not turned into ``+0701234567``."""
    with pytest.raises(SinchValidationError, match="national format"):
        normalize_number("0701234567")
    assert normalize_number("My Shop") == "My Shop"
    with pytest.raises(SinchValidationError):
        normalize_number(46700000001)  # type: ignore[arg-type]


# --- the Conversation API: phone identities follow the same rule -------------------------------


def test_phone_identity_channels_are_the_fan_outs() -> None:
    assert PHONE_IDENTITY_CHANNELS == PHONE_CHANNELS


async def test_conversation_send_checks_phone_identities(sim: SinchSimulator) -> None:
    async with sim.conversation_client(retry=FAST) as conv:
        with pytest.raises(SinchValidationError) as info:
            await conv.send(
                "app",
                TextMessage("hi"),
                [ChannelIdentity("SMS", OTHER), ChannelIdentity("sms", "0701234567")],
            )
        error = info.value
        assert error.field == (
            "recipient_and_params[1].recipient.identified_by.channel_identities[0].identity"
        )
        assert "national format" in str(error)
        assert "0701234567" not in str(error)
        assert sim.journal.requests == []
        # not a phone channel: left to Sinch
        await conv.send("app", TextMessage("hi"), [ChannelIdentity("MESSENGER", "0701234567")])
        # a valid number in any of its forms goes as written
        await conv.send("app", TextMessage("hi"), [ChannelIdentity("WHATSAPP", "+46 70-000 00 04")])
    sent = [
        e.json for e in sim.journal.requests if e.method == "POST" and e.path.endswith("/messages")
    ]
    assert len(sent) == 2, sim.journal.requests
    assert "+46 70-000 00 04" in str(sent[1])


# --- the fast paths agree with the rule --------------------------------------------------------


def test_check_recipients_keeps_the_list_as_written() -> None:
    numbers = [f"+4670{i:07d}" for i in range(1000)]
    assert check_recipients(numbers) == numbers
    assert check_recipients(numbers) is not numbers  # a copy
    mixed = ["46700000001", "+46 70-000 00 02", "0046700000003", "01FC66621XXXXX119Z8PMV1QPU"]
    assert check_recipients(mixed) == mixed
    with pytest.raises(SinchValidationError) as info:
        check_recipients([*numbers[:999], "0701234567"])
    assert info.value.field == "to[999]"


def test_a_nul_inside_an_item_does_not_split_it() -> None:
    """The list fast path joins items with NUL: an item holding one must not pass as two."""
    for items in (["+46700000001\x00+46700000002"], [OTHER, "+46700000001\x00+46700000002"]):
        with pytest.raises(SinchValidationError) as info:
            check_recipients(items)
        assert info.value.field == f"to[{len(items) - 1}]"
    with pytest.raises(SinchValidationError):
        check_phone_numbers(["+46700000001\x0046700000002", OTHER], "members")


def test_non_strings_and_empty_items_name_their_position() -> None:
    for bad in (46700000001, None, b"+46700000001", ""):
        with pytest.raises(SinchValidationError, match="non-empty string") as info:
            check_recipients([OTHER, OTHER, bad])
        assert info.value.field == "to[2]"


ALPHABET = "0123456789+ -.()\u00a0a\u0664"


def _random_number(rng: random.Random) -> str:
    if rng.random() < 0.5:  # mostly plain numbers, around the length limits
        prefix = rng.choice(["", "+", "00", "0", "+0"])
        return prefix + "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 17)))
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 20)))


def test_fast_paths_agree_with_the_rule() -> None:
    """The regex shortcuts accept exactly what the step-by-step rule accepts."""
    rng = random.Random(13)
    fast_plain, list_plain = _plain_patterns(False)
    if sys.version_info >= (3, 11):  # possessive quantifiers are 3.11+
        fast_possessive, list_possessive = _plain_patterns(True)
    else:  # Python 3.10 uses the plain patterns only: compare them with themselves
        fast_possessive, list_possessive = fast_plain, list_plain
    for _ in range(20000):
        value = _random_number(rng)
        slow = normalize_e164(f" {value}")  # a leading space: never the fast path
        assert normalize_e164(value) == slow, value
        plain = fast_possessive.fullmatch(value) is not None
        assert plain == (fast_plain.fullmatch(value) is not None), value
        if plain:
            assert slow[0] is not None, value
    for _ in range(3000):
        items = [_random_number(rng) for _ in range(rng.randint(1, 5))]
        valid = all(normalize_e164(f" {item}")[0] is not None for item in items)
        try:
            assert check_recipients(items) == items
            accepted = True
        except SinchValidationError:
            accepted = False
        assert accepted == valid, items
        joined = "\x00".join(items)
        assert (list_possessive.fullmatch(joined) is None) == (
            list_plain.fullmatch(joined) is None
        ), items


# --- masking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("to +46700000001 and 46700000002.", "to +46*****0001 and 467****0002."),
        ("/delivery_report/%2B46700000001", "/delivery_report/%2B*******0001"),
        ("/delivery_report/%2b46700000001", "/delivery_report/%2b*******0001"),
        ("call +46 70 000 00 01 now", "call +46 ** *** 00 01 now"),
        ("(070) 123-4567", "(07*) ***-4567"),
        ("070-123 45 67", "07*-*** 45 67"),
        ("46.70.000.00.01", "46.7*.***.00.01"),
        ("(+1) 201.777.7777", "(+1) 2**.***.7777"),
        ("%2B46%2070%20000%2000%2001", "%2B**%20**%20***%2000%2001"),
        ("to=%2B46-70-000-00-01&x=1", "to=%2B**-**-***-00-01&x=1"),
        ("%28070%29%20123-4567", "%2807*%29%20***-4567"),
        ("%2046700000001", "%20467****0001"),
        ("46700000001 46700000002", "467****0001 467****0002"),
        ("value '+46 70-000 00 01' is not valid", "value '+46 **-*** 00 01' is not valid"),
        ("2024-01-02 46700000001", "2024-01-02 467****0001"),
        ("tel:+46700000001;", "tel:+46*****0001;"),
    ],
)
def test_mask_numbers_written_for_people(text: str, masked: str) -> None:
    assert mask_numbers(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "batch 01FC66621XXXXX119Z8PMV1QPQ",
        "page_size=100 and code 402",
        "short 123456",
        "2024-01-02T03:04:05Z",
        "send_at 2024-01-02 03:04:05+00:00",
        "02.01.2024 12:00",
        "connect to 127.0.0.1:8080 failed",
        "took 0.123456789 s",
        "1 000 messages in 2 batches",
        "id 123456789012345678901234",  # a long identifier, not a number
    ],
)
def test_mask_numbers_leaves_other_text(text: str) -> None:
    assert mask_numbers(text) == text


def test_mask_numbers_many_numbers_in_a_row() -> None:
    """More digits than one number holds: everything but the last four is masked."""
    assert mask_numbers("070 123 45 67 070 123 45 68") == "*** *** ** ** *** *** 45 68"


async def test_api_error_message_masks_a_spaced_number(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    text = "The format of parameter 'to[0]' is invalid; value '+46 70-000 00 01' is not valid"
    server.respond(400, {"code": "syntax_invalid_parameter_format", "text": text})
    with pytest.raises(BadRequestError) as info:
        await sms.batches.send(["+46 70-000 00 01"], "hi")
    assert "70-000 00 01" not in str(info.value)
    assert "+46 **-*** 00 01" in str(info.value)
    assert info.value.text == text  # the raw text stays on the attribute


async def test_retry_log_masks_a_percent_encoded_spaced_number(
    server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.respond(503)
    server.respond(200, {"batch_id": "b1", "recipient": "46700000001", "code": 0})
    server.respond(200, {})
    async with AsyncSmsClient(
        service_plan_id="plan", api_token="token", base_url=server.url, retry=FAST
    ) as sms:
        with caplog.at_level(logging.DEBUG, logger="sinch_async"):
            await sms.delivery_reports.get_for_recipient("b1", "+46 70 000 00 01")
    assert "%2B46%2070%20000%2000%2001" in server.requests[0].raw_path
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "retry" in logged
    assert "%2070%20000" not in logged
    assert "70 000 00 01" not in logged
