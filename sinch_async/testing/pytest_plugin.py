"""pytest plugin: ``sinch_simulator`` and ``sinch_client`` fixtures.

Installed with ``sinch_async`` (entry point ``pytest11``), so the fixtures are available in
every test suite of a project that has ``sinch_async`` installed. Disable it with
``-p no:sinch_async``.

Fixtures (both function-scoped; they need ``pytest-asyncio`` and an ``async def`` test)::

    async def test_welcome_sms(sinch_simulator, sinch_client):
        batch = await sinch_client.batches.send(["+46700000001"], "Welcome!")
        await sinch_simulator.advance(5)
        report = await sinch_client.delivery_reports.get_for_recipient(batch.id, "+46700000001")
        assert report.status == "Delivered"
        assert sinch_simulator.journal.recipients_sent() == ["+46700000001"]

``sinch_simulator``
    A started :class:`~sinch_async.testing.SinchSimulator`, stopped after the test. Its
    clock is **frozen** (``time_scale=0``): simulated time moves only when the test calls
    ``await sinch_simulator.advance(seconds)``, so nothing is dispatched or delivered behind
    the test's back and results do not depend on how fast the machine is. Every other
    option has the ``SinchSimulator`` default (``seed=None``: random IDs).

    Change the options with the marker (on a test, class or module; the closest marker wins
    key by key)::

        @pytest.mark.sinch_simulator(messages_per_second=10, time_scale=1.0, seed=7)
        async def test_throughput(sinch_simulator): ...

    or with indirect parametrization (a dict of options; it overrides the marker)::

        @pytest.mark.parametrize("sinch_simulator", [{"delivery_delay": 30}], indirect=True)
        async def test_slow_network(sinch_simulator): ...

``sinch_client``
    ``sinch_simulator.client()``: an :class:`~sinch_async.AsyncSmsClient` for the
    simulator's default service plan, with the library's default retry policy and no rate
    limit; closed after the test. For other client options (or OAuth2), create the client
    yourself with ``sinch_simulator.client(...)`` / ``sinch_simulator.oauth_client(...)``.

The fixtures run in the event loop of the test, whatever its ``loop_scope``. Using them in
a test that is not run by pytest-asyncio (a plain ``def`` test, an ``async def`` test
without ``@pytest.mark.asyncio`` in strict mode, pytest-asyncio missing or disabled) fails
the test with a message saying what to change; the plugin itself never breaks a test run.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from sinch_async import AsyncSmsClient
    from sinch_async.testing import SinchSimulator

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
    _HAVE_PYTEST_ASYNCIO = False
else:
    _HAVE_PYTEST_ASYNCIO = True

__all__ = ["DEFAULT_SIMULATOR_OPTIONS", "sinch_client", "sinch_simulator"]

MARKER = "sinch_simulator"
DEFAULT_SIMULATOR_OPTIONS: Mapping[str, Any] = {"time_scale": 0.0}
"""Options the ``sinch_simulator`` fixture passes to ``SinchSimulator`` unless overridden."""

_LOOP_SCOPES = ("function", "class", "module", "package", "session")
_OPTIONS_KEY = pytest.StashKey[dict[str, Any]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): keyword arguments for the SinchSimulator of the "
        "'sinch_simulator' fixture (default: time_scale=0, a frozen clock)",
    )


# -- checks ------------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


def _is_async_test(request: pytest.FixtureRequest) -> bool:
    function = getattr(request.node, "obj", None)
    if inspect.iscoroutinefunction(function):
        return True
    inner = getattr(getattr(function, "hypothesis", None), "inner_test", None)
    return inspect.iscoroutinefunction(inner)


def _loop_scope(request: pytest.FixtureRequest, fixture: str) -> str:
    """The scope of the event loop pytest-asyncio runs this test in (or a clear failure)."""
    if not _HAVE_PYTEST_ASYNCIO:
        _fail(
            f"the '{fixture}' fixture (from sinch_async) needs pytest-asyncio: "
            "pip install pytest-asyncio"
        )
    if not request.config.pluginmanager.hasplugin("asyncio"):
        _fail(
            f"the '{fixture}' fixture (from sinch_async) needs the pytest-asyncio plugin, "
            "which is disabled in this run (-p no:asyncio?)"
        )
    if not _is_async_test(request):
        _fail(
            f"the '{fixture}' fixture (from sinch_async) needs an 'async def' test run by "
            f"pytest-asyncio; {request.node.name} is not a coroutine function (the "
            "simulator serves requests only while the test's event loop runs)"
        )
    marker = request.node.get_closest_marker("asyncio")
    if marker is None:
        _fail(
            f"the '{fixture}' fixture (from sinch_async) needs a test run by pytest-asyncio: "
            f"mark {request.node.name} with @pytest.mark.asyncio or set asyncio_mode = auto"
        )
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    if scope is None:
        try:
            scope = request.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # pytest-asyncio without that option
            scope = None
    scope = scope or "function"
    if scope not in _LOOP_SCOPES:
        _fail(f"unknown asyncio loop scope {scope!r} for {request.node.name}")
    return str(scope)


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Default options, then markers (farthest first), then an indirect parameter."""
    options = dict(DEFAULT_SIMULATOR_OPTIONS)
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if marker.args:
            _fail(
                f"@pytest.mark.{MARKER} takes keyword arguments only "
                f"(SinchSimulator options), got positional {marker.args!r}"
            )
        options.update(marker.kwargs)
    param = getattr(request, "param", None)
    if param is not None:
        if not isinstance(param, Mapping):
            _fail(
                f"indirect parameter of '{MARKER}' must be a dict of SinchSimulator "
                f"options, got {type(param).__name__}"
            )
        options.update(param)
    return options


