"""Decoding of Sinch SMS callback bodies (delivery reports and inbound messages)."""

from __future__ import annotations

import re
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


_MAX_DEPTH = 64
"""How deeply a callback body may nest arrays and objects (Sinch's nest four levels)."""

# A JSON string (closed or not: an unclosed one runs to the end, so matching never
# backtracks) or a bracket. Brackets inside strings are skipped with their string.
_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def _too_deep(data: bytes) -> bool:
    """Whether ``data`` nests arrays/objects more than :data:`_MAX_DEPTH` levels deep."""
    if data.count(b"[") + data.count(b"{") <= _MAX_DEPTH:
        return False  # the usual case: not even that many brackets, no scan needed
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(data):
        token = match[0]
        if token in (b"[", b"{"):
            depth += 1
            if depth > _MAX_DEPTH:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def parse_callback(body: bytes | bytearray | memoryview | str) -> WebhookEvent:
    """Decode the raw body of a Sinch SMS callback into a typed struct.

    Raises :class:`InvalidCallbackError` (a ``ValueError``) when the body is not a JSON
    object, has no ``type``, or a known ``type`` has the wrong shape (a missing required
    field, a field of the wrong type). An unknown ``type`` is not an error: see
    :data:`WebhookEvent`.

    That is the only exception raised for any input, however hostile: bytes that are not
    UTF-8, a ``str`` with lone surrogates, arrays or objects nested more than 64 levels
    deep (refused before decoding, so the decoder never recurses that far), numbers out of
    range, an empty body.
    """
    if isinstance(body, str):
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidCallbackError("callback body is not valid UTF-8 text") from None
    else:
        data = bytes(body)
    if _too_deep(data):
        raise InvalidCallbackError(
            f"callback body nests arrays or objects more than {_MAX_DEPTH} levels deep"
        )
    try:
        event = _EVENTS.decode(data)
    except msgspec.ValidationError as exc:  # a subclass of DecodeError: catch it first
        raise InvalidCallbackError(f"callback body does not match its type: {exc}") from None
    except msgspec.DecodeError as exc:
        if "UTF-8" in str(exc):  # msgspec 0.23+: "Invalid UTF-8 encoded string"
            raise InvalidCallbackError("callback body is not valid UTF-8") from None
        raise InvalidCallbackError(f"callback body is not valid JSON: {exc}") from None
    except UnicodeDecodeError:  # msgspec before 0.23 raises it for bytes that are not UTF-8
        raise InvalidCallbackError("callback body is not valid UTF-8") from None
    except RecursionError:  # a backstop: _too_deep refuses deep bodies before this
        raise InvalidCallbackError("callback body nests too deeply") from None
    return event
