"""Shared fixtures and helpers for the whole suite.

Simulator tests use the project's own pytest plugin (``sinch_async.testing.pytest_plugin``,
registered through the ``pytest11`` entry point): ``sinch_simulator`` and ``sinch_client``.
``sim`` below is only the short name the tests use for ``sinch_simulator``; a module sets its
simulator's options once with ``pytestmark = pytest.mark.sinch_simulator(...)`` (or a test
with the same marker).

Tests of the HTTP layer use a :class:`RecordingServer` (the ``server`` fixture, with ``sms``,
a client pointed at it) or their own aiohttp handlers served by :func:`serve` / the
``local_server`` fixture; everything listens on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web

from sinch_async import AsyncSmsClient, FanOutCancelled, RetryPolicy, SinchValidationError
from sinch_async.testing import JournalEntry, SinchSimulator
from tests._redis import redis_client, redis_server, redis_url  # noqa: F401 (fixtures)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIXTURES = HERE.parents[1] / "shared" / "reference" / "sinch-sdk-java-sms-fixtures"
LOCAL_FIXTURES = HERE / "fixtures" / "sinch-sdk-java-sms-fixtures"

PLAN = "plan123"
TOKEN = "secret-token-abc"
NUM = "+46700000001"
FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05)
"""Retries with backoffs of 10 to 50 ms, so tests that go through retries stay quick."""


# --- payloads ----------------------------------------------------------------------------------


def fixture_dir() -> Path:
    """The Java SDK fixtures: the copy in the repo, else the shared reference folder."""
    return LOCAL_FIXTURES if LOCAL_FIXTURES.is_dir() else FIXTURES


def load_fixture(relative: str) -> Any:
    return json.loads((fixture_dir() / relative).read_text(encoding="utf-8"))


def text_batch(**changes: Any) -> dict[str, Any]:
    """The Java SDK's text batch response (a fresh copy), with ``changes`` applied."""
    return fixture_json("batches/response/TextResponseDto.json", **changes)


def group_json(**changes: Any) -> dict[str, Any]:
    """The Java SDK's group response (a fresh copy), with ``changes`` applied."""
    return fixture_json("groups/GroupDto.json", **changes)


def fixture_json(name: str, **changes: Any) -> dict[str, Any]:
    """A JSON object fixture (a fresh copy), with ``changes`` applied."""
    data: dict[str, Any] = load_fixture(name)
    data.update(changes)
    return data


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> Iterator[ModuleType]:
    """Import ``examples/{name}.py`` as a module for the duration of a fixture."""
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pydantic look the module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def num(i: int) -> str:
    """The i-th test number, in E.164 (11 digits)."""
    return f"+4670{i:07d}"


def numbers(count: int, start: int = 0) -> list[str]:
    """``count`` test numbers from the ``start``-th one."""
    return [num(i) for i in range(start, start + count)]


def header(headers: dict[str, str], name: str) -> str | None:
    """A header's value whatever the case of its name (None if absent)."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


# --- the simulator (through the project's pytest plugin) ---------------------------------------


@pytest.fixture
def sim(sinch_simulator: SinchSimulator) -> SinchSimulator:
    """The plugin's ``sinch_simulator`` (frozen clock unless the marker says otherwise)."""
    return sinch_simulator


def calls(sim: SinchSimulator, method: str, rel: str) -> list[JournalEntry]:
    """Journal entries of ``method`` on exactly ``/xms/v1/{plan}{rel}``."""
    full = f"/xms/v1/{sim.service_plan_id}{rel}"
    return [e for e in sim.journal.requests if e.method == method and e.path == full]


def posts(sim: SinchSimulator) -> list[JournalEntry]:
    """Every ``POST /batches`` (send) the simulator received, answered or not."""
    return calls(sim, "POST", "/batches")


