"""sms.groups at the HTTP level against the recording server."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from sinch_async import (
    AsyncSmsClient,
    AutoUpdate,
    AutoUpdateKeywords,
    Group,
    NotFoundError,
    ResponseDecodeError,
    SinchValidationError,
)
from tests.conftest import TOKEN, RecordingServer, api_path, group_json, header, load_fixture

GROUP_ID = "01FC66621XXXXX119Z8PMV1QPU"
GROUP_PATH = api_path(f"/groups/{GROUP_ID}")
GROUP = group_json()
MEMBER = "+46700000001"
"""Stands in for the fixtures' member "foo", which is not a phone number (refused before I/O)."""
REMOVED = "+46700000002"
"""Stands in for the fixture's "+0987654321" (a country code cannot start with 0)."""


def assert_json_request(server: RecordingServer, method: str, path: str) -> Any:
    rec = server.last
    assert rec.method == method
    assert rec.path == path
    assert rec.query == {}
    assert header(rec.headers, "Authorization") == f"Bearer {TOKEN}"
    assert header(rec.headers, "Content-Type") == "application/json"
    assert header(rec.headers, "Accept") == "application/json"
    return rec.json


def assert_fixture_group(group: Group) -> None:
    assert isinstance(group, Group)
    assert group.id == GROUP_ID
    assert group.name == "My new customers"
    assert group.size == 2
    assert group.created_at == datetime(2019, 8, 24, 14, 15, 22, tzinfo=timezone.utc)
    assert group.modified_at == datetime(2019, 8, 24, 14, 15, 44, tzinfo=timezone.utc)
    assert group.child_groups == ["01FC66621XXXXX119Z8PMV1AHY", "01FC66621XXXXX119Z8PMV1A00"]
    assert group.auto_update == AutoUpdate(
        to=15551231234,
        add=AutoUpdateKeywords(first_word="Add 1st keyword", second_word="Add 2nd keyword"),
        remove=AutoUpdateKeywords(
            first_word="remove 1st keyword", second_word="remove 2nd keyword"
        ),
    )


# --- create ---------------------------------------------------------------------------------


async def test_create_full_body_matches_fixture(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, GROUP)
    group = await sms.groups.create(
        name="My new customers",
        members=[MEMBER],
        child_groups=["01FC66621XXXXX119Z8PMV1AHY", "01FC66621XXXXX119Z8PMV1A00"],
        auto_update=AutoUpdate(
            to=15551231234,
            add=AutoUpdateKeywords(first_word="Add 1st keyword"),
            remove=AutoUpdateKeywords(
                first_word="remove 1st keyword", second_word="remove 2nd keyword"
            ),
        ),
    )
    body = assert_json_request(server, "POST", api_path("/groups"))
    assert body == {**load_fixture("CreateGroupRequestDto.json"), "members": [MEMBER]}
    assert_fixture_group(group)


async def test_create_request_fixture_with_string_to(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, GROUP)
    fixture = load_fixture("groups/request/GroupRequestDto.json")
    await sms.groups.create(
        name=fixture["name"],
        members=fixture["members"],
        child_groups=fixture["child_groups"],
        auto_update=AutoUpdate(
            to="15551231234",
            add=AutoUpdateKeywords(first_word="Add 1st keyword", second_word="Add 2nd keyword"),
            remove=AutoUpdateKeywords(
                first_word="remove 1st keyword", second_word="remove 2nd keyword"
            ),
        ),
    )
    assert server.last.json == fixture


async def test_create_empty_sends_empty_object(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, {"id": "g-new", "size": 0})
    group = await sms.groups.create()
    assert assert_json_request(server, "POST", api_path("/groups")) == {}
    assert group.id == "g-new"
    assert group.name is None
    assert group.size == 0


async def test_create_name_of_20_chars_is_sent(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, GROUP)
    await sms.groups.create(name="x" * 20)
    assert server.last.json == {"name": "x" * 20}


