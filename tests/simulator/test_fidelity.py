"""The simulator behaves as Sinch documents it where the official SDKs found it did not (issue 17):
media dry runs, the default window of ``GET /batches``, ``PUT /groups`` without members, the report
of a cancelled scheduled batch, unknown well-formed group IDs; and ``base_url`` with or without the
``/xms/v1/{id}`` suffix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sinch_async import AsyncSmsClient, PermissionDeniedError, SinchValidationError
from sinch_async.testing import SinchSimulator

MEDIA = {"url": "https://example.com/cat.jpg", "message": "Hi ${name}", "subject": "Cat"}


def _iso_in(sim: SinchSimulator, seconds: float) -> str:
    return (sim.clock.now() + timedelta(seconds=seconds)).isoformat()


# -- 1. dry run of a media batch ------------------------------------------------------------
async def test_media_dry_run_per_recipient_body_is_a_string(api) -> None:
    status, data = await api.post(
        "/batches/dry_run",
        {
            "to": ["+15550000001", "+15550000002"],
            "type": "mt_media",
            "body": MEDIA,
            "parameters": {"name": {"+15550000001": "Ann", "default": "there"}},
        },
        per_recipient="true",
    )
    assert status == 200, data
    assert data["number_of_recipients"] == 2
    bodies = {d["recipient"]: d["body"] for d in data["per_recipient"]}
    assert bodies == {"15550000001": "Hi Ann", "15550000002": "Hi there"}
    assert all(isinstance(d["body"], str) for d in data["per_recipient"])


async def test_media_dry_run_through_the_client(sim: SinchSimulator) -> None:
    from sinch_async.models.batches import MediaBody

    async with sim.client(retry=None) as sms:
        result = await sms.batches.dry_run(
            ["+15550000001"],
            MediaBody(url="https://example.com/a.png", message="look"),
            type="mt_media",
            per_recipient=True,
        )
    assert result.per_recipient is not None
    assert [r.body for r in result.per_recipient] == ["look"]


async def test_text_dry_run_body_unchanged(api) -> None:
    _, data = await api.post(
        "/batches/dry_run", {"to": ["+15550000001"], "body": "plain"}, per_recipient="true"
    )
    assert data["per_recipient"][0]["body"] == "plain"


# -- 2. GET /batches defaults to the last 24 hours ---------------------------------------------
async def test_list_batches_defaults_to_last_24_hours(api, sim: SinchSimulator) -> None:
    old = await api.send(["+15550000001"], client_reference="old")
    await sim.advance(25 * 3600)
    new = await api.send(["+15550000002"], client_reference="new")
    _, data = await api.get("/batches")
    assert [b["id"] for b in data["batches"]] == [new["id"]]
    _, data = await api.get("/batches", client_reference="old")
    assert data["count"] == 0  # an older batch needs an explicit start_date
    since = (sim.clock.now() - timedelta(days=2)).isoformat()
    _, data = await api.get("/batches", start_date=since)
    assert [b["id"] for b in data["batches"]] == [new["id"], old["id"]]


# -- 3. PUT /groups/{id} requires members ----------------------------------------------------
async def test_replace_group_without_members_is_400(api) -> None:
    _, group = await api.post("/groups", {"name": "g", "members": ["+15550000001"]})
    status, err = await api.put(f"/groups/{group['id']}", {"name": "renamed"})
    assert status == 400
    assert err["code"] == "syntax_constraint_violation"
    assert "members" in err["text"]
    _, members = await api.get(f"/groups/{group['id']}/members")
    assert members == ["15550000001"]  # untouched
    status, _ = await api.put(f"/groups/{group['id']}", {"name": "renamed", "members": []})
    assert status == 200  # an explicit empty list still replaces


# -- 4. cancelling a scheduled batch --------------------------------------------------------
async def test_cancelled_scheduled_batch_has_an_empty_report(api, sim: SinchSimulator) -> None:
    batch = await api.send(["+15550000001", "+15550000002"], send_at=_iso_in(sim, 600))
    status, data = await api.delete(f"/batches/{batch['id']}")
    assert (status, data["canceled"]) == (200, True)
    await sim.advance(1200)
    _, report = await api.get(f"/batches/{batch['id']}/delivery_report", type="full")
    assert report["statuses"] == []
    assert report["total_message_count"] == 0
    status, _ = await api.get(f"/batches/{batch['id']}/delivery_report/+15550000001")
    assert status == 404
    since = (sim.clock.now() - timedelta(days=1)).isoformat()
    _, listed = await api.get("/delivery_reports", start_date=since)
    assert listed["count"] == 0
    assert sim.journal.recipients_dispatched() == []


# -- the README's error example --------------------------------------------------------------
async def test_unknown_well_formed_group_id_is_403_unknown_group(sim: SinchSimulator) -> None:
    async with sim.client(retry=None) as sms:
        with pytest.raises(PermissionDeniedError) as info:
            await sms.batches.send(["01ABCDEFGHIJKLMNOPQRSTUVWX"], "hi")
    assert info.value.code == "unknown_group"


async def test_sinch_example_group_id_shape_is_an_id(api) -> None:
    status, err = await api.post(
        "/batches", {"to": ["01FC66621VHDBN119Z8PMV1QPU"], "body": "hi"}
    )  # Sinch's own example ID (U is not in Crockford's alphabet)
    assert (status, err["code"]) == (403, "unknown_group")
    status, err = await api.post("/batches", {"to": ["not-a-group"], "body": "hi"})
    assert (status, err["code"]) == (400, "syntax_invalid_parameter_format")


# -- base_url with or without the suffix -----------------------------------------------------
def _plan_client(sim: SinchSimulator, base_url: str) -> AsyncSmsClient:
    return AsyncSmsClient(
        service_plan_id=sim.service_plan_id,
        api_token=sim.api_token,
        base_url=base_url,
        retry=None,
    )


def _oauth_client(sim: SinchSimulator, base_url: str) -> AsyncSmsClient:
    return AsyncSmsClient(
        project_id=sim.project_id,
        key_id=sim.key_id,
        key_secret=sim.key_secret,
        base_url=base_url,
        auth_url=sim.auth_url,
        retry=None,
    )


@pytest.mark.parametrize(
    "suffix", ["", "/", "/xms/v1", "/xms/v1/", "/xms/v1/{id}", "/xms/v1/{id}/"]
)
@pytest.mark.parametrize("kind", ["plan", "oauth"])
async def test_base_url_with_or_without_suffix(sim: SinchSimulator, kind: str, suffix: str) -> None:
    account = sim.service_plan_id if kind == "plan" else sim.project_id
    base = sim.url + suffix.replace("{id}", account)
    make = _plan_client if kind == "plan" else _oauth_client
    async with make(sim, base) as sms:
        batch = await sms.batches.send(["+15550000001"], "hi")
        assert (await sms.batches.get(batch.id)).id == batch.id
    paths = {e.path for e in sim.journal.requests if e.method == "POST" and "batches" in e.path}
    assert paths == {f"/xms/v1/{account}/batches"}


async def test_base_url_naming_another_plan_is_refused(sim: SinchSimulator) -> None:
    with pytest.raises(SinchValidationError) as info:
        _plan_client(sim, f"{sim.url}/xms/v1/other-plan")
    assert info.value.field == "base_url"


async def test_base_url_from_env_with_suffix(sim: SinchSimulator) -> None:
    env = {
        "SINCH_BASE_URL": f"{sim.url}/xms/v1/{sim.service_plan_id}",
        "SINCH_SERVICE_PLAN_ID": sim.service_plan_id,
        "SINCH_API_TOKEN": sim.api_token,
    }
    async with AsyncSmsClient.from_env(env, retry=None) as sms:
        batch = await sms.batches.send(["+15550000001"], "hi")
    assert batch.id
