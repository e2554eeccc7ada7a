"""End-of-list rules and the paginator API, over HTTP and with an in-memory fetch."""

from __future__ import annotations

from typing import Any

import pytest

from sinch_async import AsyncPaginator, AsyncSmsClient, Group, Page, SinchValidationError
from sinch_async._pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, check_page_size
from tests.conftest import RecordingServer, api_path


def groups_page(ids: list[str], *, page: int, count: int, page_size: Any = None) -> dict[str, Any]:
    """A /groups page body; ``page_size`` defaults to the item count, as Sinch reports it."""
    return {
        "count": count,
        "page": page,
        "page_size": len(ids) if page_size is None else page_size,
        "groups": [{"id": i} for i in ids],
    }


def requested_pages(server: RecordingServer) -> list[tuple[str, str]]:
    assert all(r.path == api_path("/groups") for r in server.requests)
    return [(r.query["page"], r.query["page_size"]) for r in server.requests]


# --- end-of-list rules over HTTP ------------------------------------------------------------


async def test_stops_on_empty_page(server: RecordingServer, sms: AsyncSmsClient) -> None:
    # count claims more, but page 1 is empty: stop there
    server.respond(200, groups_page(["a", "b"], page=0, count=10))
    server.respond(200, groups_page([], page=1, count=10))
    server.respond(200, groups_page(["never"], page=2, count=10))
    ids = [g.id async for g in sms.groups.list(page_size=2)]
    assert ids == ["a", "b"]
    assert requested_pages(server) == [("0", "2"), ("1", "2")]


async def test_empty_first_page(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, groups_page([], page=0, count=0))
    assert await sms.groups.list().collect() == []
    assert requested_pages(server) == [("0", "100")]


async def test_stops_on_short_page(server: RecordingServer, sms: AsyncSmsClient) -> None:
    # count says 10 (the data shifted), but page 1 holds fewer than asked for
    server.respond(200, groups_page(["a", "b"], page=0, count=10))
    server.respond(200, groups_page(["c"], page=1, count=10))
    server.respond(200, groups_page(["never"], page=2, count=10))
    ids = [g.id async for g in sms.groups.list(page_size=2)]
    assert ids == ["a", "b", "c"]
    assert requested_pages(server) == [("0", "2"), ("1", "2")]


async def test_stops_when_count_reached(server: RecordingServer, sms: AsyncSmsClient) -> None:
    # 4 items in 2 full pages: (1 + 1) * 2 >= 4, so no empty third request
    server.respond(200, groups_page(["a", "b"], page=0, count=4))
    server.respond(200, groups_page(["c", "d"], page=1, count=4))
    server.respond(200, groups_page([], page=2, count=4))
    ids = [g.id async for g in sms.groups.list(page_size=2)]
    assert ids == ["a", "b", "c", "d"]
    assert requested_pages(server) == [("0", "2"), ("1", "2")]


async def test_single_full_page_equal_to_count(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, groups_page(["a", "b", "c"], page=0, count=3))
    server.respond(200, groups_page([], page=1, count=3))
    assert [g.id for g in await sms.groups.list(page_size=3).collect()] == ["a", "b", "c"]
    assert len(server.requests) == 1


async def test_continues_while_pages_are_full_and_count_not_reached(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, groups_page(["a", "b"], page=0, count=5))
    server.respond(200, groups_page(["c", "d"], page=1, count=5))
    server.respond(200, groups_page(["e"], page=2, count=5))
    ids = [g.id for g in await sms.groups.list(page_size=2).collect()]
    assert ids == ["a", "b", "c", "d", "e"]
    assert requested_pages(server) == [("0", "2"), ("1", "2"), ("2", "2")]


