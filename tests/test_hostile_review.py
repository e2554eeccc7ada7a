"""Regression tests for the fixes made after the review of the issue-14 work.

Each test here failed before those fixes: deeply nested JSON from a server was a
``RecursionError`` (and, inside a fan-out, a task exception nobody retrieved); the buffer of
an over-cap body stayed alive in the exception's traceback; form feed was refused in message
text; successful bodies had the token rewritten while undecodable ones and 2xx headers kept
it, and scrubbing was case-sensitive; ``campaign_id``, group names and IDs, media URLs,
parameter numbers, account IDs and the Conversation identifiers, metadata and callback URL
reached the wire (or aiohttp) unchecked; the simulator and the example apps took a lone
surrogate; and an OAuth token with control characters failed inside aiohttp.

Every server is a real one on 127.0.0.1 (a :class:`RecordingServer`, small aiohttp apps,
the simulator, the example apps).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

import pytest
from aiohttp import web

from sinch_async import (
    AsyncConversationBatchClient,
    AsyncSmsClient,
    BadRequestError,
    FanOutReport,
    MediaBody,
    ResponseDecodeError,
    ResponseTooLargeError,
    SinchError,
    SinchValidationError,
    call_info,
)
from sinch_async.conversation import TextMessage
from sinch_async.models import (
    AutoUpdate,
    AutoUpdateKeywords,
    UnknownBatch,
    UnknownGroup,
    UnknownInbound,
    UnknownRecipientDeliveryReport,
)
from sinch_async.testing import SinchSimulator
from tests.conftest import (
    FAST,
    NUM,
    PLAN,
    TOKEN,
    RecordingServer,
    api_path,
    fixture_json,
    group_json,
    plan_client,
    refused_before_io,
    serve,
    text_batch,
)
from tests.test_example_apps import Running, running

MiB = 1024 * 1024
DEPTH = 5000
"""Far deeper than the interpreter's recursion limit (1000)."""


def deep_array(depth: int = DEPTH) -> bytes:
    """``[[[...]]]``, ``depth`` levels: a few kilobytes a hostile server can send."""
    return b"[" * depth + b"]" * depth


def with_deep_field(obj: dict[str, Any], name: str = "nested") -> bytes:
    """``obj`` as JSON with one more field, ``name``, nested :data:`DEPTH` levels deep."""
    text = json.dumps({**obj, name: "PLACEHOLDER"})
    head, tail = text.split('"PLACEHOLDER"')
    return head.encode() + deep_array() + tail.encode()


def page_of(key: str, items: list[bytes]) -> bytes:
    """A list page (``count``/``page``/``page_size`` and ``key``) of raw JSON items."""
    head = json.dumps({"count": len(items), "page": 0, "page_size": len(items)})
    return head[:-1].encode() + f', "{key}": ['.encode() + b", ".join(items) + b"]}"


def conversation_client(url: str, **options: Any) -> AsyncConversationBatchClient:
    """A Conversation client whose token endpoint and API are both ``url``."""
    return AsyncConversationBatchClient(
        "project-1",
        "key-id-1",
        "key-secret-0123456789",
        base_url=url,
        auth_url=url + "/oauth2/token",
        **options,
    )


@pytest.fixture
async def conv(server: RecordingServer) -> AsyncIterator[AsyncConversationBatchClient]:
    async with conversation_client(server.url) as client:
        yield client


def give_token(server: RecordingServer) -> None:
    server.respond(200, {"access_token": "conversation-token-1", "expires_in": 3600})


# --- 1. deeply nested JSON from the server is a decode error, never a RecursionError --------

DEEP_BATCHES: dict[str, bytes] = {
    "top-level array": deep_array(),
    "known type, deep extra field": with_deep_field(text_batch(id="b1")),
    "known type, deep body": with_deep_field(text_batch(), "body"),
    "unknown type, deep field": with_deep_field({"type": "mt_future", "id": "b1"}),
    "deep field before an unknown type": b'{"nested": '
    + deep_array()
    + b', "type": "mt_future", "id": "b1"}',
}


