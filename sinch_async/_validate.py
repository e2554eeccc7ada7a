"""Checks on request bodies made before any network I/O.

Each failure raises :class:`SinchValidationError` naming the field and the limit.
"""

from __future__ import annotations

import base64
import binascii
import operator
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET

from sinch_async.errors import SinchValidationError
from sinch_async.models.batches import (
    BinaryRequest,
    MediaBody,
    MediaRequest,
    SendRequest,
    TextRequest,
    UpdateBatchRequest,
)
from sinch_async.models.enums import DeliveryReportType
from sinch_async.numbers import (
    GROUP_ID,
    NUMBER_LIMIT,
    PLAIN_NUMBER,
    PLAIN_NUMBER_LIST,
    RECIPIENT_LIMIT,
    normalize_e164,
    number_error,
    recipient_problem,
)

__all__ = [
    "MAX_BODY_CHARS",
    "MAX_RECIPIENTS",
    "PER_BATCH_HINT",
    "check_group_name",
    "check_id",
    "check_phone_numbers",
    "check_recipients",
    "check_send_request",
    "check_text",
    "check_update_request",
]

MAX_RECIPIENTS = 1000
MAX_BODY_CHARS = 2000
MAX_URL_CHARS = 2048
MAX_CLIENT_REFERENCE_CHARS = 2048
MAX_GROUP_NAME_CHARS = 20
MAX_UPDATE_RECIPIENTS = 100
MAX_BINARY_BYTES = 140
PER_BATCH_HINT = " per batch; use sms.batches.fan_out() to send to more recipients"
_DELIVERY_REPORTS = frozenset(item.value for item in DeliveryReportType)


# Characters no string sent in a URL, a header or an identifier may hold: C0 and C1
# control characters, DEL, and lone surrogates (which are not Unicode text at all).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# In message text (a body, a parameter value) tab, line feed, form feed (a GSM-7 character)
# and carriage return are text.
_UNSAFE_IN_MESSAGE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ud800-\udfff]")
_ID_RESERVED = frozenset("/?#")


def check_text(value: object, field: str, *, message: bool = False) -> None:
    """Refuse a string holding a control character or a lone surrogate, naming ``field``.

    ``message`` text (a body, a parameter value) may hold tab, CR, LF and form feed.
    """
    if not isinstance(value, str) or value.isprintable():
        return  # (no control character or surrogate is printable: the usual case, in C)
    found = (_UNSAFE_IN_MESSAGE if message else _UNSAFE).search(value)
    if found is None:
        return
    char = found.group()
    what = "a lone surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    allowed = "tab, CR, LF and form feed allowed" if message else "no control characters"
    raise SinchValidationError(
        field,
        f"holds {what} (U+{ord(char):04X}) at position {found.start()}",
        limit=f"Unicode text, {allowed}",
    )


def check_id(value: object, field: str) -> str:
    """An ID for a URL path: a non-empty string, not ``.`` or ``..``, without ``/``, ``?``,
    ``#``, control characters or lone surrogates."""
    if not isinstance(value, str) or not value.strip():
        raise SinchValidationError(field, "must be a non-empty string")
    if value in (".", "..") or not _ID_RESERVED.isdisjoint(value):
        raise SinchValidationError(
            field, f"{value[:40]!r} is not an ID", limit="no '/', '?', '#'; not '.' or '..'"
        )
    check_text(value, field)
    return value


class _Recipients(msgspec.Struct):
    # Converting into a struct field is cheaper per call than into a bare list type.
    to: list[Annotated[str, msgspec.Meta(min_length=1)]]


_plain_number = PLAIN_NUMBER.fullmatch
_plain_numbers = PLAIN_NUMBER_LIST.fullmatch
_group_id = GROUP_ID.fullmatch


def check_recipients(
    to: object, field: str = "to", *, maximum: int = MAX_RECIPIENTS, hint: str = ""
) -> list[str]:
    """A non-empty list of at most ``maximum`` phone numbers or group IDs.

    The numbers follow the rule of :mod:`sinch_async.numbers` (an invalid one raises,
    naming its position, the masked number and the reason); they are returned as given.
    """
    if type(to) is list and len(to) == 1:
        number = to[0]
        if type(number) is str and (
            _plain_number(number) is not None or _group_id(number) is not None
        ):
            return [number]  # one recipient (an OTP, a notification): no conversion pass
    if isinstance(to, str):
        to = [to]
    elif type(to) is not list and not isinstance(to, Sequence):  # (the ABC check is slow)
        raise SinchValidationError(
            field, f"must be a list of phone numbers or group IDs, got {type(to).__name__}"
        )
    count = len(to)
    if count == 0:
        raise SinchValidationError(field, "must hold at least one recipient", limit=f"1..{maximum}")
    if count > maximum:
        raise SinchValidationError(
            field, f"holds {count} recipients; the limit is {maximum}{hint}", limit=f"1..{maximum}"
        )
    return _checked_items(to, field, groups=True)


