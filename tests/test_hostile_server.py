"""Hostile servers on 127.0.0.1 against the client (issue 14): redirects are refused, not
followed; response bodies are bounded after decompression; the client's own secrets never
reach an exception or a log line; an absurd ``Retry-After`` fails the call at once.

Every server here is a real one: the suite's :class:`RecordingServer`, small aiohttp apps,
a TLS app with a self-signed certificate, or a raw socket. The memory tests run the client
in a subprocess (its peak RSS is its own) while the server runs in this process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import re
import ssl
import urllib.parse
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sinch_async import (
    DEFAULT_MAX_RESPONSE_SIZE,
    AmbiguousSendError,
    ApiError,
    AsyncConversationBatchClient,
    AsyncSmsClient,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    RedirectError,
    ResponseDecodeError,
    ResponseTooLargeError,
    RetryPolicy,
    ServerError,
    SinchError,
    SinchValidationError,
    call_info,
)
from tests.conftest import (
    FAST,
    NUM,
    PLAN,
    RecordingServer,
    api_path,
    group_json,
    plan_client,
    recording_server,
    run_python,
    serve,
    tcp_server,
    text_batch,
)

MiB = 1024 * 1024


@pytest.fixture
async def target() -> AsyncIterator[RecordingServer]:
    """A second recording server: where a hostile API server redirects to."""
    async with recording_server() as srv:
        yield srv


# --- 1. redirects are refused, never followed -------------------------------------------------

Call = Callable[[AsyncSmsClient], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "send": lambda sms: sms.batches.send([NUM], "hi", client_reference="order-1"),
    "get": lambda sms: sms.batches.get("b1"),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_an_error_naming_status_and_target_and_nothing_is_resent(
    server: RecordingServer, target: RecordingServer, status: int, call: str
) -> None:
    location = target.url + api_path("/batches/FROM-ELSEWHERE")
    server.respond(status, {"id": "FROM-ELSEWHERE"}, headers={"Location": location})
    async with plan_client(server.url, retry=FAST) as sms:
        with pytest.raises(RedirectError) as caught:
            await CALLS[call](sms)
    err = caught.value
    assert isinstance(err, ApiError)
    assert err.status == status
    assert err.target_host == target.url
    assert err.location == location
    assert f"HTTP {status}" in str(err)
    assert target.url in str(err)
    assert err.attempts == 1
    assert len(server.requests) == 1  # not re-sent, not looked up
    assert target.requests == []  # not followed


async def test_a_relative_redirect_is_refused_too(server: RecordingServer) -> None:
    server.respond(307, headers={"Location": "/elsewhere"})
    async with plan_client(server.url, retry=FAST) as sms:
        with pytest.raises(RedirectError, match="redirect to /elsewhere on the same host"):
            await sms.batches.get("b1")
    assert len(server.requests) == 1


# A self-signed certificate for IP 127.0.0.1 (valid until 2126), made for this test with
# ``openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500
# -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1``.
LOCALHOST_CERT = """\
-----BEGIN CERTIFICATE-----
MIIBkTCCATagAwIBAgIUDVcfE4b5/GjDQ61MZ2w/8Qp30K0wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyOTExMzAzNFoYDzIxMjYxMTA1
MTEzMDM0WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQlF+OT/w4GJkxSzrnE9opnOZrUtyeA+7xttT6j3nkuw94JnwyvX3nq
3YinIlfDz2btpLj9kW7xCub6vPK7sGalo2QwYjAdBgNVHQ4EFgQUBVSmm3CTAuaB
xEZpzJTtKf0VGaowHwYDVR0jBBgwFoAUBVSmm3CTAuaBxEZpzJTtKf0VGaowDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0kAMEYC
IQCAIPfxeGODB1ExBJ7GjXSRbn4dZOpn5EK4bqlCSgYQUAIhAMNHWzR5jXVALlky
peaX2nf59Ywci9f8mdhcx4qYtR5K
-----END CERTIFICATE-----
"""
LOCALHOST_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFbaKaKEXw/Geakff
bhz4fS4lZU/R12K0FWPl0YkXd3KhRANCAAQlF+OT/w4GJkxSzrnE9opnOZrUtyeA
+7xttT6j3nkuw94JnwyvX3nq3YinIlfDz2btpLj9kW7xCub6vPK7sGal
-----END PRIVATE KEY-----
"""


