"""Phone number helpers.

Sinch accepts numbers with or without ``+`` or ``00`` and ignores spaces,
dashes, dots and brackets, but returns them in responses *without* the ``+``
(``+12017777777`` comes back as ``12017777777``). Compare numbers through
:func:`normalize_number`.
"""

from __future__ import annotations

import re

__all__ = ["normalize_number", "same_number"]

_SEPARATORS = re.compile(r"[\s\-().]")


def normalize_number(number: str) -> str:
    """The canonical ``+<digits>`` form of an MSISDN, for comparison.

    ``"0046 70-000 00 01"``, ``"+46700000001"`` and ``"46700000001"`` all become
    ``"+46700000001"``. Strings that are not phone numbers (short codes with
    letters, group IDs) are returned stripped but otherwise unchanged.
    """
    stripped = number.strip()
    text = _SEPARATORS.sub("", stripped)
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    else:
        digits = text
    if digits.isdigit():
        return f"+{digits}"
    return stripped


def same_number(a: str, b: str) -> bool:
    """True when two strings denote the same phone number."""
    return normalize_number(a) == normalize_number(b)
