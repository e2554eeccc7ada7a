"""Batch endpoints: send, get, list, update, replace, cancel, feedback; auth; validation."""

from __future__ import annotations

import re

import aiohttp
import pytest

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_send_text_batch_returns_201_and_sinch_shape(api) -> None:
    status, data = await api.post(
        "/batches",
        {
            "to": ["+46 70-123 45 67", "0046701234568", "(4670) 1234569"],
            "from": "Acme",
            "body": "Hi",
        },
    )
    assert status == 201
    assert re.fullmatch(r"[0-9A-Z]{26}", data["id"])
    assert data["to"] == ["46701234567", "46701234568", "46701234569"]
    assert data["from"] == "Acme"
    assert data["canceled"] is False
    assert data["type"] == "mt_text"
    assert data["delivery_report"] == "none"
    assert TS.match(data["created_at"])
    assert TS.match(data["modified_at"])
    assert TS.match(data["expire_at"])
    assert "send_at" not in data
    assert "callback_url" not in data
    assert "client_reference" not in data
    assert data["feedback_enabled"] is False


async def test_expire_at_defaults_to_three_days_after_send_at(api) -> None:
    data = await api.send(["+15550000001"], send_at="2030-01-01T10:00:00Z")
    assert data["send_at"] == "2030-01-01T10:00:00.000Z"
    assert data["expire_at"] == "2030-01-04T10:00:00.000Z"


async def test_send_echoes_optional_fields(api) -> None:
    fields = {
        "client_reference": "ref-1",
        "callback_url": "http://127.0.0.1:1/cb",
        "delivery_report": "full",
        "flash_message": True,
        "truncate_concat": True,
        "max_number_of_message_parts": 3,
        "from_ton": 6,
        "from_npi": 18,
        "feedback_enabled": True,
        "parameters": {"name": {"15550000001": "Ann", "default": "you"}},
    }
    data = await api.send(["+15550000001"], "Hi ${name}", **fields)
    for key, value in fields.items():
        assert data[key] == value, key


async def test_binary_requires_udh_and_media_body_object(api) -> None:
    status, err = await api.post(
        "/batches", {"to": ["+15550000001"], "body": "AAE=", "type": "mt_binary"}
    )
    assert (status, err["code"]) == (400, "syntax_constraint_violation")
    data = await api.send(["+15550000001"], "AAE=", type="mt_binary", udh="050003010201")
    assert data["type"] == "mt_binary"
    assert data["udh"] == "050003010201"
    media = {"url": "https://example.com/a.png", "message": "look", "subject": "S"}
    data = await api.send(["+15550000001"], media, type="mt_media")
    assert data["body"] == media
    assert data["type"] == "mt_media"
    status, err = await api.post(
        "/batches", {"to": ["+15550000001"], "body": "x", "type": "mt_media"}
    )
    assert (status, err["code"]) == (400, "syntax_invalid_json")


async def test_get_batch_and_unknown_id(api) -> None:
    sent = await api.send(["+15550000001"])
    status, data = await api.get(f"/batches/{sent['id']}")
    assert status == 200
    assert data == sent
    status, _ = await api.get("/batches/01AAAAAAAAAAAAAAAAAAAAAAAA")
    assert status == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"body": "x"}, 400, "syntax_constraint_violation"),
        ({"to": ["+15550000001"]}, 400, "syntax_constraint_violation"),
        ({"to": [], "body": "x"}, 400, "syntax_constraint_violation"),
        (
            {"to": [f"+1555{i:07d}" for i in range(1001)], "body": "x"},
            400,
            "syntax_constraint_violation",
        ),
        ({"to": ["+15550000001"], "body": "x" * 2001}, 400, "syntax_constraint_violation"),
        ({"to": "+15550000001", "body": "x"}, 400, "syntax_invalid_json"),
        ({"to": ["+15550000001"], "body": "x", "type": "mt_fax"}, 400, "syntax_invalid_json"),
        (
            {"to": ["+15550000001"], "body": "x", "delivery_report": "all"},
            400,
            "syntax_invalid_json",
        ),
        (
            {"to": ["+15550000001"], "body": "x", "send_at": "tomorrow"},
            400,
            "syntax_invalid_parameter_format",
        ),
        ({"to": ["01AAAAAAAAAAAAAAAAAAAAAAAA"], "body": "x"}, 403, "unknown_group"),
        (
            {"to": ["+15550000001"], "body": "x", "delivery_report": "summary"},
            403,
            "missing_callback_url",
        ),
        ([1, 2], 400, "syntax_invalid_json"),
    ],
)
async def test_send_validation_errors(api, body, status, code) -> None:
    got_status, err = await api.post("/batches", body)
    assert got_status == status, err
    assert err["code"] == code
    assert err["text"]


