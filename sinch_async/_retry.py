"""Retry policy and outcome classification (the tenacity layer).

What may be retried depends on whether repeating the request is safe:

* ``SAFE`` calls (GET, DELETE, group replace/update): connection errors,
  timeouts, 429, 500, 502, 503, 504.
* ``UNSAFE`` calls (``batches.send``, ``groups.create``, ``batches.update``,
  ``batches.replace``): only 429 and failures where the request provably never
  reached the server. Anything ambiguous (a read timeout, a connection dropped
  after the request was written, a 5xx) is reconciled for sends that carry a
  ``client_reference`` and raised as :class:`AmbiguousSendError` otherwise.

This module holds the policy and the classification only; the loop that applies
them is in :mod:`sinch_async._core`. The decision after each failed attempt (retry
or stop, and how long to wait) is tenacity's, from the strategies that
:meth:`RetryPolicy.retrying` builds: :class:`RetrySchedule` feeds each failure to
them. Both are fresh per call: sharing tenacity state across concurrent tasks
corrupts it.
"""

from __future__ import annotations

import enum
import logging
import random
from dataclasses import dataclass, field

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from sinch_async._redact import mask_numbers
from sinch_async.errors import (
    ApiError,
    RateLimitError,
    ResponseTooLargeError,
    SinchConnectionError,
    SinchError,
)

__all__ = [
    "DEFAULT_RETRY_AFTER_CAP",
    "Idempotency",
    "NotApplied",
    "RetryPolicy",
    "RetrySchedule",
    "describe_failure",
    "got_no_answer",
    "is_ambiguous",
    "logger",
]

logger = logging.getLogger("sinch_async")

DEFAULT_RETRY_AFTER_CAP = 60.0


class Idempotency(enum.Enum):
    """Whether repeating a request is known to leave the same state."""

    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class RetryPolicy:
    """How failed calls are retried.

    Args:
        max_attempts: Attempts per call, the first one included (5).
        backoff_base: First backoff ceiling in seconds; it doubles per retry (0.5).
        backoff_max: Ceiling of any one backoff (30 s). Backoff uses full jitter:
            a random wait between 0 and ``min(backoff_max, backoff_base * 2**n)``.
        deadline: Seconds after the first attempt when no further attempt starts
            (120 s; ``None`` for no deadline).
        retry_after_cap: The longest ``Retry-After`` honoured (60 s). A longer one
            fails the call at once with :class:`RateLimitError` (``retry_after`` set).
        retry_statuses: HTTP statuses retried for safe calls (429, 500, 502, 503, 504).
            For unsafe calls only 429 is retried; 5xx are ambiguous.
        retry_connection_errors: Retry connection errors and timeouts (safe calls;
            unsafe calls only when the request provably never left).
        reconcile_window: How far before the first attempt the reconciliation
            lookup of an ambiguous send starts (300 s; clocks differ).
        reconcile_delay: After a send got no answer (timeout, dropped connection,
            502, 504), wait this long before the first lookup, since the server may
            still be working on it (1 s).
        settle_window: After a send got no answer, keep looking it up, with
            backoff, for this long after the first lookup before taking it as not
            applied and sending it again (30 s): a request the server accepted but
            was slow to process shows up within it and is returned, not repeated.
            0 looks up once. A send that Sinch answered (500, 503) is looked up once.
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    deadline: float | None = 120.0
    retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP
    retry_statuses: frozenset[int] = field(
        default_factory=lambda: frozenset({429, 500, 502, 503, 504})
    )
    retry_connection_errors: bool = True
    reconcile_window: float = 300.0
    reconcile_delay: float = 1.0
    settle_window: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.retry_after_cap < 0:
            raise ValueError("backoff and cap values must be >= 0")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError("deadline must be positive or None")
        if self.reconcile_delay < 0 or self.settle_window < 0:
            raise ValueError("reconcile_delay and settle_window must be >= 0")

    def delay_for(self, exc: BaseException | None, retry_number: int) -> float:
        """The wait before retry ``retry_number``: ``Retry-After`` (capped) or the backoff."""
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)):
            # Honour the server's hint, plus a little jitter so that waiters spread out.
            return min(float(retry_after), self.retry_after_cap) + random.uniform(0, 0.1)
        return self.backoff(retry_number)

    def backoff(self, retry_number: int) -> float:
        """Full-jitter backoff before retry ``retry_number`` (1 for the first retry)."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (retry_number - 1)))
        return random.uniform(0.0, ceiling)

    def is_retryable(self, exc: BaseException, idempotency: Idempotency) -> bool:
        """Whether ``exc`` may be retried for a call of this idempotency class."""
        if not isinstance(exc, SinchError):
            return False  # CancelledError, programming errors: never retried
        if isinstance(exc, NotApplied):
            return True
        if isinstance(exc, RateLimitError):
            return 429 in self.retry_statuses and (
                exc.retry_after is None or exc.retry_after <= self.retry_after_cap
            )
        if isinstance(exc, ApiError):
            return idempotency is Idempotency.SAFE and exc.status in self.retry_statuses
        if isinstance(exc, ResponseTooLargeError):
            return False  # the server answered, too much: it would again
        if isinstance(exc, SinchConnectionError):
            if not self.retry_connection_errors:
                return False
            return idempotency is Idempotency.SAFE or exc.request_sent is False
        return False

    def retrying(self, idempotency: Idempotency) -> AsyncRetrying:
        """A fresh tenacity ``AsyncRetrying`` with this policy's stop, wait and retry rules."""
        stop: stop_base = stop_after_attempt(self.max_attempts)
        if self.deadline is not None:
            stop = stop | stop_before_delay(self.deadline)
        return AsyncRetrying(
            stop=stop,
            wait=_PolicyWait(self),
            retry=retry_if_exception(lambda exc: self.is_retryable(exc, idempotency)),
            reraise=True,
        )


