"""The journal: requests, created batches, recipients, the each-recipient-once check."""

from __future__ import annotations

from datetime import timedelta

import pytest


async def test_request_entries(api, sim) -> None:
    await api.post("/batches", {"to": ["+15550000001"], "body": "x"}, dry="no")
    await api.get("/batches", page_size=5)
    first, second = sim.journal.requests
    assert first.method == "POST"
    assert first.path == f"/xms/v1/{sim.service_plan_id}/batches"
    assert first.query == {"dry": "no"}
    assert first.json == {"to": ["+15550000001"], "body": "x"}
    assert first.status == 201
    assert first.plan_id == sim.service_plan_id
    assert first.time == sim.clock.now()
    assert "Authorization" not in first.headers
    assert "authorization" not in {k.lower() for k in first.headers}
    assert first.headers["Content-Type"] == "application/json"
    assert (second.method, second.query, second.json, second.status) == (
        "GET",
        {"page_size": "5"},
        None,
        200,
    )
    assert sim.journal.find("post", "/batches") == [first]


async def test_batches_created_and_recipients_sent(api, sim) -> None:
    _, group = await api.post("/groups", {"members": ["+15550000005", "+15550000001"]})
    a = await api.send(["+15550000001", "+15550000002"])
    b = await api.send(["+15550000001", group["id"]])
    c = await api.send(["+15550000003"], send_at=(sim.clock.now() + timedelta(hours=1)).isoformat())
    await api.delete(f"/batches/{c['id']}")
    created = sim.journal.batches_created()
    assert [x["id"] for x in created] == [a["id"], b["id"], c["id"]]
    assert created[2]["canceled"] is True  # rendered as it is now
    assert sim.journal.recipients_sent() == [
        "+15550000001",
        "+15550000002",
        "+15550000001",
        "+15550000005",
        "+15550000003",
    ]
    await sim.advance(1)
    assert sim.journal.recipients_dispatched() == [
        "+15550000001",
        "+15550000002",
        "+15550000001",
        "+15550000005",
    ]


async def test_assert_each_recipient_once(api, sim) -> None:
    await api.send(["+15550000001", "+15550000002"])
    sim.journal.assert_each_recipient_once()
    sim.journal.assert_each_recipient_once(["15550000001", "+1 555 000 0002"])
    with pytest.raises(
        AssertionError, match=r"expected recipient\(s\) got no message: \+15550000003"
    ):
        sim.journal.assert_each_recipient_once(["+15550000001", "+15550000002", "+15550000003"])
    with pytest.raises(
        AssertionError, match=r"unexpected recipient\(s\) got a message: \+15550000002"
    ):
        sim.journal.assert_each_recipient_once(["+15550000001"])
    await api.send(["+15550000002"])
    with pytest.raises(AssertionError, match=r"\+15550000002 x2"):
        sim.journal.assert_each_recipient_once()
    # frozen clock at 1000 msg/s: only the first message has been dispatched so far
    assert sim.journal.recipients_dispatched() == ["+15550000001"]
    sim.journal.assert_each_recipient_once(dispatched=True, expected=["+15550000001"])
    await sim.advance(1)
    with pytest.raises(AssertionError, match=r"3 message\(s\) dispatched .*\+15550000002 x2"):
        sim.journal.assert_each_recipient_once(dispatched=True)


async def test_clear(api, sim) -> None:
    batch = await api.send(["+15550000001"])
    await sim.advance(1)
    sim.journal.clear()
    assert sim.journal.requests == []
    assert sim.journal.batches_created() == []
    assert sim.journal.recipients_sent() == []
    assert sim.journal.dispatched() == []
    status, _ = await api.get(f"/batches/{batch['id']}")  # state is kept
    assert status == 200
    assert len(sim.journal.requests) == 1
