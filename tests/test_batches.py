"""``sms.batches`` at the HTTP level, against the recording server."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import pytest

from sinch_async import AsyncSmsClient, BadRequestError, SinchValidationError
from sinch_async.models import (
    BinaryBatch,
    BinaryRequest,
    DryRunRecipient,
    DryRunResult,
    MediaBatch,
    MediaBody,
    MediaRequest,
    TextBatch,
    TextRequest,
    UpdateBatchRequest,
)
from tests.conftest import TOKEN, Recorded, RecordingServer, api_path, load_fixture, text_batch

BATCH_ID = "01FC66621XXXXX119Z8PMV1QPQ"
NUM1 = "+46700000001"
NUM2 = "+46700000002"
MEDIA_URL = "https://example.com/cat.png"


def assert_call(
    rec: Recorded,
    method: str,
    rest: str,
    *,
    query: list[tuple[str, str]] | None = None,
    body: Any = None,
) -> None:
    """Method, exact raw path, query, JSON body and headers of one recorded request."""
    assert rec.method == method
    assert rec.raw_path == api_path(rest)
    assert parse_qsl(rec.query_string, keep_blank_values=True) == (query or [])
    assert rec.headers["Authorization"] == f"Bearer {TOKEN}"
    assert rec.headers["Accept"] == "application/json"
    if body is None:
        assert rec.body == b""
        assert "Content-Type" not in rec.headers
    else:
        assert rec.headers["Content-Type"] == "application/json"
        assert rec.json == body
        assert b"null" not in rec.body


# --- send ----------------------------------------------------------------------------------


async def test_send_text_with_parameters(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(201, text_batch())
    params = {"name": {NUM1: "Ann", "default": "there"}}

    batch = await sms.batches.send(
        [NUM1, NUM2],
        "Hi ${name}",
        from_="Sinch",
        parameters=params,
        delivery_report="per_recipient",
        client_reference="ref-1",
        max_number_of_message_parts=3,
        flash_message=False,
    )

    assert len(server.requests) == 1
    assert_call(
        server.last,
        "POST",
        "/batches",
        body={
            "type": "mt_text",
            "to": [NUM1, NUM2],
            "from": "Sinch",
            "body": "Hi ${name}",
            "parameters": params,
            "delivery_report": "per_recipient",
            "client_reference": "ref-1",
            "max_number_of_message_parts": 3,
            "flash_message": False,
        },
    )
    assert isinstance(batch, TextBatch)
    assert batch.id == BATCH_ID
    assert batch.from_ == "+15551231234"
    assert batch.body == "Hi ${name} ({an identifier}) ! How are you?"
    assert batch.parameters is not None
    assert batch.parameters["name"]["default"] == "default value"
    assert batch.created_at == datetime(2019, 8, 24, 14, 15, 22, tzinfo=timezone.utc)
    assert batch.canceled is False
    assert batch.max_number_of_message_parts == 1


async def test_send_only_given_fields_no_nulls(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, text_batch())

    await sms.batches.send(NUM1, "Hello")

    assert_call(
        server.last, "POST", "/batches", body={"type": "mt_text", "to": [NUM1], "body": "Hello"}
    )
    assert "from_" not in server.last.json


async def test_send_body_of_2000_chars_is_accepted(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, text_batch())
    await sms.batches.send([NUM1], "x" * 2000)
    assert server.last.json["body"] == "x" * 2000


async def test_send_binary_with_udh(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(201, load_fixture("batches/response/BinaryResponseDto.json"))

    batch = await sms.batches.send(
        [NUM1],
        "SGVsbG8=",
        type="mt_binary",
        udh="050003010201",
        from_="12345",
        from_ton=1,
        from_npi=1,
    )

    assert_call(
        server.last,
        "POST",
        "/batches",
        body={
            "type": "mt_binary",
            "to": [NUM1],
            "from": "12345",
            "body": "SGVsbG8=",
            "udh": "050003010201",
            "from_ton": 1,
            "from_npi": 1,
        },
    )
    assert isinstance(batch, BinaryBatch)
    assert batch.udh == "foo udh"
    assert batch.from_ton == 6
    assert batch.from_npi == 18


async def test_send_media(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(201, load_fixture("batches/response/MediaResponseDto.json"))

    batch = await sms.batches.send(
        [NUM1],
        MediaBody(url=MEDIA_URL, message="Look", subject="Cat"),
        type="mt_media",
        strict_validation=True,
    )

    assert_call(
        server.last,
        "POST",
        "/batches",
        body={
            "type": "mt_media",
            "to": [NUM1],
            "body": {"url": MEDIA_URL, "message": "Look", "subject": "Cat"},
            "strict_validation": True,
        },
    )
    assert isinstance(batch, MediaBatch)
    assert isinstance(batch.body, MediaBody)
    assert batch.body.subject == "subject field"
    assert batch.body.url.startswith("https://en.wikipedia.org/")
    assert batch.strict_validation is True


async def test_send_media_url_only_omits_message_and_subject(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, load_fixture("batches/response/MediaResponseDto.json"))
    await sms.batches.send([NUM1], MediaBody(url=MEDIA_URL), type="mt_media")
    assert_call(
        server.last,
        "POST",
        "/batches",
        body={"type": "mt_media", "to": [NUM1], "body": {"url": MEDIA_URL}},
    )


READY_REQUESTS = [
    pytest.param(
        TextRequest(to=[NUM1], body="Hi", client_reference="r"),
        {"type": "mt_text", "to": [NUM1], "body": "Hi", "client_reference": "r"},
        "batches/response/TextResponseDto.json",
        TextBatch,
        id="text",
    ),
    pytest.param(
        BinaryRequest(to=[NUM1, NUM2], body="SGVsbG8=", udh="0500", from_="Sinch"),
        {
            "type": "mt_binary",
            "to": [NUM1, NUM2],
            "from": "Sinch",
            "body": "SGVsbG8=",
            "udh": "0500",
        },
        "batches/response/BinaryResponseDto.json",
        BinaryBatch,
        id="binary",
    ),
    pytest.param(
        MediaRequest(to=[NUM1], body=MediaBody(url=MEDIA_URL), strict_validation=False),
        {"type": "mt_media", "to": [NUM1], "body": {"url": MEDIA_URL}, "strict_validation": False},
        "batches/response/MediaResponseDto.json",
        MediaBatch,
        id="media",
    ),
]


@pytest.mark.parametrize(("request_struct", "expected", "fixture", "cls"), READY_REQUESTS)
async def test_send_ready_request_struct(
    server: RecordingServer,
    sms: AsyncSmsClient,
    request_struct: Any,
    expected: dict[str, Any],
    fixture: str,
    cls: type,
) -> None:
    server.respond(201, load_fixture(fixture))
    batch = await sms.batches.send(request_struct)
    assert_call(server.last, "POST", "/batches", body=expected)
    assert type(batch) is cls


async def test_send_struct_and_body_together_is_rejected(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.batches.send(TextRequest(to=[NUM1], body="Hi"), "other")  # type: ignore[call-overload]
    assert info.value.field == "body"
    assert server.requests == []


async def test_send_datetimes_encoded_as_utc_with_z(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, text_batch())
    plus_two = timezone(timedelta(hours=2))

    await sms.batches.send(
        [NUM1],
        "Hi",
        send_at=datetime(2030, 5, 1, 14, 0, 0, tzinfo=plus_two),
        expire_at=datetime(2030, 5, 2, 9, 30, 15),  # naive: UTC
    )

    body = server.last.json
    assert body["send_at"] == "2030-05-01T12:00:00Z"
    assert body["expire_at"] == "2030-05-02T09:30:15Z"


async def test_send_datetime_negative_offset_crossing_midnight(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, text_batch())
    minus_five = timezone(timedelta(hours=-5))
    await sms.batches.send([NUM1], "Hi", send_at=datetime(2030, 12, 31, 22, 0, tzinfo=minus_five))
    assert server.last.json["send_at"] == "2031-01-01T03:00:00Z"
    assert "expire_at" not in server.last.json


async def test_send_ready_struct_datetime_keeps_the_instant(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(201, text_batch())
    at = datetime(2030, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    await sms.batches.send(TextRequest(to=[NUM1], body="Hi", send_at=at))
    sent = datetime.fromisoformat(server.last.json["send_at"].replace("Z", "+00:00"))
    assert sent == at
    assert sent.utcoffset() is not None


async def test_send_api_error_is_typed(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(400, load_fixture("error-response.json"))
    with pytest.raises(BadRequestError) as info:
        await sms.batches.send([NUM1], "Hi")
    assert info.value.status == 400
    assert info.value.code == "syntax_invalid_parameter_format"
    assert info.value.text == "'foo' is not a valid identifier"
    assert len(server.requests) == 1


# --- list ----------------------------------------------------------------------------------


def empty_batch_page() -> dict[str, Any]:
    return {"count": 0, "page": 0, "page_size": 0, "batches": []}


async def test_list_query_parameters(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, empty_batch_page())

    page = await sms.batches.list(
        page_size=5,
        from_=[NUM1, "Sinch"],
        start_date=datetime(2024, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
        end_date="2024-01-31T00:00:00Z",
        client_reference="ref a&b",
    ).page(0)

    assert_call(
        server.last,
        "GET",
        "/batches",
        query=[
            ("from", f"{NUM1},Sinch"),
            ("start_date", "2023-12-31T23:30:00Z"),
            ("end_date", "2024-01-31T00:00:00Z"),
            ("client_reference", "ref a&b"),
            ("page", "0"),
            ("page_size", "5"),
        ],
    )
    assert server.last.query["from"] == f"{NUM1},Sinch"
    assert page.items == []
    assert page.count == 0


async def test_list_single_from_and_naive_date(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, empty_batch_page())
    items = [
        b
        async for b in sms.batches.list(
            from_=NUM1, start_date=datetime(2024, 2, 3, 4, 5, 6, 789000)
        )
    ]
    assert items == []
    assert server.last.query == {
        "from": NUM1,
        "start_date": "2024-02-03T04:05:06.789Z",
        "page": "0",
        "page_size": "100",
    }


async def test_list_is_lazy(server: RecordingServer, sms: AsyncSmsClient) -> None:
    sms.batches.list(page_size=2)
    assert server.requests == []


def queue_batch_pages(server: RecordingServer) -> None:
    for n in range(3):
        server.respond(200, load_fixture(f"batches/response/ListBatchesResponseDtoPage{n}.json"))


async def test_list_iterates_fixture_pages_and_stops_after_short_page(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    queue_batch_pages(server)

    items = [b async for b in sms.batches.list(page_size=2)]

    assert [type(b) for b in items] == [BinaryBatch, TextBatch, MediaBatch]
    assert [b.id for b in items] == [
        "01HEAWCHESCXG8SDG5R10VF8E1",
        "01HEAC0AG69SVYYQ675VPYT28Q",
        "01HEABZ9S80D4ENE3X6CPMATZR",
    ]
    assert len(server.requests) == 2
    for number, rec in enumerate(server.requests):
        assert_call(rec, "GET", "/batches", query=[("page", str(number)), ("page_size", "2")])
    media = items[2]
    assert isinstance(media, MediaBatch)
    assert media.body == MediaBody(url="an URL")
    assert items[0].created_at == datetime(2023, 11, 3, 15, 21, 21, 113000, tzinfo=timezone.utc)


async def test_list_pages(server: RecordingServer, sms: AsyncSmsClient) -> None:
    queue_batch_pages(server)

    pages = [p async for p in sms.batches.list(page_size=2).pages()]

    assert [p.page for p in pages] == [0, 1]
    assert [len(p.items) for p in pages] == [2, 1]
    assert [p.count for p in pages] == [3, 3]
    assert [p.page_size for p in pages] == [2, 1]
    assert [p.is_last for p in pages] == [False, True]
    assert len(server.requests) == 2


async def test_list_iterating_twice_starts_again(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    for _ in range(2):  # page 2 is never asked for
        for n in (0, 1):
            server.respond(
                200, load_fixture(f"batches/response/ListBatchesResponseDtoPage{n}.json")
            )
    paginator = sms.batches.list(page_size=2)
    first = [b.id async for b in paginator]
    second = [b.id async for b in paginator]
    assert first == second
    assert len(first) == 3
    assert [r.query["page"] for r in server.requests] == ["0", "1", "0", "1"]


@pytest.mark.parametrize(("limit", "count", "requests"), [(1, 1, 1), (2, 2, 1), (3, 3, 2)])
async def test_list_limit(
    server: RecordingServer, sms: AsyncSmsClient, limit: int, count: int, requests: int
) -> None:
    queue_batch_pages(server)
    items = [b async for b in sms.batches.list(page_size=2, limit=limit)]
    assert len(items) == count
    assert items[0].id == "01HEAWCHESCXG8SDG5R10VF8E1"
    assert len(server.requests) == requests


async def test_list_limit_zero_makes_no_request(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    items = [b async for b in sms.batches.list(limit=0)]
    assert items == []
    assert server.requests == []


async def test_list_empty_first_page_stops(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, empty_batch_page())
    assert [b async for b in sms.batches.list(page_size=10)] == []
    assert len(server.requests) == 1


# --- dry_run -------------------------------------------------------------------------------


async def test_dry_run_with_query(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("batches/response/DryRunResponseDto.json"))

    result = await sms.batches.dry_run(
        [NUM1, NUM2], "Hello", per_recipient=True, number_of_recipients=10, from_="Sinch"
    )

    assert_call(
        server.last,
        "POST",
        "/batches/dry_run",
        query=[("per_recipient", "true"), ("number_of_recipients", "10")],
        body={"type": "mt_text", "to": [NUM1, NUM2], "from": "Sinch", "body": "Hello"},
    )
    assert isinstance(result, DryRunResult)
    assert result.number_of_recipients == 123
    assert result.number_of_messages == 456
    assert result.per_recipient == [
        DryRunRecipient(
            recipient="recipient string",
            number_of_parts=1,
            body="body string",
            encoding="encoding string",
        )
    ]


async def test_dry_run_without_query_and_with_struct(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, {"number_of_recipients": 1, "number_of_messages": 2})

    result = await sms.batches.dry_run(TextRequest(to=[NUM1], body="Hey"))

    assert_call(
        server.last,
        "POST",
        "/batches/dry_run",
        body={"type": "mt_text", "to": [NUM1], "body": "Hey"},
    )
    assert result.number_of_messages == 2
    assert result.per_recipient is None


async def test_dry_run_per_recipient_false(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, {"number_of_recipients": 1, "number_of_messages": 1})
    await sms.batches.dry_run([NUM1], "Hey", per_recipient=False, number_of_recipients=1000)
    assert server.last.query == {"per_recipient": "false", "number_of_recipients": "1000"}


# --- get / update / replace / cancel -------------------------------------------------------


async def test_get(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("batches/response/BinaryResponseDto.json"))

    batch = await sms.batches.get(BATCH_ID)

    assert_call(server.last, "GET", f"/batches/{BATCH_ID}")
    assert isinstance(batch, BinaryBatch)
    assert batch.id == BATCH_ID
    assert batch.to == ["+15551231234", "+15551256344"]
    assert batch.udh == "foo udh"
    assert batch.send_at == datetime(2019, 8, 24, 14, 19, 22, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("batch_id", "encoded"),
    [
        ("a:b&c", "a%3Ab%26c"),
        ("+46700000001", "%2B46700000001"),
        ("id with space", "id%20with%20space"),
    ],
)
async def test_path_segments_are_quoted(
    server: RecordingServer, sms: AsyncSmsClient, batch_id: str, encoded: str
) -> None:
    server.respond(200, text_batch())
    server.respond(200, text_batch())
    server.respond(202)
    await sms.batches.get(batch_id)
    await sms.batches.cancel(batch_id)
    await sms.batches.send_delivery_feedback(batch_id, [NUM1])
    assert [r.raw_path for r in server.requests] == [
        api_path(f"/batches/{encoded}"),
        api_path(f"/batches/{encoded}"),
        api_path(f"/batches/{encoded}/delivery_feedback"),
    ]


async def test_update_sends_only_given_fields_and_infers_text(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, text_batch(body="New text"))

    batch = await sms.batches.update(BATCH_ID, to_add=[NUM1], to_remove=[NUM2], body="New text")

    assert_call(
        server.last,
        "POST",
        f"/batches/{BATCH_ID}",
        body={"type": "mt_text", "to_add": [NUM1], "to_remove": [NUM2], "body": "New text"},
    )
    assert isinstance(batch, TextBatch)
    assert batch.body == "New text"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {"body": "SGVsbG8=", "udh": "0500"},
            {"type": "mt_binary", "body": "SGVsbG8=", "udh": "0500"},
            id="udh-means-binary",
        ),
        pytest.param(
            {"body": MediaBody(url=MEDIA_URL, message="m")},
            {"type": "mt_media", "body": {"url": MEDIA_URL, "message": "m"}},
            id="mediabody-means-media",
        ),
        pytest.param(
            {"delivery_report": "full"},
            {"delivery_report": "full"},
            id="no-body-no-type",
        ),
        pytest.param(
            {"type": "mt_binary", "from_": "Sinch"},
            {"type": "mt_binary", "from": "Sinch"},
            id="explicit-type",
        ),
        pytest.param(
            {"client_reference": "c", "feedback_enabled": True, "truncate_concat": False},
            {"client_reference": "c", "feedback_enabled": True, "truncate_concat": False},
            id="flags",
        ),
    ],
)
async def test_update_type_inference(
    server: RecordingServer,
    sms: AsyncSmsClient,
    kwargs: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    server.respond(200, text_batch())
    await sms.batches.update(BATCH_ID, **kwargs)
    assert_call(server.last, "POST", f"/batches/{BATCH_ID}", body=expected)


async def test_update_datetimes_as_utc(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, text_batch())
    await sms.batches.update(
        BATCH_ID,
        send_at=datetime(2030, 1, 1, 10, 0, tzinfo=timezone(timedelta(hours=3))),
        expire_at=datetime(2030, 1, 2, 10, 0),
    )
    assert server.last.json == {
        "send_at": "2030-01-01T07:00:00Z",
        "expire_at": "2030-01-02T10:00:00Z",
    }


async def test_update_with_request_struct(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, text_batch())
    request = UpdateBatchRequest(type="mt_text", to_remove=[NUM2], flash_message=True)
    await sms.batches.update(BATCH_ID, request=request)
    assert_call(
        server.last,
        "POST",
        f"/batches/{BATCH_ID}",
        body={"type": "mt_text", "to_remove": [NUM2], "flash_message": True},
    )


async def test_replace(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, text_batch(body="Replaced"))

    batch = await sms.batches.replace(
        BATCH_ID,
        [NUM1],
        "Replaced",
        from_="Sinch",
        expire_at=datetime(2030, 1, 1, tzinfo=timezone.utc),
    )

    assert_call(
        server.last,
        "PUT",
        f"/batches/{BATCH_ID}",
        body={
            "type": "mt_text",
            "to": [NUM1],
            "from": "Sinch",
            "body": "Replaced",
            "expire_at": "2030-01-01T00:00:00Z",
        },
    )
    assert isinstance(batch, TextBatch)
    assert batch.body == "Replaced"


async def test_replace_with_struct(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, load_fixture("batches/response/MediaResponseDto.json"))
    batch = await sms.batches.replace(
        BATCH_ID, MediaRequest(to=[NUM1], body=MediaBody(url=MEDIA_URL))
    )
    assert_call(
        server.last,
        "PUT",
        f"/batches/{BATCH_ID}",
        body={"type": "mt_media", "to": [NUM1], "body": {"url": MEDIA_URL}},
    )
    assert isinstance(batch, MediaBatch)


async def test_cancel(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, text_batch(canceled=True))

    batch = await sms.batches.cancel(BATCH_ID)

    assert_call(server.last, "DELETE", f"/batches/{BATCH_ID}")
    assert isinstance(batch, TextBatch)
    assert batch.canceled is True
    assert batch.id == BATCH_ID


async def test_send_delivery_feedback(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(202, body=b"")

    result = await sms.batches.send_delivery_feedback(BATCH_ID, [NUM1, "15551231234"])

    assert result is None
    assert_call(
        server.last,
        "POST",
        f"/batches/{BATCH_ID}/delivery_feedback",
        body={"recipients": [NUM1, "15551231234"]},
    )


# --- validation before any network I/O -----------------------------------------------------


def _call(method: str, *args: Any, **kwargs: Any) -> Callable[[AsyncSmsClient], Awaitable[Any]]:
    async def run(sms: AsyncSmsClient) -> Any:
        result = getattr(sms.batches, method)(*args, **kwargs)
        if hasattr(result, "__aiter__"):
            return [item async for item in result]
        return await result

    return run


def _recipients(n: int) -> list[str]:
    return [f"+467{i:08d}" for i in range(n)]


VALIDATION_CASES = [
    pytest.param(_call("send", [], "Hi"), "to", None, id="send-empty-to"),
    pytest.param(_call("send", _recipients(1001), "Hi"), "to", "fan_out", id="send-1001"),
    pytest.param(
        _call("send", TextRequest(to=_recipients(1001), body="Hi")),
        "to",
        "fan_out",
        id="send-struct-1001",
    ),
    pytest.param(_call("send", TextRequest(to=[], body="Hi")), "to", None, id="send-struct-empty"),
    pytest.param(_call("send", [""], "Hi"), "to[0]", None, id="send-empty-number"),
    # Long lists take a different (C-level) check than short ones: both must name the item.
    pytest.param(
        _call("send", [*_recipients(500), "", *_recipients(3)], "Hi"),
        "to[500]",
        None,
        id="send-long-list-empty-number",
    ),
    pytest.param(
        _call("send", (*_recipients(40), 46700000000), "Hi"),
        "to[40]",
        "non-empty string",
        id="send-long-tuple-int-number",
    ),
    pytest.param(
        _call("send", [*_recipients(999), None], "Hi"), "to[999]", None, id="send-long-list-none"
    ),
    pytest.param(
        _call("send", TextRequest(to=[NUM1], body="Hi"), from_="Acme"),
        "from_",
        "not both",
        id="send-struct-and-keyword",
    ),
    pytest.param(
        _call("send", TextRequest(to=[NUM1], body="Hi"), type="mt_binary"),
        "type",
        "not both",
        id="send-struct-and-type",
    ),
    pytest.param(
        _call("replace", BATCH_ID, TextRequest(to=[NUM1], body="Hi"), client_reference="r"),
        "client_reference",
        "not both",
        id="replace-struct-and-keyword",
    ),
    pytest.param(_call("send", [NUM1], "x" * 2001), "body", "2000", id="send-2001-chars"),
    pytest.param(
        _call("send", TextRequest(to=[NUM1], body="x" * 2001)),
        "body",
        "2000",
        id="send-struct-2001-chars",
    ),
    pytest.param(
        _call("send", [NUM1], "SGVsbG8=", type="mt_binary"), "udh", None, id="binary-no-udh"
    ),
    pytest.param(
        _call("send", [NUM1], "Hi", delivery_report="sometimes"),
        "delivery_report",
        "per_recipient_final",
        id="send-bad-delivery-report",
    ),
    pytest.param(_call("send", [NUM1], "Hi", type="mt_fax"), "type", None, id="send-unknown-type"),
    pytest.param(
        _call("send", [NUM1], "Hi", type="mt_media"), "body", None, id="media-string-body"
    ),
    pytest.param(_call("dry_run", [], "Hi"), "to", None, id="dry-run-empty-to"),
    pytest.param(
        _call("dry_run", [NUM1], "Hi", number_of_recipients=1001),
        "number_of_recipients",
        None,
        id="dry-run-1001",
    ),
    pytest.param(
        _call("dry_run", [NUM1], "Hi", number_of_recipients=0),
        "number_of_recipients",
        None,
        id="dry-run-0",
    ),
    pytest.param(_call("list", page_size=0), "page_size", None, id="list-page-size-0"),
    pytest.param(_call("list", page_size=101), "page_size", None, id="list-page-size-101"),
    pytest.param(_call("list", from_=[]), "from_", None, id="list-empty-from"),
    pytest.param(_call("get", ""), "batch_id", None, id="get-empty-id"),
    pytest.param(_call("get", "   "), "batch_id", None, id="get-blank-id"),
    pytest.param(_call("cancel", ""), "batch_id", None, id="cancel-empty-id"),
    pytest.param(_call("update", "", body="x"), "batch_id", None, id="update-empty-id"),
    pytest.param(_call("replace", "", [NUM1], "x"), "batch_id", None, id="replace-empty-id"),
    pytest.param(
        _call("send_delivery_feedback", "", [NUM1]), "batch_id", None, id="feedback-empty-id"
    ),
    pytest.param(
        _call("send_delivery_feedback", BATCH_ID, []), "recipients", None, id="feedback-empty"
    ),
    pytest.param(
        _call("update", BATCH_ID, delivery_report="loud"),
        "delivery_report",
        None,
        id="update-bad-delivery-report",
    ),
    pytest.param(
        _call("update", BATCH_ID, to_add=_recipients(101)), "to_add", None, id="update-101-add"
    ),
    pytest.param(_call("update", BATCH_ID, body="x" * 2001), "body", None, id="update-2001-chars"),
    pytest.param(
        _call("replace", BATCH_ID, [NUM1], "x" * 2001), "body", None, id="replace-2001-chars"
    ),
    pytest.param(
        _call("replace", BATCH_ID, _recipients(1001), "x"), "to", "fan_out", id="replace-1001"
    ),
    pytest.param(
        _call(
            "send",
            [NUM1],
            "x",
            send_at=datetime(2030, 1, 2, tzinfo=timezone.utc),
            expire_at=datetime(2030, 1, 1, tzinfo=timezone.utc),
        ),
        "expire_at",
        None,
        id="expire-before-send",
    ),
    pytest.param(
        _call("send", [NUM1], "AAAA" * 50, type="mt_binary", udh="00" * 10),
        "body",
        "140",
        id="binary-over-140-bytes",
    ),
    pytest.param(
        _call("send", [NUM1], "not base64!", type="mt_binary", udh="0500"),
        "body",
        None,
        id="binary-bad-base64",
    ),
    pytest.param(
        _call("send", [NUM1], "SGVsbG8=", type="mt_binary", udh="0500", parameters={"a": {}}),
        "parameters",
        None,
        id="binary-with-parameters",
    ),
    pytest.param(
        _call("send", [NUM1], MediaBody(url=MEDIA_URL, message="m" * 2001), type="mt_media"),
        "body.message",
        None,
        id="media-message-2001",
    ),
    pytest.param(
        _call("send", [NUM1], "x", max_number_of_message_parts=0),
        "max_number_of_message_parts",
        None,
        id="zero-parts",
    ),
    pytest.param(_call("send", [NUM1], "x", from_ton=7), "from_ton", None, id="from-ton-7"),
    pytest.param(_call("send", [NUM1], "x", from_npi=19), "from_npi", None, id="from-npi-19"),
    pytest.param(
        _call("send", [NUM1], "x", send_at="2030-01-01T00:00:00Z"),
        "send_at",
        None,
        id="send-at-string",
    ),
    pytest.param(
        _call("send", [NUM1], "x", parameters={"name": {NUM1: 5}}),
        "parameters['name']",
        None,
        id="parameter-value-not-str",
    ),
    pytest.param(
        _call("send_delivery_feedback", BATCH_ID, _recipients(1001)),
        "recipients",
        None,
        id="feedback-1001",
    ),
    pytest.param(_call("list", limit=-1), "limit", None, id="list-negative-limit"),
]


@pytest.mark.parametrize(("call", "field", "in_message"), VALIDATION_CASES)
async def test_validation_before_network(
    server: RecordingServer,
    sms: AsyncSmsClient,
    call: Callable[[AsyncSmsClient], Awaitable[Any]],
    field: str,
    in_message: str | None,
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await call(sms)
    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    if in_message is not None:
        assert in_message in str(info.value)
    assert info.value.attempts == 0
    assert server.requests == []


@pytest.mark.parametrize("method", ["send", "dry_run"])
async def test_unknown_keyword_is_a_type_error(
    server: RecordingServer, sms: AsyncSmsClient, method: str
) -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'form_'"):
        await getattr(sms.batches, method)([NUM1], "Hi", form_="Acme")
    assert server.requests == []


async def test_long_recipient_lists_are_sent_whole_and_in_order(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    """Tuples, str subclasses and long lists all arrive as a plain JSON list, in order."""

    class Number(str):
        pass

    for size in (1, 1000):
        numbers = _recipients(size)
        server.respond(201, text_batch())
        await sms.batches.send(tuple(Number(n) for n in numbers), "Hi")
        assert server.last.json["to"] == numbers


def test_request_structs_encode_without_nulls() -> None:
    body = msgspec.json.encode(TextRequest(to=[NUM1], body="Hi"))
    assert json.loads(body) == {"type": "mt_text", "to": [NUM1], "body": "Hi"}


async def test_page_with_negative_number_is_rejected(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.batches.list().page(-1)
    assert info.value.field == "page"
    assert server.requests == []


async def test_list_exact_multiple_of_page_size_stops_without_extra_request(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    items = load_fixture("batches/response/ListBatchesResponseDtoPage0.json")["batches"]
    server.respond(200, {"count": 4, "page": 0, "page_size": 2, "batches": items})
    server.respond(200, {"count": 4, "page": 1, "page_size": 2, "batches": items})
    found = [b async for b in sms.batches.list(page_size=2)]
    assert len(found) == 4
    assert len(server.requests) == 2


async def test_update_to_add_given_as_one_string(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    """A single number must not be split into characters (``send`` wraps a str ``to``)."""
    server.respond(200, text_batch())
    error: SinchValidationError | None = None
    try:
        await sms.batches.update(BATCH_ID, to_add=NUM1)
    except SinchValidationError as exc:
        error = exc
    if error is not None:  # rejecting a bare string is acceptable too
        assert error.field == "to_add"
        assert server.requests == []
    else:
        assert server.last.json["to_add"] == [NUM1]


async def test_update_to_remove_given_as_one_string(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, text_batch())
    error: SinchValidationError | None = None
    try:
        await sms.batches.update(BATCH_ID, to_remove=NUM1)
    except SinchValidationError as exc:
        error = exc
    if error is not None:  # rejecting a bare string is acceptable too
        assert error.field == "to_remove"
        assert server.requests == []
    else:
        assert server.last.json["to_remove"] == [NUM1]


async def test_send_media_with_udh_is_rejected(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    """``udh`` is only for mt_binary; mt_text rejects it, and mt_media must not drop it silently."""
    with pytest.raises(SinchValidationError) as info:
        await sms.batches.send([NUM1], MediaBody(url=MEDIA_URL), type="mt_media", udh="0500")
    assert info.value.field == "udh"
    assert server.requests == []


async def test_send_text_with_udh_is_rejected(server: RecordingServer, sms: AsyncSmsClient) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.batches.send([NUM1], "Hi", udh="0500")
    assert info.value.field == "udh"
    assert server.requests == []