@pytest.mark.parametrize("body", list(DEEP_BATCHES.values()), ids=list(DEEP_BATCHES))
async def test_a_deep_2xx_body_is_a_response_decode_error(
    server: RecordingServer, sms: AsyncSmsClient, body: bytes
) -> None:
    server.respond(200, body=body, headers={"Content-Type": "application/json"})
    with pytest.raises(ResponseDecodeError) as caught:
        await sms.batches.get("b1")
    assert caught.value.status == 200
    assert caught.value.body == body  # the caller's data: kept as it came
    assert len(server.requests) == 1  # a decode error is not retried


@pytest.mark.parametrize(
    "body",
    [with_deep_field({"code": "deep", "text": "nested"}), deep_array()],
    ids=["object with a deep field", "top-level array"],
)
async def test_a_deep_400_body_is_a_bad_request_with_the_raw_text(
    server: RecordingServer, sms: AsyncSmsClient, body: bytes
) -> None:
    server.respond(400, body=body, headers={"Content-Type": "application/json"})
    with pytest.raises(BadRequestError) as caught:
        await sms.batches.get("b1")
    err = caught.value
    assert err.status == 400
    assert err.text is None or body.decode().startswith(err.text)
    assert err.text is None or len(err.text) <= 500


def _inbound(**changes: Any) -> dict[str, Any]:
    return fixture_json("inbounds/InboundTextDto.json", **changes)


def _report(**changes: Any) -> dict[str, Any]:
    return fixture_json("deliveryreports/RecipientDeliveryReportSMSDto.json", **changes)


ListFamily = tuple[
    str, Callable[..., dict[str, Any]], str, type[Any], Callable[[AsyncSmsClient], Any]
]
LIST_FAMILIES: dict[str, ListFamily] = {
    "batches": ("batches", text_batch, "id", UnknownBatch, lambda sms: sms.batches.list()),
    "groups": ("groups", group_json, "id", UnknownGroup, lambda sms: sms.groups.list()),
    "inbounds": ("inbounds", _inbound, "id", UnknownInbound, lambda sms: sms.inbounds.list()),
    "delivery_reports": (
        "delivery_reports",
        _report,
        "batch_id",
        UnknownRecipientDeliveryReport,
        lambda sms: sms.delivery_reports.list(),
    ),
}
DEEP_ITEMS: dict[str, Callable[[Callable[..., dict[str, Any]], str], bytes]] = {
    "deep extra field": lambda make, key: with_deep_field(make(**{key: "odd"})),
    "deep array as the item": lambda make, key: deep_array(),
    "unknown type with a deep field": lambda make, key: with_deep_field(
        make(**{key: "odd", "type": "future_type"})
    ),
}


@pytest.mark.parametrize("item", sorted(DEEP_ITEMS))
@pytest.mark.parametrize("family", sorted(LIST_FAMILIES))
async def test_a_list_page_with_one_deep_item_is_unknown_item_or_decode_error(
    server: RecordingServer, sms: AsyncSmsClient, family: str, item: str
) -> None:
    items_key, make, id_key, unknown, list_call = LIST_FAMILIES[family]
    items = [
        json.dumps(make(**{id_key: "a"})).encode(),
        DEEP_ITEMS[item](make, id_key),
        json.dumps(make(**{id_key: "c"})).encode(),
    ]
    server.respond(
        200, body=page_of(items_key, items), headers={"Content-Type": "application/json"}
    )
    refused: ResponseDecodeError | None = None
    try:
        got = [x async for x in list_call(sms)]
    except ResponseDecodeError as exc:  # the whole page refused: acceptable
        refused = exc
    if refused is not None:
        assert refused.status == 200
        return
    # Or the page decodes, with the deep item as an unknown item.
    assert len(got) == 3
    assert isinstance(got[1], unknown)
    assert not isinstance(got[0], unknown)
    assert not isinstance(got[2], unknown)


