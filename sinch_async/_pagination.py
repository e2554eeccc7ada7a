"""Async iteration over Sinch's paged lists.

Sinch pages are 0-based and the response's ``page_size`` is the number of
items on *that* page, not the size asked for. The paginator therefore keeps
the requested size itself and stops on the first of: an empty page, a short
page, or ``(page + 1) * requested_size >= count``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sinch_async.errors import SinchValidationError

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "AsyncPaginator", "Page", "check_page_size"]

T = TypeVar("T")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 100
"""Iteration asks for the largest page Sinch allows, to make the fewest requests."""


def check_page_size(page_size: int | None) -> int:
    if page_size is None:
        return DEFAULT_PAGE_SIZE
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise SinchValidationError("page_size", "must be an integer", limit="1..100")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise SinchValidationError(
            "page_size", f"must be between 1 and {MAX_PAGE_SIZE}, got {page_size}", limit="1..100"
        )
    return page_size


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: ``items``, the 0-based ``page`` number and the total ``count``.

    ``page_size`` is what Sinch reported: the number of items on this page.
    """

    items: list[T]
    page: int
    count: int
    page_size: int = 0
    requested_size: int = field(default=DEFAULT_PAGE_SIZE, repr=False)

    @property
    def is_last(self) -> bool:
        """True when no further page holds items."""
        n = len(self.items)
        return (
            n == 0 or n < self.requested_size or (self.page + 1) * self.requested_size >= self.count
        )


FetchPage = Callable[[int, int], Awaitable[Page[T]]]


class AsyncPaginator(Generic[T]):
    """Items across all pages (``async for item in paginator``), or the pages themselves.

    Nothing is requested until iteration starts; every iteration starts again
    at page 0. ``limit`` stops after that many items.
    """

    def __init__(self, fetch: FetchPage[T], *, page_size: int, limit: int | None = None) -> None:
        if limit is not None and limit < 0:
            raise SinchValidationError("limit", "must be >= 0", limit=">= 0")
        self._fetch = fetch
        self.page_size = page_size
        self.limit = limit

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        remaining = self.limit
        if remaining == 0:
            return
        async for page in self.pages():
            for item in page.items:
                yield item
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Yield each page in order, from page 0 to the last one."""
        number = 0
        seen = 0
        while True:
            page = await self._fetch(number, self.page_size)
            yield page
            seen += len(page.items)
            if page.is_last or (self.limit is not None and seen >= self.limit):
                return
            number += 1

    async def page(self, number: int = 0) -> Page[T]:
        """Fetch one page (0-based) directly."""
        if number < 0:
            raise SinchValidationError("page", "must be >= 0", limit=">= 0")
        return await self._fetch(number, self.page_size)

    async def collect(self) -> list[T]:
        """All items (up to ``limit``) as a list."""
        return [item async for item in self]