async def test_send_2000_chars_and_1000_recipients_are_fine(api) -> None:
    data = await api.send([f"+1555{i:07d}" for i in range(1000)], "x" * 2000)
    assert len(data["to"]) == 1000


async def test_bad_msisdn_message_matches_sinch(api) -> None:
    status, err = await api.post("/batches", {"to": ["+15550000001", "+1"], "body": "x"})
    assert status == 400
    assert err == {
        "code": "syntax_invalid_parameter_format",
        "text": "The format of parameter 'to[1]' is invalid; "
        "value '+1' is not a valid MSISDN or group ID.",
    }


async def test_malformed_json_and_wrong_content_type(api, session) -> None:
    status, err = await api.call(
        "POST", "/batches", data=b'{"to": [', headers={"Content-Type": "application/json"}
    )
    assert (status, err["code"]) == (400, "syntax_invalid_json")
    status, _ = await api.call(
        "POST",
        "/batches",
        data=b'{"to": ["+15550000001"], "body": "x"}',
        headers={"Content-Type": "text/plain"},
    )
    assert status == 415
    assert api.sim.journal.batches_created() == []


@pytest.mark.sinch_simulator(default_callback_url="http://127.0.0.1:9/cb")
async def test_default_callback_url_satisfies_delivery_report(sim) -> None:
    headers = {"Authorization": f"Bearer {sim.api_token}"}
    url = f"{sim.url}/xms/v1/{sim.service_plan_id}/batches"
    body = {"to": ["+15550000001"], "body": "x", "delivery_report": "summary"}
    async with aiohttp.ClientSession(headers=headers) as s, s.post(url, json=body) as resp:
        assert resp.status == 201


# -- auth -----------------------------------------------------------------------
@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc", "Bearer "])
async def test_bad_or_missing_token_is_401(sim, anon, header) -> None:
    headers = {"Authorization": header} if header else None
    status, err = await anon.call("GET", "/batches", headers=headers)
    assert status == 401
    assert err["code"] == "unauthorized"
    assert "Bearer" in anon.last_headers["WWW-Authenticate"]
    assert sim.journal.requests[-1].status == 401
    assert "Authorization" not in sim.journal.requests[-1].headers


async def test_token_of_another_plan_is_401(sim, anon) -> None:
    sim.add_service_plan("plan-b", "token-b")
    h = {"Authorization": "Bearer token-b"}
    assert (await anon.call("GET", "/batches", headers=h))[0] == 401
    anon.prefix = "/xms/v1/plan-b"
    assert (await anon.call("GET", "/batches", headers=h))[0] == 200
    anon.prefix = "/xms/v1/unknown-plan"
    assert (await anon.call("GET", "/batches", headers=h))[0] == 401


async def test_service_plans_have_separate_state(sim, api, anon) -> None:
    sim.add_service_plan("plan-b", "token-b")
    await api.send(["+15550000001"])
    anon.prefix = "/xms/v1/plan-b"
    status, data = await anon.call("GET", "/batches", headers={"Authorization": "Bearer token-b"})
    assert (status, data["count"]) == (200, 0)
    with pytest.raises(ValueError):
        sim.add_service_plan("plan-b", "again")


# -- list and pagination ----------------------------------------------------------
async def test_list_pagination_quirk_and_newest_first(api) -> None:
    ids = [(await api.send([f"+1555000000{i}"]))["id"] for i in range(3)]
    status, p0 = await api.get("/batches", page_size=2)
    assert status == 200
    assert (p0["count"], p0["page"], p0["page_size"]) == (3, 0, 2)
    assert [b["id"] for b in p0["batches"]] == [ids[2], ids[1]]
    _, p1 = await api.get("/batches", page=1, page_size=2)
    assert (p1["count"], p1["page"], p1["page_size"]) == (3, 1, 1)
    assert [b["id"] for b in p1["batches"]] == [ids[0]]
    _, p2 = await api.get("/batches", page=2, page_size=2)
    assert (p2["count"], p2["page"], p2["page_size"], p2["batches"]) == (3, 2, 0, [])
    _, default = await api.get("/batches")
    assert default["page_size"] == 3


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"page_size": 0}, "syntax_constraint_violation"),
        ({"page_size": 101}, "syntax_constraint_violation"),
        ({"page": -1}, "syntax_constraint_violation"),
        ({"page": "x"}, "syntax_invalid_parameter_format"),
        ({"start_date": "yesterday"}, "syntax_invalid_parameter_format"),
    ],
)
async def test_list_bad_query(api, params, code) -> None:
    status, err = await api.get("/batches", **params)
    assert (status, err["code"]) == (400, code)