async def test_a_deep_conversation_get_is_a_response_decode_error(
    server: RecordingServer, conv: AsyncConversationBatchClient
) -> None:
    give_token(server)
    server.respond(
        200,
        body=with_deep_field({"batch_id": "b1", "batch_metadata": {}}),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(ResponseDecodeError):
        await conv.get("b1")


@pytest.mark.parametrize(
    "body",
    [deep_array(), with_deep_field({"batches": []})],
    ids=["top-level array", "object with a deep field"],
)
async def test_a_deep_conversation_list_is_a_response_decode_error(
    server: RecordingServer, conv: AsyncConversationBatchClient, body: bytes
) -> None:
    give_token(server)
    server.respond(200, body=body, headers={"Content-Type": "application/json"})
    with pytest.raises(ResponseDecodeError):
        await conv.list_by_metadata("campaign", "spring")


class LoopErrors:
    """The event loop's exception handler, recording what it is given (a task exception
    nobody retrieved, among others) while still calling the default handler."""

    def __init__(self) -> None:
        self.contexts: list[dict[str, Any]] = []

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.contexts.append(context)
        loop.default_exception_handler(context)


def _unretrieved(caplog: pytest.LogCaptureFixture, errors: LoopErrors) -> list[str]:
    said = [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]
    said += [str(c.get("message")) for c in errors.contexts]
    return said


@pytest.mark.parametrize("campaign", [None, "spring-sale"], ids=["no campaign", "campaign"])
async def test_fan_out_against_deep_503_bodies_reports_the_chunks_failed(
    caplog: pytest.LogCaptureFixture, campaign: str | None
) -> None:
    hits: list[str] = []

    async def unavailable(request: web.Request) -> web.Response:
        hits.append(request.method)
        await request.read()
        body = with_deep_field({"code": "unavailable", "text": "down"})
        return web.Response(status=503, body=body, content_type="application/json")

    loop = asyncio.get_running_loop()
    errors = LoopErrors()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(errors)
    try:
        async with (
            serve([web.route("*", "/{tail:.*}", unavailable)]) as url,
            plan_client(url, retry=FAST) as sms,
        ):
            numbers = [f"+4670000{i:04d}" for i in range(6)]
            report = await sms.batches.fan_out(
                numbers, "hi", chunk_size=2, concurrency=3, campaign_id=campaign
            )
        gc.collect()  # an unretrieved task exception is reported when the task is collected
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert isinstance(report, FanOutReport)
    assert hits  # the server was asked (and answered deep bodies)
    assert len(report.chunks) == 3
    assert {chunk.status for chunk in report.chunks} <= {"failed", "unknown"}
    assert report.sent == 0
    for chunk in report.chunks:
        assert isinstance(chunk.error, SinchError), repr(chunk.error)
    assert _unretrieved(caplog, errors) == []
    assert not any(r.exc_info and isinstance(r.exc_info[1], RecursionError) for r in caplog.records)


async def test_a_conversation_fan_out_against_deep_503_bodies_reports_the_chunks_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "conversation-token-1", "expires_in": 3600})

    async def unavailable(request: web.Request) -> web.Response:
        await request.read()
        body = with_deep_field({"error": {"code": 503, "message": "down"}})
        return web.Response(status=503, body=body, content_type="application/json")

    routes = [web.post("/oauth2/token", token), web.route("*", "/v1/{tail:.*}", unavailable)]
    loop = asyncio.get_running_loop()
    errors = LoopErrors()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(errors)
    try:
        async with serve(routes) as url, conversation_client(url, retry=FAST) as conv:
            contacts = [f"contact-{i}" for i in range(4)]
            report = await conv.fan_out(
                "app-1", TextMessage("hi"), contacts, chunk_size=2, campaign_id="spring"
            )
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert len(report.chunks) == 2
    assert {chunk.status for chunk in report.chunks} <= {"failed", "unknown"}
    for chunk in report.chunks:
        assert isinstance(chunk.error, SinchError), repr(chunk.error)
    assert _unretrieved(caplog, errors) == []


# --- 2. an over-cap body's buffer is not kept alive by the exception's traceback --------------

CAP = 1 * MiB
"""The cap for the traceback test: larger than anything aiohttp hands over in one read
(its buffer pauses the socket well below this), so only the whole body can exceed it."""


