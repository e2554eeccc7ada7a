"""The Conversation Batch API's send fields: typed once, checked once.

:class:`BatchFields` are the optional keyword fields of a batch (``send``,
``build_send_request`` and every chunk of ``fan_out``); :class:`SendFields` adds the
``correlation_id`` of a single send. :func:`build_send_request` checks them all
before any network I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypedDict

from msgspec import UNSET

from sinch_async import _config
from sinch_async._validate import check_text
from sinch_async.conversation._validate import (
    CORRELATION_METADATA_KEY,
    RecipientLike,
    check_metadata,
    check_send_after,
    check_ttl,
    message_body,
    to_recipients,
    unset_if_none,
)
from sinch_async.conversation.models import Message, SendBatchRequest
from sinch_async.errors import SinchValidationError
from sinch_async.fanout._options import FanOutSettings

__all__ = ["BatchFields", "ConversationFanOutArgs", "SendFields", "build_send_request"]

MAX_CORRELATION_CHARS = 256


class BatchFields(TypedDict, total=False):
    """The optional fields of a Conversation batch (each ``None``: not sent).

    * ``processing_strategy``: e.g. ``"DISPATCH_ONLY"``.
    * ``batch_metadata``: string key/values stored with the batch (and used to find
      or cancel it).
    * ``message_metadata`` / ``conversation_metadata``: passed on with each message.
    * ``send_after``: schedule the batch, at most 7 days ahead (Sinch rounds times more
      than a minute ahead up to the next 5-minute mark).
    * ``channel_priority_order``: channel names, most wanted first.
    * ``ttl``: ``"<n>s"``, seconds or a ``timedelta``.
    * ``channel_properties``: string key/values per channel.
    * ``callback_url``: where Sinch posts this batch's events.
    """

    processing_strategy: str | None
    batch_metadata: Mapping[str, str] | None
    message_metadata: Mapping[str, Any] | None
    conversation_metadata: Mapping[str, Any] | None
    send_after: datetime | None
    channel_priority_order: Sequence[str] | None
    ttl: str | int | timedelta | None
    channel_properties: Mapping[str, str] | None
    callback_url: str | None


class SendFields(BatchFields, total=False):
    """:class:`BatchFields` and ``correlation_id``: stored in ``batch_metadata``, it lets
    an ambiguous failure (timeout, 5xx) be reconciled by a lookup instead of raised."""

    correlation_id: str | None


class ConversationFanOutArgs(FanOutSettings, BatchFields, total=False):
    """The keyword arguments of ``fan_out``: its run options and the batch fields."""


def _present(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def build_send_request(
    app_id: str,
    message: Message | Mapping[str, Any],
    recipient_and_params: Sequence[RecipientLike],
    fields: SendFields,
    method: str = "send",
) -> SendBatchRequest:
    """The checked request body of a send (no network I/O); ``method`` names the caller
    in the ``TypeError`` for an unknown keyword."""
    unknown = sorted(fields.keys() - SendFields.__optional_keys__)
    if unknown:
        raise TypeError(f"{method}() got an unexpected keyword argument {unknown[0]!r}")
    processing_strategy = fields.get("processing_strategy")
    batch_metadata = fields.get("batch_metadata")
    message_metadata = fields.get("message_metadata")
    conversation_metadata = fields.get("conversation_metadata")
    send_after = fields.get("send_after")
    channel_priority_order = fields.get("channel_priority_order")
    ttl = fields.get("ttl")
    channel_properties = fields.get("channel_properties")
    callback_url = fields.get("callback_url")
    correlation_id = fields.get("correlation_id")
    if not _present(app_id):
        raise SinchValidationError("app_id", "must be a non-empty string")
    check_text(app_id, "app_id")
    check_text(callback_url, "callback_url")
    check_text(correlation_id, "correlation_id")
    body = message_body(message)
    recipients = to_recipients(recipient_and_params)
    meta: dict[str, str] | None = None
    if batch_metadata is not None:
        meta = check_metadata(batch_metadata, "batch_metadata", strings=True)
    if correlation_id is not None:
        if not _present(correlation_id) or len(correlation_id) > MAX_CORRELATION_CHARS:
            raise SinchValidationError(
                "correlation_id",
                f"must be a non-empty string of at most {MAX_CORRELATION_CHARS} characters",
                limit=f"1..{MAX_CORRELATION_CHARS} characters",
            )
        meta = {**(meta or {}), CORRELATION_METADATA_KEY: correlation_id}
    if processing_strategy is not None and not _present(processing_strategy):
        raise SinchValidationError(
            "processing_strategy", "must be a non-empty string such as 'DISPATCH_ONLY'"
        )
    check_text(processing_strategy, "processing_strategy")
    order: list[str] | None = None
    if channel_priority_order is not None:
        if isinstance(channel_priority_order, str):
            raise SinchValidationError("channel_priority_order", "must be a list of channel names")
        order = list(channel_priority_order)
        for channel in order:
            if not _present(channel):
                raise SinchValidationError(
                    "channel_priority_order", "channel names must be non-empty strings"
                )
            check_text(channel, "channel_priority_order")
    if callback_url is not None:
        _config.check_url(callback_url, field="callback_url", allow_insecure_http=True)
    return SendBatchRequest(
        app_id=app_id,
        message=body,
        recipient_and_params=recipients,
        processing_strategy=unset_if_none(processing_strategy),
        batch_metadata=unset_if_none(meta),
        message_metadata=(
            UNSET
            if message_metadata is None
            else check_metadata(message_metadata, "message_metadata")
        ),
        conversation_metadata=(
            UNSET
            if conversation_metadata is None
            else check_metadata(conversation_metadata, "conversation_metadata")
        ),
        send_after=UNSET if send_after is None else check_send_after(send_after),
        callback_url=unset_if_none(callback_url),
        channel_priority_order=unset_if_none(order),
        ttl=UNSET if ttl is None else check_ttl(ttl),
        channel_properties=(
            UNSET
            if channel_properties is None
            else check_metadata(channel_properties, "channel_properties", strings=True)
        ),
    )
