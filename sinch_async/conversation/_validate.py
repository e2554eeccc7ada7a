"""Checks made before any network I/O, and the conversion of recipient inputs.

Each failure raises :class:`SinchValidationError` naming the field and the limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final, cast

import msgspec
from msgspec import UNSET, UnsetType

from sinch_async._validate import check_id, check_text
from sinch_async.conversation.models import (
    MESSAGE_TYPES,
    ChannelIdentities,
    ChannelIdentity,
    Recipient,
    RecipientAndParams,
)
from sinch_async.errors import SinchValidationError
from sinch_async.numbers import normalize_e164, number_error

__all__ = [
    "CAMPAIGN_METADATA_KEY",
    "CORRELATION_METADATA_KEY",
    "MAX_RECIPIENTS",
    "MAX_SEND_AFTER",
    "RESERVED_METADATA_KEY",
    "RecipientLike",
    "check_batch_ids",
    "check_metadata",
    "check_send_after",
    "check_ttl",
    "message_body",
    "to_recipient",
]

MAX_RECIPIENTS: Final = 1000
MAX_SEND_AFTER: Final = timedelta(days=7)
RESERVED_METADATA_KEY: Final = "_batch_id"
"""Sinch adds ``_batch_id`` to the metadata of every message of a batch; it is reserved."""
CORRELATION_METADATA_KEY: Final = "sinch_async_correlation_id"
"""``batch_metadata`` key holding a send's ``correlation_id`` (used to reconcile and resume)."""
CAMPAIGN_METADATA_KEY: Final = "sinch_async_campaign"
"""``batch_metadata`` key holding the ``campaign_id`` of every batch of a fan-out."""

_TTL = re.compile(r"[0-9]{1,12}s")

RecipientLike = (
    RecipientAndParams
    | Recipient
    | ChannelIdentity
    | Sequence[ChannelIdentity]
    | str
    | tuple[Any, Mapping[str, Any]]
    | Mapping[str, Any]
)
"""A recipient as ``send`` and ``fan_out`` accept it: a :class:`RecipientAndParams`, a
:class:`Recipient`, a :class:`ChannelIdentity` (or a list of them: one recipient on
several channels), a contact ID (``str``), a
``(recipient, {param: value})`` pair of any of those, or the raw JSON object."""


def _text(value: object, field: str) -> str:
    """A non-empty identifier without control characters or lone surrogates."""
    if not isinstance(value, str) or not value.strip():
        raise SinchValidationError(field, "must be a non-empty string")
    check_text(value, field)
    return value


def message_body(message: object) -> dict[str, Any]:
    """The ``message`` (AppMessage) object of the request: ``{key: typed message}`` or a dict;
    its strings checked for control characters (tab, CR, LF, form feed are text)."""
    if isinstance(message, MESSAGE_TYPES):
        _check_strings(msgspec.to_builtins(message), f"message.{type(message).key}")
        return {type(message).key: message}
    if isinstance(message, Mapping):
        _check_strings(message, "message")
        raw = message
        if not raw or not all(isinstance(k, str) for k in raw):
            raise SinchValidationError(
                "message",
                "a raw message must be a non-empty JSON object such as "
                '{"text_message": {"text": "..."}}',
            )
        return dict(raw)
    names = ", ".join(t.__name__ for t in MESSAGE_TYPES)
    raise SinchValidationError(
        "message", f"must be one of {names} or a dict, got {type(message).__name__}"
    )