def _big_locals(exc: BaseException, limit: int) -> list[str]:
    """Bytes-like locals over ``limit`` bytes in any frame of ``exc``'s traceback (and
    those of the errors chained to it)."""
    found: list[str] = []
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        tb: TracebackType | None = seen.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            for name, value in frame.f_locals.items():
                if isinstance(value, (bytes, bytearray, memoryview)) and len(value) > limit:
                    found.append(f"{frame.f_code.co_name}: {name} ({len(value)} bytes)")
            tb = tb.tb_next
        seen = seen.__cause__ or seen.__context__
    return found


async def _chunked_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    piece = b" " * (16 * 1024)
    try:
        for _ in range(8 * MiB // len(piece)):
            await response.write(piece)
        await response.write_eof()
    except ConnectionError:
        pass  # the client dropped the connection at its cap, as it should
    return response


async def test_no_traceback_frame_holds_the_over_cap_buffer() -> None:
    async with (
        serve([web.get(api_path("/groups/g1"), _chunked_body)]) as url,
        plan_client(url, max_response_size=CAP, retry=None) as sms,
    ):
        with pytest.raises(ResponseTooLargeError) as caught:
            await sms.groups.get("g1")
    assert caught.value.limit == CAP
    assert _big_locals(caught.value, CAP) == []


def test_big_locals_finds_a_buffer_it_is_shown() -> None:
    """The scanner itself: a frame holding a big buffer is found."""

    def hold() -> None:
        buffer = bytearray(2 * CAP)
        raise ValueError(len(buffer))

    with pytest.raises(ValueError) as caught:
        hold()
    assert _big_locals(caught.value, CAP) == ["hold: buffer (2097152 bytes)"]


# --- 3. form feed is message text; other control characters are still refused -------------


async def test_a_form_feed_in_a_message_body_reaches_the_server(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, text_batch())
    await sms.batches.send([NUM], "Page 1\fPage 2")
    assert server.last.json["body"] == "Page 1\fPage 2"
    assert b"\\f" in server.last.body  # JSON-escaped, as any encoder writes it


async def test_a_form_feed_in_a_parameter_value_reaches_the_server(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, text_batch())
    parameters = {"page": {NUM: "1\f2", "default": "a\fb"}}
    await sms.batches.send([NUM], "Page ${page}", parameters=parameters)
    assert server.last.json["parameters"] == parameters


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("body", lambda sms: sms.batches.send([NUM], "ring \x07")),
        ("body", lambda sms: sms.batches.send([NUM], "vertical \x0b tab")),
        (
            "parameters['page']",
            lambda sms: sms.batches.send(
                [NUM], "Page ${page}", parameters={"page": {NUM: "1\x07", "default": "x"}}
            ),
        ),
    ],
    ids=["bell in body", "vertical tab in body", "bell in parameter value"],
)
async def test_other_control_characters_in_message_text_are_still_refused(
    server: RecordingServer,
    sms: AsyncSmsClient,
    field: str,
    call: Callable[[AsyncSmsClient], Awaitable[Any]],
) -> None:
    error = await refused_before_io(server, call(sms))
    assert error.field == field


# --- 4. secrets: user data left alone, secrets scrubbed wherever they reach an error ---------

SECRET_TOKEN = "SecretToken/Mixed+Case=0123456789"
"""Mixed case, with characters that percent-encoding changes."""


