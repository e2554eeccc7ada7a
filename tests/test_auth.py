"""OAuth2 client credentials against a real local token endpoint and SMS API."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from sinch_async import (
    AsyncSmsClient,
    AuthenticationError,
    Group,
    ResponseDecodeError,
    ServerError,
    SinchError,
    _auth,
)
from tests.conftest import TOKEN, LocalServer, RecordingServer, group_json

PROJECT = "proj-123"
KEY_ID = "key-id-1"
KEY_SECRET = "key-secret-xyz-987"
EXPIRED_HEADER = 'Bearer error="invalid_token", error_description="token expired"'


@dataclass
class TokenCall:
    authorization: str | None
    content_type: str | None
    form: dict[str, str]


@dataclass
class ApiCall:
    method: str
    path: str
    authorization: str | None
    body: bytes = field(default=b"", compare=False)


@dataclass
class FakeSinch:
    """A token endpoint and an SMS API that accepts only the tokens it issued."""

    key_id: str = KEY_ID
    key_secret: str = KEY_SECRET
    expires_in: float = 3600
    token_delay: float = 0.0
    token_status: int | None = None  # force an error status on the token endpoint
    token_body: Any = None  # force a token endpoint body
    token_calls: list[TokenCall] = field(default_factory=list)
    api_calls: list[ApiCall] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    url: str = ""

    async def token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_calls.append(
            TokenCall(request.headers.get("Authorization"), request.content_type, form)
        )
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if self.token_status is not None:
            return web.json_response(
                {"error": "invalid_client", "error_description": "client authentication failed"},
                status=self.token_status,
            )
        if self.token_body is not None:
            return web.json_response(self.token_body)
        basic = base64.b64encode(f"{self.key_id}:{self.key_secret}".encode()).decode()
        if (
            request.headers.get("Authorization") != f"Basic {basic}"
            or form.get("grant_type") != "client_credentials"
            or request.content_type != "application/x-www-form-urlencoded"
        ):
            return web.json_response(
                {"error": "invalid_client", "error_description": "client authentication failed"},
                status=401,
            )
        token = f"tok-{len(self.issued) + 1}"
        self.issued.append(token)
        return web.json_response(
            {
                "access_token": token,
                "expires_in": self.expires_in,
                "scope": "",
                "token_type": "bearer",
            }
        )

    async def api(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        body = await request.read()
        self.api_calls.append(ApiCall(request.method, request.path, authorization, body))
        token = (authorization or "").removeprefix("Bearer ")
        if token in self.expired:
            return web.json_response(
                {"code": "unauthorized", "text": "token expired"},
                status=401,
                headers={"WWW-Authenticate": EXPIRED_HEADER},
            )
        if token not in self.issued:
            return web.json_response(
                {"code": "unauthorized", "text": "invalid token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return web.json_response(group_json())


@pytest.fixture
async def fake(local_server: LocalServer) -> FakeSinch:
    state = FakeSinch()
    state.url = await local_server(
        [
            web.post("/oauth2/token", state.token),
            web.route("*", "/xms/v1/{project}/{tail:.*}", state.api),
        ]
    )
    return state


def make_client(
    fake: FakeSinch, *, key_secret: str = KEY_SECRET, retry: Any = "default"
) -> AsyncSmsClient:
    options: dict[str, Any] = {} if retry == "default" else {"retry": retry}
    return AsyncSmsClient(
        project_id=PROJECT,
        key_id=KEY_ID,
        key_secret=key_secret,
        base_url=fake.url,
        auth_url=fake.url + "/oauth2/token",
        **options,
    )


@pytest.fixture
async def oauth_sms(fake: FakeSinch) -> AsyncIterator[AsyncSmsClient]:
    async with make_client(fake) as client:
        yield client


@pytest.fixture
async def oauth_once(fake: FakeSinch) -> AsyncIterator[AsyncSmsClient]:
    """One attempt per call (retry=None), so token endpoint failures surface at once."""
    async with make_client(fake, retry=None) as client:
        yield client


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Replace the clock the token cache reads (not the event loop's clock)."""
    fake_clock = FakeClock()
    monkeypatch.setattr(_auth, "time", fake_clock)
    return fake_clock


