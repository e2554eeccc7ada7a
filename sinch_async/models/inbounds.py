"""Inbound (MO) messages (``/inbounds`` and inbound callbacks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import msgspec
from msgspec import field

from sinch_async.models._base import ResponseStruct, TaggedStruct, UnknownVariant

__all__ = [
    "INBOUND_TYPES",
    "Inbound",
    "InboundBinary",
    "InboundMedia",
    "InboundMediaBody",
    "InboundMediaItem",
    "InboundText",
    "UnknownInbound",
]


class _InboundFields(TaggedStruct, kw_only=True):
    _timestamp_fields: ClassVar[tuple[str, ...]] = ("received_at", "sent_at")

    id: str
    from_: str | None = field(default=None, name="from")
    to: str | None = None
    received_at: datetime | None = None
    sent_at: datetime | None = None
    operator_id: str | None = None
    client_reference: str | None = None


class InboundText(_InboundFields, tag_field="type", tag="mo_text", kw_only=True):
    """An inbound (MO) text message (``type: mo_text``)."""

    body: str | None = None


class InboundBinary(_InboundFields, tag_field="type", tag="mo_binary", kw_only=True):
    """An inbound (MO) binary message (``type: mo_binary``)."""

    body: str | None = None
    """Base64."""
    udh: str | None = None
    """Hex."""


class InboundMediaItem(ResponseStruct, kw_only=True):
    content_type: str | None = None
    status: str | None = None
    """``"Uploaded"`` or ``"Failed"``."""
    code: int | None = None
    url: str | None = None


class InboundMediaBody(ResponseStruct, kw_only=True):
    subject: str | None = None
    message: str | None = None
    media: list[InboundMediaItem] = field(default_factory=list)


class InboundMedia(_InboundFields, tag_field="type", tag="mo_media", kw_only=True):
    """An inbound (MO) MMS with media (``type: mo_media``)."""

    body: InboundMediaBody | None = None


class UnknownInbound(_InboundFields, UnknownVariant, kw_only=True):
    """An inbound message of an unknown ``type`` (``raw`` keeps the JSON)."""

    type: str | None = None
    raw: dict[str, Any] = msgspec.field(default_factory=dict)
    decode_error: str | None = None

    body: Any = None


Inbound = InboundText | InboundBinary | InboundMedia | UnknownInbound
KnownInbound = InboundText | InboundBinary | InboundMedia
INBOUND_TYPES = frozenset({"mo_text", "mo_binary", "mo_media"})
