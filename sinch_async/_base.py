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
import functools
import os
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import msgspec

from sinch_async._auth import Auth
from sinch_async._codec import decoder_for, encode
from sinch_async._core import Call, Hooks, Operation, Reconcile, RequestCore
from sinch_async._instrument import resolve_telemetry
from sinch_async._options import DEFAULT, ClientOptions, ClientSettings, DefaultType
from sinch_async._ratelimit import Limiter
from sinch_async._retry import Idempotency, RetryPolicy
from sinch_async._transport import RawResponse, Transport
from sinch_async.errors import ResponseDecodeError

__all__ = [
    "DEFAULT",
    "BaseClient",
    "ClientOptions",
    "ClientSettings",
    "DefaultType",
    "FindSent",
    "decode_error",
]


C = TypeVar("C", bound="BaseClient")

FindSent = Callable[[str, RetryPolicy, datetime], Awaitable[RawResponse | None]]
"""``find(reference, retry, since)``: the item an ambiguous send created since ``since``
under ``reference`` (as the send's response), or None if it was not applied."""


def new_reference() -> str:
    """A unique reference for a send (``auto_client_reference`` / ``auto_correlation_id``)."""
    return f"sinch-async-{uuid.uuid4().hex}"


def decode_error(
    response: RawResponse, exc: Exception, method: str, path: str
) -> ResponseDecodeError:
    """The error for a response body that does not decode as the expected type (the
    client's secrets scrubbed from the body and the decoder's message)."""
    body, reason = response.body, str(exc)
    secrets = response.secrets
    if secrets is not None:
        body, reason = secrets.scrub_body(body, thorough=True), secrets.scrub_text(reason)
    return ResponseDecodeError(
        f"unexpected response body: {reason}",
        status=response.status,
        body=body,
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
        account_placeholder: str = "{project_id}",
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
            max_response_size=options.max_response_size,
        )
        self._core = RequestCore(
            transport=self._transport,
            auth=auth,
            prefix=prefix,
            oauth=oauth,
            limiter=options.rate_limiter,
            user_agent=options.user_agent,
            session_auth=None if own_headers is None else own_headers.get("Authorization"),
            telemetry=resolve_telemetry(
                options.telemetry,
                options.tracer_provider,
                options.meter_provider,
                options.propagate_trace_context,
            ),
            account_placeholder=account_placeholder,
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
        operation: Operation,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        body: bytes | None = None,
        idempotency: Idempotency = Idempotency.SAFE,
        messages: int = 0,
        request_obj: object = None,
        reconcile: Reconcile | None = None,
        retry: RetryPolicy | DefaultType | None = DEFAULT,
        record: bool = True,
        reference: str | None = None,
        batch_id: str | None = None,
    ) -> Coroutine[Any, Any, RawResponse]:
        """One API call: the coroutine of :meth:`Call.run` (limiter, attempts, transport).

        ``operation`` names it for telemetry; ``reference`` (a send's reference) and
        ``batch_id`` (the batch its path names) become attributes of its span."""
        core = self._core
        return Call(
            core,
            operation,
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
            reference,
            batch_id,
        ).run()

    def _send(
        self,
        method: str,
        path: str,
        operation: Operation,
        request: object,
        *,
        messages: int,
        reference: str | None,
        find: FindSent,
        batch_id: str | None = None,
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
            operation,
            body=encode(request),
            idempotency=Idempotency.UNSAFE,
            messages=messages,
            request_obj=request,
            reconcile=reconcile,
            reference=reference,
            batch_id=batch_id,
        )

    @staticmethod
    def _decode(response: RawResponse, tp: Any, method: str, path: str) -> Any:
        """The response body decoded as ``tp`` (:class:`ResponseDecodeError` if it is not one)."""
        try:
            return decoder_for(tp).decode(response.body)
        except msgspec.DecodeError as exc:  # (ValidationError is a DecodeError)
            raise decode_error(response, exc, method, path) from None