async def test_token_request_shape_and_bearer_use(
    fake: FakeSinch, oauth_sms: AsyncSmsClient
) -> None:
    group = await oauth_sms.groups.get("g1")
    assert isinstance(group, Group)
    assert group.id == "01FC66621XXXXX119Z8PMV1QPU"
    assert len(fake.token_calls) == 1
    call = fake.token_calls[0]
    expected = base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
    assert call.authorization == f"Basic {expected}"
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.form == {"grant_type": "client_credentials"}
    assert fake.api_calls == [ApiCall("GET", f"/xms/v1/{PROJECT}/groups/g1", "Bearer tok-1")]


async def test_token_cached_across_requests(fake: FakeSinch, oauth_sms: AsyncSmsClient) -> None:
    for index in range(10):
        await oauth_sms.groups.get(f"g{index}")
    assert len(fake.token_calls) == 1
    assert len(fake.api_calls) == 10
    assert {c.authorization for c in fake.api_calls} == {"Bearer tok-1"}
    assert oauth_sms.auth.fetch_count == 1  # type: ignore[attr-defined]


async def test_concurrent_first_requests_fetch_one_token(
    fake: FakeSinch, oauth_sms: AsyncSmsClient
) -> None:
    fake.token_delay = 0.05
    groups = await asyncio.gather(*(oauth_sms.groups.get(f"g{i}") for i in range(50)))
    assert len(groups) == 50
    assert all(isinstance(g, Group) for g in groups)
    assert len(fake.token_calls) == 1
    assert len(fake.api_calls) == 50
    assert {c.authorization for c in fake.api_calls} == {"Bearer tok-1"}


async def test_short_lived_token_is_refreshed_before_expiry(
    fake: FakeSinch, oauth_sms: AsyncSmsClient, clock: FakeClock
) -> None:
    fake.expires_in = 61
    await oauth_sms.groups.get("g1")
    clock.now += 0.5
    await oauth_sms.groups.get("g1")
    assert len(fake.token_calls) == 1
    clock.now = 1000.0 + 60  # one second before the token expires
    await oauth_sms.groups.get("g1")
    assert len(fake.token_calls) == 2
    assert [c.authorization for c in fake.api_calls] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_hour_token_refreshed_sixty_seconds_early(
    fake: FakeSinch, oauth_sms: AsyncSmsClient, clock: FakeClock
) -> None:
    fake.expires_in = 3600
    await oauth_sms.groups.get("g1")
    clock.now = 1000.0 + 3539
    await oauth_sms.groups.get("g1")
    assert len(fake.token_calls) == 1
    clock.now = 1000.0 + 3541
    await oauth_sms.groups.get("g1")
    assert len(fake.token_calls) == 2
    assert fake.api_calls[-1].authorization == "Bearer tok-2"


async def test_expired_401_refreshes_once_and_resends(
    fake: FakeSinch, oauth_sms: AsyncSmsClient
) -> None:
    await oauth_sms.groups.get("g1")
    fake.expired.add("tok-1")
    group = await oauth_sms.groups.get("g2")
    assert group.id == "01FC66621XXXXX119Z8PMV1QPU"
    assert len(fake.token_calls) == 2
    assert [c.authorization for c in fake.api_calls] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]
    assert fake.api_calls[1].path == fake.api_calls[2].path == f"/xms/v1/{PROJECT}/groups/g2"
    # the new token is cached
    await oauth_sms.groups.get("g3")
    assert len(fake.token_calls) == 2
    assert fake.api_calls[-1].authorization == "Bearer tok-2"


async def test_expired_401_resends_the_same_body(
    fake: FakeSinch, oauth_sms: AsyncSmsClient
) -> None:
    await oauth_sms.groups.get("g1")
    fake.expired.add("tok-1")
    group = await oauth_sms.groups.create(name="friends", members=["+46700000001"])
    assert group.id == "01FC66621XXXXX119Z8PMV1QPU"
    posts = fake.api_calls[1:]
    assert [(c.method, c.authorization) for c in posts] == [
        ("POST", "Bearer tok-1"),
        ("POST", "Bearer tok-2"),
    ]
    expected = {"name": "friends", "members": ["+46700000001"]}
    assert [json.loads(c.body) for c in posts] == [expected, expected]
    assert len(fake.token_calls) == 2


