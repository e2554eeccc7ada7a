"""Delivery reports: per batch (summary/full) and per recipient."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import msgspec
from msgspec import field

from sinch_async.models._base import ResponseStruct, TaggedStruct, UnknownVariant

__all__ = [
    "BATCH_REPORT_TYPES",
    "RECIPIENT_REPORT_TYPES",
    "BatchDeliveryReport",
    "BatchDeliveryReportMms",
    "BatchDeliveryReportSms",
    "DeliveryStatusCount",
    "RecipientDeliveryReport",
    "RecipientDeliveryReportMms",
    "RecipientDeliveryReportSms",
    "UnknownBatchDeliveryReport",
    "UnknownRecipientDeliveryReport",
]


class DeliveryStatusCount(ResponseStruct, kw_only=True):
    """One (status, code) bucket of a batch delivery report."""

    code: int
    status: str
    count: int = 0
    recipients: list[str] | None = None
    """Only present in ``full`` reports (numbers usually without ``+``)."""


class _BatchReportFields(TaggedStruct, kw_only=True):
    batch_id: str
    statuses: list[DeliveryStatusCount] = field(default_factory=list)
    total_message_count: int | None = None
    client_reference: str | None = None

    def count(self, status: str) -> int:
        """Messages in ``status`` (e.g. ``"Delivered"`` or ``DeliveryStatus.DELIVERED``)."""
        return sum(s.count for s in self.statuses if s.status == status)


class BatchDeliveryReportSms(
    _BatchReportFields, tag_field="type", tag="delivery_report_sms", kw_only=True
):
    """A batch delivery report for an SMS batch."""


class BatchDeliveryReportMms(
    _BatchReportFields, tag_field="type", tag="delivery_report_mms", kw_only=True
):
    """A batch delivery report for an MMS batch."""


class UnknownBatchDeliveryReport(_BatchReportFields, UnknownVariant, kw_only=True):
    """A batch delivery report of an unknown ``type`` (``raw`` keeps the JSON)."""

    type: str | None = None
    raw: dict[str, Any] = msgspec.field(default_factory=dict)
    decode_error: str | None = None


BatchDeliveryReport = BatchDeliveryReportSms | BatchDeliveryReportMms | UnknownBatchDeliveryReport
KnownBatchDeliveryReport = BatchDeliveryReportSms | BatchDeliveryReportMms
BATCH_REPORT_TYPES = frozenset({"delivery_report_sms", "delivery_report_mms"})


class _RecipientReportFields(TaggedStruct, kw_only=True):
    _timestamp_fields: ClassVar[tuple[str, ...]] = ("at", "operator_status_at")

    batch_id: str
    recipient: str
    code: int
    status: str
    at: datetime | None = None
    operator_status_at: datetime | None = None
    client_reference: str | None = None
    applied_originator: str | None = None
    encoding: str | None = None
    number_of_message_parts: int | None = None
    operator: str | None = None


class RecipientDeliveryReportSms(
    _RecipientReportFields, tag_field="type", tag="recipient_delivery_report_sms", kw_only=True
):
    """The delivery report of one recipient of an SMS batch."""


class RecipientDeliveryReportMms(
    _RecipientReportFields, tag_field="type", tag="recipient_delivery_report_mms", kw_only=True
):
    """The delivery report of one recipient of an MMS batch."""


class UnknownRecipientDeliveryReport(_RecipientReportFields, UnknownVariant, kw_only=True):
    """A recipient delivery report of an unknown ``type`` (``raw`` keeps the JSON)."""

    type: str | None = None
    raw: dict[str, Any] = msgspec.field(default_factory=dict)
    decode_error: str | None = None


RecipientDeliveryReport = (
    RecipientDeliveryReportSms | RecipientDeliveryReportMms | UnknownRecipientDeliveryReport
)
KnownRecipientDeliveryReport = RecipientDeliveryReportSms | RecipientDeliveryReportMms
RECIPIENT_REPORT_TYPES = frozenset(
    {"recipient_delivery_report_sms", "recipient_delivery_report_mms"}
)
