"""``AsyncSmsClient`` over real HTTP against the ``SinchSimulator`` (no mocks).

Every call is checked twice: through what the client returns, and through the simulator's
journal (what went over the wire: one request per call, the exact JSON body and query).
The simulator and the client are the project's pytest fixtures (``sim`` is ``sinch_simulator``,
on a frozen clock: tests move it with ``await sim.advance(seconds)``; ``sinch_client`` is
``sim.client()``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sinch_async import AsyncSmsClient, MediaBody
from sinch_async.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from sinch_async.models.batches import BinaryBatch, MediaBatch, TextBatch
from sinch_async.models.delivery_reports import (
    BatchDeliveryReportMms,
    BatchDeliveryReportSms,
    RecipientDeliveryReportSms,
)
from sinch_async.models.inbounds import InboundBinary, InboundMedia, InboundText
from sinch_async.testing import JournalEntry, SinchSimulator

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc)
PLAN = "/xms/v1/sim-plan"
A, B, C, D = "+46700000001", "+46700000002", "+46700000003", "+46700000004"
UNKNOWN_ID = "01JHFFHQ0P99JPPNQPJDV7JTBP"  # ULID-shaped, never issued by the simulator


pytestmark = pytest.mark.sinch_simulator(seed=20260302, start_time=START)


class Wire:
    """The journal entries recorded since the last :meth:`take`."""

    def __init__(self, sim: SinchSimulator) -> None:
        self.sim = sim
        self.mark = len(sim.journal.requests)

    def take(self) -> list[JournalEntry]:
        new = self.sim.journal.requests[self.mark :]
        self.mark = len(self.sim.journal.requests)
        return new

    def one(self, method: str, path: str, status: int) -> JournalEntry:
        """Exactly one request since the last call, with this method, path and status."""
        new = self.take()
        assert [(e.method, e.path, e.status) for e in new] == [(method, path, status)]
        return new[0]


@pytest.fixture
def wire(sim: SinchSimulator) -> Wire:
    return Wire(sim)


def _statuses(report: Any) -> list[tuple[str, int, int, list[str] | None]]:
    return sorted(
        (s.status, s.code, s.count, sorted(s.recipients) if s.recipients is not None else None)
        for s in report.statuses
    )


# --- batches ---------------------------------------------------------------------------


async def test_send_text_with_parameters(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    batch = await sinch_client.batches.send(
        [A, B],
        "Hi ${name}",
        from_="Shop",
        parameters={"name": {A: "Ann", "default": "there"}},
        client_reference="order-1",
    )

    assert isinstance(batch, TextBatch)
    assert batch.to == ["46700000001", "46700000002"]
    assert batch.from_ == "Shop"
    assert batch.body == "Hi ${name}"
    assert batch.client_reference == "order-1"
    assert batch.canceled is False
    assert batch.created_at == START
    entry = wire.one("POST", f"{PLAN}/batches", 201)
    assert entry.json == {
        "type": "mt_text",
        "to": [A, B],
        "from": "Shop",
        "body": "Hi ${name}",
        "parameters": {"name": {A: "Ann", "default": "there"}},
        "client_reference": "order-1",
    }
    assert entry.headers["Content-Type"].startswith("application/json")
    assert entry.headers["User-Agent"].startswith("sinch-async/")
    assert "Authorization" not in entry.headers  # scrubbed by the journal, but was sent

    await sim.advance(5)
    assert sim.journal.recipients_sent() == [A, B]
    assert sorted((m.recipient, m.body) for m in sim.journal.dispatched()) == [
        (A, "Hi Ann"),
        (B, "Hi there"),
    ]


async def test_send_scheduled_serializes_datetimes_in_utc(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    send_at = (START + timedelta(hours=1)).astimezone(timezone(timedelta(hours=2)))
    batch = await sinch_client.batches.send([A], "Later", send_at=send_at)

    entry = wire.one("POST", f"{PLAN}/batches", 201)
    assert entry.json["send_at"] == "2026-03-02T10:00:00Z"
    assert batch.send_at == START + timedelta(hours=1)
    assert batch.expire_at == START + timedelta(hours=1, days=3)

    await sim.advance(3599)
    assert sim.journal.recipients_dispatched() == []
    await sim.advance(2)
    assert sim.journal.recipients_dispatched() == [A]


async def test_send_binary(sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire) -> None:
    batch = await sinch_client.batches.send([A], "SGVsbG8=", type="mt_binary", udh="050003010201")

    assert isinstance(batch, BinaryBatch)
    assert (batch.body, batch.udh) == ("SGVsbG8=", "050003010201")
    entry = wire.one("POST", f"{PLAN}/batches", 201)
    assert entry.json == {
        "type": "mt_binary",
        "to": [A],
        "body": "SGVsbG8=",
        "udh": "050003010201",
    }
    await sim.advance(5)
    assert [m.body for m in sim.journal.dispatched()] == ["SGVsbG8="]


async def test_send_media_and_its_mms_delivery_report(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    batch = await sinch_client.batches.send(
        [A],
        MediaBody(url="https://example.com/cat.jpg", message="Meow"),
        type="mt_media",
        strict_validation=True,
    )

    assert isinstance(batch, MediaBatch)
    assert batch.body == MediaBody(url="https://example.com/cat.jpg", message="Meow")
    assert batch.strict_validation is True
    entry = wire.one("POST", f"{PLAN}/batches", 201)
    assert entry.json == {
        "type": "mt_media",
        "to": [A],
        "body": {"url": "https://example.com/cat.jpg", "message": "Meow"},
        "strict_validation": True,
    }

    await sim.advance(5)
    report = await sinch_client.delivery_reports.get(batch.id)
    assert isinstance(report, BatchDeliveryReportMms)
    assert _statuses(report) == [("Delivered", 0, 1, None)]


async def test_list_paginates_across_more_than_100_batches(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    created: list[str] = []
    for i in range(105):
        if i == 60:
            await sim.advance(60)  # the last 45 batches are a minute newer
        batch = await sinch_client.batches.send(
            [A], f"n{i}", from_="Alpha" if i % 5 == 0 else "Beta", client_reference=f"ref-{i}"
        )
        created.append(batch.id)
    wire.take()

    everything = [b.id async for b in sinch_client.batches.list()]
    assert everything == created[::-1]  # newest first, every batch exactly once
    pages = wire.take()
    assert [(e.method, e.path, e.status) for e in pages] == [("GET", f"{PLAN}/batches", 200)] * 2
    assert [e.query for e in pages] == [
        {"page": "0", "page_size": "100"},
        {"page": "1", "page_size": "100"},
    ]

    sizes = [
        (p.page, len(p.items), p.count)
        async for p in sinch_client.batches.list(page_size=40).pages()
    ]
    assert sizes == [(0, 40, 105), (1, 40, 105), (2, 25, 105)]
    assert len(wire.take()) == 3

    alpha = [b.id async for b in sinch_client.batches.list(from_="Alpha")]
    assert alpha == [created[i] for i in range(104, -1, -1) if i % 5 == 0]
    assert wire.one("GET", f"{PLAN}/batches", 200).query == {
        "from": "Alpha",
        "page": "0",
        "page_size": "100",
    }

    by_ref = await sinch_client.batches.list(client_reference="ref-7").collect()
    assert [b.id for b in by_ref] == [created[7]]
    assert wire.one("GET", f"{PLAN}/batches", 200).query["client_reference"] == "ref-7"

    newer = await sinch_client.batches.list(start_date=START + timedelta(seconds=30)).collect()
    assert [b.id for b in newer] == created[:59:-1]
    assert wire.one("GET", f"{PLAN}/batches", 200).query["start_date"] == "2026-03-02T09:00:30Z"

    older = await sinch_client.batches.list(
        end_date=START + timedelta(seconds=30), page_size=50
    ).collect()
    assert [b.id for b in older] == created[59::-1]
    assert len(wire.take()) == 2

    first_three = await sinch_client.batches.list(limit=3).collect()
    assert [b.id for b in first_three] == created[:-4:-1]
    assert len(wire.take()) == 1


async def test_dry_run_per_recipient(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    result = await sinch_client.batches.dry_run(
        [A, B, C],
        "Hi ${name} " + "x" * 160,
        parameters={"name": {A: "Ann", "default": "you"}},
        per_recipient=True,
        number_of_recipients=2,
    )

    assert result.number_of_recipients == 3
    assert result.number_of_messages == 6  # 2 parts each
    assert result.per_recipient is not None
    assert [(r.recipient, r.number_of_parts, r.encoding) for r in result.per_recipient] == [
        ("46700000001", 2, "text"),
        ("46700000002", 2, "text"),
    ]
    assert [r.body for r in result.per_recipient] == ["Hi Ann " + "x" * 160, "Hi you " + "x" * 160]
    entry = wire.one("POST", f"{PLAN}/batches/dry_run", 200)
    assert entry.query == {"per_recipient": "true", "number_of_recipients": "2"}
    assert entry.json["to"] == [A, B, C]
    assert sim.journal.batches_created() == []  # nothing was sent

    plain = await sinch_client.batches.dry_run([A], "short")
    assert (plain.number_of_recipients, plain.number_of_messages, plain.per_recipient) == (
        1,
        1,
        None,
    )
    assert wire.one("POST", f"{PLAN}/batches/dry_run", 200).query == {}


async def test_get_update_replace_cancel(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    later = START + timedelta(hours=2)
    batch = await sinch_client.batches.send([A, B], "Hello", send_at=later)
    wire.take()

    got = await sinch_client.batches.get(batch.id)
    assert got == batch
    wire.one("GET", f"{PLAN}/batches/{batch.id}", 200)

    updated = await sinch_client.batches.update(batch.id, to_add=[C], to_remove=[A], body="Updated")
    assert isinstance(updated, TextBatch)
    assert updated.id == batch.id
    assert updated.to == ["46700000002", "46700000003"]
    assert updated.body == "Updated"
    entry = wire.one("POST", f"{PLAN}/batches/{batch.id}", 200)
    assert entry.json == {"type": "mt_text", "to_add": [C], "to_remove": [A], "body": "Updated"}

    only_ref = await sinch_client.batches.update(batch.id, client_reference="ref-u")
    assert only_ref.client_reference == "ref-u"
    assert only_ref.body == "Updated"
    assert wire.one("POST", f"{PLAN}/batches/{batch.id}", 200).json == {"client_reference": "ref-u"}

    replaced = await sinch_client.batches.replace(batch.id, [D], "Replaced", send_at=later)
    assert replaced.id == batch.id
    assert replaced.to == ["46700000004"]
    assert replaced.body == "Replaced"
    assert replaced.client_reference is None  # a replace drops what it does not repeat
    assert wire.one("PUT", f"{PLAN}/batches/{batch.id}", 200).json == {
        "type": "mt_text",
        "to": [D],
        "body": "Replaced",
        "send_at": "2026-03-02T11:00:00Z",
    }

    canceled = await sinch_client.batches.cancel(batch.id)
    assert canceled.canceled is True
    wire.one("DELETE", f"{PLAN}/batches/{batch.id}", 200)
    assert (await sinch_client.batches.get(batch.id)).canceled is True

    await sim.advance(3 * 3600)
    assert sim.journal.recipients_dispatched() == []
    report = await sinch_client.delivery_reports.get(batch.id, type="full")
    # A batch cancelled before its send_at was never sent: its report is empty (as Sinch
    # documents), not a Cancelled/407 entry per recipient.
    assert _statuses(report) == []
    assert report.total_message_count in (0, None)
    assert sim.journal.recipients_sent() == [D]


async def test_send_delivery_feedback(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    batch = await sinch_client.batches.send([A, B], "Hi", feedback_enabled=True)
    assert batch.feedback_enabled is True
    await sim.advance(5)
    wire.take()

    await sinch_client.batches.send_delivery_feedback(batch.id, [A])

    entry = wire.one("POST", f"{PLAN}/batches/{batch.id}/delivery_feedback", 202)
    assert entry.json == {"recipients": [A]}
    assert sim.plan.batches[batch.id].feedback == [A]


# --- delivery reports ------------------------------------------------------------------


async def test_delivery_reports_with_filters(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    sim.set_failure_rules({C: "Failed", D: ("Rejected", 408)})
    batch = await sinch_client.batches.send([A, B, C, D], "Hi", client_reference="dr-1")
    await sim.advance(10)
    wire.take()

    summary = await sinch_client.delivery_reports.get(batch.id)
    assert isinstance(summary, BatchDeliveryReportSms)
    assert summary.batch_id == batch.id
    assert summary.total_message_count == 4
    assert summary.client_reference == "dr-1"
    assert _statuses(summary) == [
        ("Delivered", 0, 2, None),
        ("Failed", 15, 1, None),
        ("Rejected", 408, 1, None),
    ]
    assert wire.one("GET", f"{PLAN}/batches/{batch.id}/delivery_report", 200).query == {
        "type": "summary"
    }

    full = await sinch_client.delivery_reports.get(
        batch.id, type="full", status=["Failed", "Rejected"]
    )
    assert _statuses(full) == [
        ("Failed", 15, 1, ["46700000003"]),
        ("Rejected", 408, 1, ["46700000004"]),
    ]
    assert wire.one("GET", f"{PLAN}/batches/{batch.id}/delivery_report", 200).query == {
        "type": "full",
        "status": "Failed,Rejected",
    }

    delivered = await sinch_client.delivery_reports.get(batch.id, type="full", code=0)
    assert _statuses(delivered) == [("Delivered", 0, 2, ["46700000001", "46700000002"])]
    assert wire.take()[0].query == {"type": "full", "code": "0"}

    one = await sinch_client.delivery_reports.get_for_recipient(batch.id, C)
    assert isinstance(one, RecipientDeliveryReportSms)
    assert (one.recipient, one.status, one.code, one.client_reference) == (
        "46700000003",
        "Failed",
        15,
        "dr-1",
    )
    assert one.at is not None
    assert one.at > START
    wire.one("GET", f"{PLAN}/batches/{batch.id}/delivery_report/{C}", 200)

    with pytest.raises(NotFoundError) as excinfo:
        await sinch_client.delivery_reports.get_for_recipient(batch.id, "+46700000099")
    assert excinfo.value.code == "not_found"
    wire.one("GET", f"{PLAN}/batches/{batch.id}/delivery_report/+46700000099", 404)

    reports = await sinch_client.delivery_reports.list().collect()
    assert sorted(r.recipient for r in reports) == [
        "46700000001",
        "46700000002",
        "46700000003",
        "46700000004",
    ]
    failed = await sinch_client.delivery_reports.list(status="Failed", code=[15, 408]).collect()
    assert [(r.recipient, r.code) for r in failed] == [("46700000003", 15)]
    assert wire.take()[-1].query == {
        "status": "Failed",
        "code": "15,408",
        "page": "0",
        "page_size": "100",
    }
    paged = [len(p.items) async for p in sinch_client.delivery_reports.list(page_size=3).pages()]
    assert paged == [3, 1]
    assert len(wire.take()) == 2


async def test_delivery_reports_list_holds_only_finished_reports(
    sim: SinchSimulator, sinch_client: AsyncSmsClient
) -> None:
    sim.set_failure_rules({B: "Failed"})
    first = await sinch_client.batches.send([A, B], "Hi")
    await sim.advance(10)
    await sinch_client.batches.send([C, D], "Later", send_at=START + timedelta(hours=1))
    pending = await sinch_client.batches.send([C], "Soon")  # queued/dispatched, not final yet
    assert pending.id

    reports = await sinch_client.delivery_reports.list().collect()
    assert sorted((r.batch_id, r.recipient, r.status) for r in reports) == [
        (first.id, "46700000001", "Delivered"),
        (first.id, "46700000002", "Failed"),
    ]


# --- groups ----------------------------------------------------------------------------


async def test_group_lifecycle_and_expansion_at_send_time(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    group = await sinch_client.groups.create(name="VIP", members=[A, B])
    assert (group.name, group.size) == ("VIP", 2)
    assert group.created_at == START
    assert wire.one("POST", f"{PLAN}/groups", 201).json == {"name": "VIP", "members": [A, B]}

    other = await sinch_client.groups.create(name="Others")
    listed = await sinch_client.groups.list().collect()
    assert {g.id for g in listed} == {group.id, other.id}
    assert wire.take()[-1].query == {"page": "0", "page_size": "100"}

    assert await sinch_client.groups.get(group.id) == group
    wire.one("GET", f"{PLAN}/groups/{group.id}", 200)

    assert await sinch_client.groups.members(group.id) == ["46700000001", "46700000002"]
    wire.one("GET", f"{PLAN}/groups/{group.id}/members", 200)

    replaced = await sinch_client.groups.replace(group.id, name="Gold", members=[C])
    assert (replaced.id, replaced.name, replaced.size) == (group.id, "Gold", 1)
    assert wire.one("PUT", f"{PLAN}/groups/{group.id}", 200).json == {
        "name": "Gold",
        "members": [C],
    }

    updated = await sinch_client.groups.update(group.id, add=[A, B], remove=[C])
    assert (updated.name, updated.size) == ("Gold", 2)  # name kept when left out
    assert wire.one("POST", f"{PLAN}/groups/{group.id}", 200).json == {
        "add": [A, B],
        "remove": [C],
    }

    unnamed = await sinch_client.groups.update(group.id, name=None)
    assert unnamed.name is None
    assert unnamed.size == 2
    assert wire.one("POST", f"{PLAN}/groups/{group.id}", 200).json == {"name": None}
    assert (await sinch_client.groups.get(group.id)).name is None

    # A group ID in `to` expands to the members when the batch is released.
    later = START + timedelta(minutes=10)
    batch = await sinch_client.batches.send([group.id, D], "Hello group", send_at=later)
    assert batch.to == [group.id, "46700000004"]
    await sinch_client.groups.update(
        group.id, add=[C]
    )  # still counts: expansion happens at send time
    await sim.advance(15 * 60)
    assert sorted(sim.journal.recipients_sent()) == [A, B, C, D]
    assert sorted(sim.journal.recipients_dispatched()) == [A, B, C, D]
    report = await sinch_client.delivery_reports.get(batch.id)
    assert _statuses(report) == [("Delivered", 0, 4, None)]
    wire.take()

    await sinch_client.groups.delete(group.id)
    wire.one("DELETE", f"{PLAN}/groups/{group.id}", 200)
    with pytest.raises(NotFoundError):
        await sinch_client.groups.get(group.id)
    wire.one("GET", f"{PLAN}/groups/{group.id}", 404)
    assert [g.id async for g in sinch_client.groups.list()] == [other.id]


# --- inbounds --------------------------------------------------------------------------


async def test_inbounds_list_with_to_filter_and_get(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    first = sim.inject_inbound(A, "+46700000100", "STOP")
    await sim.advance(1)
    sim.inject_inbound(B, "+46700000200", "other number")
    await sim.advance(1)
    binary = sim.inject_inbound(B, "+46700000100", "SGk=", type="mo_binary", udh="0500030a0201")
    media = sim.inject_inbound(
        C,
        "+46700000100",
        "look",
        type="mo_media",
        media=[{"url": "https://example.com/a.jpg", "content_type": "image/jpeg"}],
    )

    to_100 = await sinch_client.inbounds.list(to="+46700000100").collect()
    assert [i.id for i in to_100] == [media["id"], binary["id"], first["id"]]  # newest first
    assert wire.one("GET", f"{PLAN}/inbounds", 200).query == {
        "to": "+46700000100",
        "page": "0",
        "page_size": "100",
    }
    both = await sinch_client.inbounds.list(to=["+46700000100", "+46700000200"]).collect()
    assert len(both) == 4
    assert wire.take()[0].query["to"] == "+46700000100,+46700000200"

    text = await sinch_client.inbounds.get(first["id"])
    assert isinstance(text, InboundText)
    assert (text.from_, text.to, text.body) == ("46700000001", "46700000100", "STOP")
    assert text.received_at == START
    wire.one("GET", f"{PLAN}/inbounds/{first['id']}", 200)

    got_binary = await sinch_client.inbounds.get(binary["id"])
    assert isinstance(got_binary, InboundBinary)
    assert (got_binary.body, got_binary.udh) == ("SGk=", "0500030a0201")

    got_media = await sinch_client.inbounds.get(media["id"])
    assert isinstance(got_media, InboundMedia)
    assert got_media.body is not None
    assert got_media.body.message == "look"
    assert [(m.url, m.status, m.code) for m in got_media.body.media] == [
        ("https://example.com/a.jpg", "Uploaded", 0)
    ]

    with pytest.raises(NotFoundError):
        await sinch_client.inbounds.get(UNKNOWN_ID)


# --- OAuth2 ------------------------------------------------------------------------------


async def test_oauth_token_fetched_once_and_refreshed_once_after_expiry(
    sim: SinchSimulator, wire: Wire
) -> None:
    project = "/xms/v1/sim-project"
    async with sim.oauth_client() as oauth:
        batch = await oauth.batches.send([A], "Hi")
        assert sim.token_requests == 1
        assert [(e.method, e.path, e.status) for e in wire.take()] == [
            ("POST", "/oauth2/token", 200),
            ("POST", f"{project}/batches", 201),
        ]

        assert (await oauth.batches.get(batch.id)).id == batch.id
        assert sim.token_requests == 1  # cached
        wire.one("GET", f"{project}/batches/{batch.id}", 200)

        sim.expire_tokens()
        again = await oauth.batches.get(batch.id)
        assert again.id == batch.id
        assert sim.token_requests == 2
        assert [(e.method, e.path, e.status) for e in wire.take()] == [
            ("GET", f"{project}/batches/{batch.id}", 401),
            ("POST", "/oauth2/token", 200),
            ("GET", f"{project}/batches/{batch.id}", 200),
        ]

        await oauth.batches.get(batch.id)  # the new token is used from now on
        assert sim.token_requests == 2
        wire.one("GET", f"{project}/batches/{batch.id}", 200)
    assert sim.journal.recipients_sent() == [A]


# --- errors ------------------------------------------------------------------------------


async def test_unknown_group_is_permission_denied(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    with pytest.raises(PermissionDeniedError) as excinfo:
        await sinch_client.batches.send([UNKNOWN_ID], "Hi")
    err = excinfo.value
    assert (err.status, err.code) == (403, "unknown_group")
    assert err.text == f"Group '{UNKNOWN_ID}' does not exist."
    assert (err.method, err.path) == ("POST", "/batches")
    assert "unknown_group" in str(err)
    wire.one("POST", f"{PLAN}/batches", 403)  # not retried
    assert sim.journal.batches_created() == []


async def test_not_found(sinch_client: AsyncSmsClient, wire: Wire) -> None:
    with pytest.raises(NotFoundError) as excinfo:
        await sinch_client.batches.get(UNKNOWN_ID)
    assert (excinfo.value.status, excinfo.value.code) == (404, "not_found")
    wire.one("GET", f"{PLAN}/batches/{UNKNOWN_ID}", 404)

    with pytest.raises(NotFoundError):
        await sinch_client.batches.cancel(UNKNOWN_ID)
    with pytest.raises(NotFoundError):
        await sinch_client.delivery_reports.get(UNKNOWN_ID)
    with pytest.raises(NotFoundError):
        await sinch_client.groups.members(UNKNOWN_ID)
    assert [e.status for e in wire.take()] == [404, 404, 404]


async def test_bad_request_from_the_server(sinch_client: AsyncSmsClient, wire: Wire) -> None:
    with pytest.raises(BadRequestError) as excinfo:
        await sinch_client.batches.list(start_date="yesterday").collect()
    err = excinfo.value
    assert (err.status, err.code) == (400, "syntax_invalid_parameter_format")
    assert err.text is not None
    assert "start_date" in err.text
    assert wire.one("GET", f"{PLAN}/batches", 400).query["start_date"] == "yesterday"

    with pytest.raises(BadRequestError) as excinfo:
        await sinch_client.delivery_reports.list(status="Bogus").collect()
    assert excinfo.value.code == "syntax_invalid_parameter_format"
    wire.one("GET", f"{PLAN}/delivery_reports", 400)


async def test_batch_already_dispatched_cannot_be_updated(
    sim: SinchSimulator, sinch_client: AsyncSmsClient, wire: Wire
) -> None:
    batch = await sinch_client.batches.send([A], "Hi")
    await sim.advance(5)
    wire.take()
    with pytest.raises(PermissionDeniedError) as excinfo:
        await sinch_client.batches.update(batch.id, body="too late")
    assert excinfo.value.code == "batch_already_dispatched"
    wire.one("POST", f"{PLAN}/batches/{batch.id}", 403)


async def test_wrong_api_token_is_authentication_error(sim: SinchSimulator, wire: Wire) -> None:
    async with AsyncSmsClient(
        service_plan_id=sim.service_plan_id, api_token="wrong", base_url=sim.url
    ) as client:
        with pytest.raises(AuthenticationError) as excinfo:
            await client.batches.get(UNKNOWN_ID)
    assert (excinfo.value.status, excinfo.value.code) == (401, "unauthorized")
    wire.one("GET", f"{PLAN}/batches/{UNKNOWN_ID}", 401)
