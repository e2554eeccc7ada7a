"""Error responses: body shapes, status classes, attributes, Retry-After and masking."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import AsyncIterator

import pytest

from sinch_async import (
    ApiError,
    AsyncSmsClient,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    EventLoopMismatchError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    SinchConnectionError,
    SinchError,
    SinchTimeoutError,
    SinchValidationError,
)
from sinch_async._redact import mask_number, mask_numbers
from sinch_async.errors import api_error, error_class_for, parse_retry_after
from tests.conftest import TOKEN, RecordingServer, load_fixture, plan_client

GROUP_PATH = "/groups/g1"  # errors name the API-relative path


@pytest.fixture
async def sms1(server: RecordingServer) -> AsyncIterator[AsyncSmsClient]:
    """A client pointed at the recording server that makes one attempt per call."""
    async with plan_client(server.url, retry=None) as client:
        yield client


async def fail_get(sms: AsyncSmsClient) -> ApiError:
    with pytest.raises(ApiError) as info:
        await sms.groups.get("g1")
    return info.value


# --- body shapes --------------------------------------------------------------------------


async def test_sms_rest_shape(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    fixture = load_fixture("error-response.json")
    server.respond(400, fixture)
    err = await fail_get(sms1)
    assert type(err) is BadRequestError
    assert err.status == 400
    assert err.code == "syntax_invalid_parameter_format"
    assert err.text == "'foo' is not a valid identifier"
    assert json.loads(err.body) == fixture
    assert err.body_text == json.dumps(fixture)
    assert err.details is None
    assert err.method == "GET"
    assert err.path == GROUP_PATH
    assert err.attempts == 1
    assert str(err) == (
        f"HTTP 400 syntax_invalid_parameter_format: 'foo' is not a valid identifier "
        f"(GET {GROUP_PATH})"
    )


async def test_google_style_shape(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    body = {
        "error": {
            "code": 403,
            "message": "The caller does not have permission",
            "status": "PERMISSION_DENIED",
            "details": [{"type_url": "x", "value": "y"}],
        }
    }
    server.respond(403, body)
    err = await fail_get(sms1)
    assert type(err) is PermissionDeniedError
    assert err.status == 403
    assert err.code == "PERMISSION_DENIED"
    assert err.text == "The caller does not have permission"
    assert err.details == body["error"]
    assert "The caller does not have permission" in str(err)


async def test_google_style_shape_without_status(
    server: RecordingServer, sms1: AsyncSmsClient
) -> None:
    server.respond(404, {"error": {"code": 404, "message": "Not found"}})
    err = await fail_get(sms1)
    assert type(err) is NotFoundError
    assert err.code == "404"
    assert err.text == "Not found"


async def test_problem_json_shape(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    server.respond(
        400,
        {
            "type": "https://example.com/probs/invalid",
            "title": "Invalid request",
            "detail": "name is too long",
        },
        headers={"Content-Type": "application/problem+json"},
    )
    err = await fail_get(sms1)
    assert type(err) is BadRequestError
    assert err.code == "https://example.com/probs/invalid"
    assert err.text == "Invalid request: name is too long"


async def test_empty_body(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    server.respond(404)
    err = await fail_get(sms1)
    assert type(err) is NotFoundError
    assert err.code is None
    assert err.text is None
    assert err.body == b""
    assert str(err) == f"HTTP 404 (GET {GROUP_PATH})"


async def test_non_json_body(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    server.respond(502, body=b"<html>Bad Gateway</html>\n", headers={"Content-Type": "text/html"})
    err = await fail_get(sms1)
    assert type(err) is ServerError
    assert err.status == 502
    assert err.code is None
    assert err.text == "<html>Bad Gateway</html>"
    assert err.body == b"<html>Bad Gateway</html>\n"
    assert "Bad Gateway" in str(err)


@pytest.mark.parametrize("body", [b"[1, 2]", b"null", b'"oops"', b"{}"])
def test_json_that_is_not_an_error_object(body: bytes) -> None:
    err = api_error(500, method="GET", path="/x", body=body)
    assert type(err) is ServerError
    assert err.code is None
    assert err.body == body


def test_numeric_code_becomes_string() -> None:
    err = api_error(400, method="POST", path="/x", body=b'{"code": 123, "text": "bad"}')
    assert err.code == "123"
    assert err.text == "bad"


# --- status to class ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
    ],
)
async def test_status_maps_to_class(
    server: RecordingServer, sms1: AsyncSmsClient, status: int, cls: type[ApiError]
) -> None:
    server.respond(status, {"code": "some_code", "text": "some text"})
    err = await fail_get(sms1)
    assert type(err) is cls
    assert isinstance(err, ApiError)
    assert isinstance(err, SinchError)
    assert err.status == status
    assert err.code == "some_code"
    assert err.text == "some text"
    assert err.method == "GET"
    assert err.path == GROUP_PATH
    assert err.attempts >= 1
    assert len(server.requests) == 1  # one attempt, no hidden retries


async def test_default_client_does_not_repeat_4xx(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(400, load_fixture("error-response.json"))
    with pytest.raises(BadRequestError) as info:
        await sms.groups.get("g1")
    assert info.value.attempts >= 1
    assert info.value.attempts == len(server.requests) == 1


async def test_unmapped_4xx_is_plain_api_error(
    server: RecordingServer, sms1: AsyncSmsClient
) -> None:
    server.respond(418, {"code": "teapot", "text": "short and stout"})
    err = await fail_get(sms1)
    assert type(err) is ApiError
    assert err.status == 418


def test_error_class_for() -> None:
    assert error_class_for(400) is BadRequestError
    assert error_class_for(405) is ApiError
    assert error_class_for(415) is ApiError
    assert error_class_for(500) is ServerError
    assert error_class_for(599) is ServerError


async def test_error_on_post_records_method(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    server.respond(403, {"code": "conflict_group_name", "text": "Group name already exists"})
    with pytest.raises(PermissionDeniedError) as info:
        await sms1.groups.create(name="friends")
    err = info.value
    assert err.method == "POST"
    assert err.path == "/groups"
    assert err.code == "conflict_group_name"


async def test_error_headers_kept(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    server.respond(500, {"code": "x", "text": "y"}, headers={"X-Request-Id": "req-42"})
    err = await fail_get(sms1)
    assert {k.lower(): v for k, v in err.headers.items()}["x-request-id"] == "req-42"


# --- 429 and Retry-After ------------------------------------------------------------------


async def test_429_retry_after_seconds(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    server.respond(429, {"code": "too_many", "text": "slow down"}, headers={"Retry-After": "7"})
    err = await fail_get(sms1)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 7.0
    assert err.code == "too_many"


async def test_429_retry_after_http_date(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.respond(429, body=b"", headers={"Retry-After": when})
    err = await fail_get(sms1)
    assert isinstance(err, RateLimitError)
    assert err.retry_after is not None
    assert 27.0 <= err.retry_after <= 30.0


async def test_429_without_retry_after(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    server.respond(429)
    err = await fail_get(sms1)
    assert isinstance(err, RateLimitError)
    assert err.retry_after is None


async def test_429_garbage_retry_after(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    server.respond(429, headers={"Retry-After": "soon"})
    err = await fail_get(sms1)
    assert isinstance(err, RateLimitError)
    assert err.retry_after is None


def test_parse_retry_after_delta_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 5 ") == 5.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("1.5") == 1.5
    # Not valid delta-seconds (RFC 9110): ignored, so the client falls back to its backoff.
    assert parse_retry_after("-3") is None
    assert parse_retry_after("inf") is None
    assert parse_retry_after("1e3") is None


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(date, now=now) == 90.0
    past = email.utils.formatdate(now - 90, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


@pytest.mark.parametrize("value", [None, "", "   ", "nan", "soon", "Wed, 99 Foo 2015"])
def test_parse_retry_after_unusable(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_api_error_reads_retry_after_case_insensitively() -> None:
    err = api_error(429, method="GET", path="/x", headers={"retry-after": "3"})
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 3.0


# --- the exception tree -------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls",
    [
        ApiError,
        AuthenticationError,
        BadRequestError,
        ClientClosedError,
        ConflictError,
        EventLoopMismatchError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        ResponseDecodeError,
        ServerError,
        SinchConnectionError,
        SinchTimeoutError,
        SinchValidationError,
    ],
)
def test_every_error_is_a_sinch_error(cls: type[Exception]) -> None:
    assert issubclass(cls, SinchError)


def test_specific_bases() -> None:
    assert issubclass(SinchValidationError, ValueError)
    assert issubclass(SinchTimeoutError, SinchConnectionError)
    assert issubclass(ServerError, ApiError)
    assert issubclass(RateLimitError, ApiError)


def test_validation_error_attributes() -> None:
    err = SinchValidationError("name", "too long", limit="1..20 characters")
    assert err.field == "name"
    assert err.limit == "1..20 characters"
    assert str(err) == "name: too long"
    assert err.attempts == 0


async def test_decode_error_on_unexpected_success_body(
    server: RecordingServer, sms1: AsyncSmsClient
) -> None:
    server.respond(200, body=b"not json", headers={"Content-Type": "text/plain"})
    with pytest.raises(ResponseDecodeError) as info:
        await sms1.groups.get("g1")
    err = info.value
    assert err.status == 200
    assert err.body == b"not json"
    assert err.method == "GET"
    assert err.path == "/groups/g1"


# --- masking --------------------------------------------------------------------------------


def test_mask_number() -> None:
    assert mask_number("+46700000001") == "+46*****0001"
    assert mask_number("46700000001") == "467****0001"
    assert mask_number("1234567") == "12*4567"
    assert mask_number("123456") == "******"


def test_mask_numbers_in_text() -> None:
    assert mask_numbers("to +46700000001 and 46700000002.") == ("to +46*****0001 and 467****0002.")
    assert mask_numbers("/delivery_report/%2B46700000001") == "/delivery_report/%2B*******0001"
    assert mask_numbers("value '+15551231234' is not valid") == "value '+15*****1234' is not valid"


@pytest.mark.parametrize(
    "text",
    [
        "batch 01FC66621XXXXX119Z8PMV1QPQ",
        "page_size=100 and code 402",
        "short 123456",
        "2024-01-02T03:04:05Z",
    ],
)
def test_mask_numbers_leaves_other_text(text: str) -> None:
    assert mask_numbers(text) == text


async def test_numbers_masked_in_error_message(
    server: RecordingServer, sms1: AsyncSmsClient
) -> None:
    text = "The format of parameter 'to[0]' is invalid; value '+46700000001' is not a valid MSISDN"
    server.respond(400, {"code": "syntax_invalid_parameter_format", "text": text})
    with pytest.raises(BadRequestError) as info:
        await sms1.delivery_reports.get_for_recipient("batch1", "+46700000009")
    err = info.value
    message = str(err)
    assert "46700000001" not in message
    assert "46700000009" not in message
    assert "+46*****0001" in message
    assert "+46*****0009" in message
    # the raw values stay on the attributes
    assert err.text == text
    assert err.path == "/batches/batch1/delivery_report/+46700000009"
    assert TOKEN not in message


async def test_numbers_masked_in_not_found(server: RecordingServer, sms1: AsyncSmsClient) -> None:
    server.respond(404)
    with pytest.raises(NotFoundError) as info:
        await sms1.delivery_reports.get_for_recipient("batch1", "+46700000009")
    assert "46700000009" not in str(info.value)
    assert "46700000009" not in repr(info.value)
