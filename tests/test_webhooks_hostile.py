"""Hostile callers of the webhook receivers, over raw sockets on 127.0.0.1.

Both receivers (aiohttp, and FastAPI served by uvicorn) are run for real; requests are
written byte by byte, so headers can carry bytes no HTTP client would send and a body can
stop half-way. What must hold: a body over the cap is refused with 413 on its
``Content-Length`` before it is read, or as soon as the stream passes the cap; every
malformed or unauthenticated request gets a 400 or 401, one log line without the body and
no traceback; memory stays flat under 50 MB uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import textwrap
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from fastapi import FastAPI

from sinch_async.webhooks import (
    DEFAULT_MAX_BODY_SIZE,
    CallbackTooLargeError,
    WebhookEvent,
    handle_webhook,
    sign_headers,
    sinch_webhook_handler,
)
from sinch_async.webhooks.fastapi import sinch_webhook_router
from tests.conftest import run_python, serve
from tests.test_webhooks_receivers import uvicorn_server

SECRET = "hostile-test-secret"
MARKER = "BODYMARKER7f3a"
"""In every body sent: must never appear in a log record."""
HANG = 30.0
"""Seconds to wait for an answer before calling it a hang (a failure, not a measure)."""
KINDS = ["aiohttp", "fastapi"]


def mo_text(padding: int = 0) -> bytes:
    body = {"type": "mo_text", "id": "01MO1", "from": "46700000001", "to": "12345"}
    text = json.dumps({**body, "body": MARKER}).encode()
    return text[:-1] + b" " * padding + b"}"


# -- the receivers, served for real ---------------------------------------------------------


@dataclass
class Running:
    port: int
    events: list[WebhookEvent] = field(default_factory=list)


@contextlib.asynccontextmanager
async def running(kind: str, secret: str | None = SECRET, **options: Any) -> AsyncIterator[Running]:
    """A receiver of ``kind`` on a free port; the aiohttp app allows 1 GiB bodies, so only
    the receiver's own cap can refuse anything."""
    events: list[WebhookEvent] = []

    async def on_event(event: WebhookEvent) -> None:
        events.append(event)

    if kind == "aiohttp":
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/sinch/callbacks", sinch_webhook_handler(secret, on_event, **options))
        async with serve(app) as url:
            yield Running(int(url.rsplit(":", 1)[1]), events)
    else:
        fastapi_app = FastAPI()
        fastapi_app.include_router(
            sinch_webhook_router("/sinch/callbacks", secret, on_event, **options)
        )
        async with uvicorn_server(fastapi_app, log_config=None) as url:
            yield Running(int(url.rsplit(":", 1)[1]), events)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def _read_response(reader: asyncio.StreamReader) -> RawResponse:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection without answering")
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RawResponse(int(status_line.split()[1]), headers, body)


async def exchange(
    port: int, headers: Iterable[tuple[str, str | bytes]], parts: Iterable[bytes]
) -> RawResponse:
    """POST a head with ``headers`` (values as raw bytes if given so), then ``parts`` as
    they are, then nothing more: the answer must come from what was sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [b"POST /sinch/callbacks HTTP/1.1", b"Host: 127.0.0.1"]
        for name, value in headers:
            raw = value if isinstance(value, bytes) else value.encode("utf-8")
            lines.append(name.encode("ascii") + b": " + raw)
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        for part in parts:
            writer.write(part)
            await writer.drain()
        return await asyncio.wait_for(_read_response(reader), HANG)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


LAST_CHUNK = b"0\r\n\r\n"
CHUNKED = ("Transfer-Encoding", "chunked")


def signed_headers(body: bytes, **changes: str | bytes | None) -> list[tuple[str, str | bytes]]:
    """Content-Type, Content-Length and Sinch's four signature headers for ``body``; a
    change replaces a signature header (``nonce=...``) or drops it (``None``)."""
    headers: dict[str, str | bytes | None] = dict(sign_headers(body, SECRET))
    for short, value in changes.items():
        name = "x-sinch-webhook-signature" + ("" if short == "signature" else f"-{short}")
        headers[name] = value
    out: list[tuple[str, str | bytes]] = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ]
    return out + [(k, v) for k, v in headers.items() if v is not None]


# -- the log ---------------------------------------------------------------------------------


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record at INFO and above, uvicorn's too (an earlier uvicorn run with its default
    logging config stops them from reaching the root logger)."""
    caplog.set_level(logging.INFO)
    uvicorn_logger = logging.getLogger("uvicorn")
    hooked = not uvicorn_logger.propagate
    if hooked:
        uvicorn_logger.addHandler(caplog.handler)
    yield caplog
    if hooked:
        uvicorn_logger.removeHandler(caplog.handler)


def assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """No traceback, at most one warning, never the body."""
    assert [r for r in caplog.records if r.exc_info] == []
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 1, caplog.text
    assert MARKER not in caplog.text


async def wait_for_record(caplog: pytest.LogCaptureFixture, fragment: str) -> None:
    deadline = time.monotonic() + HANG
    while fragment not in caplog.text:
        assert time.monotonic() < deadline, f"no log record with {fragment!r}: {caplog.text}"
        await asyncio.sleep(0.02)


# -- the body cap ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_a_declared_oversize_body_is_refused_before_it_is_read(
    kind: str, logs: pytest.LogCaptureFixture
) -> None:
    """Headers claim 50 MB, a few bytes follow, then nothing: the 413 comes anyway (a
    receiver that read first would wait for the rest and never answer)."""
    headers = [("Content-Type", "application/json"), ("Content-Length", str(50 << 20))]
    async with running(kind) as receiver:
        response = await exchange(receiver.port, headers, [b'{"type":"mo_text",'])
    assert response.status == 413
    assert response.json() == {"error": "body_too_large", "max_body_size": DEFAULT_MAX_BODY_SIZE}
    assert response.headers["connection"].lower() == "close"
    assert receiver.events == []
    assert_quiet(logs)
    assert "(413)" in logs.text


@pytest.mark.parametrize("kind", KINDS)
async def test_a_chunked_body_is_refused_once_it_passes_the_cap(
    kind: str, logs: pytest.LogCaptureFixture
) -> None:
    """No Content-Length: 64 KiB chunks up to 1 MiB, one byte more, then nothing (not even
    the last chunk): the receiver answers 413 without waiting for the body's end."""
    parts = [chunk(b"x" * 65536)] * (DEFAULT_MAX_BODY_SIZE // 65536) + [chunk(b"x")]
    async with running(kind) as receiver:
        response = await exchange(receiver.port, [CHUNKED], parts)
    assert response.status == 413
    assert response.json()["error"] == "body_too_large"
    assert receiver.events == []
    assert_quiet(logs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_the_cap_is_max_body_size_to_the_byte(kind: str, chunked: bool) -> None:
    body = mo_text()
    cap = len(body) + 10
    at_cap, over_cap = mo_text(padding=10), mo_text(padding=11)
    assert len(at_cap) == cap

    async def post(receiver: Running, data: bytes) -> int:
        if chunked:
            parts = [chunk(data[:100]), chunk(data[100:]), LAST_CHUNK]
            response = await exchange(receiver.port, [CHUNKED], parts)
        else:
            headers = [("Content-Length", str(len(data)))]
            response = await exchange(receiver.port, headers, [data])
        return response.status

    async with running(kind, secret=None, max_body_size=cap) as receiver:
        assert await post(receiver, at_cap) == 200
        assert await post(receiver, over_cap) == 413
    assert len(receiver.events) == 1


async def test_handle_webhook_refuses_a_body_over_the_cap() -> None:
    async def on_event(event: WebhookEvent) -> None:
        raise AssertionError("must not be called")

    body = mo_text()
    result = await handle_webhook(
        body, sign_headers(body, SECRET), SECRET, on_event, max_body_size=len(body) - 1
    )
    assert result.status == 413
    assert isinstance(result.error, CallbackTooLargeError)
    assert (result.error.size, result.error.max_body_size) == (len(body), len(body) - 1)


@pytest.mark.parametrize(
    ("value", "error"),
    [(0, ValueError), (-1, ValueError), (True, TypeError), (1.5, TypeError), ("1", TypeError)],
)
def test_max_body_size_must_be_a_positive_int(value: Any, error: type[Exception]) -> None:
    async def on_event(event: WebhookEvent) -> None:
        pass

    with pytest.raises(error, match="max_body_size"):
        sinch_webhook_handler(SECRET, on_event, max_body_size=value)
    with pytest.raises(error, match="max_body_size"):
        sinch_webhook_router("/cb", SECRET, on_event, max_body_size=value)


# -- malformed and unauthenticated input ----------------------------------------------------

FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))
ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10)))
NOW = str(int(time.time()))