async def test_list_filters(api, sim) -> None:
    await api.send(["+15550000001"], **{"from": "+15559990000", "client_reference": "a"})
    await sim.advance(3600)
    mid = sim.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    await api.send(["+15550000002"], **{"from": "Brand", "client_reference": "b"})
    await api.send(["+15550000003"], **{"from": "Other"})
    _, data = await api.get("/batches", **{"from": "15559990000,Brand"})
    assert data["count"] == 2
    _, data = await api.get("/batches", client_reference="b")
    assert [b["client_reference"] for b in data["batches"]] == ["b"]
    _, data = await api.get("/batches", start_date=mid)
    assert data["count"] == 2
    _, data = await api.get("/batches", end_date=mid)
    assert data["count"] == 1


async def test_list_only_shows_last_14_days(api, sim) -> None:
    old = await api.send(["+15550000001"])
    await sim.advance(13 * 86400)
    await api.send(["+15550000002"])
    long_ago = "2000-01-01T00:00:00Z"  # without start_date only the last 24 hours are listed
    _, data = await api.get("/batches", start_date=long_ago)
    assert data["count"] == 2
    await sim.advance(2 * 86400)
    _, data = await api.get("/batches", start_date=long_ago)
    assert data["count"] == 1
    status, _ = await api.get(f"/batches/{old['id']}")
    assert status == 200  # still retrievable by id


# -- update / replace / cancel / feedback ----------------------------------------------
async def test_update_scheduled_batch(api) -> None:
    sent = await api.send(["+15550000001", "+15550000002"], "old", send_at="2099-01-01T00:00:00Z")
    status, data = await api.post(
        f"/batches/{sent['id']}",
        {
            "to_add": ["+15550000003", "+15550000001"],
            "to_remove": ["15550000002"],
            "body": "new",
            "client_reference": "r",
            "expire_at": "2099-01-02T00:00:00Z",
        },
    )
    assert status == 200, data
    assert data["to"] == ["15550000001", "15550000003"]
    assert data["body"] == "new"
    assert data["client_reference"] == "r"
    assert data["expire_at"] == "2099-01-02T00:00:00.000Z"
    assert data["created_at"] == sent["created_at"]
    status, got = await api.get(f"/batches/{sent['id']}")
    assert got == data


async def test_replace_scheduled_batch(api) -> None:
    sent = await api.send(
        ["+15550000001"], "old", send_at="2099-01-01T00:00:00Z", client_reference="x"
    )
    status, data = await api.put(
        f"/batches/{sent['id']}", {"to": ["+15550000009"], "body": "replaced"}
    )
    assert status == 200
    assert data["id"] == sent["id"]
    assert data["to"] == ["15550000009"]
    assert data["body"] == "replaced"
    assert "client_reference" not in data
    assert "send_at" not in data


async def test_update_or_replace_dispatched_batch_is_403(api) -> None:
    sent = await api.send(["+15550000001"])
    status, err = await api.post(f"/batches/{sent['id']}", {"body": "late"})
    assert (status, err["code"]) == (403, "batch_already_dispatched")
    status, err = await api.put(f"/batches/{sent['id']}", {"to": ["+15550000001"], "body": "x"})
    assert (status, err["code"]) == (403, "batch_already_dispatched")
    status, _ = await api.post("/batches/01AAAAAAAAAAAAAAAAAAAAAAAA", {"body": "x"})
    assert status == 404


async def test_cancel_returns_the_batch(api) -> None:
    sent = await api.send(["+15550000001"], send_at="2099-01-01T00:00:00Z")
    status, data = await api.delete(f"/batches/{sent['id']}")
    assert status == 200
    assert data["id"] == sent["id"]
    assert data["canceled"] is True
    status, _ = await api.delete("/batches/01AAAAAAAAAAAAAAAAAAAAAAAA")
    assert status == 404


async def test_delivery_feedback(api, sim) -> None:
    sent = await api.send(["+15550000001"], feedback_enabled=True)
    status, body = await api.post(
        f"/batches/{sent['id']}/delivery_feedback", {"recipients": ["+15550000001"]}
    )
    assert (status, body) == (202, "")
    assert sim.plan.batches[sent["id"]].feedback == ["+15550000001"]
    status, err = await api.post(f"/batches/{sent['id']}/delivery_feedback", {"recipients": ["x"]})
    assert (status, err["code"]) == (400, "syntax_invalid_parameter_format")
    status, _ = await api.post(
        "/batches/01AAAAAAAAAAAAAAAAAAAAAAAA/delivery_feedback", {"recipients": []}
    )
    assert status == 404


async def test_unknown_path_and_method(api) -> None:
    status, _ = await api.get("/nothing")
    assert status == 404
    status, _ = await api.call("PATCH", "/batches")
    assert status == 405
