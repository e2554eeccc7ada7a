"""The public API: what ``sinch_async`` exports, sorted, complete and documented."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import typing

import pytest

import sinch_async
from sinch_async import (
    AsyncConversationBatchClient,
    AsyncSmsClient,
    ClientOptions,
    Limiter,
    RateLimiter,
    RetryPolicy,
)
from sinch_async.resources.batches import Batches


def _isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then the rest."""
    if name.isupper():
        return 0, name
    if name[:1].isupper():
        return 1, name
    return 2, name


def test_all_is_sorted_and_has_no_duplicates() -> None:
    names = sinch_async.__all__
    assert names == sorted(names, key=_isort_key)
    assert len(names) == len(set(names))


def test_every_exported_name_exists_and_comes_from_the_package() -> None:
    for name in sinch_async.__all__:
        value = getattr(sinch_async, name)  # AttributeError if missing
        module = getattr(value, "__module__", None)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert str(module).startswith("sinch_async"), name


def test_every_public_name_of_the_package_is_exported() -> None:
    public = {
        name
        for name, value in vars(sinch_async).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public - set(sinch_async.__all__) == set()


def test_exported_classes_and_functions_are_documented() -> None:
    undocumented = [
        name
        for name in sinch_async.__all__
        if (inspect.isclass(v := getattr(sinch_async, name)) or inspect.isfunction(v))
        and not (v.__doc__ or "").strip()
    ]
    assert undocumented == []


def test_version_has_one_source() -> None:
    assert sinch_async.__version__ == importlib.metadata.version("sinch_async")
    from sinch_async._version import __version__

    assert sinch_async.__version__ is __version__


def test_rate_limiter_implements_the_limiter_protocol() -> None:
    assert isinstance(RateLimiter(), Limiter)
    assert not isinstance(object(), Limiter)


async def test_client_options_are_frozen_and_shared_by_views() -> None:
    policy = RetryPolicy(max_attempts=2)
    async with AsyncSmsClient(
        service_plan_id="plan", api_token="tok", base_url="http://127.0.0.1:9", retry=policy
    ) as sms:
        options = sms.options
        assert isinstance(options, ClientOptions)
        assert (options.account_id, options.region, options.retry) == ("plan", "us", policy)
        with pytest.raises(dataclasses.FrozenInstanceError):
            options.retry = None  # type: ignore[misc]
        view = sms.with_options(retry=None, auto_client_reference=True)
        assert view.options.retry is None
        assert view.retry is None
        assert view.options.auto_reference
        assert view.auto_client_reference
        assert view._core is sms._core  # one session, one limiter, one token
        assert view.batches._client is view
        assert sms.batches._client is sms
        assert sms.retry is policy
        assert not sms.auto_client_reference
        assert dataclasses.replace(options, retry=None, auto_reference=True) == view.options


@pytest.mark.parametrize(
    "function",
    [
        AsyncSmsClient.__init__,
        AsyncConversationBatchClient.__init__,
        AsyncConversationBatchClient.send,
        AsyncConversationBatchClient.fan_out,
        Batches.send,
        Batches.dry_run,
        Batches.fan_out,
        Batches.fan_out_iter,
    ],
    ids=lambda f: f.__qualname__,
)
def test_signatures_resolve_at_runtime(function: object) -> None:
    # Tools such as sphinx-autodoc-typehints and pydantic resolve hints at run time.
    assert typing.get_type_hints(function)


def test_unknown_constructor_keywords_raise_type_error_before_other_checks() -> None:
    with pytest.raises(TypeError, match=r"AsyncSmsClient.__init__\(\) got an unexpected"):
        AsyncSmsClient(bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        AsyncConversationBatchClient("", bogus=1)  # type: ignore[call-arg]


async def test_unknown_send_keywords_raise_type_error_naming_the_method() -> None:
    async with AsyncConversationBatchClient(
        "project", "key", "secret", base_url="http://127.0.0.1:9"
    ) as conv:
        with pytest.raises(
            TypeError, match=r"^send\(\) got an unexpected keyword argument 'ttl_s'"
        ):
            await conv.send("app", {"text_message": {"text": "hi"}}, ["c1"], ttl_s=5)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"^build_send_request\(\) got an unexpected"):
            conv.build_send_request("app", {"text_message": {"text": "hi"}}, ["c1"], bogus=1)  # type: ignore[call-arg]