async def test_concurrent_expired_401s_refresh_once(
    fake: FakeSinch, oauth_sms: AsyncSmsClient
) -> None:
    await oauth_sms.groups.get("g0")
    fake.expired.add("tok-1")
    results = await asyncio.gather(*(oauth_sms.groups.get(f"g{i}") for i in range(10)))
    assert len(results) == 10
    assert len(fake.token_calls) == 2
    assert fake.issued == ["tok-1", "tok-2"]
    resent = [c for c in fake.api_calls[1:] if c.authorization == "Bearer tok-2"]
    assert len(resent) == 10


async def test_expired_twice_gives_up_after_one_refresh(
    fake: FakeSinch, oauth_sms: AsyncSmsClient
) -> None:
    await oauth_sms.groups.get("g1")
    fake.expired.update({"tok-1", "tok-2", "tok-3"})
    with pytest.raises(AuthenticationError) as info:
        await oauth_sms.groups.get("g2")
    assert info.value.attempts == 2
    assert len(fake.token_calls) == 2
    assert len(fake.api_calls) == 3


async def test_401_without_expired_raises_without_refresh(
    fake: FakeSinch, oauth_sms: AsyncSmsClient
) -> None:
    await oauth_sms.groups.get("g1")
    fake.issued.remove("tok-1")  # the API no longer knows the token, but says nothing of expiry
    with pytest.raises(AuthenticationError) as info:
        await oauth_sms.groups.get("g2")
    err = info.value
    assert err.status == 401
    assert err.code == "unauthorized"
    assert err.text == "invalid token"
    assert err.attempts == 1
    assert len(fake.token_calls) == 1
    assert len(fake.api_calls) == 2


async def test_token_endpoint_401_raises_without_leaking_secret(fake: FakeSinch) -> None:
    wrong = "wrong-secret-123456"
    async with make_client(fake, key_secret=wrong, retry=None) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.groups.get("g1")
    err = info.value
    assert isinstance(err, SinchError)
    assert err.status == 401
    assert err.method == "POST"
    assert err.path == "/oauth2/token"
    assert err.code == "invalid_client"
    basic = base64.b64encode(f"{KEY_ID}:{wrong}".encode()).decode()
    for text in (str(err), repr(err), err.body_text, json.dumps(err.headers)):
        assert wrong not in text
        assert basic not in text
    assert fake.api_calls == []
    assert len(fake.token_calls) == 1


async def test_token_endpoint_500_is_server_error(
    fake: FakeSinch, oauth_once: AsyncSmsClient
) -> None:
    fake.token_status = 500
    with pytest.raises(ServerError) as info:
        await oauth_once.groups.get("g1")
    assert info.value.status == 500
    assert KEY_SECRET not in str(info.value)
    assert fake.api_calls == []


async def test_token_endpoint_bad_body(fake: FakeSinch, oauth_once: AsyncSmsClient) -> None:
    fake.token_body = {"token_type": "bearer"}  # no access_token
    with pytest.raises(ResponseDecodeError) as info:
        await oauth_once.groups.get("g1")
    assert info.value.path == "/oauth2/token"
    assert fake.api_calls == []


async def test_failed_token_fetch_is_retried_on_next_call(
    fake: FakeSinch, oauth_once: AsyncSmsClient
) -> None:
    fake.token_status = 503
    with pytest.raises(ServerError):
        await oauth_once.groups.get("g1")
    fake.token_status = None
    group = await oauth_once.groups.get("g1")
    assert group.id == "01FC66621XXXXX119Z8PMV1QPU"
    assert len(fake.token_calls) == 2
    assert fake.api_calls[-1].authorization == "Bearer tok-1"


async def test_oauth_repr_hides_secret(oauth_sms: AsyncSmsClient) -> None:
    basic = base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
    for text in (repr(oauth_sms), repr(oauth_sms.auth)):
        assert KEY_SECRET not in text
        assert basic not in text
    assert PROJECT in repr(oauth_sms)


async def test_service_plan_client_sends_bearer_token(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, group_json())
    await sms.groups.get("g1")
    auth = {k.lower(): v for k, v in server.last.headers.items()}["authorization"]
    assert auth == f"Bearer {TOKEN}"


async def test_service_plan_expired_401_is_not_refreshed(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(
        401,
        {"code": "unauthorized", "text": "expired"},
        headers={"WWW-Authenticate": EXPIRED_HEADER},
    )
    with pytest.raises(AuthenticationError) as info:
        await sms.groups.get("g1")
    assert info.value.attempts == 1
    assert len(server.requests) == 1