@contextlib.asynccontextmanager
async def serve_tls(routes: Iterable[web.AbstractRouteDef], tmp_path: Path) -> AsyncIterator[str]:
    """Serve ``routes`` over TLS on 127.0.0.1; yield ``https://127.0.0.1:PORT``."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(LOCALHOST_CERT)
    key.write_text(LOCALHOST_KEY)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("status", [302, 307, 308])
async def test_https_to_plain_http_is_not_followed(
    target: RecordingServer, tmp_path: Path, status: int
) -> None:
    seen: list[str] = []
    location = target.url + api_path("/batches")  # http://, past the https-only guard

    async def redirect(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        return web.Response(status=status, headers={"Location": location})

    trust = ssl.create_default_context(cadata=LOCALHOST_CERT)
    async with (
        serve_tls([web.route("*", "/{tail:.*}", redirect)], tmp_path) as url,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as session,
        plan_client(url, session=session, retry=FAST) as sms,
    ):
        with pytest.raises(RedirectError) as caught:
            await sms.batches.send([NUM], "hi")
    assert caught.value.target_host == target.url
    assert target.url in str(caught.value)
    assert seen == [f"POST {api_path('/batches')}"]  # reached over TLS, once
    assert target.requests == []


async def test_the_oauth_token_request_is_not_redirected(
    server: RecordingServer, target: RecordingServer
) -> None:
    server.respond(307, headers={"Location": target.url + "/oauth2/token"})
    async with AsyncSmsClient(
        project_id="proj-1",
        key_id="key-id-1",
        key_secret="key-secret-0123456789",
        base_url=server.url,
        auth_url=server.url + "/oauth2/token",
    ) as sms:
        with pytest.raises(RedirectError) as caught:
            await sms.groups.get("g1")
    assert caught.value.status == 307
    assert caught.value.target_host == target.url
    assert [(r.method, r.path) for r in server.requests] == [("POST", "/oauth2/token")]
    assert target.requests == []  # neither the credentials nor the API call went there


async def test_the_conversation_client_does_not_follow_a_redirect_either(
    server: RecordingServer, target: RecordingServer
) -> None:
    server.respond(200, {"access_token": "conversation-token-1", "expires_in": 3600})
    server.respond(308, headers={"Location": target.url + "/v1/projects/p/messages/b1"})
    async with AsyncConversationBatchClient(
        "p", "key-id-1", "key-secret-0123456789", base_url=server.url, auth_url=server.url + "/t"
    ) as conv:
        with pytest.raises(RedirectError) as caught:
            await conv.get("b1")
    assert caught.value.target_host == target.url
    assert [r.method for r in server.requests] == ["POST", "GET"]  # the token, then once
    assert target.requests == []


# --- 2. bounded responses --------------------------------------------------------------------

_CLIENT_SCRIPT = """
import asyncio, json, resource, sys
from sinch_async import AsyncSmsClient, SinchError

async def main(url: str) -> None:
    outcome = {"error": None, "message": None}
    async with AsyncSmsClient(service_plan_id="plan123", api_token="secret-token-abc",
                              base_url=url, retry=None) as sms:
        try:
            await sms.groups.get("g1")
        except SinchError as exc:
            outcome = {"error": type(exc).__name__, "message": str(exc)}
    outcome["maxrss_kib"] = peak_rss_kib()
    print(json.dumps(outcome))

def peak_rss_kib() -> int:
    # Linux: VmHWM is this process's own peak. ru_maxrss is not: across the exec that
    # started this process it keeps the parent's size at fork time (a big pytest).
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

