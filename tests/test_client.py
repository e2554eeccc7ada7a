"""AsyncSmsClient: construction checks, from_env, lifecycle, event loops, network failures."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import warnings
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from sinch_async import (
    AsyncSmsClient,
    AuthenticationError,
    ClientClosedError,
    EventLoopMismatchError,
    SinchConnectionError,
    SinchError,
    SinchTimeoutError,
    SinchValidationError,
)
from tests.conftest import (
    PLAN,
    TOKEN,
    RecordingServer,
    api_path,
    free_port,
    group_json,
    header,
    plan_client,
    serve,
    tcp_server,
)

KEY_SECRET = "k3y-s3cr3t-do-not-leak"


async def ping(client: AsyncSmsClient) -> int:
    """A cheap GET that accepts the recording server's default ``{}`` answer."""
    page = await client.inbounds.list().page()
    return page.count


# --- construction errors ------------------------------------------------------------------


def test_no_credentials() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient()
    assert info.value.field == "credentials"
    assert "no credentials" in str(info.value)


def test_empty_strings_count_as_missing() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(service_plan_id="", api_token="")
    assert info.value.field == "credentials"


def test_service_plan_id_without_api_token() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(service_plan_id=PLAN)
    assert info.value.field == "api_token"
    assert "missing api_token" in str(info.value)


def test_api_token_without_service_plan_id() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(api_token=TOKEN)
    assert info.value.field == "service_plan_id"
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)


def test_whitespace_only_credentials_are_rejected() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(service_plan_id="   ", api_token=TOKEN)
    assert info.value.field == "service_plan_id"


@pytest.mark.parametrize(
    ("kwargs", "missing"),
    [
        ({"project_id": "proj", "key_id": "kid"}, "key_secret"),
        ({"project_id": "proj", "key_secret": KEY_SECRET}, "key_id"),
        ({"key_id": "kid", "key_secret": KEY_SECRET}, "project_id"),
    ],
)
def test_oauth_missing_one_part(kwargs: dict[str, str], missing: str) -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(**kwargs)
    assert info.value.field == missing
    assert f"missing {missing}" in str(info.value)
    assert KEY_SECRET not in str(info.value)


def test_mixed_credentials() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(
            service_plan_id=PLAN,
            api_token=TOKEN,
            project_id="proj",
            key_id="kid",
            key_secret=KEY_SECRET,
        )
    err = info.value
    assert err.field == "credentials"
    assert "not both" in str(err)
    for secret in (TOKEN, KEY_SECRET):
        assert secret not in str(err)
        assert secret not in repr(err)


def test_unknown_region_lists_valid_regions() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, region="mars")
    err = info.value
    assert err.field == "region"
    assert "'mars'" in str(err)
    assert "us, eu, au, br, ca" in str(err)


def test_oauth_region_au_rejected() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(project_id="proj", key_id="kid", key_secret=KEY_SECRET, region="au")
    err = info.value
    assert err.field == "region"
    assert "us, eu" in str(err)
    assert "au" not in str(err).split("valid regions:")[1]


def test_http_base_url_to_remote_host_rejected() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, base_url="http://sms.example.com")
    assert info.value.field == "base_url"
    assert "allow_insecure_http" in str(info.value)


def test_http_auth_url_to_remote_host_rejected() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(
            project_id="proj",
            key_id="kid",
            key_secret=KEY_SECRET,
            auth_url="http://auth.example.com/oauth2/token",
        )
    assert info.value.field == "auth_url"


def test_http_base_url_allowed_with_flag() -> None:
    client = AsyncSmsClient(
        service_plan_id=PLAN,
        api_token=TOKEN,
        base_url="http://sms.example.com/",
        allow_insecure_http=True,
    )
    assert client.base_url == "http://sms.example.com"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:3017", "http://localhost:3017", "http://[::1]:3017"]
)
def test_http_base_url_allowed_for_loopback(url: str) -> None:
    client = AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, base_url=url)
    assert client.base_url == url


@pytest.mark.parametrize(
    "url", ["ftp://sms.example.com", "sms.example.com", "https://sms.example.com/?a=1"]
)
def test_malformed_base_url_rejected(url: str) -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, base_url=url)
    assert info.value.field == "base_url"


def test_max_connections_below_one() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, max_connections=0)
    assert info.value.field == "max_connections"


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_non_positive_timeout_is_a_validation_error(timeout: float) -> None:
    # Every error raised on purpose derives from SinchError (errors.py).
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, timeout=timeout)
    assert info.value.field == "timeout"


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (None, "https://us.sms.api.sinch.com"),
        ("us", "https://us.sms.api.sinch.com"),
        ("eu", "https://eu.sms.api.sinch.com"),
        ("au", "https://au.sms.api.sinch.com"),
        ("br", "https://br.sms.api.sinch.com"),
        ("ca", "https://ca.sms.api.sinch.com"),
        (" EU ", "https://eu.sms.api.sinch.com"),
    ],
)
def test_service_plan_base_url_per_region(region: str | None, expected: str) -> None:
    client = AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, region=region)
    assert client.base_url == expected
    assert client.auth_url is None


