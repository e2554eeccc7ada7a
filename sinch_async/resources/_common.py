"""Helpers shared by the resource modules: path segments, query values, page decoding."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

import msgspec
from msgspec import UNSET

from sinch_async._codec import decode_with_fallback, decoder_for, json_decode
from sinch_async._pagination import AsyncPaginator, Page, check_page_size
from sinch_async.errors import ResponseDecodeError, SinchValidationError

if TYPE_CHECKING:
    from sinch_async.client import AsyncSmsClient

__all__ = [
    "ListSpec",
    "csv",
    "opt",
    "require_id",
    "seg",
    "timestamp_param",
    "utc",
]

T = TypeVar("T")


def opt(value: Any) -> Any:
    """``None`` (not given) becomes ``UNSET`` (not sent)."""
    return UNSET if value is None else value


def require_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SinchValidationError(field, "must be a non-empty string")
    return value


def seg(value: str) -> str:
    """Quote one path segment (``+`` becomes ``%2B``, ``/`` becomes ``%2F``)."""
    return quote(value, safe="")


def utc(value: datetime | None, field: str) -> datetime | None:
    """A datetime in UTC; naive values are taken as UTC (as Sinch does)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise SinchValidationError(field, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def timestamp_param(value: datetime | str, field: str) -> str:
    """A query-string timestamp: ISO-8601 UTC for a datetime, a string as given."""
    if isinstance(value, str):
        if not value.strip():
            raise SinchValidationError(field, "must not be empty")
        return value
    as_utc = utc(value, field)
    assert as_utc is not None
    text = as_utc.isoformat(timespec="milliseconds" if as_utc.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def csv(values: str | Iterable[Any], field: str) -> str:
    """A comma-joined list query value (Sinch's ``explode=false`` arrays)."""
    if isinstance(values, str):
        return _checked_csv([values], field)
    return _checked_csv([str(getattr(v, "value", v)) for v in values], field)


def _checked_csv(items: list[str], field: str) -> str:
    if not items or any(not item for item in items):
        raise SinchValidationError(field, "must hold at least one non-empty value")
    return ",".join(items)


class ListSpec(Generic[T]):
    """How one list endpoint's pages look: the items key and the item type.

    The page is decoded in one pass with a typed decoder; only when that fails
    (an item of a type this library does not know) is each item decoded on its
    own, with the family's ``Unknown*`` model as the fallback.
    """

    def __init__(
        self,
        name: str,
        items_key: str,
        item_type: Any,
        *,
        known_tags: frozenset[str] | None = None,
        fallback: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.items_key = items_key
        self.item_type = item_type
        self.known_tags = known_tags
        self.fallback = fallback
        fields: list[Any] = [
            ("count", int, 0),
            ("page", int, 0),
            ("page_size", int, 0),
        ]
        self._typed = msgspec.defstruct(
            f"{name}Page", [*fields, (items_key, list[item_type], [])], kw_only=True
        )
        self._raw = msgspec.defstruct(
            f"{name}RawPage", [*fields, (items_key, list[msgspec.Raw], [])], kw_only=True
        )

    def decode(self, body: bytes, requested_size: int) -> Page[T]:
        try:
            page = decoder_for(self._typed).decode(body)
            items = getattr(page, self.items_key)
        except msgspec.ValidationError:
            if self.known_tags is None or self.fallback is None:
                raise
            page = decoder_for(self._raw).decode(body)
            items = [
                decode_with_fallback(raw, self.item_type, self.known_tags, self.fallback)
                for raw in getattr(page, self.items_key)
            ]
        return Page(
            items=items,
            page=page.page,
            count=page.count,
            page_size=page.page_size,
            requested_size=requested_size,
        )

    def raw_items(self, body: bytes) -> list[dict[str, Any]]:
        """The page's items as plain dicts (for reconciliation lookups)."""
        page = decoder_for(self._raw).decode(body)
        return [json_decode(raw) for raw in getattr(page, self.items_key)]

    def paginator(
        self,
        client: AsyncSmsClient,
        path: str,
        params: Sequence[tuple[str, str]],
        *,
        page_size: int | None,
        limit: int | None,
    ) -> AsyncPaginator[T]:
        size = check_page_size(page_size)
        base = list(params)

        async def fetch(number: int, requested: int) -> Page[T]:
            query = [*base, ("page", str(number)), ("page_size", str(requested))]
            response = await client._request("GET", path, params=query)
            try:
                return self.decode(response.body, requested)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise ResponseDecodeError(
                    f"unexpected list page: {exc}",
                    status=response.status,
                    body=response.body,
                    method="GET",
                    path=path,
                ) from None

        return AsyncPaginator(fetch, page_size=size, limit=limit)
