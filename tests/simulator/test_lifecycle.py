"""Message lifecycle on the simulated clock: queue rate, scheduling, expiry, cancel, rules."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from sinch_async.testing import SinchSimulator


def counts(report: dict) -> dict[str, int]:
    return {s["status"]: s["count"] for s in report["statuses"]}


def iso_in(sim: SinchSimulator, seconds: float) -> str:
    return (sim.clock.now() + timedelta(seconds=seconds)).isoformat()


slow = pytest.mark.sinch_simulator(messages_per_second=10, seed=2)
"""A plan queue that drains at 10 messages per second."""


@slow
async def test_queue_drains_at_messages_per_second(api, sim) -> None:
    numbers = [f"+1555000{i:04d}" for i in range(30)]
    batch = await api.send(numbers)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report")
    assert report["total_message_count"] == 30
    assert counts(report) == {"Dispatched": 1, "Queued": 29}
    await sim.advance(0.95)  # dispatches at t0, t0+0.1, ... t0+0.9
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report")
    assert counts(report) == {"Delivered": 5, "Dispatched": 5, "Queued": 20}
    await sim.advance(10)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report")
    assert counts(report) == {"Delivered": 30}
    assert sim.journal.recipients_dispatched() == numbers


@slow
async def test_plan_queue_is_fifo_across_batches(api, sim) -> None:
    first = [f"+1555000{i:04d}" for i in range(20)]
    await api.send(first)
    await api.send(["+15559990000"])
    await sim.advance(1.0)
    assert "+15559990000" not in sim.journal.recipients_dispatched()
    await sim.advance(5)
    assert sim.journal.recipients_dispatched() == [*first, "+15559990000"]


@pytest.mark.sinch_simulator(time_scale=200)
async def test_time_scale_moves_the_clock_without_advance(api) -> None:
    batch = await api.send(["+15550000001"])
    await asyncio.sleep(0.05)  # 10 simulated seconds
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report")
    assert counts(report) == {"Delivered": 1}


async def test_scheduled_batch_waits_for_send_at(api, sim) -> None:
    batch = await api.send(["+15550000001"], send_at=iso_in(sim, 60))
    await sim.advance(59)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report")
    assert counts(report) == {"Queued": 1}
    assert sim.journal.recipients_dispatched() == []
    await sim.advance(2)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report")
    assert counts(report) == {"Delivered": 1}
    assert sim.journal.dispatched()[0].time == sim.clock.now() - timedelta(seconds=1)


async def test_past_send_at_sends_now(api, sim) -> None:
    batch = await api.send(["+15550000001"], send_at=iso_in(sim, -60))
    await sim.advance(1)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report")
    assert counts(report) == {"Delivered": 1}


@slow
async def test_expire_at_before_dispatch_expires(api, sim) -> None:
    numbers = [f"+1555000{i:04d}" for i in range(5)]
    batch = await api.send(numbers, expire_at=iso_in(sim, 0.25))
    await sim.advance(10)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report", type="full")
    by_status = {s["status"]: s for s in report["statuses"]}
    assert by_status["Delivered"]["count"] == 3  # t0, t0+0.1, t0+0.2
    assert by_status["Expired"]["count"] == 2
    assert by_status["Expired"]["code"] == 406
    assert by_status["Expired"]["recipients"] == ["15550000003", "15550000004"]


@slow
async def test_cancel_stops_undispatched_recipients(api, sim) -> None:
    numbers = [f"+1555000{i:04d}" for i in range(5)]
    batch = await api.send(numbers)
    await sim.advance(0.15)
    status, canceled = await api.delete(f"/batches/{batch['id']}")
    assert status == 200
    assert canceled["canceled"] is True
    await sim.advance(10)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report")
    assert {(s["status"], s["code"], s["count"]) for s in report["statuses"]} == {
        ("Delivered", 0, 2),
        ("Cancelled", 407, 3),
    }
    assert sim.journal.recipients_dispatched() == numbers[:2]


async def test_cancel_scheduled_batch_sends_nothing(api, sim) -> None:
    batch = await api.send(["+15550000001", "+15550000002"], send_at=iso_in(sim, 60))
    await api.delete(f"/batches/{batch['id']}")
    await sim.advance(120)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report")
    assert counts(report) == {}  # Sinch: a cancelled scheduled batch has an empty report
    assert sim.journal.recipients_dispatched() == []


async def test_groups_expand_at_send_time(api, sim) -> None:
    _, group = await api.post("/groups", {"name": "g", "members": ["+15550000001", "+15550000002"]})
    batch = await api.send([group["id"], "+15550000009"], send_at=iso_in(sim, 60))
    assert batch["to"] == [group["id"], "15550000009"]
    await api.post(f"/groups/{group['id']}", {"add": ["+15550000003"], "remove": ["+15550000001"]})
    await sim.advance(61)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report", type="full")
    assert report["total_message_count"] == 3
    assert sorted(report["statuses"][0]["recipients"]) == [
        "15550000002",
        "15550000003",
        "15550000009",
    ]


async def test_immediate_batch_expands_group_at_creation_and_deleted_group_is_empty(
    api, sim
) -> None:
    _, group = await api.post("/groups", {"members": ["+15550000001", "+15550000002"]})
    now_batch = await api.send([group["id"]])
    later = await api.send([group["id"]], send_at=iso_in(sim, 60))
    status, _ = await api.delete(f"/groups/{group['id']}")
    assert status == 200
    await sim.advance(61)
    _, report = await api.get(f"/batches/{now_batch['id']}/delivery_report")
    assert report["total_message_count"] == 2
    _, report = await api.get(f"/batches/{later['id']}/delivery_report")
    assert report["total_message_count"] == 0
    status, err = await api.post("/batches", {"to": [group["id"]], "body": "x"})
    assert (status, err["code"]) == (403, "unknown_group")


async def test_parameters_render_per_recipient_and_missing_value_aborts_405(api, sim) -> None:
    params = {
        "name": {"15550000001": "Ann", "default": "there"},
        "code": {"+15550000001": "1", "+1 555 000 0002": "2"},
    }
    batch = await api.send(
        ["+15550000001", "+15550000002", "+15550000003"],
        "Hi ${name}, code ${code} ${unknown}",
        parameters=params,
    )
    await sim.advance(1)
    bodies = {m.recipient: m.body for m in sim.journal.dispatched()}
    assert bodies == {
        "+15550000001": "Hi Ann, code 1 ${unknown}",
        "+15550000002": "Hi there, code 2 ${unknown}",
    }
    _, dr = await api.get(f"/batches/{batch['id']}/delivery_report/15550000003")
    assert (dr["status"], dr["code"]) == ("Aborted", 405)
    assert batch["body"] == "Hi ${name}, code ${code} ${unknown}"  # the batch keeps the template


async def test_media_parameters_render_message(api, sim) -> None:
    body = {"url": "https://example.com/x.png", "message": "Hi ${n}"}
    await api.send(["+15550000001"], body, type="mt_media", parameters={"n": {"default": "all"}})
    await sim.advance(1)
    assert sim.journal.dispatched()[0].body == {
        "url": "https://example.com/x.png",
        "message": "Hi all",
    }


async def test_max_parts_aborts_411_unless_truncated(api, sim) -> None:
    long = "x" * 200  # 2 GSM parts
    a = await api.send(["+15550000001"], long, max_number_of_message_parts=1)
    b = await api.send(["+15550000001"], long, max_number_of_message_parts=1, truncate_concat=True)
    c = await api.send(["+15550000001"], long, max_number_of_message_parts=2)
    await sim.advance(1)
    _, dr = await api.get(f"/batches/{a['id']}/delivery_report/+15550000001")
    assert (dr["status"], dr["code"], dr["number_of_message_parts"]) == ("Aborted", 411, 2)
    _, dr = await api.get(f"/batches/{b['id']}/delivery_report/+15550000001")
    assert (dr["status"], dr["number_of_message_parts"]) == ("Delivered", 1)
    _, dr = await api.get(f"/batches/{c['id']}/delivery_report/+15550000001")
    assert (dr["status"], dr["number_of_message_parts"]) == ("Delivered", 2)


@pytest.mark.sinch_simulator(
    failure_rules={"+1555999": "Failed", "1555888": ("Expired", 0), "+15559991": "Rejected"}
)
async def test_failure_rules_by_prefix(sim, api) -> None:
    batch = await api.send(["+15559990000", "+15558880000", "+15559991000", "+15550000000"])
    await sim.advance(5)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report", type="full")
    got = {(st["status"], st["code"]): st["recipients"] for st in report["statuses"]}
    assert got == {
        ("Failed", 15): ["15559990000"],
        ("Expired", 0): ["15558880000"],
        ("Rejected", 408): ["15559991000"],  # longest prefix wins
        ("Delivered", 0): ["15550000000"],
    }


async def test_failure_rules_callable_and_runtime_change(api, sim) -> None:
    sim.set_failure_rules(lambda n: ("Failed", 99) if n.endswith("7") else None)
    batch = await api.send(["+15550000007", "+15550000008"])
    await sim.advance(1)
    _, dr = await api.get(f"/batches/{batch['id']}/delivery_report/15550000007")
    assert (dr["status"], dr["code"]) == ("Failed", 99)
    assert "operator_status_at" in dr
    _, dr = await api.get(f"/batches/{batch['id']}/delivery_report/15550000008")
    assert dr["status"] == "Delivered"


async def test_dry_run_counts_parts(api, sim) -> None:
    body = {
        "to": ["+15550000001", "+15550000002", "+15550000003"],
        "body": "${greet} " + "x" * 155,
        "parameters": {"greet": {"+15550000001": "Hi", "+15550000002": "Привет", "default": "Yo"}},
    }
    status, data = await api.post("/batches/dry_run", body, per_recipient="true")
    assert status == 200
    assert data["number_of_recipients"] == 3
    by = {r["recipient"]: r for r in data["per_recipient"]}
    assert by["15550000001"]["number_of_parts"] == 1  # 158 GSM chars
    assert by["15550000001"]["encoding"] == "text"
    assert by["15550000002"]["number_of_parts"] == 3  # 162 UCS-2 units
    assert by["15550000002"]["encoding"] == "unicode"
    assert by["15550000003"]["body"].startswith("Yo ")
    assert data["number_of_messages"] == 1 + 3 + 1
    _, data = await api.post("/batches/dry_run", body)
    assert "per_recipient" not in data
    _, data = await api.post("/batches/dry_run", body, per_recipient="true", number_of_recipients=1)
    assert len(data["per_recipient"]) == 1
    status, err = await api.post("/batches/dry_run", {"to": ["+1"], "body": "x"})
    assert (status, err["code"]) == (400, "syntax_invalid_parameter_format")
    status, _ = await api.post("/batches/dry_run", body, number_of_recipients=1001)
    assert status == 400
    assert sim.journal.batches_created() == []
