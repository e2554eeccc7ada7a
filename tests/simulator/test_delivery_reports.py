"""Delivery report endpoints: batch report, recipient report, the paged list."""

from __future__ import annotations

from datetime import timedelta

import pytest


@pytest.mark.sinch_simulator(failure_rules={"+1555999": "Failed"})
async def test_batch_report_summary_and_full(sim, api) -> None:
    batch = await api.send(["+15550000001", "+15550000002", "+15559990000"], client_reference="ref")
    await sim.advance(1)
    status, summary = await api.get(f"/batches/{batch['id']}/delivery_report")
    assert status == 200
    assert summary == {
        "type": "delivery_report_sms",
        "batch_id": batch["id"],
        "total_message_count": 3,
        "statuses": [
            {"code": 0, "status": "Delivered", "count": 2},
            {"code": 15, "status": "Failed", "count": 1},
        ],
        "client_reference": "ref",
    }
    _, full = await api.get(f"/batches/{batch['id']}/delivery_report", type="full")
    assert full["statuses"][0]["recipients"] == ["15550000001", "15550000002"]
    assert full["statuses"][1]["recipients"] == ["15559990000"]
    _, only_failed = await api.get(
        f"/batches/{batch['id']}/delivery_report", status="FAILED", type="full"
    )
    assert [s["status"] for s in only_failed["statuses"]] == ["Failed"]
    _, by_code = await api.get(f"/batches/{batch['id']}/delivery_report", code="0,401")
    assert [s["count"] for s in by_code["statuses"]] == [2]


async def test_batch_report_errors(api) -> None:
    batch = await api.send(["+15550000001"])
    status, _ = await api.get(f"/batches/{batch['id']}/delivery_report", type="detailed")
    assert status == 404
    status, _ = await api.get("/batches/01AAAAAAAAAAAAAAAAAAAAAAAA/delivery_report")
    assert status == 404
    status, err = await api.get(f"/batches/{batch['id']}/delivery_report", status="Lost")
    assert (status, err["code"]) == (400, "syntax_invalid_parameter_format")
    status, err = await api.get(f"/batches/{batch['id']}/delivery_report", code="abc")
    assert (status, err["code"]) == (400, "syntax_invalid_parameter_format")


async def test_mms_report_type(api, sim) -> None:
    batch = await api.send(["+15550000001"], {"url": "https://e.x/a.png"}, type="mt_media")
    await sim.advance(1)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report")
    assert report["type"] == "delivery_report_mms"
    _, dr = await api.get(f"/batches/{batch['id']}/delivery_report/15550000001")
    assert dr["type"] == "recipient_delivery_report_mms"


async def test_recipient_report(api, sim) -> None:
    batch = await api.send(["+15550000001"], client_reference="c")
    status, dr = await api.get(f"/batches/{batch['id']}/delivery_report/+15550000001")
    assert status == 200
    assert (dr["status"], dr["code"]) == ("Dispatched", 401)
    await sim.advance(1)
    _, dr = await api.get(f"/batches/{batch['id']}/delivery_report/15550000001")
    assert dr["type"] == "recipient_delivery_report_sms"
    assert dr["batch_id"] == batch["id"]
    assert dr["recipient"] == "15550000001"
    assert (dr["status"], dr["code"]) == ("Delivered", 0)
    assert dr["client_reference"] == "c"
    assert dr["at"].endswith("Z")
    assert "number_of_message_parts" not in dr
    status, _ = await api.get(f"/batches/{batch['id']}/delivery_report/15550000002")
    assert status == 404
    status, _ = await api.get("/batches/01AAAAAAAAAAAAAAAAAAAAAAAA/delivery_report/15550000001")
    assert status == 404


async def test_list_delivery_reports_paged_and_filtered(api, sim) -> None:
    sim.set_failure_rules({"+1555999": "Failed"})
    a = await api.send(["+15550000001", "+15550000002"], client_reference="a")
    await sim.advance(10)
    b = await api.send(["+15559990001"], client_reference="b")
    await sim.advance(10)
    status, p0 = await api.get("/delivery_reports", page_size=2)
    assert status == 200
    assert (p0["count"], p0["page"], p0["page_size"]) == (3, 0, 2)
    assert p0["delivery_reports"][0]["batch_id"] == b["id"]  # newest first
    _, p1 = await api.get("/delivery_reports", page_size=2, page=1)
    assert (p1["page_size"], p1["delivery_reports"][0]["batch_id"]) == (1, a["id"])
    _, p2 = await api.get("/delivery_reports", page_size=2, page=2)
    assert (p2["page_size"], p2["delivery_reports"]) == (0, [])
    _, failed = await api.get("/delivery_reports", status="Failed")
    assert [d["recipient"] for d in failed["delivery_reports"]] == ["15559990001"]
    _, code0 = await api.get("/delivery_reports", code="0")
    assert code0["count"] == 2
    _, ref = await api.get("/delivery_reports", client_reference="a")
    assert {d["batch_id"] for d in ref["delivery_reports"]} == {a["id"]}
    cut = (sim.clock.now() - timedelta(seconds=15)).isoformat()
    _, recent = await api.get("/delivery_reports", start_date=cut)
    assert recent["count"] == 1
    _, older = await api.get("/delivery_reports", end_date=cut)
    assert older["count"] == 2
    await sim.advance(2 * 86400)
    _, default_window = await api.get("/delivery_reports")
    assert default_window["count"] == 0  # default start_date is 24 hours ago
    status, _ = await api.get("/delivery_reports", page_size=101)
    assert status == 400
