"""The simulated clock and timestamp helpers."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

__all__ = ["SimClock", "format_ts", "parse_iso"]

_UTC = timezone.utc


class SimClock:
    """A clock that runs at ``time_scale`` times real time from ``start``, plus manual jumps.

    ``time_scale=0`` freezes it: only :meth:`advance` (usually through
    ``SinchSimulator.advance``) moves it. Times are aware UTC datetimes; the simulator
    works internally with float Unix timestamps (:meth:`now_ts`).
    """

    __slots__ = ("_anchor", "_base", "_scale")

    def __init__(self, start: datetime | None = None, time_scale: float = 1.0) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        if start is None:
            start_ts = round(time.time(), 3)
        else:
            if start.tzinfo is None:
                start = start.replace(tzinfo=_UTC)
            start_ts = start.timestamp()
        self._base = start_ts  # simulated time at the anchor
        self._scale = float(time_scale)
        self._anchor = time.monotonic()

    @property
    def time_scale(self) -> float:
        """Simulated seconds per real second (0 means frozen)."""
        return self._scale

    def now_ts(self) -> float:
        """Current simulated time as a Unix timestamp (seconds)."""
        if self._scale == 0.0:
            return self._base
        return self._base + (time.monotonic() - self._anchor) * self._scale

    def now(self) -> datetime:
        """Current simulated time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now_ts(), _UTC)

    def advance(self, seconds: float) -> None:
        """Jump forward by ``seconds`` (no processing; see ``SinchSimulator.advance``)."""
        if seconds < 0:
            raise ValueError("cannot move the clock backwards")
        self.advance_to(self.now_ts() + seconds)

    def advance_to(self, ts: float) -> None:
        """Jump forward to the Unix timestamp ``ts`` exactly (no-op if it is in the past)."""
        now = self.now_ts()
        self._base = ts if ts > now else now
        self._anchor = time.monotonic()


def format_ts(ts: float) -> str:
    """Format a Unix timestamp as ISO-8601 UTC with milliseconds and ``Z``."""
    dt = datetime.fromtimestamp(round(ts, 3), _UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_FRACTION = re.compile(r"\.(\d+)")


def parse_iso(value: str) -> float:
    """Parse an ISO-8601 timestamp (``Z``, offsets, missing offset = UTC) to a Unix timestamp.

    Raises ValueError when the text is not a timestamp.
    """
    text = value.strip()
    if not text:
        raise ValueError("empty timestamp")
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    # Python 3.10's fromisoformat accepts only 3 or 6 fractional digits.
    m = _FRACTION.search(text)
    if m is not None:
        digits = (m.group(1) + "000000")[:6]
        text = text[: m.start()] + "." + digits + text[m.end() :]
    if len(text) == 10:  # a bare date
        text += "T00:00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_UTC)
    return dt.timestamp()


def days(n: float) -> float:
    """Seconds in ``n`` days."""
    return timedelta(days=n).total_seconds()
