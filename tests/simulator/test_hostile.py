"""Malformed request bodies: the simulator answers 400 (413 when too large) in the API's error
shape on every JSON route, logs no traceback, and serves the next request as usual.

Bodies go over HTTP on 127.0.0.1 as raw bytes (aiohttp client), so the simulator's own
decoder sees exactly what a hostile caller sends.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sinch_async.testing import SinchSimulator
from sinch_async.testing._http import MAX_BODY_BYTES, MAX_DEPTH, decode_body
from tests.simulator.conftest import Api

JSON = {"Content-Type": "application/json"}
GOOD_BATCH = b'{"to": ["+46700000001"], "from": "12345", "body": "hi"}'

MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "blank": b"  \r\n ",
    "not json": b"hello",
    "truncated": b'{"to": ["+46700000001"], "body": "hi"',
    "invalid utf-8 in a string": b'{"to": ["+46700000001"], "body": "\xff\xfe"}',
    "invalid utf-8 outside strings": b"\xff\xfe{}",
    "utf-16": '{"to": ["+46700000001"], "body": "hi"}'.encode("utf-16"),
    "cesu-8 surrogate bytes": b'{"to": ["+46700000001"], "body": "\xed\xb3\xbf"}',
    "escaped lone surrogate": b'{"to": ["+46700000001"], "body": "\\udcff"}',
    "escaped lone high surrogate": b'{"to": ["+46700000001"], "body": "\\ud800x"}',
    "nested 1000 arrays": b"[" * 1000 + b"]" * 1000,
    "nested 5000 objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "nested 100000 arrays, unclosed": b"[" * 100_000,
    "deep inside a field": b'{"to": ["+46700000001"], "body": "hi", "x": '
    + b"[" * 900
    + b"]" * 900
    + b"}",
    "just past the depth cap": b'{"to": ["+46700000001"], "body": "hi", "x": '
    + b"[" * MAX_DEPTH
    + b"]" * MAX_DEPTH
    + b"}",
    "number out of range": b'{"to": ["+46700000001"], "body": "hi", "x": 1e999999}',
    "huge integer": b"1" + b"0" * 5000,
    "nul byte": b'{"to": ["+46700000001"], "body": "hi"}\x00',
    "trailing garbage": b'{"to": ["+46700000001"], "body": "hi"} {}',
}

WRONG_TYPES: dict[str, bytes] = {
    "null": b"null",
    "array": b"[]",
    "string": b'"hello"',
    "number": b"12",
    "bool": b"true",
}

ALL_BAD: dict[str, bytes] = {**MALFORMED, **WRONG_TYPES}

SMS_JSON_ROUTES = [
    ("POST", "/batches"),
    ("POST", "/batches/dry_run"),
    ("POST", "/batches/{batch}"),
    ("PUT", "/batches/{batch}"),
    ("POST", "/batches/{batch}/delivery_feedback"),
    ("POST", "/groups"),
    ("POST", "/groups/{group}"),
    ("PUT", "/groups/{group}"),
]
CONVERSATION_JSON_ROUTES = [("POST", "/messages"), ("DELETE", "/messages")]


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def _raw(
    session: aiohttp.ClientSession, method: str, url: str, body: bytes | AsyncIterator[bytes]
) -> Any:
    async with session.request(method, url, data=body, headers=JSON) as resp:
        assert resp.content_type == "application/json", (resp.status, await resp.text())
        return resp.status, await resp.json()


@pytest.fixture
async def sms_paths(api: Api) -> dict[str, str]:
    batch = await api.send(["+46700000001"])
    status, group = await api.post("/groups", {"name": "g", "members": ["+46700000002"]})
    assert status == 201, group
    return {"batch": batch["id"], "group": group["id"]}


async def _assert_still_serves(api: Api) -> None:
    status, data = await api.call("POST", "/batches", data=GOOD_BATCH, headers=JSON)
    assert status == 201, data
    assert data["from"] == "12345"


def _assert_sms_error(status: int, data: Any, code: str = "syntax_invalid_json") -> None:
    assert status == 400, data
    assert data["code"] == code, data
    assert isinstance(data["text"], str)
    assert data["text"]


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
@pytest.mark.parametrize(("method", "route"), SMS_JSON_ROUTES)
async def test_sms_routes_answer_400_to_malformed_bodies(
    api: Api,
    sms_paths: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    method: str,
    route: str,
    body: bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = api.prefix + route.format(**sms_paths)
    status, data = await _raw(api.session, method, url, body)
    _assert_sms_error(status, data)
    assert _tracebacks(caplog) == []
    await _assert_still_serves(api)


@pytest.mark.parametrize("body", list(WRONG_TYPES.values()), ids=list(WRONG_TYPES))
@pytest.mark.parametrize(("method", "route"), SMS_JSON_ROUTES)
async def test_sms_routes_answer_400_to_a_body_that_is_not_an_object(
    api: Api,
    sms_paths: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    method: str,
    route: str,
    body: bytes,
) -> None:
    url = api.prefix + route.format(**sms_paths)
    status, data = await _raw(api.session, method, url, body)
    _assert_sms_error(status, data)
    assert "object" in data["text"]
    assert _tracebacks(caplog) == []


@pytest.mark.parametrize(
    "field",
    ["send_at", "expire_at", "max_number_of_message_parts", "from_ton", "from_npi", "type", "body"],
)
@pytest.mark.parametrize("number", ["1" + "0" * 5000, "-" + "9" * 400, "1e308", "-1e-320"])
async def test_huge_numbers_in_fields_are_a_400(
    api: Api, caplog: pytest.LogCaptureFixture, field: str, number: str
) -> None:
    body = f'{{"to": ["+46700000001"], "body": "hi", "{field}": {number}}}'.encode()
    if field == "body":
        body = f'{{"to": ["+46700000001"], "body": {number}}}'.encode()
    status, data = await api.call("POST", "/batches", data=body, headers=JSON)
    assert 400 <= status < 500, data
    assert set(data) == {"code", "text"}
    assert _tracebacks(caplog) == []


async def test_the_journal_records_a_malformed_body_as_none(api: Api, sim: SinchSimulator) -> None:
    status, _ = await api.call("POST", "/batches", data=b"\xff", headers=JSON)
    assert status == 400
    entry = sim.journal.requests[-1]
    assert (entry.method, entry.status, entry.json) == ("POST", 400, None)


async def test_auth_is_checked_before_the_body(anon: Api, caplog: pytest.LogCaptureFixture) -> None:
    status, data = await anon.call("POST", "/batches", data=b"[" * 5000, headers=JSON)
    assert status == 401
    assert data["code"] == "unauthorized"
    assert _tracebacks(caplog) == []


async def _padded(json: bytes, size: int) -> AsyncIterator[bytes]:
    """``json`` with spaces before its last byte, ``size`` bytes in all, sent in chunks
    (chunked encoding, no Content-Length: the cap is enforced while reading)."""
    yield json[:-1]
    spaces = size - len(json)
    chunk = b" " * 65536
    while spaces > 0:
        yield chunk[:spaces]
        spaces -= len(chunk)
    yield json[-1:]


async def test_an_oversized_body_is_a_413_in_the_sinch_shape(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    body = _padded(GOOD_BATCH, MAX_BODY_BYTES + 1)
    status, data = await api.call("POST", "/batches", data=body, headers=JSON)
    assert status == 413, data
    assert data["code"] == "request_entity_too_large"
    assert str(MAX_BODY_BYTES) in data["text"]
    assert _tracebacks(caplog) == []
    await _assert_still_serves(api)


async def test_a_body_just_under_the_cap_is_read(api: Api) -> None:
    body = _padded(GOOD_BATCH, MAX_BODY_BYTES)
    status, data = await api.call("POST", "/batches", data=body, headers=JSON)
    assert status == 201, data


# -- Conversation routes: the same bodies, the Conversation error shape ------------------


@pytest.fixture
async def conversation(sim: SinchSimulator) -> Any:
    async with aiohttp.ClientSession(base_url=sim.url) as http:
        form = {
            "grant_type": "client_credentials",
            "client_id": sim.key_id,
            "client_secret": sim.key_secret,
        }
        async with http.post("/oauth2/token", data=form) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http, f"/v1/projects/{sim.project_id}"


@pytest.mark.parametrize("body", list(ALL_BAD.values()), ids=list(ALL_BAD))
@pytest.mark.parametrize(("method", "route"), CONVERSATION_JSON_ROUTES)
async def test_conversation_routes_answer_400_to_malformed_bodies(
    conversation: Any, caplog: pytest.LogCaptureFixture, method: str, route: str, body: bytes
) -> None:
    http, prefix = conversation
    status, data = await _raw(http, method, prefix + route, body)
    assert status == 400, data
    assert data["error"]["code"] == 400
    assert data["error"]["status"] == "INVALID_ARGUMENT"
    assert data["error"]["message"]
    assert _tracebacks(caplog) == []
    query = {"metadataKey": "k", "metadataValue": "v"}
    async with http.get(prefix + "/messages", params=query) as resp:
        assert resp.status == 200


async def test_conversation_oversized_body_is_a_413(
    conversation: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http, prefix = conversation
    body = _padded(b"[]", MAX_BODY_BYTES + 1)
    status, data = await _raw(http, "POST", prefix + "/messages", body)
    assert status == 413, data
    assert data["error"]["code"] == 413
    assert _tracebacks(caplog) == []


# -- the decoder, and arbitrary bytes over HTTP -----------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH])
def test_nesting_up_to_the_cap_is_accepted(depth: int) -> None:
    value = decode_body(b"[" * depth + b"]" * depth)
    for _ in range(depth - 1):
        value = value[0]
    assert value == []


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda prefix, junk: prefix + junk,
            st.sampled_from([b'{"to": ["+4670000000', b'{"body": "\\u', b"[[[[", b'{"to": [1e']),
            st.binary(max_size=100),
        ),
    )
)
async def test_arbitrary_bytes_never_get_a_5xx(
    api: Api, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    status, data = await api.call("POST", "/batches", data=body, headers=JSON)
    assert status < 500, (body, data)
    assert _tracebacks(caplog) == []


# -- the OAuth2 token endpoint: malformed forms -------------------------------------------

BAD_FORMS = {
    "invalid utf-8": ("application/x-www-form-urlencoded", b"client_id=\xff\xfe&grant_type=x"),
    "unknown charset": ("application/x-www-form-urlencoded; charset=no-such-codec", b"a=b"),
    "multipart without boundary": ("multipart/form-data", b"garbage"),
    "broken multipart": ("multipart/form-data; boundary=x", b"--x\r\ngarbage"),
}


@pytest.mark.parametrize(("ctype", "body"), list(BAD_FORMS.values()), ids=list(BAD_FORMS))
async def test_token_endpoint_answers_400_to_a_malformed_form(
    sim: SinchSimulator, caplog: pytest.LogCaptureFixture, ctype: str, body: bytes
) -> None:
    async with aiohttp.ClientSession(base_url=sim.url) as http:
        async with http.post("/oauth2/token", data=body, headers={"Content-Type": ctype}) as resp:
            assert resp.status == 400, await resp.text()
            assert (await resp.json())["error"] == "invalid_request"
        form = {
            "grant_type": "client_credentials",
            "client_id": sim.key_id,
            "client_secret": sim.key_secret,
        }
        async with http.post("/oauth2/token", data=form) as resp:
            assert resp.status == 200
    assert _tracebacks(caplog) == []