def sinch_env(sim: SinchSimulator | None = None) -> dict[str, str]:
    """This process's environment without any ``SINCH_*`` variable, for a subprocess; with
    ``sim``, the three variables that point the CLI at that simulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINCH_")}
    if sim is not None:
        env["SINCH_BASE_URL"] = sim.url
        env["SINCH_SERVICE_PLAN_ID"] = sim.service_plan_id
        env["SINCH_API_TOKEN"] = sim.api_token
    return env


async def make_batch(sim: SinchSimulator) -> str:
    """Create one batch (to :data:`NUM`) and clear the journal; the batch's ID."""
    async with sim.client(retry=None) as client:
        batch = await client.batches.send([NUM], "seed")
    sim.journal.clear()
    return batch.id


async def fan_out_cancelled(task: asyncio.Future[Any]) -> FanOutCancelled:
    """Await a cancelled fan-out task: the FanOutCancelled behind its CancelledError.

    Python 3.10 wraps it in a new CancelledError, hence ``FanOutCancelled.find``.
    """
    with pytest.raises(asyncio.CancelledError) as raised:
        await task
    found = FanOutCancelled.find(raised.value)
    assert found is not None, "no FanOutCancelled behind the CancelledError"
    return found


# --- local servers on 127.0.0.1 ----------------------------------------------------------------


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (a refused connection)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(
    app: web.Application | Iterable[web.AbstractRouteDef],
) -> AsyncIterator[str]:
    """Serve an aiohttp app (or routes such as ``[web.post("/cb", handler)]``) on a free port
    of 127.0.0.1; yield its base URL ``http://127.0.0.1:PORT``, and stop it on exit."""
    if not isinstance(app, web.Application):
        routes = list(app)
        app = web.Application()
        app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


LocalServer = Callable[[web.Application | Iterable[web.AbstractRouteDef]], Awaitable[str]]


@pytest.fixture
async def local_server() -> AsyncIterator[LocalServer]:
    """``await local_server(app_or_routes) -> base URL``: :func:`serve`, stopped after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(app: web.Application | Iterable[web.AbstractRouteDef]) -> str:
            return await stack.enter_async_context(serve(app))

        yield start


TcpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def tcp_server(handle: TcpHandler) -> AsyncIterator[str]:
    """A raw TCP server on 127.0.0.1 (for misbehaving peers); yields ``http://127.0.0.1:PORT``."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    query_string: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class RecordingServer:
    """A real aiohttp server that records every request and answers from a queue.

    ``respond(...)`` queues answers in order; with an empty queue the server
    answers 200 with ``{}``. ``requests`` lists what was received.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._queue: list[Canned] = []
        self.url = ""
        self._stack = contextlib.AsyncExitStack()

    def respond(
        self,
        status: int = 200,
        json_body: Any = None,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if body is None:
            body = b"" if json_body is None else json.dumps(json_body).encode()
        hdrs = dict(headers or {})
        if json_body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        self._queue.append(Canned(status, body, hdrs))

    @property
    def last(self) -> Recorded:
        assert self.requests, "no request reached the server"
        return self.requests[-1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                raw_path=request.raw_path.split("?", 1)[0],
                query=dict(request.query),
                query_string=request.query_string,
                headers=dict(request.headers),
                body=body,
            )
        )
        canned = self._queue.pop(0) if self._queue else Canned(200, b"{}", {})
        return web.Response(status=canned.status, body=canned.body, headers=canned.headers)

    async def start(self) -> None:
        self.url = await self._stack.enter_async_context(
            serve([web.route("*", "/{tail:.*}", self._handle)])
        )

    async def stop(self) -> None:
        await self._stack.aclose()


@contextlib.asynccontextmanager
async def recording_server() -> AsyncIterator[RecordingServer]:
    """A started :class:`RecordingServer`, stopped on the way out."""
    srv = RecordingServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    async with recording_server() as srv:
        yield srv


def plan_client(base_url: str, **options: Any) -> AsyncSmsClient:
    """A client with the service-plan credentials :data:`PLAN` / :data:`TOKEN` for ``base_url``."""
    return AsyncSmsClient(service_plan_id=PLAN, api_token=TOKEN, base_url=base_url, **options)


@pytest.fixture
async def sms(server: RecordingServer) -> AsyncIterator[AsyncSmsClient]:
    """A client with service-plan credentials pointed at the recording server."""
    async with plan_client(server.url) as c:
        yield c


def api_path(rest: str) -> str:
    return f"/xms/v1/{PLAN}{rest}"


# --- the command line -------------------------------------------------------------------------


def cli(*argv: str) -> int:
    """Run the command line here (it runs its own event loop); its exit code."""
    from sinch_async.__main__ import main

    return main(list(argv))


async def acli(*argv: str) -> int:
    """Run the CLI in a thread: its own event loop, while this loop serves the simulator."""
    return await asyncio.to_thread(cli, *argv)


@pytest.fixture
def no_sinch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``SINCH_*`` variable during the test (the CLI reads them): use with
    ``pytestmark = pytest.mark.usefixtures("no_sinch_env")``."""
    for name in list(os.environ):
        if name.startswith("SINCH_"):
            monkeypatch.delenv(name)


