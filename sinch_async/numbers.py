"""Phone numbers: the one rule every entry point applies, and helpers to compare numbers.

**The rule.** A phone number is written in international (E.164) format: the country
code and the subscriber number, 7 to 15 digits in all, the country code not starting
with ``0``; with or without a leading ``+`` or ``00``; spaces, dashes, dots and
brackets anywhere are ignored (``"+46 70-000 00 01"``, ``"0046700000001"`` and
``"(+1) 201.777.7777"`` are numbers). Refused, each with its reason: a national number
(a single leading ``0``: the country code is missing), letters, digits other than ASCII
``0-9`` (fullwidth or Arabic-Indic digits look the same but are different characters),
fewer than 7 or more than 15 digits. ``sms.batches.send`` / ``dry_run`` / ``update`` /
``replace`` (``to`` also takes group IDs, see :func:`is_group_id`), ``sms.groups``
members, the fan-outs (whose invalid recipients go to the report), the command line and
:func:`normalize_number` all apply this rule, through :func:`normalize_e164`.

Sinch returns numbers in responses *without* the ``+`` (``+12017777777`` comes back as
``12017777777``). Compare numbers through :func:`normalize_number` / :func:`same_number`.
"""

from __future__ import annotations

import re
import sys

from sinch_async._redact import mask_number
from sinch_async.errors import SinchValidationError

__all__ = ["normalize_number", "same_number"]

MIN_DIGITS = 7
MAX_DIGITS = 15
NUMBER_LIMIT = "E.164: 7..15 digits, country code first, with or without + or 00"
RECIPIENT_LIMIT = f"a phone number ({NUMBER_LIMIT}) or a group ID"

# The reasons (no number in them: the fan-out reports count invalid rows per reason).
NATIONAL = "national format (starts with 0): give the country code"
COUNTRY_CODE_ZERO = "country code cannot start with 0"
TOO_SHORT = f"too short for an international number ({MIN_DIGITS} to {MAX_DIGITS} digits)"
TOO_LONG = f"too long: E.164 numbers have at most {MAX_DIGITS} digits"
EMPTY = "empty"
LOOK_ALIKE = (
    "not a phone number: digits other than 0-9 (fullwidth, Arabic-Indic, ...); write it with 0-9"
)
LETTERS = "not a phone number: it has letters"
NO_DIGITS = "not a phone number: no digits"
OTHER = "not a phone number (only digits 0-9, a leading + or 00, spaces, dashes, dots, brackets)"
_NOT_A_NUMBER = (LETTERS, NO_DIGITS, OTHER)

_SEPARATORS = " \t\n\r\f\v().-"
_DROP_SEPARATORS = str.maketrans("", "", _SEPARATORS)


def _plain_patterns(possessive: bool) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """One number without separators or ``00`` (the usual form), and a list of them.

    Possessive quantifiers (Python 3.11+) keep the list pattern from backtracking; the
    patterns match the same strings either way.
    """
    p = "+" if possessive else ""
    one = rf"\+?[1-9][0-9]{{{MIN_DIGITS - 1},{MAX_DIGITS - 1}}}{p}"
    return re.compile(one), re.compile(rf"(?:{one}\x00)*{p}{one}")


PLAIN_NUMBER, PLAIN_NUMBER_LIST = _plain_patterns(sys.version_info >= (3, 11))
"""``fullmatch``: a valid number written as ``+`` and digits or digits alone; and such
numbers joined by NUL characters, so that one regex pass checks a whole list (a NUL
inside an item would split it in two: count them)."""
GROUP_ID = re.compile(r"(?=[0-9]*[A-Za-z])[0-9A-Za-z]{26}")
"""``fullmatch``: a group ID, 26 ASCII letters and digits with at least one letter."""


def is_group_id(value: str) -> bool:
    """True for a string shaped like a Sinch group ID (usable in a batch's ``to``).

    Sinch group IDs are 26 characters long, ULID-like (``01FC66621XXXXX119Z8PMV1QPU``);
    taken here as 26 ASCII letters and digits, at least one of them a letter. No phone
    number has 26 digits, so a number is never taken for a group ID.
    """
    return GROUP_ID.fullmatch(value) is not None