def _unescape(text: str) -> str:
    """``text`` with JSON ``\\uXXXX`` and ``\\/`` escapes and percent-encoding undone."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return urllib.parse.unquote(text.replace("\\/", "/"))


def reveals(text: str, secret: str = SECRET_TOKEN) -> bool:
    """True if ``text`` holds ``secret`` in any writing: escaped, encoded, in any case."""
    return secret.lower() in _unescape(text).lower()


def secret_client(url: str) -> AsyncSmsClient:
    return AsyncSmsClient(service_plan_id=PLAN, api_token=SECRET_TOKEN, base_url=url, retry=None)


async def test_a_2xx_body_holding_the_token_is_returned_unchanged(server: RecordingServer) -> None:
    callback = "https://hooks.example/sms?token=" + urllib.parse.quote(SECRET_TOKEN, safe="")
    server.respond(200, text_batch(callback_url=callback, client_reference=SECRET_TOKEN))
    async with secret_client(server.url) as sms:
        batch = await sms.batches.get("b1")
    assert batch.callback_url == callback  # the caller's own data, not rewritten
    assert batch.client_reference == SECRET_TOKEN


def _unicode_escaped(text: str) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in text)


async def test_an_undecodable_2xx_body_holding_the_token_escaped_is_scrubbed(
    server: RecordingServer,
) -> None:
    text = json.dumps(text_batch(to=5, client_reference="PLACEHOLDER"))  # "to" does not fit
    body = text.replace("PLACEHOLDER", _unicode_escaped(SECRET_TOKEN)).encode()
    assert reveals(body.decode())  # the test can fail: the token is in what was sent
    server.respond(200, body=body, headers={"Content-Type": "application/json"})
    async with secret_client(server.url) as sms:
        with pytest.raises(ResponseDecodeError) as caught:
            await sms.batches.get("b1")
    err = caught.value
    assert b"client_reference" in err.body  # the body is kept, only the secret is not
    assert not reveals(err.body.decode("utf-8", "replace"))
    assert not reveals(str(err))
    assert not reveals(repr(err))


async def test_a_2xx_header_echoing_the_token_is_scrubbed_in_call_info(
    server: RecordingServer,
) -> None:
    headers = {"X-Echo": f"Bearer {SECRET_TOKEN}", "X-Request-Id": "req-1"}
    server.respond(200, text_batch(), headers=headers)
    async with secret_client(server.url) as sms:
        with call_info() as info:
            await sms.batches.get("b1")
    assert info.status == 200
    assert "X-Echo" in info.headers
    assert not any(reveals(value) for value in info.headers.values()), dict(info.headers)


async def test_scrubbed_headers_keep_case_insensitive_lookup_and_repeated_headers() -> None:
    async def answer(request: web.Request) -> web.Response:
        response = web.json_response(text_batch(), headers={"X-Echo": SECRET_TOKEN})
        response.headers["x-request-id"] = "req-1"
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")
        return response

    async with serve([web.get(api_path("/batches/b1"), answer)]) as url, secret_client(url) as sms:
        with call_info() as info:
            await sms.batches.get("b1")
    assert not reveals(str(dict(info.headers)))
    # As without a scrubbed header: names in any case, every value of a repeated header.
    assert info.headers.get("X-Request-Id") == "req-1"
    assert info.headers.get("X-REQUEST-ID") == "req-1"
    assert sorted(value for name, value in info.headers.items() if name == "Set-Cookie") == [
        "a=1",
        "b=2",
    ]


@pytest.mark.parametrize("case", ["upper", "lower", "swapcase"])
async def test_an_error_echoing_the_token_in_another_case_is_scrubbed(
    server: RecordingServer, case: str
) -> None:
    echoed = getattr(SECRET_TOKEN, case)()
    assert echoed != SECRET_TOKEN
    server.respond(400, {"code": "bad_token", "text": f"token {echoed} is not valid"})
    async with secret_client(server.url) as sms:
        with pytest.raises(BadRequestError) as caught:
            await sms.batches.get("b1")
    err = caught.value
    assert "is not valid" in str(err)
    assert not reveals(str(err))
    assert not reveals(repr(err))
    assert not reveals(str(err.text))
    assert not reveals(err.body.decode("utf-8", "replace"))


# --- 5. a campaign_id that cannot go on the wire is refused before any request --------------

BAD_CAMPAIGNS = ["spring\ud800", "x\x00", "a\r\nb"]


@pytest.mark.parametrize("campaign_id", BAD_CAMPAIGNS, ids=ascii)
async def test_an_sms_fan_out_with_a_bad_campaign_id_sends_nothing(
    server: RecordingServer, sms: AsyncSmsClient, campaign_id: str
) -> None:
    error = await refused_before_io(
        server, sms.batches.fan_out([NUM], "hi", campaign_id=campaign_id)
    )
    assert error.field == "campaign_id"


@pytest.mark.parametrize("campaign_id", BAD_CAMPAIGNS, ids=ascii)
async def test_a_conversation_fan_out_with_a_bad_campaign_id_sends_nothing(
    server: RecordingServer, conv: AsyncConversationBatchClient, campaign_id: str
) -> None:
    # no request reaches the server, not even a token request
    error = await refused_before_io(
        server, conv.fan_out("app-1", TextMessage("hi"), ["contact-1"], campaign_id=campaign_id)
    )
    assert error.field == "campaign_id"


# --- 6. names, IDs, URLs and metadata refused before any I/O, naming the field -------------

SmsCall = Callable[[AsyncSmsClient], Awaitable[Any]]
SMS_REFUSALS: dict[str, tuple[str, SmsCall]] = {
    "group name with NUL": ("name", lambda sms: sms.groups.create(name="a\x00b")),
    "group update name with BEL": ("name", lambda sms: sms.groups.update("g1", name="a\x07")),
    "add_from_group ..": (
        "add_from_group",
        lambda sms: sms.groups.update("g1", add_from_group=".."),
    ),
    "add_from_group with /": (
        "add_from_group",
        lambda sms: sms.groups.update("g1", add_from_group="a/b"),
    ),
    "remove_from_group with NUL": (
        "remove_from_group",
        lambda sms: sms.groups.update("g1", remove_from_group="a\x00"),
    ),
    "child group with NUL": (
        "child_groups[0]",
        lambda sms: sms.groups.create(name="ok", child_groups=["a\x00"]),
    ),
    "child group .": (
        "child_groups[1]",
        lambda sms: sms.groups.create(name="ok", child_groups=["g1", "."]),
    ),
    "media url with NUL": (
        "body.url",
        lambda sms: sms.batches.send([NUM], MediaBody(url="http://x/\x00"), type="mt_media"),
    ),
    "media url with CR LF": (
        "body.url",
        lambda sms: sms.batches.send(
            [NUM], MediaBody(url="http://x/\r\nX-Injected: 1"), type="mt_media"
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(SMS_REFUSALS))
async def test_an_sms_call_with_a_bad_value_is_refused_before_any_io(
    server: RecordingServer, sms: AsyncSmsClient, case: str
) -> None:
    field, call = SMS_REFUSALS[case]
    error = await refused_before_io(server, call(sms))
    assert error.field == field
    assert str(error).startswith(f"{field}: ")


async def test_a_control_character_in_a_parameter_number_names_the_parameter(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    error = await refused_before_io(
        server, sms.batches.send([NUM], "hi ${n}", parameters={"n": {NUM + "\x00": "a"}})
    )
    assert error.field.startswith("parameters")
    assert "n" in error.field.removeprefix("parameters")


@pytest.mark.parametrize("plan", ["..", ".", "a/b", "plan\x00"], ids=ascii)
async def test_an_odd_service_plan_id_fails_at_construction(
    server: RecordingServer, plan: str
) -> None:
    with pytest.raises(SinchValidationError) as caught:
        AsyncSmsClient(service_plan_id=plan, api_token=TOKEN, base_url=server.url)
    assert caught.value.field == "service_plan_id"
    assert server.requests == []


@pytest.mark.parametrize("project", ["..", "."])
async def test_an_odd_project_id_fails_at_construction(
    server: RecordingServer, project: str
) -> None:
    with pytest.raises(SinchValidationError) as caught:
        AsyncConversationBatchClient(
            project, "key-id-1", "key-secret-0123456789", base_url=server.url
        )
    assert caught.value.field == "project_id"
    with pytest.raises(SinchValidationError) as caught:
        AsyncSmsClient(
            project_id=project, key_id="key-id-1", key_secret="key-secret-1", base_url=server.url
        )
    assert caught.value.field == "project_id"
    assert server.requests == []


ConvCall = Callable[[AsyncConversationBatchClient], Awaitable[Any]]
HI = TextMessage("hi")
CONVERSATION_REFUSALS: dict[str, tuple[Callable[[str], bool], ConvCall]] = {
    "app_id with NUL": (
        lambda field: field == "app_id",
        lambda conv: conv.send("app\x00", HI, ["contact-1"]),
    ),
    "contact_id with NUL": (
        lambda field: "recipient" in field or "contact" in field,
        lambda conv: conv.send("app-1", HI, ["c\x00"]),
    ),
    "correlation_id with NUL": (
        lambda field: field == "correlation_id",
        lambda conv: conv.send("app-1", HI, ["contact-1"], correlation_id="x\x00"),
    ),
    "batch_metadata key with NUL": (
        lambda field: field == "batch_metadata",
        lambda conv: conv.send("app-1", HI, ["contact-1"], batch_metadata={"k\x00": "v"}),
    ),
    "batch_metadata value with NUL": (
        lambda field: field.startswith("batch_metadata"),
        lambda conv: conv.send("app-1", HI, ["contact-1"], batch_metadata={"k": "v\x00"}),
    ),
    "callback_url with CR LF": (
        lambda field: field == "callback_url",
        lambda conv: conv.send(
            "app-1", HI, ["contact-1"], callback_url="https://hooks.example/\r\nX: 1"
        ),
    ),
    "cancel ..": (lambda field: field == "batch_id", lambda conv: conv.cancel("..")),
    "cancel with NUL": (lambda field: field == "batch_id", lambda conv: conv.cancel("a\x00")),
    "cancel a list holding .": (
        lambda field: field == "batch_id",
        lambda conv: conv.cancel(["b1", "."]),
    ),
}


@pytest.mark.parametrize("case", sorted(CONVERSATION_REFUSALS))
async def test_a_conversation_call_with_a_bad_value_is_refused_before_any_io(
    server: RecordingServer, conv: AsyncConversationBatchClient, case: str
) -> None:
    names_field, call = CONVERSATION_REFUSALS[case]
    # no request reaches the server, not even a token request
    error = await refused_before_io(server, call(conv))
    assert names_field(error.field), error.field


# Strings that still reach the wire with a control character in them (JSON-escaped, so no
# injection, but against issue 14's "control characters in strings that go on the wire are a
# SinchValidationError naming the field"; lone surrogates in the same fields are refused).
UNCHECKED_SMS: dict[str, tuple[str, SmsCall]] = {
    "auto_update.to with NUL": (
        "auto_update.to",
        lambda sms: sms.groups.create(name="ok", auto_update=AutoUpdate(to="123\x00")),
    ),
    "auto_update keyword with BEL": (
        "auto_update.add.first_word",
        lambda sms: sms.groups.create(
            name="ok",
            auto_update=AutoUpdate(to="12345", add=AutoUpdateKeywords(first_word="JOIN\x07")),
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(UNCHECKED_SMS))
async def test_a_control_character_in_auto_update_is_refused_before_any_io(
    server: RecordingServer, sms: AsyncSmsClient, case: str
) -> None:
    field, call = UNCHECKED_SMS[case]
    server.respond(201, group_json())
    error = await refused_before_io(server, call(sms))
    assert error.field == field


UNCHECKED_CONVERSATION: dict[str, tuple[str, ConvCall]] = {
    "text with NUL": (
        "message.text_message.text",
        lambda conv: conv.send("app-1", TextMessage("nul \x00"), ["contact-1"]),
    ),
    "text with BEL": (
        "message.text_message.text",
        lambda conv: conv.send("app-1", TextMessage("bell \x07"), ["contact-1"]),
    ),
    "channel_priority_order with NUL": (
        "channel_priority_order",
        lambda conv: conv.send("app-1", HI, ["contact-1"], channel_priority_order=["SMS\x00"]),
    ),
    "processing_strategy with NUL": (
        "processing_strategy",
        lambda conv: conv.send("app-1", HI, ["contact-1"], processing_strategy="DEFAULT\x00"),
    ),
}


@pytest.mark.parametrize("case", sorted(UNCHECKED_CONVERSATION))
async def test_a_control_character_in_a_conversation_send_is_refused_before_any_io(
    server: RecordingServer, conv: AsyncConversationBatchClient, case: str
) -> None:
    field, call = UNCHECKED_CONVERSATION[case]
    give_token(server)
    server.respond(200, {"batch_id": "b1"})
    error = await refused_before_io(server, call(conv))
    assert error.field.startswith(field)


async def test_tab_newlines_and_form_feed_in_conversation_text_are_sent(
    server: RecordingServer, conv: AsyncConversationBatchClient
) -> None:
    give_token(server)
    server.respond(200, {"batch_id": "b1"})
    await conv.send("app-1", TextMessage("a\tb\nc\r\nd\fe"), ["contact-1"])
    assert server.last.json["message"]["text_message"]["text"] == "a\tb\nc\r\nd\fe"


# --- 7. the simulator and the example apps refuse a lone surrogate --------------------------


@pytest.mark.parametrize(
    "changes",
    [{"body": "hi \ud800"}, {"from_": "+4670000\udcff"}, {"to": "123\ud800"}],
    ids=["body", "from_", "to"],
)
async def test_the_simulator_refuses_a_lone_surrogate_in_an_inbound(
    sim: SinchSimulator, changes: dict[str, str]
) -> None:
    arguments = {"from_": "+46700000009", "to": "12345", "body": "hi", **changes}
    with pytest.raises(ValueError, match="surrogate"):
        sim.inject_inbound(**arguments)


@pytest.fixture(params=["aiohttp", "fastapi"])
async def example(request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    async with running(request.param) as served:
        yield served


async def test_an_example_apps_simulated_inbound_with_a_lone_surrogate_is_a_400(
    example: Running, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"from": "+46700000009", "to": "12345", "body": "STOP \\ud800"}'
    status, data = await example.post("/simulate/inbound", body)
    assert status == 400, data
    assert isinstance(data["error"], str)
    assert data["error"]  # a message (the aiohttp app's JSON decoder already refuses it)
    problems = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert problems == []
    # And the app still works afterwards.
    status, data = await example.post(
        "/simulate/inbound", b'{"from": "+46700000009", "to": "12345", "body": "STOP"}'
    )
    assert status == 200, data


# --- 8. an OAuth token that cannot go in a header is a decode error ------------------------

BAD_ACCESS_TOKENS = ["abc\r\ndef", "", "abc\x00def", "abc\ud800def", "abc\ndef"]


@pytest.mark.parametrize("access_token", BAD_ACCESS_TOKENS, ids=ascii)
async def test_a_token_with_control_characters_is_a_response_decode_error(
    access_token: str,
) -> None:
    api_calls: list[str] = []

    async def token(request: web.Request) -> web.Response:
        body = json.dumps({"access_token": access_token, "expires_in": 3600})
        return web.Response(body=body.encode(), content_type="application/json")

    async def api(request: web.Request) -> web.Response:
        api_calls.append(request.path)
        return web.json_response(group_json())

    routes = [web.post("/oauth2/token", token), web.route("*", "/xms/{tail:.*}", api)]
    async with (
        serve(routes) as url,
        AsyncSmsClient(
            project_id="proj-1",
            key_id="key-id-1",
            key_secret="key-secret-0123456789",
            base_url=url,
            auth_url=url + "/oauth2/token",
            retry=FAST,
        ) as sms,
    ):
        with pytest.raises(ResponseDecodeError) as caught:
            await sms.groups.get("g1")
    assert caught.value.path == "/oauth2/token"
    assert api_calls == []  # the API was never called with it


@pytest.mark.parametrize("status", [200, 400])
async def test_a_deep_token_response_is_a_sinch_error(status: int) -> None:
    async def token(request: web.Request) -> web.Response:
        body = with_deep_field({"access_token": "abc", "expires_in": 3600})
        return web.Response(status=status, body=body, content_type="application/json")

    async with (
        serve([web.post("/oauth2/token", token)]) as url,
        AsyncSmsClient(
            project_id="proj-1",
            key_id="key-id-1",
            key_secret="key-secret-0123456789",
            base_url=url,
            auth_url=url + "/oauth2/token",
            retry=None,
        ) as sms,
    ):
        with pytest.raises(ResponseDecodeError if status == 200 else BadRequestError):
            await sms.groups.get("g1")


async def test_a_conversation_token_with_cr_lf_is_a_response_decode_error(
    server: RecordingServer, conv: AsyncConversationBatchClient
) -> None:
    server.respond(200, {"access_token": "abc\r\ndef", "expires_in": 3600})
    with pytest.raises(ResponseDecodeError):
        await conv.get("b1")
    assert [r.path for r in server.requests] == ["/oauth2/token"]
