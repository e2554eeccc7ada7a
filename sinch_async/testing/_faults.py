"""Scriptable faults: error statuses, latency, dropped connections, a request-rate limit."""

from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

import msgspec

__all__ = ["Fault", "FaultInjector", "RateLimit", "fault_body"]

Drop = Literal["before", "after"]
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "*"})
_GOOGLE_STATUS = {500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


@dataclass(slots=True)
class Fault:
    """One scripted fault. ``times=None`` means every matching request, forever.

    ``route`` is None (every request), ``"METHOD PATH"`` / ``"PATH"`` where PATH is compared
    with the path after ``/xms/v1/{id}`` (e.g. ``/batches``), the route template (e.g.
    ``/batches/{batch_id}``) or the full path, and may be a glob (``/batches/*``); or a
    compiled regex searched in ``"METHOD /relative/path"``.
    """

    route: str | re.Pattern[str] | None
    status: int | None = None
    retry_after: str | None = None
    times: int | None = 1
    latency: float = 0.0
    drop: Drop | None = None
    body: Any = None
    hits: int = 0
    _method: str | None = field(default=None, repr=False)
    _path: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.route, str):
            head, _, tail = self.route.strip().partition(" ")
            if tail and head.upper() in _METHODS:
                self._method = head.upper()
                self._path = tail.strip()
            else:
                self._path = self.route.strip()
            if self._method == "*":
                self._method = None

    @property
    def active(self) -> bool:
        return self.times is None or self.hits < self.times

    @property
    def remaining(self) -> int | None:
        return None if self.times is None else max(0, self.times - self.hits)

    def matches(self, method: str, rel_path: str, template: str, full_path: str) -> bool:
        route = self.route
        if route is None:
            return True
        if isinstance(route, re.Pattern):
            return route.search(f"{method} {rel_path}") is not None
        if self._method is not None and self._method != method:
            return False
        pattern = self._path or ""
        if pattern in (rel_path, template, full_path):
            return True
        if any(c in pattern for c in "*?["):
            return fnmatch.fnmatchcase(rel_path, pattern) or fnmatch.fnmatchcase(full_path, pattern)
        return False


def fault_body(status: int, body: Any) -> tuple[bytes, str | None]:
    """The response body (and content type) of an injected status."""
    if body is not None:
        if isinstance(body, bytes):
            return body, None
        if isinstance(body, str):
            return body.encode(), "text/plain" if body else None
        return msgspec.json.encode(body), "application/json"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if status >= 500:
        payload: Any = {
            "error": {
                "code": status,
                "message": phrase,
                "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
            }
        }
    else:
        slug = phrase.lower().replace(" ", "_").replace("-", "_")
        payload = {"code": slug, "text": phrase}
    return msgspec.json.encode(payload), "application/json"


class RateLimit:
    """Token bucket over real time: ``rps`` requests per second, bursts up to ``rps``."""

    __slots__ = ("_last", "_tokens", "rps")

    def __init__(self, rps: float) -> None:
        self.rps = float(rps)
        self._tokens = self.rps
        self._last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.rps, self._tokens + (now - self._last) * self.rps)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class FaultInjector:
    """``sim.faults``: add faults, clear them, set a global request-rate limit."""

    def __init__(self, rate_limit_rps: float | None = None) -> None:
        self._faults: list[Fault] = []
        self.rate_limit: RateLimit | None = None
        self.rate_limited = 0  # requests answered 429 by the rate limit
        self.set_rate_limit(rate_limit_rps)

    def set_rate_limit(self, rps: float | None) -> None:
        """Answer 429 to requests above ``rps`` per second (None disables the limit)."""
        self.rate_limit = RateLimit(rps) if rps else None

    def over_rate_limit(self) -> bool:
        """True (and counted in ``rate_limited``) if the rate limit refuses a request now."""
        if self.rate_limit is None or self.rate_limit.allow():
            return False
        self.rate_limited += 1
        return True

    def add(
        self,
        route: str | re.Pattern[str] | None = None,
        status: int | None = 429,
        retry_after: str | int | float | None = None,
        times: int | None = 1,
        latency: float = 0.0,
        drop: Drop | None = None,
        body: Any = None,
    ) -> Fault:
        """Script a fault for the next ``times`` matching requests; returns it (see ``hits``).

        ``status``: answer with that status and a Sinch-like body (4xx ``{code,text}``, 5xx
        ``{"error": {...}}``) or ``body`` (bytes/str sent as is, other values as JSON) instead
        of processing the request; None processes it normally (e.g. latency only).
        ``retry_after``: a ``Retry-After`` header value (seconds or an HTTP-date).
        ``latency``: real seconds to wait before answering.
        ``drop``: ``"before"`` closes the connection without processing (state unchanged);
        ``"after"`` processes the request (a batch IS created) then closes the connection
        without a response. ``drop`` wins over ``status``.
        """
        if drop not in (None, "before", "after"):
            raise ValueError("drop must be None, 'before' or 'after'")
        if drop is not None:
            status = None
        ra = None if retry_after is None else str(retry_after)
        fault = Fault(route, status, ra, times, latency, drop, body)
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault (the rate limit stays)."""
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        return list(self._faults)

    def take(self, method: str, rel_path: str, template: str, full_path: str) -> Fault | None:
        """The first active fault matching this request, with one use consumed."""
        if not self._faults:
            return None
        for fault in self._faults:
            if fault.active and fault.matches(method, rel_path, template, full_path):
                fault.hits += 1
                return fault
        return None
