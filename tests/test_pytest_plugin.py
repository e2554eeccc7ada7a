"""The pytest plugin (``sinch_async.testing.pytest_plugin``), run as a user would run it.

Each test writes a user's test file and runs pytest on it in a subprocess, so the plugin is
loaded through its ``pytest11`` entry point exactly as in a project that installed
``sinch_async``.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
    error::ResourceWarning
"""


def _run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makeini(INI)
    pytester.makepyfile(test_user=textwrap.dedent(source))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", *args, timeout=120)


def test_plugin_is_registered_with_its_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest_subprocess("--markers", timeout=120)
    result.stdout.fnmatch_lines(["@pytest.mark.sinch_simulator(**options):*"])
    result = pytester.runpytest_subprocess("--fixtures", timeout=120)
    result.stdout.fnmatch_lines(["sinch_simulator*", "sinch_client*"])
    assert result.ret == 0


def test_user_test_using_only_the_plugin_fixtures_passes(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import socket

        from sinch_async import AsyncSmsClient
        from sinch_async.testing import SinchSimulator

        SEEN = {}


        async def test_send_advance_report(sinch_simulator, sinch_client):
            assert isinstance(sinch_simulator, SinchSimulator)
            assert isinstance(sinch_client, AsyncSmsClient)
            assert sinch_client.base_url == sinch_simulator.url
            assert sinch_simulator.clock.time_scale == 0  # frozen by default

            batch = await sinch_client.batches.send(
                ["+46700000001", "+46700000002"], "Hello", from_="Shop"
            )
            # The clock is frozen: nothing is delivered until the test moves time.
            before = await sinch_client.delivery_reports.get(batch.id)
            assert sum(s.count for s in before.statuses) == 2
            assert before.count("Delivered") == 0

            await sinch_simulator.advance(10)

            report = await sinch_client.delivery_reports.get(batch.id, type="full")
            assert [(s.status, s.code, s.count) for s in report.statuses] == [
                ("Delivered", 0, 2)
            ]
            one = await sinch_client.delivery_reports.get_for_recipient(
                batch.id, "+46700000001"
            )
            assert one.status == "Delivered"
            assert sinch_simulator.journal.recipients_sent() == [
                "+46700000001",
                "+46700000002",
            ]
            SEEN["sim"] = sinch_simulator
            SEEN["client"] = sinch_client
            SEEN["port"] = sinch_simulator.port


        async def test_fresh_simulator_each_test_and_previous_one_torn_down(
            sinch_simulator, sinch_client
        ):
            assert SEEN["sim"] is not sinch_simulator
            assert SEEN["client"].closed
            assert sinch_simulator.journal.recipients_sent() == []
            assert [b async for b in sinch_client.batches.list()] == []
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", SEEN["port"])) != 0  # server stopped


        async def test_simulator_alone(sinch_simulator):
            assert sinch_simulator.url.startswith("http://127.0.0.1:")
        """,
    )
    result.assert_outcomes(passed=3)


def test_marker_and_indirect_parameter_configure_the_simulator(
    pytester: pytest.Pytester,
) -> None:
    result = _run(
        pytester,
        """
        import pytest

        pytestmark = pytest.mark.sinch_simulator(messages_per_second=2, seed=7)


        async def test_module_marker(sinch_simulator, sinch_client):
            assert sinch_simulator.messages_per_second == 2
            assert sinch_simulator.clock.time_scale == 0  # default kept
            numbers = [f"+4670000000{i}" for i in range(4)]
            await sinch_client.batches.send(numbers, "Hi")
            await sinch_simulator.advance(1)
            assert 1 <= len(sinch_simulator.journal.recipients_dispatched()) < 4
            await sinch_simulator.advance(5)
            assert sorted(sinch_simulator.journal.recipients_dispatched()) == numbers


        @pytest.mark.sinch_simulator(messages_per_second=500, time_scale=3.0)
        async def test_closest_marker_wins_key_by_key(sinch_simulator):
            assert sinch_simulator.messages_per_second == 500
            assert sinch_simulator.clock.time_scale == 3.0


        @pytest.mark.parametrize(
            "sinch_simulator",
            [{"messages_per_second": 42}, {"service_plan_id": "other-plan"}],
            indirect=True,
        )
        async def test_indirect(sinch_simulator, sinch_client):
            if sinch_simulator.service_plan_id == "other-plan":
                assert sinch_simulator.messages_per_second == 2  # from the module marker
                assert sinch_client.account_id == "other-plan"
                await sinch_client.batches.send(["+46700000001"], "Hi")
                assert sinch_simulator.journal.requests[-1].plan_id == "other-plan"
            else:
                assert sinch_simulator.messages_per_second == 42


        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_event_loop(sinch_simulator, sinch_client):
            batch = await sinch_client.batches.send(["+46700000001"], "Hi")
            assert (await sinch_client.batches.get(batch.id)).id == batch.id
        """,
    )
    result.assert_outcomes(passed=5)


def test_misuse_gives_clear_errors(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import pytest


        def test_sync_test(sinch_simulator):
            pass


        @pytest.mark.sinch_simulator(no_such_option=1)
        async def test_unknown_option(sinch_simulator):
            pass


        @pytest.mark.sinch_simulator(5)
        async def test_positional_marker_argument(sinch_simulator):
            pass


        @pytest.mark.parametrize("sinch_simulator", [5], indirect=True)
        async def test_non_dict_parameter(sinch_simulator):
            pass


        def test_unrelated():
            pass
        """,
    )
    result.assert_outcomes(passed=1, errors=4)
    result.stdout.fnmatch_lines_random(
        [
            "*'sinch_simulator' fixture (from sinch_async) needs an 'async def' test*"
            "test_sync_test is not a coroutine function*",
            "*bad SinchSimulator options*unexpected keyword argument 'no_such_option'*",
            "*mark.sinch_simulator takes keyword arguments only*",
            "*indirect parameter of 'sinch_simulator' must be a dict*got int*",
        ]
    )


def test_strict_mode_unmarked_async_test(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import pytest


        async def test_unmarked(sinch_client):
            pass


        @pytest.mark.asyncio
        async def test_marked(sinch_client, sinch_simulator):
            await sinch_client.batches.send(["+46700000001"], "Hi")
            assert sinch_simulator.journal.recipients_sent() == ["+46700000001"]
        """,
        "-o",
        "asyncio_mode=strict",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*mark test_unmarked with @pytest.mark.asyncio or set asyncio_mode = auto*"]
    )


def test_without_pytest_asyncio_the_run_is_not_broken(pytester: pytest.Pytester) -> None:
    # A pytest_asyncio module that cannot be imported, and its plugin not loaded: as if
    # pytest-asyncio were not installed.
    pytester.makepyfile(pytest_asyncio="raise ImportError('pytest-asyncio is not installed')")
    result = _run(
        pytester,
        """
        def test_unrelated():
            pass


        def test_uses_fixture(sinch_simulator):
            pass
        """,
        "-p",
        "no:asyncio",
        "-W",
        "ignore::pytest.PytestConfigWarning",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*'sinch_simulator' fixture (from sinch_async) needs pytest-asyncio*"]
    )


def test_pytest_asyncio_disabled(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        def test_uses_fixture(sinch_client):
            pass
        """,
        "-p",
        "no:asyncio",
        "-W",
        "ignore::pytest.PytestConfigWarning",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*needs the pytest-asyncio plugin, which is disabled*"])