def run_python(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in a subprocess (no ``SINCH_*`` variables), its output as text."""
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=sinch_env(),
        check=False,
    )


@pytest.fixture
def cli_sim(sinch_simulator: SinchSimulator, monkeypatch: pytest.MonkeyPatch) -> SinchSimulator:
    """The plugin's simulator, which the CLI reaches through SINCH_BASE_URL /
    SINCH_SERVICE_PLAN_ID / SINCH_API_TOKEN, as it would reach Sinch."""
    monkeypatch.setenv("SINCH_BASE_URL", sinch_simulator.url)
    monkeypatch.setenv("SINCH_SERVICE_PLAN_ID", sinch_simulator.service_plan_id)
    monkeypatch.setenv("SINCH_API_TOKEN", sinch_simulator.api_token)
    return sinch_simulator


# --- the served simulator (``python -m sinch_async.testing serve`` as a subprocess) ----------


@dataclass
class ServedSimulator:
    """A ``serve`` subprocess: its process, base URL and the banner it printed at start."""

    proc: asyncio.subprocess.Process
    url: str
    banner: str

    async def stop(self, timeout: float = 30) -> tuple[int, str, str]:
        """SIGTERM (by PID), killed if it has not exited within ``timeout`` seconds; the exit
        code, the rest of stdout (after the banner) and stderr."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        except asyncio.TimeoutError:  # pragma: no cover
            self.proc.kill()
            await self.proc.wait()
            out, err = b"", b""
        assert self.proc.returncode is not None
        return self.proc.returncode, out.decode(), err.decode()

    async def kill(self) -> None:
        """Kill it if it still runs (the clean-up after a failed test)."""
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def serve_simulator(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 30
) -> ServedSimulator:
    """Start ``python -m sinch_async.testing serve ARGS`` (this repo first on PYTHONPATH, the
    environment ``env`` or this process's) and read its banner up to ``Press Ctrl-C``.

    Stop it with :meth:`ServedSimulator.stop` (and :meth:`~ServedSimulator.kill` in a
    ``finally``). If it does not print its URL, it is stopped and an AssertionError shows the
    banner and stderr.
    """
    base = dict(os.environ if env is None else env)
    base["PYTHONPATH"] = str(ROOT) + os.pathsep + base.get("PYTHONPATH", "")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sinch_async.testing",
        "serve",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=base,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for _ in range(30):
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout)).decode()
            lines.append(line)
            if line.startswith("Press Ctrl-C") or not line:
                break
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise
    banner = "".join(lines)
    found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
    served = ServedSimulator(proc, found.group(1) if found else "", banner)
    if found is None:
        code, rest, err = await served.stop(timeout)
        raise AssertionError(
            f"serve {' '.join(args)} did not start (exit code {code}):\n{banner}{rest}{err}"
        )
    return served


async def refused_before_io(
    server: RecordingServer, call: Awaitable[object]
) -> SinchValidationError:
    """Await ``call``: a SinchValidationError, with no request reaching ``server``. Returns it."""
    with pytest.raises(SinchValidationError) as caught:
        await call
    assert server.requests == []
    return caught.value