@pytest.mark.parametrize(
    ("region", "expected"),
    [("us", "https://zt.us.sms.api.sinch.com"), ("eu", "https://zt.eu.sms.api.sinch.com")],
)
def test_oauth_base_url_per_region(region: str, expected: str) -> None:
    client = AsyncSmsClient(project_id="proj", key_id="kid", key_secret=KEY_SECRET, region=region)
    assert client.base_url == expected
    assert client.auth_url == "https://auth.sinch.com/oauth2/token"
    assert client.account_id == "proj"


# --- from_env -----------------------------------------------------------------------------


def test_from_env_with_mapping() -> None:
    client = AsyncSmsClient.from_env(
        {"SINCH_SERVICE_PLAN_ID": "envplan", "SINCH_API_TOKEN": "envtoken", "SINCH_REGION": "eu"}
    )
    assert client.account_id == "envplan"
    assert client.region == "eu"
    assert client.base_url == "https://eu.sms.api.sinch.com"


def test_from_env_oauth_and_base_url() -> None:
    client = AsyncSmsClient.from_env(
        {
            "SINCH_PROJECT_ID": "envproj",
            "SINCH_KEY_ID": "kid",
            "SINCH_KEY_SECRET": KEY_SECRET,
            "SINCH_BASE_URL": "http://127.0.0.1:3017",
            "SINCH_SERVICE_PLAN_ID": "   ",
        }
    )
    assert client.account_id == "envproj"
    assert client.base_url == "http://127.0.0.1:3017"
    assert KEY_SECRET not in repr(client)


def test_from_env_overrides_win() -> None:
    client = AsyncSmsClient.from_env(
        {"SINCH_SERVICE_PLAN_ID": "envplan", "SINCH_API_TOKEN": "envtoken", "SINCH_REGION": "eu"},
        region="ca",
    )
    assert client.base_url == "https://ca.sms.api.sinch.com"


def test_from_env_empty_mapping_raises() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient.from_env({})
    assert info.value.field == "credentials"


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SINCH_SERVICE_PLAN_ID",
        "SINCH_API_TOKEN",
        "SINCH_PROJECT_ID",
        "SINCH_KEY_ID",
        "SINCH_KEY_SECRET",
        "SINCH_REGION",
        "SINCH_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SINCH_SERVICE_PLAN_ID", "osplan")
    monkeypatch.setenv("SINCH_API_TOKEN", "ostoken")
    monkeypatch.setenv("SINCH_REGION", "br")
    client = AsyncSmsClient.from_env()
    assert client.account_id == "osplan"
    assert client.base_url == "https://br.sms.api.sinch.com"


def test_from_env_os_environ_half_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SINCH_API_TOKEN", "SINCH_PROJECT_ID", "SINCH_KEY_ID", "SINCH_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SINCH_SERVICE_PLAN_ID", "osplan")
    with pytest.raises(SinchValidationError) as info:
        AsyncSmsClient.from_env()
    assert info.value.field == "api_token"


# --- request path and headers ---------------------------------------------------------------


async def test_request_path_auth_and_user_agent(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, group_json())
    group = await sms.groups.get("01FC66621XXXXX119Z8PMV1QPU")
    assert group.id == "01FC66621XXXXX119Z8PMV1QPU"
    rec = server.last
    assert rec.method == "GET"
    assert rec.path == api_path("/groups/01FC66621XXXXX119Z8PMV1QPU")
    assert header(rec.headers, "Authorization") == f"Bearer {TOKEN}"
    assert header(rec.headers, "Accept") == "application/json"
    user_agent = header(rec.headers, "User-Agent")
    assert user_agent is not None
    assert "sinch-async" in user_agent


async def test_user_agent_suffix(server: RecordingServer) -> None:
    async with plan_client(server.url, user_agent="myapp/2.0") as client:
        await ping(client)
    user_agent = header(server.last.headers, "User-Agent") or ""
    assert user_agent.startswith("sinch-async/")
    assert user_agent.endswith(" myapp/2.0")


async def test_base_url_ending_in_xms_v1(server: RecordingServer) -> None:
    server.respond(200, [])
    async with AsyncSmsClient(
        service_plan_id=PLAN, api_token=TOKEN, base_url=server.url + "/xms/v1/"
    ) as client:
        assert await client.groups.members("g1") == []
    assert server.last.path == api_path("/groups/g1/members")