asyncio.run(main(sys.argv[1]))
"""
PEAK_RSS_KIB = 100 * 1024
"""100 MB: what the client process may reach while refusing a huge or inflating body."""


async def client_in_subprocess(url: str) -> dict[str, Any]:
    """Run one ``groups.get`` against ``url`` in a fresh Python; its outcome and peak RSS."""
    done = await asyncio.to_thread(run_python, ["-c", _CLIENT_SCRIPT, url])
    assert done.returncode == 0, done.stderr
    outcome: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return outcome


@functools.cache
def gzip_bomb() -> bytes:
    """1 GiB of zeros, gzip-compressed (about 1 MB), made once in 1 MiB steps."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MiB)
    parts = [compressor.compress(zeros) for _ in range(1024)]
    parts.append(compressor.flush())
    return b"".join(parts)


async def test_a_300_mb_body_is_cut_off_at_the_cap_with_flat_memory() -> None:
    chunk = b" " * MiB
    written: list[int] = [0]

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(300):
                await response.write(chunk)
                written[0] += len(chunk)
            await response.write_eof()
        return response

    async with serve([web.get(api_path("/groups/g1"), endless)]) as url:
        outcome = await client_in_subprocess(url)
    assert outcome["error"] == "ResponseTooLargeError", outcome
    assert "max_response_size (32 MiB)" in outcome["message"]
    assert outcome["maxrss_kib"] < PEAK_RSS_KIB, outcome
    assert written[0] < 300 * MiB  # the client dropped the connection: the rest never went


async def test_a_gzip_bomb_is_cut_off_after_decompression_with_flat_memory() -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 2 * MiB  # small on the wire: only the inflated size can stop it

    async def inflating(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )

    async with serve([web.get(api_path("/groups/g1"), inflating)]) as url:
        outcome = await client_in_subprocess(url)
    assert outcome["error"] == "ResponseTooLargeError", outcome
    assert outcome["maxrss_kib"] < PEAK_RSS_KIB, outcome


async def test_a_declared_length_over_the_cap_is_refused_without_reading() -> None:
    # The server sends the head and one byte, then nothing: a client that read on would
    # wait for its timeout; one that refuses on Content-Length drops the connection.
    dropped = asyncio.Event()
    declared = 100 * MiB

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n{" % declared
        )
        await writer.drain()
        await reader.read()  # until the client closes
        dropped.set()
        writer.close()

    async with tcp_server(handle) as url, plan_client(url, timeout=30, retry=FAST) as sms:
        with pytest.raises(ResponseTooLargeError) as caught:
            await sms.groups.get("g1")
        await asyncio.wait_for(dropped.wait(), 10)
    err = caught.value
    assert "declares 100 MiB" in str(err)
    assert (err.status, err.limit) == (200, DEFAULT_MAX_RESPONSE_SIZE)
    assert err.attempts == 1  # not retried: the server would send it again


def padded_group(size: int) -> bytes:
    """A valid group JSON of exactly ``size`` bytes (trailing whitespace is valid JSON)."""
    body = json.dumps(group_json()).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("size", "refused"), [(500, False), (1000, False), (1001, True)])
