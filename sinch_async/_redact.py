"""Masking of secrets and phone numbers for logs, reprs and exception messages."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping

__all__ = [
    "MIN_SECRET_LENGTH",
    "mask_number",
    "mask_numbers",
    "scrub_bytes",
    "scrub_headers",
    "secret_forms",
]

MIN_SECRET_LENGTH = 6
"""Shorter strings are not scrubbed (they would garble ordinary text); real tokens and
key secrets are far longer."""
_SCRUBBED = "***"


def secret_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret long enough to scrub, as written and percent-encoded, longest first."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            forms.add(secret)
            forms.add(urllib.parse.quote(secret, safe=""))
    return tuple(sorted(forms, key=len, reverse=True))


def scrub_bytes(data: bytes, secrets: tuple[str, ...]) -> bytes:
    """``data`` with every form in ``secrets`` (see :func:`secret_forms`) replaced by ``***``."""
    for secret in secrets:
        raw = secret.encode("utf-8", "surrogatepass")
        if raw in data:
            data = data.replace(raw, _SCRUBBED.encode())
    return data


def scrub_headers(headers: Mapping[str, str], secrets: tuple[str, ...]) -> Mapping[str, str]:
    """``headers`` with the secrets scrubbed from their values (the same object if none)."""
    if not any(secret in value for value in headers.values() for secret in secrets):
        return headers
    scrubbed: dict[str, str] = {}
    for name, value in headers.items():
        for secret in secrets:
            value = value.replace(secret, _SCRUBBED)
        scrubbed[name] = value
    return scrubbed


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