async def test_account_id_is_quoted_in_path(server: RecordingServer) -> None:
    server.respond(200, [])
    async with AsyncSmsClient(
        service_plan_id="plan:with space", api_token=TOKEN, base_url=server.url
    ) as client:
        assert await client.groups.members("g1") == []
    assert server.last.raw_path == "/xms/v1/plan%3Awith%20space/groups/g1/members"


# --- lifecycle ------------------------------------------------------------------------------


async def test_one_session_reused(server: RecordingServer) -> None:
    client = plan_client(server.url)
    assert client._transport._session is None  # created lazily
    await ping(client)
    first = client._transport._session
    assert first is not None
    for _ in range(3):
        await ping(client)
    assert client._transport._session is first
    assert len(server.requests) == 4
    await client.aclose()
    assert first.closed


async def test_connection_kept_alive_across_requests() -> None:
    peers: list[object] = []

    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({"count": 0, "page": 0, "page_size": 0, "inbounds": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with (
        serve(app) as url,
        plan_client(url) as client,
    ):
        for _ in range(3):
            assert await ping(client) == 0
    assert len(peers) == 3
    assert len(set(peers)) == 1  # one TCP connection, reused


async def test_async_with_closes_session(server: RecordingServer) -> None:
    async with plan_client(server.url) as client:
        await ping(client)
        session = client._transport._session
        assert session is not None
        assert not session.closed
        assert not client.closed
    assert client.closed
    assert session.closed


async def test_aclose_twice_is_fine(server: RecordingServer) -> None:
    client = plan_client(server.url)
    await ping(client)
    await client.aclose()
    await client.aclose()
    assert client.closed


async def test_aclose_without_any_request() -> None:
    client = AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN)
    await client.aclose()
    assert client.closed


async def test_use_after_close_raises(server: RecordingServer) -> None:
    client = plan_client(server.url)
    await ping(client)
    await client.aclose()
    with pytest.raises(ClientClosedError) as info:
        await ping(client)
    assert isinstance(info.value, SinchError)
    assert isinstance(info.value, RuntimeError)
    assert len(server.requests) == 1


async def test_use_after_close_without_prior_request(server: RecordingServer) -> None:
    client = plan_client(server.url)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await client.groups.get("g1")
    assert server.requests == []


async def test_closed_error_reports_zero_attempts(server: RecordingServer) -> None:
    # errors.py: attempts is 0 when the error was raised before any network I/O.
    client = plan_client(server.url)
    await client.aclose()
    with pytest.raises(ClientClosedError) as info:
        await client.groups.get("g1")
    assert info.value.attempts == 0


async def test_session_passed_in_is_used_and_not_closed(server: RecordingServer) -> None:
    async with aiohttp.ClientSession(headers={"X-Caller": "own-session"}) as session:
        client = plan_client(server.url, session=session)
        await ping(client)
        await ping(client)
        assert [header(r.headers, "X-Caller") for r in server.requests] == [
            "own-session",
            "own-session",
        ]
        assert header(server.last.headers, "Authorization") == f"Bearer {TOKEN}"
        await client.aclose()
        await client.aclose()
        assert client.closed
        assert not session.closed
        with pytest.raises(ClientClosedError):
            await ping(client)
        # the session still works for its owner
        async with session.get(server.url + "/ping") as response:
            assert response.status == 200


async def test_session_passed_in_still_sends_user_agent(server: RecordingServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        plan_client(
            server.url,
            session=session,
            user_agent="myapp/2.0",
        ) as client,
    ):
        await ping(client)
    user_agent = header(server.last.headers, "User-Agent") or ""
    assert "sinch-async" in user_agent
    assert "myapp/2.0" in user_agent


def test_second_event_loop_raises_mismatch() -> None:
    loop1 = asyncio.new_event_loop()
    server = RecordingServer()
    try:
        loop1.run_until_complete(server.start())
        client = plan_client(server.url)
        assert loop1.run_until_complete(ping(client)) == 0
        loop2 = asyncio.new_event_loop()
        try:
            with pytest.raises(EventLoopMismatchError) as info:
                loop2.run_until_complete(ping(client))
        finally:
            loop2.close()
        assert "different event loop" in str(info.value)
        assert isinstance(info.value, SinchError)
        assert len(server.requests) == 1
        # the client still works in its own loop
        assert loop1.run_until_complete(ping(client)) == 0
        loop1.run_until_complete(client.aclose())
    finally:
        loop1.run_until_complete(server.stop())
        loop1.close()
    assert len(server.requests) == 2


def _run_and_abandon(closed: bool) -> list[warnings.WarningMessage]:
    gc.collect()
    loop = asyncio.new_event_loop()
    server = RecordingServer()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loop.run_until_complete(server.start())

            async def use() -> None:
                client = plan_client(server.url)
                await ping(client)
                if closed:
                    await client.aclose()

            loop.run_until_complete(use())
            gc.collect()
            loop.run_until_complete(server.stop())
        finally:
            loop.close()
        gc.collect()
    return [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_unclosed_client_warns_exactly_once() -> None:
    resource_warnings = _run_and_abandon(closed=False)
    assert len(resource_warnings) == 1, [str(w.message) for w in resource_warnings]
    message = str(resource_warnings[0].message)
    assert "garbage-collected without being closed" in message
    assert "AsyncSmsClient" in message
    assert TOKEN not in message


def test_closed_client_does_not_warn() -> None:
    assert _run_and_abandon(closed=True) == []


def test_unused_client_does_not_warn() -> None:
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN)
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


# --- secrets never shown --------------------------------------------------------------------


def test_repr_hides_api_token() -> None:
    client = AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, region="eu")
    text = repr(client)
    assert TOKEN not in text
    assert PLAN in text
    assert "eu" in text
    assert TOKEN not in repr(client.auth)
    assert TOKEN not in str(client)


