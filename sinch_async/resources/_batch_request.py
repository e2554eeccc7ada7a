"""The request bodies of ``sms.batches``: built from keyword fields or taken as given, checked.

The keyword fields are the request structs' own fields (:data:`SEND_FIELDS`), typed
once for callers by :class:`~sinch_async.models.batches.SendFields`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, cast

import msgspec
from msgspec import UNSET

from sinch_async._validate import (
    MAX_BODY_CHARS,
    MAX_RECIPIENTS,
    MAX_UPDATE_RECIPIENTS,
    PER_BATCH_HINT,
    check_recipients,
    check_send_request,
    check_text,
    check_update_request,
)
from sinch_async.errors import SinchValidationError
from sinch_async.models.batches import (
    BinaryRequest,
    MediaBody,
    MediaRequest,
    SendRequest,
    TextRequest,
    UpdateBatchRequest,
)
from sinch_async.resources._common import opt, utc

__all__ = [
    "FAN_OUT_FIELDS",
    "SEND_FIELDS",
    "dry_run_params",
    "send_request",
    "update_request",
]

_TIMESTAMPS = ("send_at", "expire_at")


def _field_names(struct: type[msgspec.Struct]) -> dict[str, None]:
    """The struct's field names but ``to`` and ``body`` (the positional arguments), in order."""
    return {f.name: None for f in msgspec.structs.fields(struct) if f.name not in ("to", "body")}


SEND_FIELDS: tuple[str, ...] = tuple(
    _field_names(TextRequest) | _field_names(BinaryRequest) | _field_names(MediaRequest)
)
"""The keyword fields of send, dry_run, replace and update (``from_``, ``udh``, ...)."""

FAN_OUT_FIELDS: frozenset[str] = frozenset(_field_names(TextRequest)) - {
    "from_",  # fan_out's own argument
    "parameters",  # per chunk, from the recipients' values and default_parameters
    "client_reference",  # per chunk, from the campaign
}
"""The text-batch fields ``fan_out`` passes on to every chunk as they are."""

_SEND_FIELD_NAMES = frozenset(SEND_FIELDS)


def _check_names(fields: Mapping[str, object], method: str) -> None:
    unknown = fields.keys() - _SEND_FIELD_NAMES
    if unknown:
        raise TypeError(f"{method}() got an unexpected keyword argument {min(unknown)!r}")


def _given(fields: Mapping[str, object]) -> dict[str, Any]:
    """The fields given (not ``None``), with ``send_at`` / ``expire_at`` in UTC."""
    values: dict[str, Any] = {name: value for name, value in fields.items() if value is not None}
    for name in _TIMESTAMPS:
        if name in values:
            values[name] = utc(values[name], name)
    return values


def send_request(
    to: object, body: object, type: str, fields: Mapping[str, object], method: str = "send"
) -> SendRequest:
    """The checked request (timestamps in UTC) of send, dry_run or replace (``method``).

    ``to`` is either the recipients, with ``body``, ``type`` and the keyword ``fields``,
    or a ready request struct (then nothing else may be given).
    """
    if fields:
        _check_names(fields, method)
    if isinstance(to, msgspec.Struct):  # (one check: check_send_request names the three types)
        return _ready_request(cast("SendRequest", to), body, type, fields)
    recipients = check_recipients(to, hint=PER_BATCH_HINT)
    if body is None:
        raise SinchValidationError("body", "is required")
    if not fields and type == "mt_text" and isinstance(body, str) and len(body) <= MAX_BODY_CHARS:
        check_text(body, "body", message=True)
        return TextRequest(to=recipients, body=body)  # the common case: nothing else to check
    request = _build(recipients, body, type, _given(fields))
    check_send_request(request, recipients_checked=True)
    return request


def _ready_request(
    request: SendRequest, body: object, type: str, fields: Mapping[str, object]
) -> SendRequest:
    given = [name for name, value in fields.items() if value is not None]
    if type != "mt_text":
        given.insert(0, "type")
    if body is not None:
        given.insert(0, "body")
    if given:
        raise SinchValidationError(
            given[0], "give either a request struct or keyword fields, not both"
        )
    check_send_request(request)
    return _in_utc(request)


