"""Batch requests and responses (``/batches``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, TypedDict

import msgspec
from msgspec import UNSET, UnsetType, field

from sinch_async.models._base import RequestStruct, ResponseStruct, TaggedStruct, UnknownVariant

__all__ = [
    "BATCH_TYPES",
    "Batch",
    "BinaryBatch",
    "BinaryRequest",
    "DeliveryFeedbackRequest",
    "DryRunRecipient",
    "DryRunResult",
    "FanOutFields",
    "MediaBatch",
    "MediaBody",
    "MediaRequest",
    "Parameters",
    "SendFields",
    "SendRequest",
    "TextBatch",
    "TextRequest",
    "UnknownBatch",
    "UpdateBatchRequest",
]

Parameters = dict[str, dict[str, str]]
"""``{"name": {"+46700000001": "Ann", "default": "there"}}``: per-recipient values
for ``${name}`` placeholders, with an optional ``default``."""


class MediaBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The body of an ``mt_media`` (MMS) batch."""

    url: str
    message: str | UnsetType | None = UNSET
    subject: str | UnsetType | None = UNSET


# --- requests -----------------------------------------------------------------------------


class _BatchOptions(RequestStruct, kw_only=True):
    """The optional fields of a batch, shared by the send and the update requests."""

    from_: str | UnsetType = field(default=UNSET, name="from")
    parameters: Parameters | UnsetType = UNSET
    delivery_report: str | UnsetType = UNSET
    send_at: datetime | UnsetType = UNSET
    expire_at: datetime | UnsetType = UNSET
    callback_url: str | UnsetType = UNSET
    client_reference: str | UnsetType = UNSET
    feedback_enabled: bool | UnsetType = UNSET
    flash_message: bool | UnsetType = UNSET
    truncate_concat: bool | UnsetType = UNSET
    max_number_of_message_parts: int | UnsetType = UNSET
    from_ton: int | UnsetType = UNSET
    from_npi: int | UnsetType = UNSET


class _SendRequestBase(_BatchOptions, tag_field="type", kw_only=True):
    to: list[str]


class TextRequest(_SendRequestBase, tag="mt_text", kw_only=True):
    """A text SMS batch: ``body`` may hold ``${parameter}`` placeholders."""

    body: str


class BinaryRequest(_SendRequestBase, tag="mt_binary", kw_only=True):
    """A binary SMS batch: ``body`` is Base64, ``udh`` the hex user data header."""

    body: str
    udh: str


class MediaRequest(_SendRequestBase, tag="mt_media", kw_only=True):
    """An MMS batch (US only): ``body`` is a :class:`MediaBody`."""

    body: MediaBody
    strict_validation: bool | UnsetType = UNSET


SendRequest = TextRequest | BinaryRequest | MediaRequest
"""The body of ``POST /batches``, ``POST /batches/dry_run`` and ``PUT /batches/{id}``."""


class UpdateBatchRequest(_BatchOptions, kw_only=True):
    """The body of ``POST /batches/{id}`` (partial update): only set fields change."""

    type: str | UnsetType = UNSET
    to_add: list[str] | UnsetType = UNSET
    to_remove: list[str] | UnsetType = UNSET
    body: str | MediaBody | UnsetType = UNSET
    udh: str | UnsetType = UNSET
    strict_validation: bool | UnsetType = UNSET


class FanOutFields(TypedDict, total=False):
    """The batch fields ``fan_out`` passes on to every chunk (``None`` means not given)."""

    delivery_report: str | None
    send_at: datetime | None
    expire_at: datetime | None
    callback_url: str | None
    feedback_enabled: bool | None
    flash_message: bool | None
    truncate_concat: bool | None
    max_number_of_message_parts: int | None
    from_ton: int | None
    from_npi: int | None


class SendFields(FanOutFields, total=False):
    """The optional keyword fields of ``send``, ``dry_run``, ``replace`` and ``update``:
    every request field but ``to`` and ``body`` (``None`` means not given).

    The names follow :class:`TextRequest`, :class:`BinaryRequest` and :class:`MediaRequest`.
    """

    from_: str | None
    udh: str | None
    parameters: Parameters | None
    client_reference: str | None
    strict_validation: bool | None


class DeliveryFeedbackRequest(RequestStruct, kw_only=True):
    """The body of ``POST /batches/{id}/delivery_feedback``."""

    recipients: list[str]


# --- responses ----------------------------------------------------------------------------


class _BatchFields(TaggedStruct, kw_only=True):
    """Fields common to every batch type."""

    _timestamp_fields: ClassVar[tuple[str, ...]] = (
        "created_at",
        "modified_at",
        "send_at",
        "expire_at",
    )

    id: str
    to: list[str] = field(default_factory=list)
    from_: str | None = field(default=None, name="from")
    canceled: bool | None = None
    parameters: Parameters | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    delivery_report: str | None = None
    send_at: datetime | None = None
    expire_at: datetime | None = None
    callback_url: str | None = None
    client_reference: str | None = None
    feedback_enabled: bool | None = None
    flash_message: bool | None = None
    truncate_concat: bool | None = None
    max_number_of_message_parts: int | None = None
    from_ton: int | None = None
    from_npi: int | None = None


class TextBatch(_BatchFields, tag_field="type", tag="mt_text", kw_only=True):
    """A text batch as Sinch returns it."""

    body: str | None = None


class BinaryBatch(_BatchFields, tag_field="type", tag="mt_binary", kw_only=True):
    """A binary batch as Sinch returns it."""

    body: str | None = None
    udh: str | None = None


class MediaBatch(_BatchFields, tag_field="type", tag="mt_media", kw_only=True):
    """An MMS batch as Sinch returns it."""

    body: MediaBody | None = None
    strict_validation: bool | None = None


class UnknownBatch(_BatchFields, UnknownVariant, kw_only=True):
    """A batch of a ``type`` this library does not know (``raw`` keeps the JSON)."""

    type: str | None = None
    raw: dict[str, Any] = msgspec.field(default_factory=dict)
    decode_error: str | None = None

    body: Any = None


Batch = TextBatch | BinaryBatch | MediaBatch | UnknownBatch
"""A batch response: ``TextBatch``, ``BinaryBatch``, ``MediaBatch`` or ``UnknownBatch``."""
KnownBatch = TextBatch | BinaryBatch | MediaBatch

BATCH_TYPES = frozenset({"mt_text", "mt_binary", "mt_media"})


class DryRunRecipient(ResponseStruct, kw_only=True):
    recipient: str
    number_of_parts: int | None = None
    body: str | None = None
    encoding: str | None = None


class DryRunResult(ResponseStruct, kw_only=True):
    """The result of ``POST /batches/dry_run``."""

    number_of_recipients: int = 0
    number_of_messages: int = 0
    per_recipient: list[DryRunRecipient] | None = None
