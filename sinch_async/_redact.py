"""Masking of secrets and phone numbers for logs, reprs and exception messages."""

from __future__ import annotations

import re

__all__ = ["mask_number", "mask_numbers"]

# A run of 7 to 15 digits, optionally led by "+" or "00": how MSISDNs appear in
# paths, query strings and error texts.
_NUMBER_RE = re.compile(r"(?<![\w])(\+|%2B)?(\d{4,12})(\d{3})(?![\w])")


def mask_number(number: str) -> str:
    """Mask a phone number for display: ``+46700000001`` becomes ``+46*****0001``.

    Keeps the first three and the last four characters of long numbers so
    that log lines stay useful for correlation without exposing the number.
    """
    if len(number) <= 6:
        return "*" * len(number)
    keep_head = 3 if len(number) > 10 else 2
    return number[:keep_head] + "*" * (len(number) - keep_head - 4) + number[-4:]


def _mask_match(match: re.Match[str]) -> str:
    return mask_number(match.group(0))


def mask_numbers(text: str) -> str:
    """Mask every MSISDN-looking run of digits in ``text``."""
    return _NUMBER_RE.sub(_mask_match, text)
