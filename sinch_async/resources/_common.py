"""Helpers shared by the resource modules: path segments, query values, page decoding."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

import msgspec
from msgspec import UNSET

from sinch_async._base import decode_error
from sinch_async._codec import TaggedUnion, decoder_for, format_timestamp, json_decode
from sinch_async._core import Operation
from sinch_async._pagination import AsyncPaginator, Page, check_page_size
from sinch_async._redact import mask_numbers
from sinch_async._retry import logger
from sinch_async._transport import RawResponse
from sinch_async._validate import check_id, check_text
from sinch_async.errors import SinchValidationError

if TYPE_CHECKING:
    from sinch_async.client import AsyncSmsClient

__all__ = [
    "ListSpec",
    "csv",
    "decode_union",
    "list_query",
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


require_id = check_id
"""An ID for a URL path (see :func:`sinch_async._validate.check_id`)."""


def seg(value: str) -> str:
    """Quote one path segment (``+`` becomes ``%2B``, ``/`` becomes ``%2F``)."""
    return quote(value, safe="")


def _require_datetime(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise SinchValidationError(field, f"must be a datetime, got {type(value).__name__}")
    return value


def utc(value: datetime | None, field: str) -> datetime | None:
    """A datetime in UTC; naive values are taken as UTC (as Sinch does)."""
    if value is None:
        return None
    value = _require_datetime(value, field)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def timestamp_param(value: datetime | str, field: str) -> str:
    """A query-string timestamp: ISO-8601 UTC for a datetime, a string as given."""
    if isinstance(value, str):
        if not value.strip():
            raise SinchValidationError(field, "must not be empty")
        check_text(value, field)
        return value
    return format_timestamp(_require_datetime(value, field))


def list_query(
    filters: Mapping[str, str | Iterable[Any] | None],
    *,
    start_date: datetime | str | None,
    end_date: datetime | str | None,
    client_reference: str | None,
) -> list[tuple[str, str]]:
    """The query of a list endpoint, in this order: the list ``filters`` given (by
    argument name: ``from_`` is sent as ``from``), comma-joined; the time window; the reference.
    """
    params = [
        (name.rstrip("_"), csv(value, name)) for name, value in filters.items() if value is not None
    ]
    if start_date is not None:
        params.append(("start_date", timestamp_param(start_date, "start_date")))
    if end_date is not None:
        params.append(("end_date", timestamp_param(end_date, "end_date")))
    if client_reference is not None:
        if not isinstance(client_reference, str) or not client_reference:
            raise SinchValidationError("client_reference", "must be a non-empty string")
        check_text(client_reference, "client_reference")
        params.append(("client_reference", client_reference))
    return params


def csv(values: str | Iterable[Any], field: str) -> str:
    """A comma-joined list query value (Sinch's ``explode=false`` arrays)."""
    if isinstance(values, str):
        return _checked_csv([values], field)
    return _checked_csv([str(getattr(v, "value", v)) for v in values], field)


def _checked_csv(items: list[str], field: str) -> str:
    if not items or any(not item for item in items):
        raise SinchValidationError(field, "must hold at least one non-empty value")
    for index, item in enumerate(items):
        check_text(item, f"{field}[{index}]")
    return ",".join(items)


def decode_union(response: RawResponse, union: TaggedUnion[T], method: str, path: str) -> T:
    """The body as a member of ``union``, or its fallback for a ``type`` newer than this
    library (:class:`ResponseDecodeError` if it is neither)."""
    try:
        return union.decode(response.body)
    except msgspec.DecodeError as exc:  # (ValidationError is a DecodeError)
        raise decode_error(response, exc, method, path) from None


class ListSpec(Generic[T]):
    """How one list endpoint's pages look: the items key, the item type (a model, or a
    :class:`TaggedUnion` for a family) and the family's ``Unknown*`` fallback model.

    The page is decoded in one pass with a typed decoder. Only when that fails is each
    item decoded on its own: an item of a ``type`` this library does not know, or one
    that does not fit its model, becomes the fallback (``raw`` JSON kept, and for an
    item that did not fit, ``decode_error``), so that one odd item does not lose the
    page. Such items are logged once per page.
    """

    def __init__(
        self,
        name: str,
        items_key: str,
        item_type: Any,
        fallback: Callable[[dict[str, Any]], T] | None = None,
    ) -> None:
        self.union = item_type if isinstance(item_type, TaggedUnion) else None
        if self.union is not None:
            fallback = self.union.fallback
            item_type = self.union.tp
        if fallback is None:
            raise TypeError("a ListSpec needs a fallback for items that do not decode")
        self.fallback: Callable[[dict[str, Any]], T] = fallback
        self.item_type = item_type
        self.items_key = items_key
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

    def decode(self, body: bytes, requested_size: int, path: str = "") -> Page[T]:
        try:
            page = decoder_for(self._typed).decode(body)
            items = getattr(page, self.items_key)
        except msgspec.ValidationError:
            page = decoder_for(self._raw).decode(body)
            items = self._decode_items(getattr(page, self.items_key), page.page, path)
        return Page(
            items=items,
            page=page.page,
            count=page.count,
            page_size=page.page_size,
            requested_size=requested_size,
        )

    def _decode_items(self, raws: list[msgspec.Raw], page: int, path: str) -> list[T]:
        """Each item on its own; one that does not fit becomes the fallback model."""
        items: list[T] = []
        failed: list[str] = []
        for raw in raws:
            try:
                if self.union is not None:
                    items.append(self.union.decode(raw))
                else:
                    items.append(decoder_for(self.item_type).decode(raw))
            except msgspec.ValidationError as exc:
                value = json_decode(raw)
                item = self.fallback(value if isinstance(value, dict) else {"value": value})
                item.decode_error = str(exc)  # type: ignore[attr-defined]
                items.append(item)
                failed.append(str(exc))
        if failed:
            logger.warning(
                "%d of %d items on page %d of GET %s did not decode and are returned as "
                "unknown items with their raw JSON (first: %s)",
                len(failed),
                len(raws),
                page,
                mask_numbers(path),
                mask_numbers(failed[0]),
            )
        return items

    def raw_items(self, body: bytes) -> list[dict[str, Any]]:
        """The page's items as plain dicts (for reconciliation lookups)."""
        page = decoder_for(self._raw).decode(body)
        return [json_decode(raw) for raw in getattr(page, self.items_key)]

    def paginator(
        self,
        client: AsyncSmsClient,
        operation: Operation,
        params: Sequence[tuple[str, str]],
        *,
        page_size: int | None,
        limit: int | None,
    ) -> AsyncPaginator[T]:
        """The pages of ``GET {operation.template}`` (a path without parameters)."""
        size = check_page_size(page_size)
        base = list(params)
        path = operation.template

        async def fetch(number: int, requested: int) -> Page[T]:
            query = [*base, ("page", str(number)), ("page_size", str(requested))]
            response = await client._request("GET", path, operation, params=query)
            try:
                return self.decode(response.body, requested, path)
            except msgspec.DecodeError as exc:  # (ValidationError is a DecodeError)
                raise decode_error(response, exc, "GET", path) from None

        return AsyncPaginator(fetch, page_size=size, limit=limit)
