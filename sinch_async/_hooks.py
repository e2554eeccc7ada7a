"""Observation points for metrics and tracing: hooks and per-call information."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = [
    "CallInfo",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "call_info",
]


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """Passed to ``on_request`` before each attempt. ``path`` is relative (``/batches``)."""

    method: str
    path: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ResponseEvent:
    """Passed to ``on_response`` after each attempt that got an HTTP response."""

    method: str
    path: str
    attempt: int
    status: int
    elapsed: float
    """Seconds from sending the request to reading the whole response."""


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """Passed to ``on_retry`` before waiting for the next attempt."""

    method: str
    path: str
    attempt: int
    """The attempt that comes next (2 for the first retry)."""
    max_attempts: int
    delay: float
    cause: str
    """``"429"``, ``"503"``, ``"timeout"``, ``"connection error"``, ..."""
    error: BaseException


Hook = Callable[[object], "Awaitable[None] | None"]


@dataclass(slots=True)
class CallInfo:
    """What happened on the wire for the calls made inside a :func:`call_info` block.

    Describes the last call made in the block: its ``status``, response
    ``headers``, ``attempts`` and ``retries_taken``, and whether it was
    ``reconciled`` (an ambiguous send found already created).

    The sends of the block (calls that must not be repeated blindly) also keep, as they
    run: ``sending``, how many of their requests are on the wire now; ``ambiguous``, how
    many of their attempts failed without telling whether they were applied; and
    ``in_doubt``, true while such a failure is not resolved (a lookup found the send
    applied or showed it was not). The fan-out reads these to stop a cancelled campaign
    without losing track of a batch.
    """

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    attempts: int = 0
    reconciled: bool = False
    calls: int = 0
    sending: int = 0
    ambiguous: int = 0
    in_doubt: bool = False

    @property
    def retries_taken(self) -> int:
        return max(self.attempts - 1, 0)


_current: contextvars.ContextVar[CallInfo | None] = contextvars.ContextVar(
    "sinch_async_call_info", default=None
)


@contextmanager
def call_info() -> Iterator[CallInfo]:
    """Capture attempts and retries of the calls made in this block (per task).

    ::

        with call_info() as info:
            batch = await sms.batches.send(["+46700000001"], "hi")
        print(info.status, info.retries_taken)
    """
    info = CallInfo()
    token = _current.set(info)
    try:
        yield info
    finally:
        _current.reset(token)


current_call_info: Callable[[], CallInfo | None] = _current.get
"""The :class:`CallInfo` of the innermost active :func:`call_info` block, if any."""