# (id, signature header changes) for a well-formed body: each answered 401
HEADER_CASES: list[tuple[str, dict[str, str | bytes | None]]] = [
    ("no-signature-headers", {"signature": None, "nonce": None, "timestamp": None}),
    ("fullwidth-timestamp", {"timestamp": NOW.translate(FULLWIDTH)}),
    ("arabic-indic-timestamp", {"timestamp": NOW.translate(ARABIC_INDIC)}),
    ("timestamp-not-a-number", {"timestamp": "soon"}),
    ("timestamp-huge", {"timestamp": "9" * 4000}),
    ("nonce-not-utf8", {"nonce": b"\xff\xfe\x80nonce"}),
    ("nonce-not-ascii", {"nonce": "nönce-ñ"}),
    ("nonce-huge", {"nonce": "n" * 4000}),
    ("signature-not-utf8", {"signature": b"\xff" * 44}),
    ("signature-huge", {"signature": "A" * 4000}),
    ("algorithm-not-utf8", {"algorithm": b"Hmac\xffSHA256"}),
]

NEST = 1000
# bodies, correctly signed: each answered 400
BODY_CASES: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("not-json", MARKER.encode()),
    ("truncated", mo_text()[:-5]),
    ("not-utf8", mo_text().replace(MARKER.encode(), MARKER.encode() + b"\xff\xfe")),
    ("not-utf8-in-a-key", b'{"type":"mo_text","\xc3\x28":"' + MARKER.encode() + b'"}'),
    ("deep-array", b'{"type":"mo_text","x":' + b"[" * NEST + b"]" * NEST + b"}"),
    ("deep-object", b'{"type":"zz","a":' + b'{"a":' * NEST + b"1" + b"}" * (NEST + 1)),
    ("deep-unclosed", b"[" * 100_000),
    ("array", b"[]"),
    ("null", b"null"),
    ("no-type", json.dumps({"id": MARKER}).encode()),
    ("wrong-shape", json.dumps({"type": "mo_text", "id": 5, "body": MARKER}).encode()),
    ("huge-int", b'{"type":"recipient_delivery_report_sms","code":' + b"9" * 5000 + b"}"),
    ("huge-code", b'{"type":"recipient_delivery_report_sms","batch_id":"B","code":1e999}'),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("case", "changes"), HEADER_CASES, ids=[c[0] for c in HEADER_CASES])
