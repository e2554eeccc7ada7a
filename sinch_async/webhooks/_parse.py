"""Decoding of Sinch SMS callback bodies (delivery reports and inbound messages)."""

from __future__ import annotations

from typing import Any

import msgspec

from sinch_async._codec import TaggedUnion
from sinch_async.models._base import ResponseStruct, UnknownVariant, build_unknown
from sinch_async.models.delivery_reports import (
    BATCH_REPORT_TYPES,
    RECIPIENT_REPORT_TYPES,
    BatchDeliveryReport,
    BatchDeliveryReportMms,
    BatchDeliveryReportSms,
    RecipientDeliveryReport,
    RecipientDeliveryReportMms,
    RecipientDeliveryReportSms,
    UnknownBatchDeliveryReport,
    UnknownRecipientDeliveryReport,
)
from sinch_async.models.inbounds import (
    INBOUND_TYPES,
    Inbound,
    InboundBinary,
    InboundMedia,
    InboundText,
    UnknownInbound,
)
from sinch_async.webhooks._errors import InvalidCallbackError

__all__ = ["CALLBACK_TYPES", "UnknownCallback", "WebhookEvent", "parse_callback"]


class UnknownCallback(ResponseStruct, UnknownVariant, kw_only=True):
    """A callback whose ``type`` belongs to no family this version knows.

    ``type`` is the JSON ``type`` tag and ``raw`` the whole JSON object.
    """

    type: str | None = None
    raw: dict[str, Any] = msgspec.field(default_factory=dict)


WebhookEvent = BatchDeliveryReport | RecipientDeliveryReport | Inbound | UnknownCallback
"""What :func:`parse_callback` returns (and what receivers pass to ``on_event``).

* ``BatchDeliveryReportSms`` / ``BatchDeliveryReportMms``: ``summary`` and ``full`` reports;
* ``RecipientDeliveryReportSms`` / ``RecipientDeliveryReportMms``: ``per_recipient`` and
  ``per_recipient_final`` reports;
* ``InboundText`` / ``InboundBinary`` / ``InboundMedia``: inbound (MO) messages;
* a new ``type`` decodes to the fallback of its family (``UnknownBatchDeliveryReport`` for
  ``delivery_report_*``, ``UnknownRecipientDeliveryReport`` for
  ``recipient_delivery_report_*``, ``UnknownInbound`` for ``mo_*``) or else to
  :class:`UnknownCallback`. Every fallback is an ``UnknownVariant`` with ``.type`` and ``.raw``.
"""

_KnownEvent = (
    BatchDeliveryReportSms
    | BatchDeliveryReportMms
    | RecipientDeliveryReportSms
    | RecipientDeliveryReportMms
    | InboundText
    | InboundBinary
    | InboundMedia
)

CALLBACK_TYPES: frozenset[str] = BATCH_REPORT_TYPES | RECIPIENT_REPORT_TYPES | INBOUND_TYPES
"""The callback ``type`` values decoded to a specific struct."""


def _fallback(raw: dict[str, Any]) -> WebhookEvent:
    tag = raw.get("type")
    if not isinstance(tag, str) or not tag:
        raise InvalidCallbackError("callback body has no 'type' field (or it is not a string)")
    if tag.startswith("recipient_delivery_report_"):
        return build_unknown(
            UnknownRecipientDeliveryReport, raw, batch_id="", recipient="", code=-1, status=""
        )
    if tag.startswith("delivery_report_"):
        return build_unknown(UnknownBatchDeliveryReport, raw, batch_id="")
    if tag.startswith("mo_"):
        return build_unknown(UnknownInbound, raw, id="")
    return build_unknown(UnknownCallback, raw)


_EVENTS = TaggedUnion[WebhookEvent](_KnownEvent, CALLBACK_TYPES, _fallback)


def parse_callback(body: bytes | bytearray | memoryview | str) -> WebhookEvent:
    """Decode the raw body of a Sinch SMS callback into a typed struct.

    Raises :class:`InvalidCallbackError` (a ``ValueError``) when the body is not a JSON
    object, has no ``type``, or a known ``type`` has the wrong shape (a missing required
    field, a field of the wrong type). An unknown ``type`` is not an error: see
    :data:`WebhookEvent`.
    """
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    try:
        event = _EVENTS.decode(data)
    except msgspec.ValidationError as exc:  # a subclass of DecodeError: catch it first
        raise InvalidCallbackError(f"callback body does not match its type: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidCallbackError(f"callback body is not valid JSON: {exc}") from None
    return event
