"""``sms.inbounds``: messages sent to your numbers (MO)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sinch_async._codec import TaggedUnion
from sinch_async._core import Operation
from sinch_async._pagination import AsyncPaginator
from sinch_async.models._base import build_unknown
from sinch_async.models.inbounds import INBOUND_TYPES, Inbound, KnownInbound, UnknownInbound
from sinch_async.resources._common import ListSpec, decode_union, list_query, require_id, seg

if TYPE_CHECKING:
    from sinch_async.client import AsyncSmsClient

__all__ = ["Inbounds"]


def _unknown_inbound(raw: dict[str, Any]) -> UnknownInbound:
    return build_unknown(UnknownInbound, raw, id="")


_INBOUNDS = TaggedUnion[Inbound](KnownInbound, INBOUND_TYPES, _unknown_inbound)
_GET = Operation("inbounds.get", "/inbounds/{inbound_id}")
_LIST = Operation("inbounds.list", "/inbounds")
_INBOUND_LIST = ListSpec[Inbound]("Inbounds", "inbounds", _INBOUNDS)


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
        params = list_query(
            {"to": to},
            start_date=start_date,
            end_date=end_date,
            client_reference=client_reference,
        )
        return _INBOUND_LIST.paginator(
            self._client, _LIST, params, page_size=page_size, limit=limit
        )

    async def get(self, inbound_id: str) -> Inbound:
        """One inbound message (``GET /inbounds/{inbound_id}``)."""
        path = f"/inbounds/{seg(require_id(inbound_id, 'inbound_id'))}"
        response = await self._client._request("GET", path, _GET)
        return decode_union(response, _INBOUNDS, "GET", path)