# -- public fixtures ---------------------------------------------------------------------


@pytest.fixture
def sinch_simulator(request: pytest.FixtureRequest) -> SinchSimulator:
    """A started ``SinchSimulator`` on a frozen clock (``time_scale=0``), stopped after the test.

    Move time with ``await sinch_simulator.advance(seconds)``. Configure it with
    ``@pytest.mark.sinch_simulator(**options)`` or an indirect parameter (a dict).
    """
    scope = _loop_scope(request, "sinch_simulator")
    request.node.stash[_OPTIONS_KEY] = _options(request)
    sim: SinchSimulator = request.getfixturevalue(f"_sinch_simulator_{scope}_loop")
    return sim


@pytest.fixture
def sinch_client(request: pytest.FixtureRequest, sinch_simulator: SinchSimulator) -> AsyncSmsClient:
    """``sinch_simulator.client()``: an ``AsyncSmsClient`` for the simulator, closed after."""
    scope = _loop_scope(request, "sinch_client")
    client: AsyncSmsClient = request.getfixturevalue(f"_sinch_client_{scope}_loop")
    return client


# -- the async halves, one pair per event-loop scope ------------------------------------------


def _make_async_fixtures(loop_scope: Any) -> tuple[Any, Any]:
    sim_name = f"_sinch_simulator_{loop_scope}_loop"
    client_name = f"_sinch_client_{loop_scope}_loop"

    async def simulator_fixture(request: pytest.FixtureRequest) -> AsyncIterator[SinchSimulator]:
        from sinch_async.testing import SinchSimulator

        options = request.node.stash.get(_OPTIONS_KEY, dict(DEFAULT_SIMULATOR_OPTIONS))
        try:
            sim = SinchSimulator(**options)
        except (TypeError, ValueError) as exc:
            message = f"bad SinchSimulator options {options!r}: {exc}"
            raise pytest.fail.Exception(message, pytrace=False) from None
        await sim.start()
        try:
            yield sim
        finally:
            await sim.stop()

    async def client_fixture(request: pytest.FixtureRequest) -> AsyncIterator[AsyncSmsClient]:
        # The same function-scoped simulator instance the test got.
        simulator: SinchSimulator = request.getfixturevalue(sim_name)
        client = simulator.client()
        try:
            yield client
        finally:
            await client.aclose()

    sim_fixture = pytest_asyncio.fixture(simulator_fixture, loop_scope=loop_scope, name=sim_name)
    cli_fixture = pytest_asyncio.fixture(client_fixture, loop_scope=loop_scope, name=client_name)
    return sim_fixture, cli_fixture


if _HAVE_PYTEST_ASYNCIO:
    for _scope in _LOOP_SCOPES:
        _sim_fx, _client_fx = _make_async_fixtures(_scope)
        globals()[f"_sinch_simulator_{_scope}_loop"] = _sim_fx
        globals()[f"_sinch_client_{_scope}_loop"] = _client_fx
    del _scope, _sim_fx, _client_fx
