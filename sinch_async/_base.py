"""What every client shares: one frozen options value, the lifecycle, the entry to the core.

A client's constructor checks its credentials (the only part that differs between the
SMS and the Conversation Batch clients), builds a :class:`ClientOptions` with
:meth:`ClientOptions.build` (every other check, before any network I/O) and hands it to
:meth:`BaseClient._open`, which makes the transport and the :class:`RequestCore`.
``with_options`` replaces fields of the options and binds a view to the same core
through :meth:`BaseClient._bind`, the one place where a client's attributes and
resources are set.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import os
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, TypedDict, TypeVar

import aiohttp
import msgspec

from sinch_async import _config
from sinch_async._auth import TOKEN_RETRY, Auth, OAuth2TokenProvider
from sinch_async._codec import decoder_for, encode
from sinch_async._core import Call, HookFn, Hooks, Reconcile, RequestCore
from sinch_async._ratelimit import Limiter, RateLimiter
from sinch_async._retry import Idempotency, RetryPolicy
from sinch_async._transport import RawResponse, Transport, make_timeout
from sinch_async._version import __version__
from sinch_async.errors import ResponseDecodeError, SinchValidationError

__all__ = [
    "DEFAULT",
    "BaseClient",
    "ClientOptions",
    "ClientSettings",
    "DefaultType",
    "FindSent",
    "decode_error",
]


class DefaultType(enum.Enum):
    """The type of :data:`DEFAULT`: "use the client's setting"."""

    DEFAULT = "DEFAULT"


DEFAULT = DefaultType.DEFAULT

C = TypeVar("C", bound="BaseClient")

FindSent = Callable[[str, RetryPolicy, datetime], Awaitable[RawResponse | None]]
"""``find(reference, retry, since)``: the item an ambiguous send created since ``since``
under ``reference`` (as the send's response), or None if it was not applied."""


def new_reference() -> str:
    """A unique reference for a send (``auto_client_reference`` / ``auto_correlation_id``)."""
    return f"sinch-async-{uuid.uuid4().hex}"


class ClientSettings(TypedDict, total=False):
    """The keyword settings every client takes (``AsyncSmsClient(..., timeout=10)``).

    Each is optional; the default is in brackets.

    * ``session``: an ``aiohttp.ClientSession`` to use (never closed by the client)
      instead of the client's own (created lazily in the running loop).
    * ``max_connections``: the connection pool of the client's own session (100).
    * ``timeout``: seconds for a whole request, or an ``aiohttp.ClientTimeout``
      (60 s in all, of which at most 10 s to connect).
    * ``allow_insecure_http``: allow ``http://`` to non-loopback hosts (off).
    * ``user_agent``: extra text appended to the ``User-Agent`` header.
    * ``retry``: a :class:`RetryPolicy` (``RetryPolicy()``); ``None`` turns retries off.
    * ``rate_limiter``: a :class:`RateLimiter` or any :class:`Limiter`, perhaps shared
      with other clients, instead of the three limits below.
    * ``requests_per_second``: request starts per second, evenly paced (the API's
      default: off for SMS, 800 for the Conversation API; ``None``: no limit).
    * ``messages_per_second``: a limit weighted by recipients per send (off).
    * ``max_concurrency``: requests in flight (off; the pool bounds it anyway).
    * ``on_request`` / ``on_response`` / ``on_retry``: hooks called with a
      :class:`RequestEvent` / :class:`ResponseEvent` / :class:`RetryEvent` (sync or
      async; an exception in a hook is logged, not raised).
    """

    session: aiohttp.ClientSession | None
    max_connections: int
    timeout: float | aiohttp.ClientTimeout | None
    allow_insecure_http: bool
    user_agent: str | None
    retry: RetryPolicy | None
    rate_limiter: Limiter | None
    requests_per_second: float | None
    messages_per_second: float | None
    max_concurrency: int | None
    on_request: HookFn | None
    on_response: HookFn | None
    on_retry: HookFn | None


@dataclasses.dataclass(frozen=True)
class ClientOptions:
    """The checked settings a client is built from (``client.options``).

    ``with_options`` makes a view from a copy with some fields replaced; the
    session, credentials and rate limiter stay shared.
    """

    region: str
    account_id: str
    """The service plan ID or project ID in the URL path."""
    base_url: str
    auth_url: str | None
    """The OAuth2 token endpoint (``None`` with a static API token)."""
    max_connections: int
    timeout: aiohttp.ClientTimeout
    user_agent: str
    """The whole ``User-Agent`` header."""
    retry: RetryPolicy | None
    rate_limiter: Limiter
    hooks: Hooks
    auto_reference: bool
    """Give every send a unique reference (``auto_client_reference`` / ``auto_correlation_id``)."""

    @classmethod
    def build(
        cls,
        settings: ClientSettings,
        *,
        region: str,
        account_id: str,
        base_url: str,
        auth_url: str | None,
        default_requests_per_second: float | None,
        auto_reference: bool,
    ) -> ClientOptions:
        """Check ``settings`` and the API's own values (raises :class:`SinchValidationError`)."""
        unknown = sorted(settings.keys() - ClientSettings.__optional_keys__)
        if unknown:
            raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
        max_connections = settings.get("max_connections", 100)
        if max_connections < 1:
            raise SinchValidationError("max_connections", "must be at least 1", limit=">= 1")
        try:
            timeout = make_timeout(settings.get("timeout"))
        except (TypeError, ValueError) as exc:
            raise SinchValidationError("timeout", str(exc), limit="> 0 seconds") from None
        insecure = settings.get("allow_insecure_http", False)
        agent = f"sinch-async/{__version__} aiohttp/{aiohttp.__version__}"
        extra_agent = settings.get("user_agent")
        retry = settings.get("retry", DEFAULT)
        return cls(
            region=region,
            account_id=account_id,
            base_url=_config.check_url(base_url, field="base_url", allow_insecure_http=insecure),
            auth_url=None
            if auth_url is None
            else _config.check_url(auth_url, field="auth_url", allow_insecure_http=insecure),
            max_connections=max_connections,
            timeout=timeout,
            user_agent=f"{agent} {extra_agent}" if extra_agent else agent,
            retry=RetryPolicy() if isinstance(retry, DefaultType) else retry,
            rate_limiter=_limiter(settings, default_requests_per_second),
            hooks=Hooks(
                on_request=settings.get("on_request"),
                on_response=settings.get("on_response"),
                on_retry=settings.get("on_retry"),
            ),
            auto_reference=auto_reference,
        )

    def token_provider(self, key_id: str, key_secret: str) -> OAuth2TokenProvider:
        """An OAuth2 token provider for project credentials at :attr:`auth_url`."""
        assert self.auth_url is not None
        retry = None if self.retry is None else TOKEN_RETRY
        return OAuth2TokenProvider(key_id, key_secret, self.auth_url, retry=retry)


def _limiter(settings: ClientSettings, default_requests_per_second: float | None) -> Limiter:
    """The limiter given, or a :class:`RateLimiter` from the limits given (not both)."""
    limits = ("requests_per_second", "messages_per_second", "max_concurrency")
    given = [name for name in limits if settings.get(name) is not None]
    rate_limiter = settings.get("rate_limiter")
    if rate_limiter is not None:
        if given:
            raise SinchValidationError(
                "rate_limiter", f"give either rate_limiter or {', '.join(given)}, not both"
            )
        return rate_limiter
    try:
        return RateLimiter(
            requests_per_second=settings.get("requests_per_second", default_requests_per_second),
            messages_per_second=settings.get("messages_per_second"),
            max_concurrency=settings.get("max_concurrency"),
        )
    except ValueError as exc:
        raise SinchValidationError(given[0] if given else "rate_limiter", str(exc)) from None


def decode_error(
    response: RawResponse, exc: msgspec.DecodeError, method: str, path: str
) -> ResponseDecodeError:
    """The error for a response body that does not decode as the expected type."""
    return ResponseDecodeError(
        f"unexpected response body: {exc}",
        status=response.status,
        body=response.body,
        method=method,
        path=path,
    )


class BaseClient:
    """Options, session lifecycle (``async with``, ``aclose``, the unclosed-client
    warning) and ``_request``, shared by :class:`AsyncSmsClient` and the Conversation
    Batch client."""

    _options: ClientOptions
    _core: RequestCore
    _transport: Transport
    _hooks: Hooks
    _is_view: bool = False
    """True for ``with_options()`` views, which share (and never own) the session."""
    retry: RetryPolicy | None
    """The :class:`RetryPolicy` in force, or ``None`` when retries are off."""
    rate_limiter: Limiter
    """The rate limiter in force (shared if passed in)."""
    region: str
    base_url: str
    auth_url: str | None
    auth: Auth

    def _open(
        self,
        options: ClientOptions,
        *,
        auth: Auth,
        prefix: str,
        oauth: bool,
        session: aiohttp.ClientSession | None,
        session_headers: dict[str, str] | None = None,
    ) -> None:
        """Make the transport and the core for ``options``, then bind this client to them.

        ``session_headers`` go on the client's own session (not on one passed in), and
        then on no request: for a static token, ``Authorization`` and ``Accept``.
        """
        own_headers = session_headers if session is None else None
        self._transport = Transport(
            session=session,
            max_connections=options.max_connections,
            timeout=options.timeout,
            user_agent=options.user_agent,
            default_headers=own_headers,
        )
        self._core = RequestCore(
            transport=self._transport,
            auth=auth,
            prefix=prefix,
            oauth=oauth,
            limiter=options.rate_limiter,
            user_agent=options.user_agent,
            session_auth=None if own_headers is None else own_headers.get("Authorization"),
        )
        self._bind(options)

    def _bind(self, options: ClientOptions) -> None:
        """Set the attributes that come from ``options`` (subclasses add their resources)."""
        self._options = options
        self._hooks = options.hooks
        self.retry = options.retry
        self.rate_limiter = options.rate_limiter
        self.region = options.region
        self.base_url = options.base_url
        self.auth_url = options.auth_url
        self.auth = self._core.auth

    def _account_field(self) -> str:
        """How ``__repr__`` names ``options.account_id``."""
        return "project_id"

    def __repr__(self) -> str:
        options = getattr(self, "_options", None)
        if options is None:
            return f"{type(self).__name__}(<not built>)"
        return (
            f"{type(self).__name__}({self._account_field()}={options.account_id!r}, "
            f"region={options.region!r}, base_url={options.base_url!r})"
        )

    @staticmethod
    def _env_arguments(
        names: Mapping[str, tuple[str, ...]], environ: Mapping[str, str] | None
    ) -> dict[str, Any]:
        """Constructor arguments from the environment: for each argument, the first of
        its variables that is set and not blank (``from_env``)."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        for arg, variables in names.items():
            for var in variables:
                value = env.get(var, "").strip()
                if value:
                    kwargs[arg] = value
                    break
        return kwargs

    @property
    def options(self) -> ClientOptions:
        """The settings this client was built from (frozen)."""
        return self._options

    def _with(self: C, retry: RetryPolicy | DefaultType | None, auto_reference: bool | None) -> C:
        """The ``with_options`` view: the options given replaced, the rest shared."""
        changes: dict[str, Any] = {}
        if not isinstance(retry, DefaultType):
            changes["retry"] = retry
        if auto_reference is not None:
            changes["auto_reference"] = auto_reference
        return self._view(**changes)

    def _view(self: C, **changes: Any) -> C:
        """A client bound to the same core with some options replaced."""
        view = object.__new__(type(self))
        view._is_view = True
        view._transport = self._transport
        view._core = self._core
        view._bind(dataclasses.replace(self._options, **changes))
        return view

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client's own HTTP session (a session passed in stays open).

        Calling it twice is fine. A closed client raises :class:`ClientClosedError`.
        """
        await self._transport.aclose()

    @property
    def closed(self) -> bool:
        return self._transport.closed

    def __del__(self, _warnings: Any = warnings) -> None:
        if self._is_view:
            return
        transport = getattr(self, "_transport", None)
        if transport is not None and transport.abandon():
            name = type(self).__name__
            _warnings.warn(
                f"{self!r} was garbage-collected without being closed; use "
                f"'async with {name}(...)' or 'await client.aclose()'",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        body: bytes | None = None,
        idempotency: Idempotency = Idempotency.SAFE,
        messages: int = 0,
        request_obj: object = None,
        reconcile: Reconcile | None = None,
        retry: RetryPolicy | DefaultType | None = DEFAULT,
        record: bool = True,
    ) -> Coroutine[Any, Any, RawResponse]:
        """One API call: the coroutine of :meth:`Call.run` (limiter, attempts, transport)."""
        core = self._core
        return Call(
            core,
            method,
            path,
            core.url(path),
            params,
            body,
            self.retry if isinstance(retry, DefaultType) else retry,
            self._hooks,
            idempotency,
            messages,
            request_obj,
            reconcile,
            record,
            time.monotonic(),
        ).run()

    def _send(
        self,
        method: str,
        path: str,
        request: object,
        *,
        messages: int,
        reference: str | None,
        find: FindSent,
    ) -> Coroutine[Any, Any, RawResponse]:
        """A send, never repeated blindly: with a ``reference`` (and retries on), an
        ambiguous failure is reconciled by ``find``, from shortly before the first attempt."""
        policy = self.retry
        reconcile: Reconcile | None = None
        if reference is not None and policy is not None:
            lookup = dataclasses.replace(policy, max_attempts=min(policy.max_attempts, 3))
            since = datetime.now(timezone.utc) - timedelta(seconds=policy.reconcile_window)
            reconcile = functools.partial(find, reference, lookup, since)
        return self._request(
            method,
            path,
            body=encode(request),
            idempotency=Idempotency.UNSAFE,
            messages=messages,
            request_obj=request,
            reconcile=reconcile,
        )

    @staticmethod
    def _decode(response: RawResponse, tp: Any, method: str, path: str) -> Any:
        """The response body decoded as ``tp`` (:class:`ResponseDecodeError` if it is not one)."""
        try:
            return decoder_for(tp).decode(response.body)
        except msgspec.DecodeError as exc:  # (ValidationError is a DecodeError)
            raise decode_error(response, exc, method, path) from None
