"""``sms.delivery_reports``: per batch, per recipient, and the list of recipient reports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sinch_async._codec import TaggedUnion
from sinch_async._core import Operation
from sinch_async._pagination import AsyncPaginator
from sinch_async.errors import SinchValidationError
from sinch_async.models._base import build_unknown
from sinch_async.models.delivery_reports import (
    BATCH_REPORT_TYPES,
    RECIPIENT_REPORT_TYPES,
    BatchDeliveryReport,
    KnownBatchDeliveryReport,
    KnownRecipientDeliveryReport,
    RecipientDeliveryReport,
    UnknownBatchDeliveryReport,
    UnknownRecipientDeliveryReport,
)
from sinch_async.resources._common import ListSpec, csv, decode_union, list_query, require_id, seg

if TYPE_CHECKING:
    from sinch_async.client import AsyncSmsClient

__all__ = ["DeliveryReports"]


def _unknown_batch_report(raw: dict[str, Any]) -> UnknownBatchDeliveryReport:
    return build_unknown(UnknownBatchDeliveryReport, raw, batch_id="")


def _unknown_recipient_report(raw: dict[str, Any]) -> UnknownRecipientDeliveryReport:
    return build_unknown(
        UnknownRecipientDeliveryReport, raw, batch_id="", recipient="", code=-1, status=""
    )


_BATCH_REPORTS = TaggedUnion[BatchDeliveryReport](
    KnownBatchDeliveryReport, BATCH_REPORT_TYPES, _unknown_batch_report
)
_RECIPIENT_REPORTS = TaggedUnion[RecipientDeliveryReport](
    KnownRecipientDeliveryReport, RECIPIENT_REPORT_TYPES, _unknown_recipient_report
)
_BATCH_REPORT = Operation("delivery_reports.get", "/batches/{batch_id}/delivery_report")
_RECIPIENT_REPORT = Operation(
    "delivery_reports.get_for_recipient", "/batches/{batch_id}/delivery_report/{recipient_msisdn}"
)
_LIST = Operation("delivery_reports.list", "/delivery_reports")
_REPORT_LIST = ListSpec[RecipientDeliveryReport](
    "DeliveryReports", "delivery_reports", _RECIPIENT_REPORTS
)


def _codes(code: int | Iterable[int]) -> str:
    if isinstance(code, int):
        values: list[object] = [code]
    elif isinstance(code, Iterable) and not isinstance(code, (str, bytes)):
        values = list(code)
    else:
        raise SinchValidationError("code", "must be an int or a list of ints")
    if not values or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise SinchValidationError("code", "must be an int or a list of ints")
    return ",".join(str(int(v)) for v in values)  # type: ignore[call-overload]


class DeliveryReports:
    """Delivery reports (``/batches/{id}/delivery_report`` and ``/delivery_reports``)."""

    def __init__(self, client: AsyncSmsClient) -> None:
        self._client = client

    async def get(
        self,
        batch_id: str,
        *,
        type: str = "summary",
        status: str | Iterable[str] | None = None,
        code: int | Iterable[int] | None = None,
    ) -> BatchDeliveryReport:
        """The delivery report of a batch (``GET /batches/{id}/delivery_report``).

        ``type="summary"`` (default) counts messages per status and code;
        ``type="full"`` adds the recipients of each bucket. ``status`` (e.g.
        ``"Delivered"`` or a list) and ``code`` (an int or a list) filter buckets.
        """
        if type not in ("summary", "full"):
            raise SinchValidationError(
                "type", f"must be 'summary' or 'full', got {type!r}", limit="summary | full"
            )
        path = f"/batches/{seg(require_id(batch_id, 'batch_id'))}/delivery_report"
        params = [("type", type)]
        if status is not None:
            params.append(("status", csv(status, "status")))
        if code is not None:
            params.append(("code", _codes(code)))
        response = await self._client._request(
            "GET", path, _BATCH_REPORT, params=params, batch_id=batch_id
        )
        return decode_union(response, _BATCH_REPORTS, "GET", path)

    async def get_for_recipient(self, batch_id: str, recipient: str) -> RecipientDeliveryReport:
        """One recipient's report (``GET /batches/{id}/delivery_report/{msisdn}``)."""
        number = require_id(recipient, "recipient")
        path = f"/batches/{seg(require_id(batch_id, 'batch_id'))}/delivery_report/{seg(number)}"
        response = await self._client._request("GET", path, _RECIPIENT_REPORT, batch_id=batch_id)
        return decode_union(response, _RECIPIENT_REPORTS, "GET", path)

    def list(
        self,
        *,
        page_size: int | None = None,
        start_date: datetime | str | None = None,
        end_date: datetime | str | None = None,
        status: str | Iterable[str] | None = None,
        code: int | Iterable[int] | None = None,
        client_reference: str | None = None,
        limit: int | None = None,
    ) -> AsyncPaginator[RecipientDeliveryReport]:
        """Finished recipient delivery reports (``GET /delivery_reports``), newest first.

        Sinch's default window is the last 24 hours; ``start_date`` / ``end_date``
        change it. ``status`` / ``code`` filter (one value or a list).
        """
        params = list_query(
            {"status": status, "code": None if code is None else _codes(code)},
            start_date=start_date,
            end_date=end_date,
            client_reference=client_reference,
        )
        return _REPORT_LIST.paginator(self._client, _LIST, params, page_size=page_size, limit=limit)
