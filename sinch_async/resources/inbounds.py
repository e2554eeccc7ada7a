"""``sms.inbounds``: messages sent to your numbers (MO)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sinch_async._pagination import AsyncPaginator
from sinch_async.models._base import build_unknown
from sinch_async.models.inbounds import INBOUND_TYPES, Inbound, KnownInbound, UnknownInbound
from sinch_async.resources._common import ListSpec, csv, require_id, seg, timestamp_param

if TYPE_CHECKING:
    from sinch_async.client import AsyncSmsClient

__all__ = ["Inbounds"]


def _unknown_inbound(raw: dict[str, Any]) -> UnknownInbound:
    return build_unknown(UnknownInbound, raw, id="")


_INBOUND_LIST = ListSpec[Inbound](
    "Inbounds", "inbounds", KnownInbound, known_tags=INBOUND_TYPES, fallback=_unknown_inbound
)


class Inbounds:
    """Inbound messages (``/inbounds``)."""

    def __init__(self, client: AsyncSmsClient) -> None:
        self._client = client

    def list(
        self,
        *,
        page_size: int | None = None,
        to: str | Sequence[str] | None = None,
        start_date: datetime | str | None = None,
        end_date: datetime | str | None = None,
        client_reference: str | None = None,
        limit: int | None = None,
    ) -> AsyncPaginator[Inbound]:
        """Inbound messages, newest first (``GET /inbounds``), as an async iterator.

        ``to`` filters by your receiving number(s); Sinch's default window is the
        last 24 hours (``start_date`` / ``end_date`` change it).
        """
        params: list[tuple[str, str]] = []
        if to is not None:
            params.append(("to", csv(to, "to")))
        if start_date is not None:
            params.append(("start_date", timestamp_param(start_date, "start_date")))
        if end_date is not None:
            params.append(("end_date", timestamp_param(end_date, "end_date")))
        if client_reference is not None:
            params.append(("client_reference", client_reference))
        return _INBOUND_LIST.paginator(
            self._client, "/inbounds", params, page_size=page_size, limit=limit
        )

    async def get(self, inbound_id: str) -> Inbound:
        """One inbound message (``GET /inbounds/{inbound_id}``)."""
        path = f"/inbounds/{seg(require_id(inbound_id, 'inbound_id'))}"
        response = await self._client._request("GET", path)
        result: Inbound = self._client._decode_union(
            response, KnownInbound, INBOUND_TYPES, _unknown_inbound, "GET", path
        )
        return result