def _check_strings(value: object, path: str) -> None:
    """Every string in a JSON-like ``value`` is text (see :func:`check_text`), named by path."""
    if isinstance(value, str):
        check_text(value, path, message=True)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_strings(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_strings(item, f"{path}[{index}]")


def check_metadata(value: object, field: str, *, strings: bool = False) -> dict[str, Any]:
    """A JSON object without the reserved ``_batch_id`` key (values ``str`` if ``strings``)."""
    if not isinstance(value, Mapping):
        raise SinchValidationError(field, f"must be a mapping, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise SinchValidationError(field, "keys must be non-empty strings")
        check_text(key, field)
        if isinstance(item, str):
            check_text(item, f"{field}[{key!r}]")
        if key == RESERVED_METADATA_KEY:
            raise SinchValidationError(
                field,
                f"{RESERVED_METADATA_KEY!r} is reserved: Sinch sets it to the batch ID",
                limit=f"no {RESERVED_METADATA_KEY!r} key",
            )
        if strings and not isinstance(item, str):
            raise SinchValidationError(
                field, f"value of {key!r} must be a string, got {type(item).__name__}"
            )
        out[key] = item
    return out


def check_send_after(value: object, now: datetime | None = None) -> datetime:
    """An aware UTC datetime at most 7 days ahead (naive values are taken as UTC)."""
    if not isinstance(value, datetime):
        raise SinchValidationError("send_after", f"must be a datetime, got {type(value).__name__}")
    when = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    when = when.astimezone(timezone.utc)
    current = datetime.now(timezone.utc) if now is None else now
    if when - current > MAX_SEND_AFTER:
        raise SinchValidationError(
            "send_after",
            f"is {when - current} ahead; batches can be scheduled at most 7 days ahead",
            limit="<= 7 days ahead",
        )
    return when


def check_ttl(value: object) -> str:
    """``"<n>s"`` from a string in that form, a number of seconds or a timedelta."""
    if isinstance(value, bool):
        raise SinchValidationError("ttl", "must be '<n>s', seconds or a timedelta")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        if seconds < 0 or seconds != int(seconds):
            raise SinchValidationError("ttl", "must be a whole, non-negative number of seconds")
        return f"{int(seconds)}s"
    if isinstance(value, int):
        if value < 0:
            raise SinchValidationError("ttl", "must not be negative", limit=">= 0 seconds")
        return f"{value}s"
    if isinstance(value, str) and _TTL.fullmatch(value):
        return value
    raise SinchValidationError(
        "ttl", f"must be a duration in seconds such as '86400s', got {value!r}", limit="'<n>s'"
    )


def check_batch_ids(value: object) -> list[str]:
    """One batch ID or a non-empty sequence of them."""
    items: list[object]
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, Sequence):
        items = list(cast(Sequence[object], value))
    else:
        raise SinchValidationError("batch_id", "must be a batch ID or a list of batch IDs")
    if not items:
        raise SinchValidationError("batch_id", "must hold at least one batch ID", limit=">= 1")
    return [check_id(item, "batch_id") for item in items]


# --- recipients -----------------------------------------------------------------------------


def _check_recipient(recipient: Recipient, field: str) -> Recipient:
    has_contact = not isinstance(recipient.contact_id, UnsetType)
    has_identities = not isinstance(recipient.identified_by, UnsetType)
    if has_contact == has_identities:
        raise SinchValidationError(
            field, "give exactly one of contact_id and identified_by (channel identities)"
        )
    if has_contact:
        _text(recipient.contact_id, f"{field}.contact_id")
        return recipient
    identified = cast(ChannelIdentities, recipient.identified_by)
    if not identified.channel_identities:
        raise SinchValidationError(
            f"{field}.identified_by", "must hold at least one channel identity", limit=">= 1"
        )
    for identity in identified.channel_identities:
        _text(identity.channel, f"{field}.identified_by.channel")
        _text(identity.identity, f"{field}.identified_by.identity")
    return recipient


def _recipient(value: object, field: str) -> Recipient:
    if isinstance(value, Recipient):
        return _check_recipient(value, field)
    if isinstance(value, ChannelIdentity):
        return _check_recipient(Recipient.identities(value), field)
    if isinstance(value, str):
        return Recipient(contact_id=_text(value, field))
    if (
        isinstance(value, Sequence)
        and value
        and all(isinstance(v, ChannelIdentity) for v in cast(Sequence[object], value))
    ):
        identities = cast(Sequence[ChannelIdentity], value)
        return _check_recipient(Recipient.identities(*identities), field)
    raise SinchValidationError(
        field,
        "must be a contact ID, a ChannelIdentity, a Recipient or a RecipientAndParams, "
        f"got {type(value).__name__}",
    )


def _parameters(value: object, field: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise SinchValidationError(field, "must be a mapping of parameter names to values")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise SinchValidationError(field, "parameter names must be non-empty strings")
        if item is None or isinstance(item, (dict, list, tuple)):
            raise SinchValidationError(field, f"value of {key!r} must be a string")
        out[key] = item if isinstance(item, str) else str(item)
    return out


def to_recipient(value: object, field: str = "recipient_and_params") -> RecipientAndParams:
    """A checked :class:`RecipientAndParams` from any :data:`RecipientLike`."""
    if isinstance(value, RecipientAndParams):
        item = value
    elif isinstance(value, tuple):
        pair = cast(tuple[object, ...], value)
        if len(pair) != 2 or not isinstance(pair[1], Mapping):
            raise SinchValidationError(field, "a tuple must be (recipient, {param: value})")
        base = to_recipient(pair[0], field)
        params = dict(base.parameters) if isinstance(base.parameters, dict) else {}
        params.update(_parameters(pair[1], f"{field}.parameters"))
        item = msgspec.structs.replace(base, parameters=params)
    elif isinstance(value, Mapping):
        try:
            item = msgspec.convert(value, RecipientAndParams)
        except msgspec.ValidationError as exc:
            raise SinchValidationError(field, f"not a valid recipient object: {exc}") from None
    else:
        return RecipientAndParams(_recipient(value, field))
    _check_recipient(item.recipient, f"{field}.recipient")
    if not isinstance(item.parameters, UnsetType):
        item = msgspec.structs.replace(
            item, parameters=_parameters(item.parameters, f"{field}.parameters")
        )
    for name in ("message_metadata", "conversation_metadata"):
        meta = getattr(item, name)
        if not isinstance(meta, UnsetType):
            check_metadata(meta, f"{field}.{name}")
    return item


def to_recipients(values: object) -> list[RecipientAndParams]:
    """Checked recipients of one batch: 1..1000 of them."""
    field = "recipient_and_params"
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise SinchValidationError(
            field, f"must be a list of recipients, got {type(values).__name__}"
        )
    items = cast(Sequence[object], values)
    count = len(items)
    if not 1 <= count <= MAX_RECIPIENTS:
        raise SinchValidationError(
            field,
            f"holds {count} recipients; a batch takes 1 to {MAX_RECIPIENTS} (use fan_out for more)",
            limit=f"1..{MAX_RECIPIENTS} items",
        )
    out = [to_recipient(item, f"{field}[{i}]") for i, item in enumerate(items)]
    for i, item in enumerate(out):
        _check_phone_identities(item.recipient, f"{field}[{i}].recipient")
    return out


PHONE_IDENTITY_CHANNELS: Final = frozenset({"SMS", "MMS", "WHATSAPP", "RCS", "VIBERBM"})
"""Channels whose identity is a phone number (the fan-out's ``PHONE_CHANNELS``)."""


def _check_phone_identities(recipient: Recipient, field: str) -> None:
    """Phone identities follow the number rule of :mod:`sinch_async.numbers` (sent as given;
    the fan-out applies the same rule and reports invalid ones instead of raising)."""
    if isinstance(recipient.identified_by, UnsetType):
        return
    for i, identity in enumerate(recipient.identified_by.channel_identities):
        if identity.channel.upper() in PHONE_IDENTITY_CHANNELS:
            reason = normalize_e164(identity.identity)[1]
            if reason is not None:
                raise number_error(
                    f"{field}.identified_by.channel_identities[{i}].identity",
                    identity.identity,
                    f"{identity.channel} identity: {reason}",
                )


def unset_if_none(value: Any) -> Any:
    return UNSET if value is None else value