class NotApplied(SinchError):
    """Reconciliation showed that an ambiguous send was not applied: safe to retry."""

    def __init__(self, cause: SinchError) -> None:
        self.cause = cause
        super().__init__(str(cause))


def got_no_answer(exc: BaseException) -> bool:
    """True when the server may still be working on a request: no answer came (a timeout,
    a dropped connection) or a gateway gave up waiting for the backend (502, 504)."""
    if isinstance(exc, ResponseTooLargeError):
        return False  # an answer came; only its body was refused
    if isinstance(exc, SinchConnectionError):
        return True
    return isinstance(exc, ApiError) and exc.status in (502, 504)


def is_ambiguous(exc: BaseException) -> bool:
    """True when a failed non-idempotent request may have been applied by the server."""
    if isinstance(exc, SinchConnectionError):
        return exc.request_sent is not False
    return isinstance(exc, ApiError) and exc.status in (500, 502, 503, 504)


class _PolicyWait(wait_base):
    """tenacity's wait before the next attempt: :meth:`RetryPolicy.delay_for` the failure."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        return self.policy.delay_for(exc, retry_state.attempt_number)


class RetrySchedule:
    """tenacity's verdict after each failed attempt of one call: wait this long, or stop.

    The attempt loop in :mod:`sinch_async._core` makes the attempts; this feeds each
    failure to the strategies of :meth:`RetryPolicy.retrying` (retry predicate, wait,
    stop by attempts and by deadline) through one tenacity ``RetryCallState``.
    ``started`` is the ``time.monotonic()`` of the call's first attempt.
    """

    __slots__ = ("_retrying", "_state")

    def __init__(self, policy: RetryPolicy, idempotency: Idempotency, started: float) -> None:
        self._retrying = policy.retrying(idempotency)
        self._state = RetryCallState(self._retrying, None, (), {})
        self._state.start_time = started

    def next_delay(self, failure: BaseException) -> float | None:
        """Seconds to wait before the next attempt after ``failure``, or ``None`` to stop."""
        state, retrying = self._state, self._retrying
        state.set_exception((type(failure), failure, failure.__traceback__))
        if not retrying.retry(state):
            return None
        delay = state.upcoming_sleep = float(retrying.wait(state))
        if retrying.stop(state):
            return None
        state.idle_for += delay
        state.prepare_for_next_attempt()
        return delay


def describe_failure(exc: BaseException) -> str:
    """A short cause for log lines: ``429``, ``503``, ``timeout``, ``connection error``."""
    if isinstance(exc, ApiError):
        return str(exc.status)
    name = type(exc).__name__
    if "Timeout" in name:
        return "timeout"
    if isinstance(exc, SinchConnectionError):
        return "connection error"
    return mask_numbers(name)
