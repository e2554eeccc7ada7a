"""Well-known values of Sinch's string and integer enumerations.

Fields in the models are plain ``str`` / ``int`` so that a value Sinch adds
later never breaks decoding; these enums compare equal to those raw values
(``report.status == DeliveryStatus.DELIVERED``).
"""

from __future__ import annotations

from enum import Enum, IntEnum

__all__ = [
    "BatchType",
    "DeliveryReceiptCode",
    "DeliveryReportType",
    "DeliveryStatus",
    "InboundType",
]


class BatchType(str, Enum):
    TEXT = "mt_text"
    BINARY = "mt_binary"
    MEDIA = "mt_media"


class InboundType(str, Enum):
    TEXT = "mo_text"
    BINARY = "mo_binary"
    MEDIA = "mo_media"


class DeliveryReportType(str, Enum):
    """What delivery-report callbacks a batch asks for (``delivery_report`` field)."""

    NONE = "none"
    SUMMARY = "summary"
    FULL = "full"
    PER_RECIPIENT = "per_recipient"
    PER_RECIPIENT_FINAL = "per_recipient_final"


class DeliveryStatus(str, Enum):
    """Delivery status of a message (capitalised as Sinch documents them)."""

    QUEUED = "Queued"
    DISPATCHED = "Dispatched"
    ABORTED = "Aborted"
    CANCELLED = "Cancelled"
    REJECTED = "Rejected"
    DELETED = "Deleted"
    DELIVERED = "Delivered"
    FAILED = "Failed"
    EXPIRED = "Expired"
    UNKNOWN = "Unknown"

    @property
    def is_final(self) -> bool:
        return self not in (DeliveryStatus.QUEUED, DeliveryStatus.DISPATCHED)


class DeliveryReceiptCode(IntEnum):
    """Sinch's own delivery report codes (SMPP codes such as 0 also occur)."""

    DELIVERED = 0
    QUEUED = 400
    DISPATCHED = 401
    MESSAGE_UNROUTABLE = 402
    INTERNAL_ERROR = 403
    TEMPORARY_DELIVERY_FAILURE = 404
    UNMATCHED_PARAMETER = 405
    INTERNAL_EXPIRY = 406
    CANCELLED = 407
    INTERNAL_REJECT = 408
    UNMATCHED_DEFAULT_ORIGINATOR = 410
    EXCEEDED_PARTS_LIMIT = 411
    UNPROVISIONED_REGION = 412
    BLOCKED = 413
    BAD_MEDIA = 414
    MMS_DR_REJECTED = 415
    MMS_DR_NOT_SUPPORTED = 416
    MMS_UNREACHABLE = 417
    MMS_UNRECOGNIZED = 418
