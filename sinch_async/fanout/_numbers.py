"""Phone numbers as the fan-outs accept them: E.164, with the reason when not."""

from __future__ import annotations

import re

__all__ = ["normalize_e164"]

_SEPARATORS = re.compile(r"[\s\-().]")


def normalize_e164(raw: object) -> tuple[str | None, str | None]:
    """``(e164, None)`` for a valid number, ``(None, reason)`` otherwise.

    Accepts ``+``, ``00`` or no prefix (international format), and ignores
    spaces, dashes, dots and brackets. A number starting with a single ``0`` is
    a national number without a country code and is refused.
    """
    if not isinstance(raw, str):
        return None, f"not a string ({type(raw).__name__})"
    text = _SEPARATORS.sub("", raw)
    if not text:
        return None, "empty"
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    elif text.startswith("0"):
        return None, "national format (starts with 0): give the country code"
    else:
        digits = text
    if not digits.isdigit() or not digits.isascii():
        return None, "not a phone number (only digits, +, spaces, dashes, dots, brackets)"
    if digits.startswith("0"):
        return None, "country code cannot start with 0"
    if len(digits) < 7:
        return None, "too short for an international number (7 to 15 digits)"
    if len(digits) > 15:
        return None, "too long: E.164 numbers have at most 15 digits"
    return "+" + digits, None
