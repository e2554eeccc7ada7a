"""Small shared helpers: identifiers, MSISDN normalization, the API error type."""

from __future__ import annotations

import random
import re
from typing import Any

__all__ = [
    "ApiError",
    "IdFactory",
    "display_msisdn",
    "looks_like_id",
    "normalize_msisdn",
]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Sinch IDs are 26 characters, ULID-like; its own examples (01FC66621VHDBN119Z8PMV1QPU) use
# letters outside Crockford's alphabet, so any 26 digits/capitals have the shape of an ID.
_ID_RE = re.compile(r"^[0-9A-Z]{26}$")
_STRIP = str.maketrans("", "", " -()[]./\t")
_MIN_DIGITS = 7
_MAX_DIGITS = 15


class ApiError(Exception):
    """An error response in Sinch's shape: HTTP status plus ``{"code", "text"}``."""

    def __init__(self, status: int, code: str, text: str) -> None:
        super().__init__(f"{status} {code}: {text}")
        self.status = status
        self.code = code
        self.text = text


class IdFactory:
    """Makes 26-character ULID-like identifiers (10 time characters + 16 random ones)."""

    __slots__ = ("_last", "_rand")

    def __init__(self, seed: int | None = None) -> None:
        self._rand = random.Random(seed)
        self._last = ""

    def new(self, ts: float) -> str:
        ms = max(0, int(ts * 1000)) & ((1 << 48) - 1)
        chars = []
        for _ in range(10):
            chars.append(_CROCKFORD[ms & 31])
            ms >>= 5
        head = "".join(reversed(chars))
        r = self._rand.getrandbits(80)
        tail = []
        for _ in range(16):
            tail.append(_CROCKFORD[r & 31])
            r >>= 5
        ident = head + "".join(tail)
        if ident == self._last:  # pragma: no cover - 80 random bits
            return self.new(ts)
        self._last = ident
        return ident

    def token(self, nbytes: int = 24) -> str:
        return f"{self._rand.getrandbits(nbytes * 8):0{nbytes * 2}x}"

    def get_state(self) -> list[Any]:
        """The generator's state as JSON-ready lists (see :meth:`set_state`)."""
        version, internal, gauss = self._rand.getstate()
        return [version, list(internal), gauss, self._last]

    def set_state(self, state: list[Any]) -> None:
        """Continue from a :meth:`get_state` (ValueError/TypeError if it is not one)."""
        version, internal, gauss, last = state
        self._rand.setstate((version, tuple(int(x) for x in internal), gauss))
        self._last = str(last)


def looks_like_id(value: str) -> bool:
    """True if ``value`` has the shape of a Sinch (ULID-like) identifier."""
    return _ID_RE.match(value) is not None


def normalize_msisdn(value: str) -> str | None:
    """Return ``value`` as E.164 with a leading ``+``, or None if it is not an MSISDN.

    Accepts a leading ``+`` or ``00`` (or neither) and ignores spaces, dashes, dots,
    slashes and brackets.
    """
    text = value.translate(_STRIP)
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    else:
        digits = text
    if not digits.isdigit() or not digits.isascii():
        return None
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS:
        return None
    return "+" + digits


def display_msisdn(e164: str) -> str:
    """How responses show a stored number: E.164 without the ``+``."""
    return e164[1:] if e164.startswith("+") else e164
