"""Inbound (MO) messages: inject_inbound, list with filters, get by id."""

from __future__ import annotations

from datetime import timedelta


async def test_inject_and_get(api, sim) -> None:
    mo = sim.inject_inbound(
        from_="+46701234567",
        to="+12015550000",
        body="Hello John! 👋",
        client_reference="cr",
        operator_id="24001",
        sent_at="2024-06-06T09:00:00Z",
    )
    assert mo["type"] == "mo_text"
    assert (mo["from"], mo["to"]) == ("46701234567", "12015550000")
    status, got = await api.get(f"/inbounds/{mo['id']}")
    assert status == 200
    assert got == mo
    assert got["body"] == "Hello John! 👋"
    assert got["sent_at"] == "2024-06-06T09:00:00.000Z"
    assert got["received_at"].endswith("Z")
    status, _ = await api.get("/inbounds/01AAAAAAAAAAAAAAAAAAAAAAAA")
    assert status == 404


async def test_binary_and_media(api, sim) -> None:
    b = sim.inject_inbound("+46701234567", "12345", "AAE=", type="mo_binary", udh="0500030a0201")
    assert b["udh"] == "0500030a0201"
    m = sim.inject_inbound(
        "+46701234567",
        "12345",
        "see pic",
        type="mo_media",
        subject="S",
        media=[{"url": "https://e.x/a.jpg", "content_type": "image/jpeg"}],
    )
    assert m["body"] == {
        "message": "see pic",
        "subject": "S",
        "media": [
            {
                "status": "Uploaded",
                "code": 0,
                "url": "https://e.x/a.jpg",
                "content_type": "image/jpeg",
            }
        ],
    }
    _, got = await api.get(f"/inbounds/{m['id']}")
    assert got["type"] == "mo_media"


async def test_list_filters_and_paging(api, sim) -> None:
    first = sim.inject_inbound("+46700000001", "+12015550000", "one", client_reference="x")
    await sim.advance(60)
    second = sim.inject_inbound("+46700000002", "+12015550001", "two")
    third = sim.inject_inbound("+46700000003", "12345", "three")
    _, page = await api.get("/inbounds", page_size=2)
    assert (page["count"], page["page_size"]) == (3, 2)
    assert [i["id"] for i in page["inbounds"]] == [third["id"], second["id"]]
    _, page = await api.get("/inbounds", to="+12015550000,12345")
    assert {i["id"] for i in page["inbounds"]} == {first["id"], third["id"]}
    _, page = await api.get("/inbounds", client_reference="x")
    assert [i["id"] for i in page["inbounds"]] == [first["id"]]
    cut = (sim.clock.now() - timedelta(seconds=30)).isoformat()
    _, page = await api.get("/inbounds", start_date=cut)
    assert page["count"] == 2
    _, page = await api.get("/inbounds", end_date=cut)
    assert page["count"] == 1
    await sim.advance(86400 + 120)
    _, page = await api.get("/inbounds")
    assert page["count"] == 0  # default window: the last 24 hours