def normalize_e164(raw: object) -> tuple[str | None, str | None]:
    """``("+<digits>", None)`` for a valid number, ``(None, reason)`` otherwise.

    The rule of this module; the reason never contains the number.
    """
    if type(raw) is str and PLAIN_NUMBER.fullmatch(raw) is not None:
        return (raw if raw[0] == "+" else "+" + raw), None
    if not isinstance(raw, str):
        return None, f"not a string ({type(raw).__name__})"
    text = raw.translate(_DROP_SEPARATORS)
    if not text:
        return None, EMPTY
    prefixed = True
    if text[0] == "+":
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    else:
        digits, prefixed = text, False
    if not (digits.isascii() and digits.isdigit()):
        return None, _not_digits(text)
    if digits[0] == "0":
        return None, COUNTRY_CODE_ZERO if prefixed else NATIONAL
    if len(digits) < MIN_DIGITS:
        return None, TOO_SHORT
    if len(digits) > MAX_DIGITS:
        return None, TOO_LONG
    return "+" + digits, None


def _not_digits(text: str) -> str:
    if any(c.isdigit() and not c.isascii() for c in text):
        return LOOK_ALIKE
    if any(c.isalpha() for c in text):
        return LETTERS
    if not any(c.isdigit() for c in text):
        return NO_DIGITS
    return OTHER


def recipient_problem(value: str) -> str | None:
    """Why ``value`` cannot be in a batch's ``to`` (``None``: a phone number or a group ID)."""
    if GROUP_ID.fullmatch(value) is not None:
        return None
    reason = normalize_e164(value)[1]
    if reason in _NOT_A_NUMBER:
        return f"{reason}; nor a group ID (26 letters and digits)"
    return reason


def masked(value: str) -> str:
    """``value`` masked for an error message (quoted; a long value shortened)."""
    text = mask_number(value.strip())
    if len(text) > 24:
        text = f"{text[:3]}********...{text[-4:]}"
    return repr(text)


def number_error(
    field: str, value: str, reason: str, *, limit: str = NUMBER_LIMIT
) -> SinchValidationError:
    """The error for an invalid number: the field (with its position), the masked
    number and the reason."""
    return SinchValidationError(field, f"{masked(value)} is not valid: {reason}", limit=limit)


def _written_as_number(text: str) -> bool:
    """A leading ``+``, or digits (of any script) and no letters."""
    if text.startswith(("+", "\uff0b")):
        return True
    return any(c.isdigit() for c in text) and not any(c.isalpha() for c in text)


def normalize_number(number: str) -> str:
    """The canonical ``+<digits>`` form of a phone number, for comparison.

    ``"0046 70-000 00 01"``, ``"+46700000001"`` and ``"46700000001"`` all become
    ``"+46700000001"``. A string written as a phone number (a leading ``+``, or digits
    and no letters) that breaks the rule of this module raises
    :class:`~sinch_async.errors.SinchValidationError` naming the masked number and the
    reason: a national number (``"0701234567"``: give the country code), digits other
    than ``0-9``, fewer than 7 or more than 15 digits (so numeric short codes such as
    ``"12345"`` raise too: compare those as strings). Strings with letters that are
    not phone numbers (alphanumeric sender IDs, group IDs) are returned stripped but
    otherwise unchanged.
    """
    if not isinstance(number, str):
        raise SinchValidationError("number", f"must be a string, got {type(number).__name__}")
    text = number.strip()
    e164, reason = normalize_e164(text)
    if e164 is not None:
        return e164
    if _written_as_number(text):
        raise number_error("number", text, reason or EMPTY)
    return text


def same_number(a: str, b: str) -> bool:
    """True when two strings denote the same phone number.

    Both go through :func:`normalize_number` (and so raise for a string written as a
    phone number that breaks the rule).
    """
    return normalize_number(a) == normalize_number(b)