async def test_response_page_size_is_not_the_requested_size(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    # Sinch's page_size is the number of items on the page. Taking it as the requested
    # size would keep going after the short page 1 ((1 + 1) * 1 < 10).
    server.respond(200, groups_page(["a", "b", "c"], page=0, count=10))
    server.respond(200, groups_page(["d"], page=1, count=10))
    server.respond(200, groups_page(["never"], page=2, count=10))
    ids = [g.id async for g in sms.groups.list(page_size=3)]
    assert ids == ["a", "b", "c", "d"]
    assert requested_pages(server) == [("0", "3"), ("1", "3")]


async def test_misreported_page_size_does_not_change_requests(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    # a reported page_size that differs from both the request and the item count
    server.respond(200, groups_page(["a", "b"], page=0, count=5, page_size=50))
    server.respond(200, groups_page(["c", "d"], page=1, count=5, page_size=1))
    server.respond(200, groups_page(["e"], page=2, count=5, page_size=0))
    ids = [g.id async for g in sms.groups.list(page_size=2)]
    assert ids == ["a", "b", "c", "d", "e"]
    assert requested_pages(server) == [("0", "2"), ("1", "2"), ("2", "2")]


async def test_default_requested_page_size_is_100(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, groups_page([f"g{i}" for i in range(100)], page=0, count=150))
    server.respond(200, groups_page([f"g{i}" for i in range(100, 150)], page=1, count=150))
    groups = await sms.groups.list().collect()
    assert len(groups) == 150
    assert groups[-1].id == "g149"
    assert requested_pages(server) == [("0", "100"), ("1", "100")]
    assert DEFAULT_PAGE_SIZE == 100
    assert MAX_PAGE_SIZE == 100


async def test_pages_start_at_zero(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, groups_page(["a"], page=0, count=1))
    await sms.groups.list(page_size=1).collect()
    assert server.requests[0].query["page"] == "0"


async def test_limit_stops_early(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, groups_page(["a", "b"], page=0, count=10))
    server.respond(200, groups_page(["c", "d"], page=1, count=10))
    server.respond(200, groups_page(["e", "f"], page=2, count=10))
    ids = [g.id async for g in sms.groups.list(page_size=2, limit=3)]
    assert ids == ["a", "b", "c"]
    assert requested_pages(server) == [("0", "2"), ("1", "2")]


async def test_limit_on_page_boundary_fetches_no_further_page(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    server.respond(200, groups_page(["a", "b"], page=0, count=10))
    server.respond(200, groups_page(["c", "d"], page=1, count=10))
    ids = [g.id for g in await sms.groups.list(page_size=2, limit=2).collect()]
    assert ids == ["a", "b"]
    assert len(server.requests) == 1


async def test_limit_zero_makes_no_request(server: RecordingServer, sms: AsyncSmsClient) -> None:
    assert await sms.groups.list(limit=0).collect() == []
    assert server.requests == []


async def test_limit_larger_than_total(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, groups_page(["a", "b"], page=0, count=3))
    server.respond(200, groups_page(["c"], page=1, count=3))
    ids = [g.id for g in await sms.groups.list(page_size=2, limit=50).collect()]
    assert ids == ["a", "b", "c"]
    assert len(server.requests) == 2


async def test_pages_yields_page_objects(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, groups_page(["a", "b"], page=0, count=3))
    server.respond(200, groups_page(["c"], page=1, count=3))
    pages = [p async for p in sms.groups.list(page_size=2).pages()]
    assert len(pages) == 2
    assert all(isinstance(p, Page) for p in pages)
    assert [p.page for p in pages] == [0, 1]
    assert [p.count for p in pages] == [3, 3]
    assert [p.page_size for p in pages] == [2, 1]  # as Sinch reported: items on the page
    assert [[g.id for g in p.items] for p in pages] == [["a", "b"], ["c"]]
    assert all(isinstance(g, Group) for p in pages for g in p.items)
    assert [p.is_last for p in pages] == [False, True]


async def test_pages_respects_limit(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, groups_page(["a", "b"], page=0, count=10))
    server.respond(200, groups_page(["c", "d"], page=1, count=10))
    pages = [p async for p in sms.groups.list(page_size=2, limit=2).pages()]
    assert len(pages) == 1
    assert len(server.requests) == 1


async def test_iterating_twice_restarts_at_page_zero(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    paginator = sms.groups.list(page_size=2)
    for _ in range(2):
        server.respond(200, groups_page(["a", "b"], page=0, count=3))
        server.respond(200, groups_page(["c"], page=1, count=3))
    first = [g.id async for g in paginator]
    second = [g.id async for g in paginator]
    assert first == second == ["a", "b", "c"]
    assert requested_pages(server) == [("0", "2"), ("1", "2"), ("0", "2"), ("1", "2")]


async def test_collect(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, groups_page(["a", "b"], page=0, count=3))
    server.respond(200, groups_page(["c"], page=1, count=3))
    groups = await sms.groups.list(page_size=2).collect()
    assert isinstance(groups, list)
    assert [g.id for g in groups] == ["a", "b", "c"]


async def test_nothing_requested_until_iteration(
    server: RecordingServer, sms: AsyncSmsClient
) -> None:
    paginator = sms.groups.list()
    assert isinstance(paginator, AsyncPaginator)
    assert paginator.page_size == 100
    assert server.requests == []


async def test_page_fetches_one_page_directly(server: RecordingServer, sms: AsyncSmsClient) -> None:
    server.respond(200, groups_page(["x"], page=3, count=10))
    page = await sms.groups.list(page_size=3).page(3)
    assert requested_pages(server) == [("3", "3")]
    assert page.page == 3
    assert [g.id for g in page.items] == ["x"]


async def test_page_negative_number(server: RecordingServer, sms: AsyncSmsClient) -> None:
    with pytest.raises(SinchValidationError) as info:
        await sms.groups.list().page(-1)
    assert info.value.field == "page"
    assert server.requests == []


# --- the paginator with an in-memory fetch --------------------------------------------------


class FakeList:
    """Serves ``total`` integers in pages, reporting page_size as the item count."""

    def __init__(self, total: int, *, count: int | None = None) -> None:
        self.items = list(range(total))
        self.count = total if count is None else count
        self.calls: list[tuple[int, int]] = []

    async def fetch(self, number: int, size: int) -> Page[int]:
        self.calls.append((number, size))
        chunk = self.items[number * size : (number + 1) * size]
        return Page(
            items=chunk, page=number, count=self.count, page_size=len(chunk), requested_size=size
        )


@pytest.mark.parametrize(
    ("total", "size", "expected_calls"),
    [(0, 5, 1), (1, 5, 1), (5, 5, 1), (6, 5, 2), (10, 5, 2), (11, 5, 3), (7, 1, 7)],
)
async def test_number_of_fetches(total: int, size: int, expected_calls: int) -> None:
    fake = FakeList(total)
    items = await AsyncPaginator(fake.fetch, page_size=size).collect()
    assert items == list(range(total))
    assert fake.calls == [(n, size) for n in range(expected_calls)]


async def test_count_smaller_than_items_served_stops_on_count() -> None:
    fake = FakeList(20, count=4)
    items = await AsyncPaginator(fake.fetch, page_size=2).collect()
    assert items == [0, 1, 2, 3]
    assert fake.calls == [(0, 2), (1, 2)]


async def test_in_memory_limit() -> None:
    fake = FakeList(100)
    items = [i async for i in AsyncPaginator(fake.fetch, page_size=10, limit=25)]
    assert items == list(range(25))
    assert fake.calls == [(0, 10), (1, 10), (2, 10)]


def test_negative_limit_rejected() -> None:
    with pytest.raises(SinchValidationError) as info:
        AsyncPaginator(FakeList(1).fetch, page_size=10, limit=-1)
    assert info.value.field == "limit"


@pytest.mark.parametrize(
    ("items", "page", "count", "requested", "is_last"),
    [
        ([], 0, 10, 5, True),
        ([1, 2], 0, 10, 5, True),
        ([1, 2, 3, 4, 5], 0, 10, 5, False),
        ([1, 2, 3, 4, 5], 1, 10, 5, True),
        ([1, 2, 3, 4, 5], 1, 11, 5, False),
        ([1, 2, 3, 4, 5], 0, 5, 5, True),
    ],
)
def test_page_is_last(
    items: list[int], page: int, count: int, requested: int, is_last: bool
) -> None:
    # the reported page_size is deliberately wrong: it must not matter
    result = Page(items=items, page=page, count=count, page_size=999, requested_size=requested)
    assert result.is_last is is_last


@pytest.mark.parametrize(("value", "expected"), [(None, 100), (1, 1), (30, 30), (100, 100)])
def test_check_page_size_accepts(value: int | None, expected: int) -> None:
    assert check_page_size(value) == expected


@pytest.mark.parametrize("value", [0, -1, 101, True, 2.0, "10"])
def test_check_page_size_rejects(value: Any) -> None:
    with pytest.raises(SinchValidationError) as info:
        check_page_size(value)
    assert info.value.field == "page_size"
    assert info.value.limit == "1..100"
