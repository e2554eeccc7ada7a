"""sms.inbounds at the HTTP level against the recording server."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from sinch_async import (
    AsyncSmsClient,
    InboundBinary,
    InboundMedia,
    InboundText,
    NotFoundError,
    SinchValidationError,
)
from sinch_async.models.inbounds import InboundMediaBody, InboundMediaItem, UnknownInbound
from tests.conftest import TOKEN, RecordingServer, api_path, header, load_fixture

INBOUND_ID = "01FC66621XXXXX119Z8PMV1QPA"
PAGES = [
    "inbounds/response/internal/InboundsListResponseDtoPage0.json",
    "inbounds/response/internal/InboundsListResponseDtoPage1.json",
    "inbounds/response/internal/InboundsListResponseDtoPage2.json",
]
RECEIVED = datetime(2019, 8, 24, 14, 17, 22, tzinfo=timezone.utc)
SENT = datetime(2019, 8, 24, 14, 15, 22, tzinfo=timezone.utc)


def assert_common_fields(inbound: Any) -> None:
    assert inbound.id == INBOUND_ID
    assert inbound.from_ == "+11203494390"
    assert inbound.to == "11203453453"
    assert inbound.received_at == RECEIVED
    assert inbound.sent_at == SENT
    assert inbound.operator_id == "35000"
    assert inbound.client_reference == "a client reference"


# --- get ------------------------------------------------------------------------------------


async def test_get_text(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("inbounds/InboundTextDto.json"))
    inbound = await sms.inbounds.get(INBOUND_ID)
    rec = server.last
    assert rec.method == "GET"
    assert rec.path == api_path(f"/inbounds/{INBOUND_ID}")
    assert rec.query == {}
    assert rec.body == b""
    assert header(rec.headers, "Authorization") == f"Bearer {TOKEN}"
    assert header(rec.headers, "Accept") == "application/json"
    assert isinstance(inbound, InboundText)
    assert inbound.body == "a body"
    assert_common_fields(inbound)


async def test_get_binary(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("inbounds/InboundBinaryDto.json"))
    inbound = await sms.inbounds.get(INBOUND_ID)
    assert isinstance(inbound, InboundBinary)
    assert inbound.body == "a body"
    assert inbound.udh == "foo udh"
    assert_common_fields(inbound)


async def test_get_media(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("inbounds/InboundMediaDto.json"))
    inbound = await sms.inbounds.get(INBOUND_ID)
    assert isinstance(inbound, InboundMedia)
    assert inbound.body == InboundMediaBody(
        subject="mmy subject",
        message="my message",
        media=[
            InboundMediaItem(
                url="https://foo.url", content_type="content/type", status="a status", code=1234
            )
        ],
    )
    assert_common_fields(inbound)


async def test_get_unknown_type(server: RecordingServer, sms: AsyncSmsClient) -> None:
    body = load_fixture("inbounds/InboundTextDto.json")
    body["type"] = "mo_rcs"
    body["body"] = {"card": {"title": "hello"}}
    server.respond(200, body)
    inbound = await sms.inbounds.get(INBOUND_ID)
    assert isinstance(inbound, UnknownInbound)
    assert inbound.type == "mo_rcs"
    assert inbound.id == INBOUND_ID
    assert inbound.raw == body
    assert inbound.get("body") == {"card": {"title": "hello"}}


async def test_get_quotes_id(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("inbounds/InboundTextDto.json"))
    await sms.inbounds.get("a;b")
    assert server.last.raw_path == api_path("/inbounds/a%3Bb")


async def test_get_not_found(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(404)
    with pytest.raises(NotFoundError) as info:
        await sms.inbounds.get("missing")
    assert info.value.path == "/inbounds/missing"


@pytest.mark.parametrize("bad_id", ["", "   ", None])
async def test_get_empty_id(server: RecordingServer, sms: AsyncSmsClient, bad_id: Any) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.inbounds.get(bad_id)
    assert info.value.field == "inbound_id"
    assert server.requests == []


# --- list -----------------------------------------------------------------------------------


async def test_list_to_comma_joined(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture(PAGES[0]))
    server.respond(200, load_fixture(PAGES[1]))
    inbounds = await sms.inbounds.list(
        page_size=2,
        to=["+11203453453", "12345"],
        start_date=datetime(2019, 8, 24, 0, 0, 0, tzinfo=timezone.utc),
        end_date="2019-08-25T00:00:00Z",
        client_reference="ref",
    ).collect()
    assert len(server.requests) == 2
    for number, rec in enumerate(server.requests):
        assert rec.method == "GET"
        assert rec.path == api_path("/inbounds")
        assert rec.query == {
            "to": "+11203453453,12345",
            "start_date": "2019-08-24T00:00:00Z",
            "end_date": "2019-08-25T00:00:00Z",
            "client_reference": "ref",
            "page": str(number),
            "page_size": "2",
        }
    # the "+" must survive the query string (not be read as a space)
    assert "%2B11203453453" in server.requests[0].query_string
    assert [type(i) for i in inbounds] == [InboundBinary, InboundText, InboundBinary]
    for inbound in inbounds:
        assert_common_fields(inbound)
    assert inbounds[0].udh == "foo udh"  # type: ignore[union-attr]


async def test_list_single_to_string(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture(PAGES[2]))
    assert await sms.inbounds.list(to="+11203453453").collect() == []
    assert server.last.query == {"to": "+11203453453", "page": "0", "page_size": "100"}


async def test_list_no_filters(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture(PAGES[0]))
    page = await sms.inbounds.list().page()
    assert server.last.query == {"page": "0", "page_size": "100"}
    assert page.count == 3
    assert page.page == 0
    assert page.page_size == 2
    assert [type(i) for i in page.items] == [InboundBinary, InboundText]


async def test_list_unknown_item_type(server: RecordingServer, sms: AsyncSmsClient) -> None:
    body = load_fixture(PAGES[1])
    body["inbounds"][0]["type"] = "mo_rcs"
    server.respond(200, body)
    items = await sms.inbounds.list(page_size=1).collect()
    assert len(items) == 1
    assert isinstance(items[0], UnknownInbound)
    assert items[0].type == "mo_rcs"
    assert items[0].id == INBOUND_ID


async def test_list_limit(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture(PAGES[0]))
    items = await sms.inbounds.list(page_size=2, limit=1).collect()
    assert len(items) == 1
    assert isinstance(items[0], InboundBinary)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"to": []}, "to"),
        ({"to": ["+11203453453", ""]}, "to"),
        ({"to": ""}, "to"),
        ({"start_date": "  "}, "start_date"),
        ({"end_date": 5}, "end_date"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1000}, "page_size"),
        ({"limit": -5}, "limit"),
    ],
)
async def test_list_validation(
    server: RecordingServer, sms: AsyncSmsClient, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(SinchValidationError) as info:
        sms.inbounds.list(**kwargs)
    assert info.value.field == field
    assert server.requests == []