def test_repr_hides_key_secret() -> None:
    client = AsyncSmsClient(project_id="proj", key_id="kid", key_secret=KEY_SECRET)
    for text in (repr(client), str(client), repr(client.auth)):
        assert KEY_SECRET not in text
    assert "proj" in repr(client)


async def test_api_error_hides_token(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(401, {"code": "unauthorized", "text": "Invalid credentials"})
    with pytest.raises(AuthenticationError) as info:
        await sms.groups.get("g1")
    err = info.value
    assert err.status == 401
    for text in (str(err), repr(err), repr(err.args)):
        assert TOKEN not in text
    assert header(err.headers, "Authorization") is None


# --- network failures -----------------------------------------------------------------------
# These clients use retry=None: one attempt, so the transport's own mapping of each failure
# is what the test sees (retries are covered elsewhere).


async def test_timeout_raises_sinch_timeout_error() -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(release.wait(), 5)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    async with serve(app) as url:
        try:
            async with plan_client(url, timeout=0.2, retry=None) as client:
                loop = asyncio.get_running_loop()
                started = loop.time()
                with pytest.raises(SinchTimeoutError) as info:
                    await client.groups.get("g1")
                elapsed = loop.time() - started
        finally:
            release.set()
    err = info.value
    assert isinstance(err, SinchConnectionError)
    assert err.method == "GET"
    assert err.path == "/groups/g1"  # API-relative
    assert err.attempts == 1
    assert elapsed < 2.0


async def test_connection_refused() -> None:
    port = free_port()
    async with plan_client(f"http://127.0.0.1:{port}", retry=None) as client:
        with pytest.raises(SinchConnectionError) as info:
            await client.groups.get("g1")
    err = info.value
    assert not isinstance(err, SinchTimeoutError)
    assert err.request_sent is False
    assert err.method == "GET"
    assert err.attempts == 1
    assert TOKEN not in str(err)


def dropping_server(seen: list[bytes]) -> contextlib.AbstractAsyncContextManager[str]:
    """A TCP server that reads the request head and closes the connection without answering."""

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    return tcp_server(drop)


async def dropped(
    call: Callable[[AsyncSmsClient], Awaitable[object]],
) -> tuple[SinchConnectionError, list[bytes]]:
    """One attempt of ``call`` against :func:`dropping_server`: the error, the request heads."""
    seen: list[bytes] = []
    async with dropping_server(seen) as url, plan_client(url, retry=None) as client:
        with pytest.raises(SinchConnectionError) as info:
            await call(client)
    return info.value, seen


async def test_server_drops_connection_on_get() -> None:
    err, seen = await dropped(lambda client: client.groups.get("g1"))
    assert not isinstance(err, SinchTimeoutError)
    assert err.request_sent is not False  # the server did receive it
    assert err.method == "GET"
    assert err.path == "/groups/g1"  # API-relative
    assert seen  # aiohttp itself may re-send an idempotent GET once
    assert seen[0].startswith(b"GET " + api_path("/groups/g1").encode() + b" ")


async def test_server_drops_connection_on_post() -> None:
    err, seen = await dropped(lambda client: client.groups.create(name="friends"))
    assert not isinstance(err, SinchTimeoutError)
    assert err.request_sent is not False
    assert err.method == "POST"
    assert err.attempts == 1
    assert len(seen) == 1  # a POST is never re-sent
    assert seen[0].startswith(b"POST " + api_path("/groups").encode() + b" ")
