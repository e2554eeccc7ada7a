"""In-memory records of the simulator and their JSON renderings.

Numbers are stored as E.164 with ``+`` and shown without it in responses (batch ``to``,
delivery-report recipients, group members, inbound ``from``/``to``), like the real API.
"""

from __future__ import annotations

from typing import Any

from sinch_async.testing._clock import format_ts
from sinch_async.testing._util import display_msisdn

__all__ = [
    "FINAL_STATUSES",
    "Batch",
    "Group",
    "Inbound",
    "Recipient",
]

FINAL_STATUSES = frozenset(
    {"Aborted", "Cancelled", "Rejected", "Deleted", "Delivered", "Failed", "Expired", "Unknown"}
)
_OPT_ORDER = (
    "callback_url",
    "client_reference",
    "feedback_enabled",
    "flash_message",
    "truncate_concat",
    "max_number_of_message_parts",
    "from_ton",
    "from_npi",
    "udh",
    "strict_validation",
)


class Recipient:
    """One message of a batch: one recipient and its delivery state."""

    __slots__ = (
        "at",
        "batch",
        "body",
        "code",
        "encoding",
        "msisdn",
        "operator_status_at",
        "parts",
        "status",
    )

    def __init__(self, msisdn: str, batch: Batch, at: float) -> None:
        self.msisdn = msisdn
        self.batch = batch
        self.status = "Queued"
        self.code = 400
        self.at = at
        self.operator_status_at: float | None = None
        self.body: str | dict[str, Any] | None = None
        self.parts = 1
        self.encoding = "GSM-7"

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def to_json(self) -> dict[str, Any]:
        b = self.batch
        d: dict[str, Any] = {
            "type": "recipient_delivery_report_mms"
            if b.type == "mt_media"
            else "recipient_delivery_report_sms",
            "batch_id": b.id,
            "recipient": display_msisdn(self.msisdn),
            "code": self.code,
            "status": self.status,
            "at": format_ts(self.at),
        }
        if self.operator_status_at is not None:
            d["operator_status_at"] = format_ts(self.operator_status_at)
        if b.opts.get("client_reference") is not None:
            d["client_reference"] = b.opts["client_reference"]
        if b.opts.get("max_number_of_message_parts") is not None:
            d["number_of_message_parts"] = self.parts
        return d


class Batch:
    """A batch and its recipients."""

    __slots__ = (
        "body",
        "canceled",
        "created_at",
        "delivery_report",
        "expire_at",
        "explicit_expire",
        "feedback",
        "id",
        "modified_at",
        "opts",
        "pending",
        "plan_id",
        "recipients",
        "released",
        "send_at",
        "summary_sent",
        "to",
        "type",
        "version",
    )

    def __init__(self, batch_id: str, plan_id: str, now: float) -> None:
        self.id = batch_id
        self.plan_id = plan_id
        self.created_at = now
        self.modified_at = now
        self.to: list[str] = []
        self.type = "mt_text"
        self.body: str | dict[str, Any] = ""
        self.delivery_report = "none"
        self.send_at: float | None = None
        self.expire_at = now
        self.explicit_expire = False
        self.opts: dict[str, Any] = {}
        self.canceled = False
        self.released = False  # recipients resolved (send time reached, or canceled)
        self.recipients: dict[str, Recipient] = {}
        self.pending = 0  # recipients not in a final status (after release)
        self.summary_sent = False
        self.version = 0
        self.feedback: list[str] = []

    @property
    def done(self) -> bool:
        """True once every recipient has a final status."""
        return self.released and self.pending == 0

    def to_json(self) -> dict[str, Any]:
        opts = self.opts
        d: dict[str, Any] = {
            "id": self.id,
            "to": [display_msisdn(t) for t in self.to],
        }
        if opts.get("from") is not None:
            d["from"] = opts["from"]
        d["canceled"] = self.canceled
        if opts.get("parameters") is not None:
            d["parameters"] = opts["parameters"]
        d["body"] = self.body
        d["type"] = self.type
        d["created_at"] = format_ts(self.created_at)
        d["modified_at"] = format_ts(self.modified_at)
        d["delivery_report"] = self.delivery_report
        if self.send_at is not None:
            d["send_at"] = format_ts(self.send_at)
        d["expire_at"] = format_ts(self.expire_at)
        for key in _OPT_ORDER:
            v = opts.get(key)
            if v is not None:
                d[key] = v
        d.setdefault("feedback_enabled", False)
        if self.type != "mt_media":
            d.setdefault("flash_message", False)
        return d

    def report_json(
        self, full: bool, statuses: set[str] | None = None, codes: set[int] | None = None
    ) -> dict[str, Any]:
        """The batch delivery report (``summary``, or ``full`` with recipient lists)."""
        buckets: dict[tuple[str, int], list[str]] = {}
        total = 0
        for r in self.recipients.values():
            if self.canceled and r.status == "Queued":  # cancelled before its send_at
                continue
            total += 1
            if statuses is not None and r.status.lower() not in statuses:
                continue
            if codes is not None and r.code not in codes:
                continue
            buckets.setdefault((r.status, r.code), []).append(r.msisdn)
        out: list[dict[str, Any]] = []
        for (status, code), numbers in buckets.items():
            item: dict[str, Any] = {"code": code, "status": status, "count": len(numbers)}
            if full:
                item["recipients"] = [display_msisdn(n) for n in numbers]
            out.append(item)
        d: dict[str, Any] = {
            "type": "delivery_report_mms" if self.type == "mt_media" else "delivery_report_sms",
            "batch_id": self.id,
            "total_message_count": total,
            "statuses": out,
        }
        if self.opts.get("client_reference") is not None:
            d["client_reference"] = self.opts["client_reference"]
        return d


class Group:
    __slots__ = (
        "auto_update",
        "child_groups",
        "created_at",
        "id",
        "members",
        "modified_at",
        "name",
    )

    def __init__(self, group_id: str, now: float) -> None:
        self.id = group_id
        self.name: str | None = None
        self.members: dict[str, None] = {}
        self.child_groups: list[str] | None = None
        self.auto_update: dict[str, Any] | None = None
        self.created_at = now
        self.modified_at = now

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id}
        if self.name is not None:
            d["name"] = self.name
        d["size"] = len(self.members)
        d["created_at"] = format_ts(self.created_at)
        d["modified_at"] = format_ts(self.modified_at)
        if self.child_groups is not None:
            d["child_groups"] = list(self.child_groups)
        if self.auto_update is not None:
            d["auto_update"] = self.auto_update
        return d


class Inbound:
    __slots__ = ("data", "id", "received_at", "to_key")

    def __init__(self, inbound_id: str, data: dict[str, Any], received_at: float, to_key: str):
        self.id = inbound_id
        self.data = data
        self.received_at = received_at
        self.to_key = to_key

    def to_json(self) -> dict[str, Any]:
        return self.data
