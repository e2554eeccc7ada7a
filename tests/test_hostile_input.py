"""Hostile input from callers (issue 14 item 6) and lenient decoding of odd server data.

Odd IDs and strings are a :class:`SinchValidationError` naming the field, raised before
any I/O: every client here points at a :class:`RecordingServer`, which must have received
nothing. CR/LF in credentials fails at construction without repeating the credential.
Lenient decoding: numeric strings in number fields, and one odd item of a list page
comes back as an unknown item (raw JSON and the decode error) instead of losing the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sinch_async import (
    AsyncConversationBatchClient,
    AsyncSmsClient,
    SinchValidationError,
    TextBatch,
)
from sinch_async.conversation import TextMessage
from sinch_async.models import (
    UnknownBatch,
    UnknownGroup,
    UnknownInbound,
    UnknownRecipientDeliveryReport,
)
from tests.conftest import (
    NUM,
    PLAN,
    TOKEN,
    RecordingServer,
    api_path,
    fixture_json,
    group_json,
    load_fixture,
    plan_client,
    refused_before_io,
    serve,
    text_batch,
)

BAD_IDS = ["", ".", "..", "a/b", "a?b", "a#b", "a\nb", "\x00", "\udcff"]

IdCall = Callable[[AsyncSmsClient, str], Awaitable[Any]]
ID_CALLS: dict[str, tuple[str, IdCall]] = {
    "batches.get": ("batch_id", lambda sms, v: sms.batches.get(v)),
    "batches.cancel": ("batch_id", lambda sms, v: sms.batches.cancel(v)),
    "batches.replace": ("batch_id", lambda sms, v: sms.batches.replace(v, [NUM], "hi")),
    "batches.update": ("batch_id", lambda sms, v: sms.batches.update(v, body="hi")),
    "batches.send_delivery_feedback": (
        "batch_id",
        lambda sms, v: sms.batches.send_delivery_feedback(v, [NUM]),
    ),
    "groups.get": ("group_id", lambda sms, v: sms.groups.get(v)),
    "groups.delete": ("group_id", lambda sms, v: sms.groups.delete(v)),
    "groups.members": ("group_id", lambda sms, v: sms.groups.members(v)),
    "groups.replace": ("group_id", lambda sms, v: sms.groups.replace(v, name="n")),
    "groups.update": ("group_id", lambda sms, v: sms.groups.update(v, name="n")),
    "inbounds.get": ("inbound_id", lambda sms, v: sms.inbounds.get(v)),
    "delivery_reports.get": ("batch_id", lambda sms, v: sms.delivery_reports.get(v)),
    "delivery_reports.get_for_recipient[batch_id]": (
        "batch_id",
        lambda sms, v: sms.delivery_reports.get_for_recipient(v, NUM),
    ),
    "delivery_reports.get_for_recipient[recipient]": (
        "recipient",
        lambda sms, v: sms.delivery_reports.get_for_recipient("b1", v),
    ),
}


@pytest.mark.parametrize("bad", BAD_IDS, ids=ascii)
@pytest.mark.parametrize("call", sorted(ID_CALLS))
async def test_an_odd_id_is_refused_before_any_io(
    server: RecordingServer, sms: AsyncSmsClient, call: str, bad: str
) -> None:
    field, run = ID_CALLS[call]
    error = await refused_before_io(server, run(sms, bad))
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    assert error.attempts == 0


@pytest.fixture
async def conv(server: RecordingServer) -> AsyncIterator[AsyncConversationBatchClient]:
    """A Conversation client whose token endpoint and API are the recording server."""
    async with AsyncConversationBatchClient(
        "project-1",
        "key-id-1",
        "key-secret-0123456789",
        base_url=server.url,
        auth_url=server.url + "/oauth2/token",
    ) as client:
        yield client


@pytest.mark.parametrize("bad", BAD_IDS, ids=ascii)
async def test_an_odd_conversation_batch_id_is_refused_before_any_io(
    server: RecordingServer, conv: AsyncConversationBatchClient, bad: str
) -> None:
    # no request reaches the server, not even a token request
    error = await refused_before_io(server, conv.get(bad))
    assert error.field == "batch_id"


async def test_a_lone_surrogate_in_a_conversation_message_names_the_field(
    server: RecordingServer, conv: AsyncConversationBatchClient
) -> None:
    error = await refused_before_io(
        server, conv.send("app", TextMessage("hi \udcff"), ["contact-1"])
    )
    assert "text" in error.field
    assert "surrogate" in str(error)


async def test_odd_metadata_filters_are_refused_before_any_io(
    server: RecordingServer, conv: AsyncConversationBatchClient
) -> None:
    error = await refused_before_io(server, conv.list_by_metadata("key", "a\r\nb"))
    assert error.field == "value"
    error = await refused_before_io(server, conv.list_by_metadata("k\udcff", "v"))
    assert error.field == "key"


# --- lone surrogates and control characters in strings that go on the wire -------------------

Send = Callable[[AsyncSmsClient], Awaitable[Any]]
BAD_STRINGS: dict[str, tuple[str, Send]] = {
    "body": ("body", lambda sms: sms.batches.send([NUM], "\udcff")),
    "body with NUL": ("body", lambda sms: sms.batches.send([NUM], "a\x00b")),
    "from": ("from", lambda sms: sms.batches.send([NUM], "hi", from_="\udcff")),
    "from with LF": ("from", lambda sms: sms.batches.send([NUM], "hi", from_="Acme\nX")),
    "parameter value": (
        "parameters['name']",
        lambda sms: sms.batches.send(
            [NUM], "hi ${name}", parameters={"name": {NUM: "\udcff", "default": "x"}}
        ),
    ),
    "parameter name": (
        "parameters",
        lambda sms: sms.batches.send([NUM], "hi", parameters={"na\udcffme": {"default": "x"}}),
    ),
    "client_reference": (
        "client_reference",
        lambda sms: sms.batches.send([NUM], "hi", client_reference="\udcff"),
    ),
    "client_reference with CR": (
        "client_reference",
        lambda sms: sms.batches.send([NUM], "hi", client_reference="ref\r"),
    ),
    "callback_url": (
        "callback_url",
        lambda sms: sms.batches.send([NUM], "hi", callback_url="https://x.example/\n"),
    ),
    "update body": ("body", lambda sms: sms.batches.update("b1", body="\udcff")),
    "replace body": ("body", lambda sms: sms.batches.replace("b1", [NUM], "\udcff")),
    "dry_run body": ("body", lambda sms: sms.batches.dry_run([NUM], "\udcff")),
    "update body with NUL": ("body", lambda sms: sms.batches.update("b1", body="a\x00b")),
    "body with NUL and a field": (
        "body",
        lambda sms: sms.batches.send([NUM], "a\x00b", client_reference="ref-1"),
    ),
    "replace body with NUL": ("body", lambda sms: sms.batches.replace("b1", [NUM], "a\x00b")),
    "dry_run body with ESC": ("body", lambda sms: sms.batches.dry_run([NUM], "a\x1bb")),
}


@pytest.mark.parametrize(
    "case",
    sorted(BAD_STRINGS),
)
async def test_a_bad_string_in_a_request_names_its_field_before_any_io(
    server: RecordingServer, sms: AsyncSmsClient, case: str
) -> None:
    field, run = BAD_STRINGS[case]
    error = await refused_before_io(server, run(sms))
    assert error.field == field
    assert not isinstance(error.__cause__, UnicodeError)


async def test_a_lone_surrogate_in_a_parameter_number_names_the_parameter(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    error = await refused_before_io(
        server, sms.batches.send([NUM], "hi ${name}", parameters={"name": {"+4670\udcff": "x"}})
    )
    assert error.field.startswith("parameters")
    assert "name" in error.field


async def test_a_group_name_with_a_lone_surrogate_names_the_field(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    error = await refused_before_io(server, sms.groups.create(name="fri\udcffends"))
    assert error.field == "name"


async def first(items: AsyncIterable[Any]) -> Any:
    """The first item of a list (the first page's request)."""
    async for item in items:
        return item
    return None


ListCall = Callable[[AsyncSmsClient], Awaitable[Any]]
BAD_FILTERS: dict[str, tuple[str, ListCall]] = {
    "batches client_reference": (
        "client_reference",
        lambda sms: first(sms.batches.list(client_reference="\udcff")),
    ),
    "batches empty client_reference": (
        "client_reference",
        lambda sms: first(sms.batches.list(client_reference="")),
    ),
    "batches from_": ("from_[0]", lambda sms: first(sms.batches.list(from_="a\x00b"))),
    "batches second from_": ("from_[1]", lambda sms: first(sms.batches.list(from_=["a", "b\x7f"]))),
    "batches start_date": (
        "start_date",
        lambda sms: first(sms.batches.list(start_date="2024-01-01\r\n")),
    ),
    "inbounds to": ("to[0]", lambda sms: first(sms.inbounds.list(to="\x1b[31m"))),
    "inbounds client_reference": (
        "client_reference",
        lambda sms: first(sms.inbounds.list(client_reference="x\ny")),
    ),
    "delivery_reports status": (
        "status[0]",
        lambda sms: first(sms.delivery_reports.list(status="Deliv\nered")),
    ),
    "delivery_reports end_date": (
        "end_date",
        lambda sms: first(sms.delivery_reports.list(end_date="\udcff")),
    ),
    "delivery_reports.get status": (
        "status[0]",
        lambda sms: sms.delivery_reports.get("b1", status="Delivered\x00"),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILTERS))
async def test_a_bad_list_filter_is_refused_not_dropped(
    server: RecordingServer, sms: AsyncSmsClient, case: str
) -> None:
    field, make = BAD_FILTERS[case]

    async def listing() -> object:  # some lists refuse when called, not when awaited
        return await make(sms)

    # no request reaches the server, never an unfiltered list of everything
    error = await refused_before_io(server, listing())
    assert error.field == field


async def test_tab_and_newlines_in_a_message_body_are_sent(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, text_batch())
    await sms.batches.send(
        [NUM], "line 1\nline 2\r\n\tindented", parameters={"p": {"default": "a\tb"}}
    )
    sent = server.last.json
    assert sent["body"] == "line 1\nline 2\r\n\tindented"
    assert sent["parameters"] == {"p": {"default": "a\tb"}}


# --- CR/LF and NUL in credentials fail at construction ---------------------------------------

SECRET = "SECRETVALUE42"
INJECTIONS = ["\r\nX-Injected: 1", "\n", "\r", "\x00"]


def constructors(value: str) -> dict[str, Callable[[], Any]]:
    """One client construction per credential, with ``value`` in that credential."""
    url = "http://127.0.0.1:9"
    oauth: dict[str, Any] = {
        "project_id": "proj-1",
        "key_id": "key-id-1",
        "key_secret": "key-secret-1",
    }
    return {
        "api_token": lambda: AsyncSmsClient(service_plan_id=PLAN, api_token=value, base_url=url),
        "service_plan_id": lambda: AsyncSmsClient(
            service_plan_id=value, api_token=TOKEN, base_url=url
        ),
        "user_agent": lambda: AsyncSmsClient(
            service_plan_id=PLAN, api_token=TOKEN, base_url=url, user_agent=value
        ),
        "key_secret": lambda: AsyncSmsClient(**{**oauth, "key_secret": value}, base_url=url),
        "key_id": lambda: AsyncSmsClient(**{**oauth, "key_id": value}, base_url=url),
        "project_id": lambda: AsyncSmsClient(**{**oauth, "project_id": value}, base_url=url),
        "conversation key_secret": lambda: AsyncConversationBatchClient(
            "proj-1", "key-id-1", value, base_url=url
        ),
    }


@pytest.mark.parametrize("injection", INJECTIONS, ids=ascii)
@pytest.mark.parametrize("credential", sorted(constructors("")))
async def test_control_characters_in_a_credential_fail_at_construction(
    credential: str, injection: str
) -> None:
    value = SECRET[:6] + injection + SECRET[6:]
    with pytest.raises(SinchValidationError) as caught:
        constructors(value)[credential]()
    assert caught.value.field == credential.removeprefix("conversation ")
    shown = f"{caught.value} {caught.value!r} {caught.value.args} {caught.value.limit}"
    assert SECRET[:6] not in shown
    assert SECRET[6:] not in shown
    assert "Injected" not in shown


# --- any text as an ID: refused, or exactly one escaped path segment -------------------------

ids = st.one_of(
    st.text(max_size=40),
    st.text(
        alphabet=st.sampled_from("./?#%+ ;=&\\\n\r\t\x00\x7f\x85\udcff\ud800é€𝄞aZ9"), max_size=12
    ),
    st.text(alphabet=st.characters(categories=["Cc", "Cs", "Po", "Zs", "Sm"]), max_size=12),
)


def test_any_text_as_a_batch_id_is_refused_or_one_escaped_segment() -> None:
    prefix = api_path("/batches/")
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response(text_batch())

    loop = asyncio.new_event_loop()
    stack = contextlib.AsyncExitStack()
    try:
        url = loop.run_until_complete(
            stack.enter_async_context(serve([web.route("*", "/{tail:.*}", answer)]))
        )
        sms = loop.run_until_complete(stack.enter_async_context(plan_client(url, retry=None)))

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(batch_id=ids)
        def check(batch_id: str) -> None:
            seen.clear()
            refused: SinchValidationError | None = None
            try:
                batch = loop.run_until_complete(sms.batches.get(batch_id))
            except SinchValidationError as exc:
                refused = exc
            if refused is not None:
                assert refused.field == "batch_id"
                assert seen == []
                return
            assert isinstance(batch, TextBatch)
            assert len(seen) == 1
            assert seen[0].startswith(prefix)
            segment = seen[0][len(prefix) :]
            assert segment
            assert segment not in (".", "..")
            assert not any(char in segment for char in "/?#")
            assert urllib.parse.unquote(segment, errors="strict") == batch_id

        check()
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


# --- lenient decoding --------------------------------------------------------------------------


async def test_a_count_sent_as_a_numeric_string_decodes_as_a_number(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    report = load_fixture("deliveryreports/BatchDeliveryReportSMSDto.json")
    report["total_message_count"] = "20000"  # as in Sinch's own 2021 OpenAPI examples
    report["statuses"][0]["count"] = "3"
    server.respond(200, report)
    got = await sms.delivery_reports.get("b1")
    assert got.total_message_count == 20000
    assert got.statuses[0].count == 3


async def test_a_number_field_with_words_is_still_an_error(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    from sinch_async import ResponseDecodeError

    report = load_fixture("deliveryreports/BatchDeliveryReportSMSDto.json")
    report["total_message_count"] = "many"
    server.respond(200, report)
    with pytest.raises(ResponseDecodeError):
        await sms.delivery_reports.get("b1")


def _inbound(**changes: Any) -> dict[str, Any]:
    return fixture_json("inbounds/InboundTextDto.json", **changes)


def _report(**changes: Any) -> dict[str, Any]:
    return fixture_json("deliveryreports/RecipientDeliveryReportSMSDto.json", **changes)


PageCase = tuple[str, str, list[dict[str, Any]], type[Any], Callable[[AsyncSmsClient], Any]]
PAGES: dict[str, PageCase] = {
    "batches": (
        "/batches",
        "batches",
        [text_batch(id="a"), text_batch(id="odd", to=5), text_batch(id="c")],
        UnknownBatch,
        lambda sms: sms.batches.list(),
    ),
    "groups": (
        "/groups",
        "groups",
        [group_json(id="a"), group_json(id="odd", size="many"), group_json(id="c")],
        UnknownGroup,
        lambda sms: sms.groups.list(),
    ),
    "inbounds": (
        "/inbounds",
        "inbounds",
        [_inbound(id="a"), _inbound(id="odd", to=5), _inbound(id="c")],
        UnknownInbound,
        lambda sms: sms.inbounds.list(),
    ),
    "delivery_reports": (
        "/delivery_reports",
        "delivery_reports",
        [_report(batch_id="a"), _report(batch_id="odd", recipient=5), _report(batch_id="c")],
        UnknownRecipientDeliveryReport,
        lambda sms: sms.delivery_reports.list(),
    ),
}


def _key(item: Any) -> str:
    return str(getattr(item, "batch_id", None) or item.id)


@pytest.mark.parametrize("family", sorted(PAGES))
async def test_one_odd_item_does_not_lose_the_page(
    server: RecordingServer, sms: AsyncSmsClient, family: str, caplog: pytest.LogCaptureFixture
) -> None:
    path, key, items, unknown, make = PAGES[family]
    server.respond(200, {"count": 3, "page": 0, "page_size": 3, key: items})
    caplog.set_level(logging.DEBUG, logger="sinch_async")
    got = [item async for item in make(sms)]
    assert server.last.path == api_path(path)
    assert [_key(item) for item in got] == ["a", "odd", "c"]
    normal = [item for index, item in enumerate(got) if index != 1]
    assert not any(isinstance(item, unknown) for item in normal)
    odd = got[1]
    assert isinstance(odd, unknown)
    assert odd.raw == items[1]
    assert odd.decode_error
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "1 of 3 items" in warnings[0].getMessage()


async def test_every_odd_item_on_a_page_is_logged_once_for_the_page(
    server: RecordingServer, sms: AsyncSmsClient, caplog: pytest.LogCaptureFixture
) -> None:
    batches = [text_batch(id=f"odd-{i}", to=i) for i in range(5)]
    server.respond(200, {"count": 5, "page": 0, "page_size": 5, "batches": batches})
    caplog.set_level(logging.DEBUG, logger="sinch_async")
    got = [batch async for batch in sms.batches.list()]
    assert all(isinstance(batch, UnknownBatch) for batch in got)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "5 of 5 items" in warnings[0]


@pytest.mark.parametrize("tag", [{"a": 1}, [1]], ids=["object", "array"])
async def test_a_batch_whose_type_is_not_a_string_is_an_unknown_batch(
    server: RecordingServer, sms: AsyncSmsClient, tag: Any
) -> None:
    server.respond(200, text_batch(type=tag))
    got = await sms.batches.get("b1")
    assert isinstance(got, UnknownBatch)
    assert got.raw["type"] == tag


async def test_a_list_item_whose_type_is_not_a_string_does_not_lose_the_page(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    batches = [text_batch(id="a"), text_batch(id="odd", type={"a": 1})]
    server.respond(200, {"count": 2, "page": 0, "page_size": 2, "batches": batches})
    got = [batch async for batch in sms.batches.list()]
    assert [batch.id for batch in got] == ["a", "odd"]
    assert isinstance(got[1], UnknownBatch)


def test_a_callback_whose_type_is_not_a_string_raises_only_the_documented_error() -> None:
    from sinch_async.webhooks import InvalidCallbackError, UnknownCallback, parse_callback

    try:
        event = parse_callback(b'{"type": {"a": 1}}')
    except InvalidCallbackError:
        return
    assert isinstance(event, UnknownCallback)