async def test_create_ten_child_groups_allowed(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, GROUP)
    children = [f"child{i}" for i in range(10)]
    await sms.groups.create(child_groups=children)
    assert server.last.json == {"child_groups": children}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "x" * 21}, "name"),
        ({"name": ""}, "name"),
        ({"child_groups": [f"c{i}" for i in range(11)]}, "child_groups"),
        ({"members": "+46700000001"}, "members"),
        ({"members": ["+46700000001", ""]}, "members[1]"),
        ({"child_groups": ["ok", "  "]}, "child_groups[1]"),
    ],
)
async def test_create_validation(
    server: RecordingServer, sms: AsyncSmsClient, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.groups.create(**kwargs)
    assert info.value.field == field
    assert server.requests == []


# --- list -----------------------------------------------------------------------------------


async def test_list_pages(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("groups/response/ListGroupsResponseDtoPage0.json"))
    server.respond(200, load_fixture("groups/response/ListGroupsResponseDtoPage1.json"))
    groups = [g async for g in sms.groups.list(page_size=2)]
    assert [g.id for g in groups] == [GROUP_ID, "foo id", GROUP_ID]
    assert groups[1].name is None
    assert groups[0].auto_update == AutoUpdate(
        to=15551231234,
        add=AutoUpdateKeywords(first_word="1stKeyword"),
        remove=AutoUpdateKeywords(first_word="1stKeyword", second_word="2ndKeyword"),
    )
    assert [(r.method, r.path, r.query) for r in server.requests] == [
        ("GET", api_path("/groups"), {"page": "0", "page_size": "2"}),
        ("GET", api_path("/groups"), {"page": "1", "page_size": "2"}),
    ]
    assert server.requests[0].body == b""


async def test_list_default_page_size(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("groups/response/ListGroupsResponseDtoPage2.json"))
    assert await sms.groups.list().collect() == []
    assert server.last.query == {"page": "0", "page_size": "100"}


@pytest.mark.parametrize("page_size", [0, 101, -1])
async def test_list_bad_page_size(
    server: RecordingServer, sms: AsyncSmsClient, page_size: int
) -> None:
    with pytest.raises(SinchValidationError) as info:
        sms.groups.list(page_size=page_size)
    assert info.value.field == "page_size"
    assert server.requests == []


# --- get ------------------------------------------------------------------------------------


async def test_get(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, GROUP)
    group = await sms.groups.get(GROUP_ID)
    rec = server.last
    assert rec.method == "GET"
    assert rec.path == GROUP_PATH
    assert rec.query == {}
    assert rec.body == b""
    assert header(rec.headers, "Content-Type") is None
    assert header(rec.headers, "Authorization") == f"Bearer {TOKEN}"
    assert_fixture_group(group)


async def test_get_quotes_id(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, GROUP)
    await sms.groups.get("a:b&c")
    assert server.last.raw_path == api_path("/groups/a%3Ab%26c")


async def test_get_not_found(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(404, {"code": "not_found", "text": "group not found"})
    with pytest.raises(NotFoundError) as info:
        await sms.groups.get("missing")
    assert info.value.path == "/groups/missing"
    assert info.value.text == "group not found"


async def test_get_bad_body(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, {"name": "no id"})
    with pytest.raises(ResponseDecodeError) as info:
        await sms.groups.get(GROUP_ID)
    assert info.value.status == 200


# --- replace --------------------------------------------------------------------------------


async def test_replace(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, GROUP)
    group = await sms.groups.replace(GROUP_ID, name="My new customers", members=[MEMBER])
    body = assert_json_request(server, "PUT", GROUP_PATH)
    assert body == {**load_fixture("ReplaceGroupRequestDto.json"), "members": [MEMBER]}
    assert_fixture_group(group)


async def test_replace_with_child_groups_and_auto_update(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, GROUP)
    await sms.groups.replace(
        GROUP_ID,
        child_groups=["c1"],
        auto_update=AutoUpdate(to="12345", add=AutoUpdateKeywords(first_word="JOIN")),
    )
    assert server.last.json == {
        "child_groups": ["c1"],
        "auto_update": {"to": "12345", "add": {"first_word": "JOIN"}},
    }


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        ((GROUP_ID,), {"name": "y" * 21}, "name"),
        ((GROUP_ID,), {"child_groups": [f"c{i}" for i in range(11)]}, "child_groups"),
        (("",), {"name": "ok"}, "group_id"),
    ],
)
async def test_replace_validation(
    server: RecordingServer,
    sms: AsyncSmsClient,
    args: tuple[str, ...],
    kwargs: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.groups.replace(*args, **kwargs)
    assert info.value.field == field
    assert server.requests == []


# --- update ---------------------------------------------------------------------------------


async def test_update_full_body_matches_fixture(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, GROUP)
    group = await sms.groups.update(
        GROUP_ID,
        name="My new customers",
        add=["+12345674890"],
        remove=[REMOVED, "+3456789123"],
        add_from_group="01FC66621XXXXX119Z8PMV1AHY",
        remove_from_group="01FC66621XXXXX119Z8PMV1A00",
        auto_update=AutoUpdate(
            to="15551231234",
            add=AutoUpdateKeywords(first_word="Add 1st keyword", second_word="Add 2nd keyword"),
            remove=AutoUpdateKeywords(
                first_word="remove 1st keyword", second_word="remove 2nd keyword"
            ),
        ),
    )
    body = assert_json_request(server, "POST", GROUP_PATH)
    expected = load_fixture("groups/request/GroupUpdateRequestDto.json")
    assert expected["remove"][0] == "+0987654321"  # country code 0: refused by the number rule
    assert body == {**expected, "remove": [REMOVED, "+3456789123"]}
    assert_fixture_group(group)


async def test_update_name_none_sends_null(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, {**GROUP, "name": None})
    group = await sms.groups.update(GROUP_ID, name=None)
    assert_json_request(server, "POST", GROUP_PATH)
    assert server.last.body == b'{"name":null}'
    assert server.last.json == {"name": None}
    assert group.name is None


async def test_update_without_name_sends_no_name_key(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, GROUP)
    await sms.groups.update(GROUP_ID, add=["+46700000001"])
    body = assert_json_request(server, "POST", GROUP_PATH)
    assert body == {"add": ["+46700000001"]}
    assert "name" not in body


async def test_update_nothing_sends_empty_object(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, GROUP)
    await sms.groups.update(GROUP_ID)
    assert assert_json_request(server, "POST", GROUP_PATH) == {}


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        ((GROUP_ID,), {"name": "z" * 21}, "name"),
        ((GROUP_ID,), {"name": ""}, "name"),
        ((GROUP_ID,), {"add": "+46700000001"}, "add"),
        ((GROUP_ID,), {"remove": [""]}, "remove[0]"),
        (("  ",), {"add": ["+46700000001"]}, "group_id"),
    ],
)
async def test_update_validation(
    server: RecordingServer,
    sms: AsyncSmsClient,
    args: tuple[str, ...],
    kwargs: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.groups.update(*args, **kwargs)
    assert info.value.field == field
    assert server.requests == []


# --- delete ---------------------------------------------------------------------------------


async def test_delete(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(204)
    result = await sms.groups.delete(GROUP_ID)
    assert result is None
    rec = server.last
    assert rec.method == "DELETE"
    assert rec.path == GROUP_PATH
    assert rec.body == b""
    assert header(rec.headers, "Content-Type") is None
    assert header(rec.headers, "Authorization") == f"Bearer {TOKEN}"


async def test_delete_not_found(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(404)
    with pytest.raises(NotFoundError):
        await sms.groups.delete("missing")
    assert server.last.method == "DELETE"


async def test_delete_empty_id(server: RecordingServer, sms: AsyncSmsClient) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.groups.delete("")
    assert info.value.field == "group_id"
    assert server.requests == []


# --- members --------------------------------------------------------------------------------


async def test_members_bare_array(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, ["+46700000001", "46700000002"])
    members = await sms.groups.members(GROUP_ID)
    assert members == ["+46700000001", "46700000002"]
    rec = server.last
    assert rec.method == "GET"
    assert rec.path == api_path(f"/groups/{GROUP_ID}/members")
    assert rec.query == {}
    assert rec.body == b""


async def test_members_empty(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, [])
    assert await sms.groups.members(GROUP_ID) == []


async def test_members_object_body_is_decode_error(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, {"members": ["+46700000001"]})
    with pytest.raises(ResponseDecodeError):
        await sms.groups.members(GROUP_ID)


async def test_members_empty_id(server: RecordingServer, sms: AsyncSmsClient) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.groups.members(" ")
    assert info.value.field == "group_id"
    assert server.requests == []


@pytest.mark.parametrize("bad_id", [None, 123])
async def test_get_non_string_id(
    server: RecordingServer, sms: AsyncSmsClient, bad_id: object
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.groups.get(bad_id)  # type: ignore[arg-type]
    assert info.value.field == "group_id"
    assert server.requests == []