def _build(recipients: list[str], body: object, type: str, values: dict[str, Any]) -> SendRequest:
    udh = values.pop("udh", UNSET)
    strict_validation = values.pop("strict_validation", UNSET)
    if udh is not UNSET and type != "mt_binary":
        raise SinchValidationError("udh", "is only for type='mt_binary'")
    if strict_validation is not UNSET and type != "mt_media":
        raise SinchValidationError("strict_validation", "is only for type='mt_media'")
    if type == "mt_text":
        if not isinstance(body, str):
            raise SinchValidationError("body", "must be a string for mt_text")
        return TextRequest(to=recipients, body=body, **values)
    if type == "mt_binary":
        if not isinstance(body, str):
            raise SinchValidationError("body", "must be a Base64 string for mt_binary")
        if udh is UNSET:
            raise SinchValidationError(
                "udh", "an mt_binary batch needs udh (the user data header, hex encoded)"
            )
        return BinaryRequest(to=recipients, body=body, udh=udh, **values)
    if type == "mt_media":
        if isinstance(body, dict):
            body = MediaBody(**body)
        if not isinstance(body, MediaBody):
            raise SinchValidationError("body", "must be a MediaBody(url=...) for mt_media")
        return MediaRequest(to=recipients, body=body, strict_validation=strict_validation, **values)
    raise SinchValidationError(
        "type", f"unknown batch type {type!r}; valid: mt_text, mt_binary, mt_media"
    )


def _in_utc(request: SendRequest) -> SendRequest:
    """The request with ``send_at`` / ``expire_at`` in UTC (naive values taken as UTC)."""
    changes: dict[str, Any] = {}
    for name in _TIMESTAMPS:
        value = getattr(request, name)
        if isinstance(value, datetime) and value.tzinfo is not timezone.utc:
            changes[name] = utc(value, name)
    return msgspec.structs.replace(request, **changes) if changes else request


def dry_run_params(
    per_recipient: bool | None, number_of_recipients: int | None
) -> list[tuple[str, str]] | None:
    """The query of ``POST /batches/dry_run`` (``None`` when empty)."""
    params: list[tuple[str, str]] = []
    if per_recipient is not None:
        params.append(("per_recipient", "true" if per_recipient else "false"))
    if number_of_recipients is not None:
        if (
            isinstance(number_of_recipients, bool)
            or not isinstance(number_of_recipients, int)
            or not 1 <= number_of_recipients <= MAX_RECIPIENTS
        ):
            raise SinchValidationError(
                "number_of_recipients", "must be an integer in 1..1000", limit="1..1000"
            )
        params.append(("number_of_recipients", str(number_of_recipients)))
    return params or None


def update_request(
    request: UpdateBatchRequest | None,
    type: str | None,
    to_add: object,
    to_remove: object,
    body: str | MediaBody | None,
    fields: Mapping[str, object],
) -> UpdateBatchRequest:
    """The checked partial update: ``request`` as given, or built from the keyword fields
    (``type`` then implied by ``udh`` or ``body`` when not given)."""
    _check_names(fields, "update")
    if request is None:
        if type is None:
            if fields.get("udh") is not None:
                type = "mt_binary"
            elif isinstance(body, MediaBody):
                type = "mt_media"
            elif body is not None:
                type = "mt_text"
        request = UpdateBatchRequest(
            type=opt(type),
            to_add=UNSET
            if to_add is None
            else check_recipients(to_add, "to_add", maximum=MAX_UPDATE_RECIPIENTS),
            to_remove=UNSET
            if to_remove is None
            else check_recipients(to_remove, "to_remove", maximum=MAX_UPDATE_RECIPIENTS),
            body=opt(body),
            **_given(fields),
        )
    elif not isinstance(request, UpdateBatchRequest):
        raise SinchValidationError("request", "must be an UpdateBatchRequest")
    check_update_request(request)
    return request