def check_phone_numbers(values: object, field: str) -> list[str]:
    """A list (possibly empty) of phone numbers (no group IDs), as given."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        got = "not a string" if isinstance(values, str) else f"got {type(values).__name__}"
        raise SinchValidationError(field, f"must be a list of phone numbers, {got}")
    return _checked_items(values, field, groups=False)


def _checked_items(items: Sequence[object], field: str, *, groups: bool) -> list[str]:
    """``items`` as a new list of plain ``str``, each a valid phone number (or, with
    ``groups``, a group ID); the first invalid item raises."""
    try:
        # One pass in C: every item a non-empty string; copies into a new list (str
        # subclasses stay as they are: the encoder's hook writes them as strings).
        checked: list[str] | None = msgspec.convert({"to": items}, _Recipients).to
    except msgspec.ValidationError:
        checked = None  # a non-string or empty item: found below, for a precise message
    if checked is not None:
        # One regex pass over the whole list for the usual form (+ and digits); a NUL
        # inside an item would split it in two, hence the count.
        joined = "\x00".join(checked)
        if not checked or (
            _plain_numbers(joined) is not None and joined.count("\x00") == len(checked) - 1
        ):
            return checked
    what = "a phone number or group ID" if groups else "a phone number"
    limit = RECIPIENT_LIMIT if groups else NUMBER_LIMIT
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise SinchValidationError(f"{field}[{index}]", f"must be a non-empty string ({what})")
        reason = recipient_problem(item) if groups else normalize_e164(item)[1]
        if reason is not None:
            raise number_error(f"{field}[{index}]", item, reason, limit=limit)
    return checked if checked is not None else [str(item) for item in items]


def _check_len(value: Any, field: str, maximum: int) -> None:
    if value is not UNSET and value is not None and len(value) > maximum:
        raise SinchValidationError(
            field, f"is {len(value)} characters long; the limit is {maximum}", limit=f"<= {maximum}"
        )


def _check_range(value: Any, field: str, low: int, high: int | None) -> None:
    if value is UNSET or value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise SinchValidationError(field, "must be an integer")
    if value < low or (high is not None and value > high):
        limit = f"{low}..{high}" if high is not None else f">= {low}"
        raise SinchValidationError(field, f"is {value}; must be {limit}", limit=limit)


def _check_parameters(parameters: Any) -> None:
    if parameters is UNSET or parameters is None:
        return
    if not isinstance(parameters, Mapping):
        raise SinchValidationError("parameters", "must be a dict of {name: {number: value}}")
    for key, values in parameters.items():
        if not isinstance(key, str) or not key:
            raise SinchValidationError("parameters", "parameter names must be non-empty strings")
        if not isinstance(values, Mapping):
            raise SinchValidationError(
                f"parameters[{key!r}]", "must be a dict of {number or 'default': value}"
            )
        for number, value in values.items():
            if not isinstance(number, str) or not isinstance(value, str):
                raise SinchValidationError(
                    f"parameters[{key!r}]", "numbers and values must be strings"
                )
            check_text(number, f"parameters[{key!r}]")
            check_text(value, f"parameters[{key!r}]", message=True)
        check_text(key, "parameters")


_OPTIONAL_CHECKED = (
    "delivery_report",
    "callback_url",
    "client_reference",
    "from_ton",
    "from_npi",
    "max_number_of_message_parts",
    "send_at",
    "expire_at",
    "parameters",
)
_optional_checked = operator.attrgetter(*_OPTIONAL_CHECKED)
_ALL_UNSET = (UNSET,) * len(_OPTIONAL_CHECKED)


def _check_common(request: SendRequest | UpdateBatchRequest) -> None:
    # Most sends set none of these: one C-level comparison decides whether to look closer.
    if _optional_checked(request) == _ALL_UNSET:
        return
    report = request.delivery_report
    if report is not UNSET and report not in _DELIVERY_REPORTS:
        raise SinchValidationError(
            "delivery_report",
            f"unknown value {report!r}; valid values: {', '.join(sorted(_DELIVERY_REPORTS))}",
            limit=" | ".join(sorted(_DELIVERY_REPORTS)),
        )
    _check_len(request.callback_url, "callback_url", MAX_URL_CHARS)
    _check_len(request.client_reference, "client_reference", MAX_CLIENT_REFERENCE_CHARS)
    check_text(request.callback_url, "callback_url")
    check_text(request.client_reference, "client_reference")
    _check_range(request.from_ton, "from_ton", 0, 6)
    _check_range(request.from_npi, "from_npi", 0, 18)
    _check_range(request.max_number_of_message_parts, "max_number_of_message_parts", 1, None)
    send_at, expire_at = request.send_at, request.expire_at
    for name, value in (("send_at", send_at), ("expire_at", expire_at)):
        if value is not UNSET and not isinstance(value, datetime):
            raise SinchValidationError(name, "must be a datetime")
    if (
        isinstance(send_at, datetime)
        and isinstance(expire_at, datetime)
        and send_at.tzinfo is not None
        and expire_at.tzinfo is not None
        and expire_at <= send_at
    ):
        raise SinchValidationError("expire_at", "must be after send_at")
    _check_parameters(request.parameters)


def _check_binary(body: Any, udh: Any) -> None:
    if udh is UNSET or udh is None or not isinstance(udh, str) or not udh:
        raise SinchValidationError(
            "udh", "an mt_binary batch needs udh (the user data header, hex encoded)"
        )
    if not isinstance(body, str):
        raise SinchValidationError("body", "must be a Base64 string for mt_binary")
    try:
        payload = base64.b64decode(body, validate=True)
        header = bytes.fromhex(udh)
    except (binascii.Error, ValueError):
        raise SinchValidationError(
            "body", "mt_binary needs body as Base64 and udh as hex"
        ) from None
    if len(payload) + len(header) > MAX_BINARY_BYTES:
        raise SinchValidationError(
            "body",
            f"body and udh together are {len(payload) + len(header)} bytes; the limit is "
            f"{MAX_BINARY_BYTES}",
            limit=f"<= {MAX_BINARY_BYTES} bytes",
        )


def check_send_request(request: SendRequest, *, recipients_checked: bool = False) -> None:
    """Validate a batch for ``send``, ``dry_run`` and ``replace``.

    ``recipients_checked`` skips the recipient list (already checked while building it).
    """
    if not isinstance(request, (TextRequest, BinaryRequest, MediaRequest)):
        raise SinchValidationError(
            "request", "must be a TextRequest, BinaryRequest or MediaRequest"
        )
    if not recipients_checked:
        check_recipients(request.to, hint=PER_BATCH_HINT)
    _check_common(request)
    check_text(request.from_, "from")
    if isinstance(request, TextRequest):
        if not isinstance(request.body, str):
            raise SinchValidationError("body", "must be a string for mt_text")
        _check_len(request.body, "body", MAX_BODY_CHARS)
        check_text(request.body, "body", message=True)
    elif isinstance(request, BinaryRequest):
        _check_binary(request.body, request.udh)
        if request.parameters is not UNSET:
            raise SinchValidationError("parameters", "are not supported for mt_binary batches")
    else:
        if not isinstance(request.body, MediaBody) or not request.body.url:
            raise SinchValidationError("body", "an mt_media batch needs a MediaBody with a url")
        _check_len(request.body.message, "body.message", MAX_BODY_CHARS)
        check_text(request.body.message, "body.message", message=True)
        check_text(request.body.url, "body.url")


def check_update_request(request: UpdateBatchRequest) -> None:
    """Validate a partial batch update."""
    for name in ("to_add", "to_remove"):
        value = getattr(request, name)
        if value is not UNSET:
            check_recipients(value, name, maximum=MAX_UPDATE_RECIPIENTS)
    _check_common(request)
    body = request.body
    if request.type == "mt_binary" or request.udh is not UNSET:
        if body is not UNSET or request.udh is not UNSET:
            _check_binary(body if body is not UNSET else "", request.udh)
    elif isinstance(body, str):
        _check_len(body, "body", MAX_BODY_CHARS)
        check_text(body, "body", message=True)
    check_text(request.from_, "from")


def check_group_name(name: Any, field: str = "name") -> None:
    if name is UNSET or name is None:
        return
    if not isinstance(name, str) or not name:
        raise SinchValidationError(field, "must be a non-empty string", limit="1..20 characters")
    _check_len(name, field, MAX_GROUP_NAME_CHARS)
    check_text(name, field)