async def test_a_smaller_max_response_size(size: int, refused: bool, chunked: bool) -> None:
    body = padded_group(size)

    async def answer(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=body, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 300):
            await response.write(body[start : start + 300])
        await response.write_eof()
        return response

    async with (
        serve([web.get(api_path("/groups/g1"), answer)]) as url,
        plan_client(url, max_response_size=1000, retry=FAST) as sms,
    ):
        if not refused:
            group = await sms.groups.get("g1")
            assert group.id == group_json()["id"]
            return
        with pytest.raises(ResponseTooLargeError) as caught:
            await sms.groups.get("g1")
    assert caught.value.limit == 1000
    assert "max_response_size (1,000 bytes)" in str(caught.value)
    assert ("declares 1,001 bytes" in str(caught.value)) is not chunked


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "1000", None])
async def test_invalid_max_response_size_values_are_refused(value: Any) -> None:
    with pytest.raises(SinchValidationError) as caught:
        plan_client("http://127.0.0.1:9", max_response_size=value)
    assert caught.value.field == "max_response_size"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_send_whose_answer_is_too_large_is_looked_up_by_reference(chunked: bool) -> None:
    reference = "order-too-large"
    batch = text_batch(id="SENT-ONCE", client_reference=reference)
    huge = json.dumps(batch).encode() + b" " * (64 * 1024)
    requests: list[tuple[str, dict[str, str]]] = []

    async def created(request: web.Request) -> web.StreamResponse:
        requests.append(("POST", dict(request.query)))
        await request.read()
        if not chunked:
            return web.Response(status=201, body=huge, content_type="application/json")
        response = web.StreamResponse(status=201, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for start in range(0, len(huge), 4096):
                await response.write(huge[start : start + 4096])
            await response.write_eof()
        return response

    async def lookup(request: web.Request) -> web.Response:
        requests.append(("GET", dict(request.query)))
        page = {"count": 1, "page": 0, "page_size": 1, "batches": [batch]}
        return web.json_response(page)

    routes = [web.post(api_path("/batches"), created), web.get(api_path("/batches"), lookup)]
    async with serve(routes) as url, plan_client(url, max_response_size=16 * 1024) as sms:
        with call_info() as info:
            sent = await sms.batches.send([NUM], "hi", client_reference=reference)
    assert sent.id == "SENT-ONCE"
    assert info.reconciled
    assert [method for method, _ in requests].count("POST") == 1  # texted once
    lookups = [query for method, query in requests if method == "GET"]
    assert lookups
    assert all(query["client_reference"] == reference for query in lookups)


# --- 5. secrets and numbers never in exceptions or logs --------------------------------------

API_TOKEN = "SECRET/api+token=0123456789"
"""Holds ``/``, ``+`` and ``=``, so its percent-encoded form differs from it."""
KEY_ID = "key-id-hostile"
KEY_SECRET = "key/secret+XYZ=987654321"
ACCESS_TOKEN = "ACCESS/token+issued=13579"
BASIC = "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()


def forms(secret: str) -> list[str]:
    """The secret as written and percent-encoded."""
    return [secret, urllib.parse.quote(secret, safe="")]


def leaks(
    secrets: Iterable[str], exc: BaseException, records: list[logging.LogRecord]
) -> list[str]:
    """Where any form of ``secrets`` shows in ``exc`` (its text, repr, body, headers, the
    errors chained to it) or in a log record (message, arguments, traceback)."""
    texts: dict[str, str] = {}
    seen: BaseException | None = exc
    depth = 0
    while seen is not None and depth < 5:
        texts[f"str(exc{depth})"] = str(seen)
        texts[f"repr(exc{depth})"] = repr(seen)
        texts[f"args(exc{depth})"] = repr(seen.args)
        for name in ("text", "code", "details", "headers", "location", "target_host"):
            if hasattr(seen, name):
                texts[f"exc{depth}.{name}"] = repr(getattr(seen, name))
        body = getattr(seen, "body", None)
        if isinstance(body, bytes):
            texts[f"exc{depth}.body"] = body.decode("utf-8", "replace")
        seen = seen.__cause__ or seen.__context__
        depth += 1
    formatter = logging.Formatter()
    for index, record in enumerate(records):
        texts[f"log{index}"] = formatter.format(record) + repr(record.args)
    return [
        f"{where}: {form!r}"
        for where, text in texts.items()
        for secret in secrets
        for form in forms(secret)
        if form in text
    ]


def echo_body(*echoed: str) -> bytes:
    """An error body repeating what it was sent, as written and percent-encoded."""
    said = " ".join(f"{value} ({urllib.parse.quote(value, safe='')})" for value in echoed)
    return json.dumps({"code": "echo", "text": f"rejected credentials {said}"}).encode()


def echo_headers(*echoed: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    for index, value in enumerate(echoed):
        headers[f"X-Echo-{index}"] = value
        headers[f"X-Echo-Quoted-{index}"] = urllib.parse.quote(value, safe="")
    return headers


ECHO_STATUSES: list[tuple[int, type[SinchError]]] = [
    (401, AuthenticationError),
    (400, BadRequestError),
    (500, ServerError),
    (200, ResponseDecodeError),  # a success whose body does not decode keeps the body too
]


@pytest.mark.parametrize(("status", "error"), ECHO_STATUSES)
async def test_an_echoed_api_token_is_in_no_error_and_no_log(
    status: int, error: type[SinchError], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sinch_async")
    seen: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization", "")
        seen.append(authorization)
        return web.Response(
            status=status, body=echo_body(authorization), headers=echo_headers(authorization)
        )

    async with (
        serve([web.route("*", "/{tail:.*}", echo)]) as url,
        AsyncSmsClient(service_plan_id=PLAN, api_token=API_TOKEN, base_url=url, retry=FAST) as sms,
    ):
        with pytest.raises(error) as caught:
            await sms.groups.get("g1")
    assert seen[0] == f"Bearer {API_TOKEN}"  # it was sent, and echoed
    if status == 500:
        assert len(seen) == FAST.max_attempts  # retried: the retry lines are scanned too
        assert any("retry" in r.getMessage() for r in caplog.records)
    assert b"rejected credentials" in getattr(caught.value, "body", b"")
    assert leaks([API_TOKEN], caught.value, caplog.records) == []


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (400, BadRequestError)])
async def test_an_echoing_token_endpoint_leaks_neither_key_secret_nor_basic_credentials(
    status: int, error: type[ApiError], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sinch_async")
    seen: list[str] = []

    async def token(request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization", "")
        seen.append(authorization)
        return web.Response(
            status=status,
            body=echo_body(authorization, KEY_SECRET),
            headers=echo_headers(authorization, KEY_SECRET),
        )

    async with (
        serve([web.post("/oauth2/token", token)]) as url,
        oauth_client(url) as sms,
    ):
        with pytest.raises(error) as caught:
            await sms.groups.get("g1")
    assert seen == [BASIC]
    assert caught.value.path == "/oauth2/token"
    secrets = [KEY_SECRET, BASIC.removeprefix("Basic ")]
    assert leaks(secrets, caught.value, caplog.records) == []


def oauth_client(url: str) -> AsyncSmsClient:
    return AsyncSmsClient(
        project_id="proj-1",
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        base_url=url,
        auth_url=url + "/oauth2/token",
        retry=FAST,
    )


@pytest.mark.parametrize(("status", "error"), ECHO_STATUSES)
async def test_an_echoed_access_token_is_in_no_error_and_no_log(
    status: int, error: type[SinchError], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sinch_async")
    seen: list[str] = []

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": ACCESS_TOKEN, "expires_in": 3600})

    async def echo(request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization", "")
        seen.append(authorization)
        echoed = (authorization, KEY_SECRET, BASIC)
        return web.Response(status=status, body=echo_body(*echoed), headers=echo_headers(*echoed))

    routes = [web.post("/oauth2/token", token), web.route("*", "/xms/{tail:.*}", echo)]
    async with serve(routes) as url, oauth_client(url) as sms:
        with pytest.raises(error) as caught:
            await sms.groups.get("g1")
    assert seen[0] == f"Bearer {ACCESS_TOKEN}"
    secrets = [ACCESS_TOKEN, KEY_SECRET, BASIC.removeprefix("Basic ")]
    assert leaks(secrets, caught.value, caplog.records) == []


SPACED = "+46 70 123 45 67"
_SEPARATORS = re.compile(r"[\s\-.()+/]")


def shows_number(text: str) -> bool:
    """True if ``text`` holds more than the masked form of :data:`SPACED` in any writing:
    percent-decoded, without separators, the first seven digits in a row."""
    plain = _SEPARATORS.sub("", urllib.parse.unquote(text))
    return "4670123" in plain


async def test_a_phone_number_with_spaces_as_an_id_is_masked_in_retry_lines_and_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="sinch_async")
    answers = [503, 404]
    paths: list[str] = []

    async def group(request: web.Request) -> web.Response:
        paths.append(request.raw_path)
        status = answers.pop(0) if answers else 404
        # A hostile server repeats the path, raw and decoded, in its error text.
        text = f"no group at {request.raw_path} ({request.path})"
        return web.json_response({"code": "not_found", "text": text}, status=status)

    async with (
        serve([web.route("*", "/{tail:.*}", group)]) as url,
        plan_client(url, retry=FAST) as sms,
    ):
        with pytest.raises(NotFoundError) as caught:
            await sms.groups.get(SPACED)
    assert len(paths) == 2  # the 503 was retried
    assert shows_number(paths[0])  # the test can fail: the number did go on the wire
    retry_lines = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert retry_lines
    texts = [str(caught.value), repr(caught.value), *(r.getMessage() for r in caplog.records)]
    assert [text for text in texts if shows_number(text)] == []


# --- Retry-After past the cap ----------------------------------------------------------------


async def test_a_retry_after_of_eleven_digits_fails_at_once(server: RecordingServer) -> None:
    server.respond(429, {"code": "too_many"}, headers={"Retry-After": "12345678901"})
    policy = RetryPolicy()
    async with plan_client(server.url, retry=policy) as sms:
        with pytest.raises(RateLimitError) as caught:
            await sms.groups.get("g1")
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > policy.retry_after_cap
    assert caught.value.attempts == 1
    assert len(server.requests) == 1


async def test_leaks_finds_a_secret_it_is_shown(caplog: pytest.LogCaptureFixture) -> None:
    """The scanner itself: a secret in a body, a header or a log line is found."""
    error = ApiError(
        400,
        method="GET",
        path="/x",
        body=echo_body(API_TOKEN),
        headers={"X": urllib.parse.quote(API_TOKEN, safe="")},
    )
    assert leaks([API_TOKEN], error, [])
    record = logging.LogRecord("sinch_async", logging.INFO, "", 0, "%s", (API_TOKEN,), None)
    assert leaks([API_TOKEN], SinchError("x"), [record])
    assert not leaks([API_TOKEN], SinchError("x"), [])


def _unicode_escaped(text: str) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in text)


def _lowercase_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


OTHER_WRITINGS = {
    # PHP's json_encode escapes "/" by default; any JSON encoder may write \u escapes.
    "json-escaped-slash": lambda s: json.dumps({"text": s}).replace("/", "\\/"),
    "json-unicode-escapes": lambda s: '{"text": "' + _unicode_escaped(s) + '"}',
    # urllib.parse.quote's own default keeps "/"; lowercase hex is as valid as uppercase.
    "percent-encoded-keeping-slash": lambda s: urllib.parse.quote(s),
    "percent-encoded-lowercase-hex": lambda s: _lowercase_hex(urllib.parse.quote(s, safe="")),
}


@pytest.mark.parametrize("writing", sorted(OTHER_WRITINGS))
async def test_an_api_token_echoed_in_another_writing_is_scrubbed_too(writing: str) -> None:
    body = OTHER_WRITINGS[writing](API_TOKEN).encode()

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=400, body=body, content_type="application/json")

    async with (
        serve([web.route("*", "/{tail:.*}", echo)]) as url,
        AsyncSmsClient(service_plan_id=PLAN, api_token=API_TOKEN, base_url=url, retry=None) as sms,
    ):
        with pytest.raises(BadRequestError) as caught:
            await sms.groups.get("g1")
    decoded = urllib.parse.unquote(f"{caught.value} {caught.value.text}")
    assert API_TOKEN not in decoded


async def test_a_send_without_reference_whose_answer_is_too_large_is_ambiguous() -> None:
    posts: list[str] = []

    async def created(request: web.Request) -> web.Response:
        posts.append(await request.text())
        body = json.dumps(text_batch()).encode() + b" " * 4096
        return web.Response(status=201, body=body, content_type="application/json")

    async with (
        serve([web.post(api_path("/batches"), created)]) as url,
        plan_client(url, max_response_size=2048, retry=FAST) as sms,
    ):
        with pytest.raises(AmbiguousSendError) as caught:
            await sms.batches.send([NUM], "hi")
    assert isinstance(caught.value.cause, ResponseTooLargeError)
    assert len(posts) == 1  # neither re-sent nor looked up (nothing to look it up by)