async def test_bad_signature_headers_are_401_without_a_traceback(
    kind: str, case: str, changes: dict[str, str | bytes | None], logs: pytest.LogCaptureFixture
) -> None:
    body = mo_text()
    async with running(kind) as receiver:
        response = await exchange(receiver.port, signed_headers(body, **changes), [body])
    assert response.status == 401, (case, response)
    assert response.json()["error"] == "invalid_signature"
    assert receiver.events == []
    assert_quiet(logs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("secret", [SECRET, None], ids=["signed", "unsigned"])
@pytest.mark.parametrize(("case", "body"), BODY_CASES, ids=[c[0] for c in BODY_CASES])
async def test_malformed_bodies_are_400_without_a_traceback(
    kind: str, secret: str | None, case: str, body: bytes, logs: pytest.LogCaptureFixture
) -> None:
    async with running(kind, secret=secret) as receiver:
        response = await exchange(receiver.port, signed_headers(body), [body])
    assert response.status == 400, (case, response)
    assert response.json() == {"error": "invalid_callback"}
    assert len(response.body) < 100
    assert receiver.events == []
    assert_quiet(logs)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_body_cut_short_is_logged_once_without_a_traceback(
    kind: str, logs: pytest.LogCaptureFixture
) -> None:
    """The sender promises 1,000 bytes, sends 10 and hangs up."""
    async with running(kind) as receiver:
        _, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
        head = b"POST /sinch/callbacks HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        writer.write(head + b'{"type":"m')
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        await wait_for_record(logs, "cut short")
    assert receiver.events == []
    assert_quiet(logs)


# -- memory under 50 MB uploads, measured in a child process -------------------------------

CHILD = textwrap.dedent(
    """
    import asyncio, contextlib, json, resource, socket
    import uvicorn
    from aiohttp import web
    from fastapi import FastAPI
    from sinch_async.webhooks import sinch_webhook_handler
    from sinch_async.webhooks.fastapi import sinch_webhook_router

    MB = 1 << 20
    PIECE = b"x" * MB
    CHUNKED_PIECE = b"%x\\r\\n" % MB + PIECE + b"\\r\\n"
    calls = []

    async def on_event(event):
        calls.append(event)

    def peak_mb():
        # Linux: VmHWM, this process's own peak. ru_maxrss is not: it starts at the peak
        # of the process that forked it (here pytest, a few hundred MB late in a run).
        with contextlib.suppress(OSError):
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    async def post(port, size_mb, chunked):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size_mb * MB}"
        status = None
        try:
            writer.write(f"POST /cb HTTP/1.1\\r\\nHost: x\\r\\n{framing}\\r\\n\\r\\n".encode())
            for _ in range(size_mb):
                writer.write(CHUNKED_PIECE if chunked else PIECE)
                await writer.drain()
            if chunked:
                writer.write(b"0\\r\\n\\r\\n")
                await writer.drain()
        except ConnectionError:
            pass  # the receiver refused and hung up: expected
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError, IndexError):
            status = int((await asyncio.wait_for(reader.readline(), 30)).split()[1])
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        return status

    class Server(uvicorn.Server):
        def capture_signals(self):
            return contextlib.nullcontext()

    async def main():
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/cb", sinch_webhook_handler("s", on_event))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        aiohttp_port = runner.addresses[0][1]

        fastapi_app = FastAPI()
        fastapi_app.include_router(sinch_webhook_router("/cb", "s", on_event))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = Server(uvicorn.Config(fastapi_app, log_level="error", lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            assert not task.done()
            await asyncio.sleep(0.01)
        ports = [aiohttp_port, sock.getsockname()[1]]

        for port in ports:  # warm up: first-request allocations belong to the baseline
            await post(port, 1, False)
            await post(port, 1, True)
        baseline = peak_mb()
        statuses = []
        for port in ports:
            for chunked in (False, True, False, True):
                statuses.append(await post(port, 50, chunked))
        peak = peak_mb()
        server.should_exit = True
        await task
        await runner.cleanup()
        print(json.dumps({"baseline": baseline, "peak": peak, "statuses": statuses,
                          "calls": len(calls)}))

    asyncio.run(main())
    """
)


def test_fifty_megabyte_uploads_keep_memory_flat() -> None:
    """Four 50 MB posts to each receiver (two with Content-Length, two chunked), in a child
    process: its peak RSS grows by less than 30 MB over the warmed-up baseline (a receiver
    reading a body whole grows by 50 MB or more) and stays under 200 MB."""
    done = run_python(["-c", CHILD])
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["calls"] == 0
    assert set(result["statuses"]) <= {413, None}, result  # None: hung up before answering
    assert result["peak"] - result["baseline"] < 30, result
    assert result["peak"] < 200, result
