"""What every client of this library shares: the lifecycle and the entry to the request core."""

from __future__ import annotations

import enum
import time
import warnings
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import Any, TypeVar

import msgspec

from sinch_async._codec import decoder_for
from sinch_async._core import Call, Hooks, Reconcile, RequestCore
from sinch_async._retry import Idempotency, RetryPolicy
from sinch_async._transport import RawResponse, Transport
from sinch_async.errors import ResponseDecodeError

__all__ = ["DEFAULT", "BaseClient", "DefaultType"]


class DefaultType(enum.Enum):
    """The type of :data:`DEFAULT`: "use the client's setting"."""

    DEFAULT = "DEFAULT"


DEFAULT = DefaultType.DEFAULT

C = TypeVar("C", bound="BaseClient")


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
    """Session lifecycle (``async with``, ``aclose``, the unclosed-client warning) and
    ``_request``, shared by :class:`AsyncSmsClient` and the Conversation Batch client."""

    _transport: Transport
    _core: RequestCore
    _hooks: Hooks
    retry: RetryPolicy | None
    _is_view: bool = False
    """True for ``with_options()`` views, which share (and never own) the session."""

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
        """One API call through the rate limiter, the retry loop and the transport.

        A plain function returning the call's coroutine (see :class:`Call`): no wrapper frame.
        """
        core = self._core
        return Call(
            core,
            method,
            path,
            core.urls[path],
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
        ).attempt()

    @staticmethod
    def _decode(response: RawResponse, tp: Any, method: str, path: str) -> Any:
        """The response body decoded as ``tp`` (:class:`ResponseDecodeError` if it is not one)."""
        try:
            return decoder_for(tp).decode(response.body)
        except msgspec.DecodeError as exc:  # (ValidationError is a DecodeError)
            raise decode_error(response, exc, method, path) from None
