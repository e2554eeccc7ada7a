"""Masking of secrets and phone numbers for logs, reprs and exception messages."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["MIN_SECRET_LENGTH", "Secrets", "mask_number", "mask_numbers"]

MIN_SECRET_LENGTH = 6
"""Shorter strings are not scrubbed (they would garble ordinary text); real tokens and
key secrets are far longer."""
_SCRUBBED = "***"


class Secrets:
    """The client's secrets, to scrub from whatever a server sends back.

    :meth:`scrub_body` replaces each secret written as is or percent-encoded (a cheap
    substring search); with ``thorough`` (for text that goes into an exception) also written
    in any mix of characters, ``%xx`` and ``\\uXXXX`` escapes and ``\\/``, in any case, as a
    JSON encoder or a URL encoder may write it. Secrets shorter than
    :data:`MIN_SECRET_LENGTH` are not scrubbed.
    """

    __slots__ = ("_exact", "_pattern")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        kept = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        forms = {form for s in kept for form in (s, urllib.parse.quote(s, safe=""))}
        self._exact = tuple(
            form.encode("utf-8", "surrogatepass") for form in sorted(forms, key=len, reverse=True)
        )
        self._pattern = (
            re.compile("|".join("".join(map(_char_pattern, s)) for s in kept), re.IGNORECASE)
            if kept
            else None
        )

    def __bool__(self) -> bool:
        return bool(self._exact)

    def __repr__(self) -> str:
        return f"Secrets({len(self._exact)} forms)"

    def scrub_body(self, data: bytes, *, thorough: bool = False) -> bytes:
        """``data`` with the secrets replaced by ``***`` (the same object if none was there)."""
        for form in self._exact:
            if form in data:
                data = data.replace(form, _SCRUBBED.encode())
        if thorough and self._pattern is not None and data:
            text = data.decode("utf-8", "surrogateescape")
            scrubbed = self._pattern.sub(_SCRUBBED, text)
            if scrubbed != text:
                data = scrubbed.encode("utf-8", "surrogateescape")
        return data

    def scrub_text(self, text: str) -> str:
        """``text`` with the secrets, in any of the writings above, replaced by ``***``."""
        return text if self._pattern is None else self._pattern.sub(_SCRUBBED, text)

    def scrub_headers(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        """``headers`` with the secrets scrubbed from their values (the same object if none)."""
        pattern = self._pattern
        if pattern is None or not any(pattern.search(value) for value in headers.values()):
            return headers
        # Still a case-insensitive multi-dict, as aiohttp's own (repeated headers kept).
        return CIMultiDictProxy(
            CIMultiDict((name, pattern.sub(_SCRUBBED, value)) for name, value in headers.items())
        )


def _any_case(hex_digits: str) -> str:
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in hex_digits)


def _char_pattern(char: str) -> str:
    """One character of a secret: itself, percent-encoded or a JSON escape, in any case."""
    forms = [re.escape(char)]
    forms.append("".join("%" + _any_case(f"{b:02X}") for b in char.encode("utf-8", "replace")))
    forms.append(r"\\u" + _any_case(f"{ord(char):04X}"))
    if char == "/":
        forms.append(r"\\/")
    return "(?:" + "|".join(forms) + ")"


# What may stand between the digits of a number written for people: spaces, dashes,
# dots and brackets, also percent-encoded (as in a URL path or query).
_SEP = r"(?:[ \t.\-()]|%20|%2[Dd]|%28|%29)"
# A number as it appears in paths, query strings, log lines and error texts: digits,
# maybe led by "+" or "%2B" (and an encoded space or bracket), maybe with separators
# between them, not inside a word.
# Which of these are phone numbers (7 to 15 digits, not a date, an IP address or a
# decimal) _mask_match decides.
_NUMBER_RE = re.compile(rf"(?<!\w)(?P<prefix>\+|%2[Bb])?(?:%20|%28)*\d(?:{_SEP}{{0,3}}\d)*(?!\w)")
_UNIT_RE = re.compile(rf"\d|{_SEP}")
_SPACE_RE = re.compile(r"((?:[ \t]|%20)+)")
_YEAR = r"(?:19|20)\d\d"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_DATE_RE = re.compile(  # a date (maybe followed by a time: masked on its own)
    rf"(?:{_YEAR}([-.]){_MONTH}\1{_DAY}|{_DAY}([-.]){_MONTH}\2{_YEAR})(?=$|[ \t]|%20)"
)
_IP_OR_DECIMAL_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|\d+\.\d+")
_MIN_DIGITS = 7
_MAX_DIGITS = 15


def mask_number(number: str) -> str:
    """Mask a phone number for display: ``+46700000001`` becomes ``+46*****0001``.

    Keeps the first three and the last four characters of long numbers so
    that log lines stay useful for correlation without exposing the number.
    """
    if len(number) <= 6:
        return "*" * len(number)
    keep_head = 3 if len(number) > 10 else 2
    return number[:keep_head] + "*" * (len(number) - keep_head - 4) + number[-4:]


def _is_digit(unit: str) -> bool:
    return len(unit) == 1 and unit.isdigit()


def _render(prefix: str, units: list[str], masked_digits: str) -> str:
    """``prefix`` and ``units`` with the digits replaced, in order, by ``masked_digits``."""
    out = [prefix]
    position = 0
    for unit in units:
        if _is_digit(unit):
            out.append(masked_digits[position])
            position += 1
        else:
            out.append(unit)
    return "".join(out)


def _mask_written(prefix: str, body: str, *, split: bool = True) -> str:
    """``prefix`` + ``body`` (digits and separators) masked if it is a phone number."""
    units = _UNIT_RE.findall(body)
    digits = "".join(unit for unit in units if _is_digit(unit))
    count = len(digits)
    if count < _MIN_DIGITS:
        return prefix + body
    if len(units) == count:  # digits only
        if count > _MAX_DIGITS:
            return prefix + body  # a long identifier, not a phone number
        return mask_number(prefix + body)
    if not prefix:
        if _IP_OR_DECIMAL_RE.fullmatch(body):
            return body
        date = _DATE_RE.match(body)
        if date:
            return body[: date.end()] + mask_numbers(body[date.end() :])
    if count <= _MAX_DIGITS:
        return _render(prefix, units, mask_number(prefix + digits)[len(prefix) :])
    if split:
        # Numbers separated by spaces ("46700000001 46700000002"): each masked on its own.
        pieces = _SPACE_RE.split(body)  # number, spaces, number, ...
        counts = [sum(map(_is_digit, _UNIT_RE.findall(piece))) for piece in pieces[::2]]
        if all(_MIN_DIGITS <= n <= _MAX_DIGITS for n in counts):
            return "".join(
                piece if i % 2 else _mask_written(prefix if i == 0 else "", piece, split=False)
                for i, piece in enumerate(pieces)
            )
    # Too many digits for one number: mask all but the last four.
    return _render(prefix, units, "*" * (count - 4) + digits[-4:])


def _mask_match(match: re.Match[str]) -> str:
    prefix = match.group("prefix") or ""
    return _mask_written(prefix, match.group(0)[len(prefix) :])


def mask_numbers(text: str) -> str:
    """Mask every phone number in ``text``: runs of 7 to 15 digits, maybe led by ``+`` or
    ``%2B`` and written with spaces, dashes, dots or brackets (also percent-encoded)
    between the digits. Dates, IPv4 addresses and decimal numbers are left alone."""
    return _NUMBER_RE.sub(_mask_match, text)
