"""OAuth2 client credentials: token endpoint, project-scoped requests, expiry."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from sinch_async.testing import SinchSimulator


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def get_token(
    sim: SinchSimulator, user: str, password: str, grant: str = "client_credentials"
):
    headers = {"Authorization": basic(user, password)}
    async with (
        aiohttp.ClientSession() as s,
        s.post(sim.auth_url, data={"grant_type": grant}, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_token_shape_and_count(sim) -> None:
    status, body = await get_token(sim, sim.key_id, sim.key_secret)
    assert status == 200
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert sim.token_requests == 1
    assert sim.auth_url == sim.url + "/oauth2/token"


async def test_bad_credentials_and_grant(sim) -> None:
    status, body = await get_token(sim, sim.key_id, "wrong")
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = await get_token(sim, sim.key_id, sim.key_secret, grant="password")
    assert (status, body["error"]) == (400, "unsupported_grant_type")
    assert sim.token_requests == 2


async def test_form_credentials_are_accepted(sim) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": sim.key_id,
        "client_secret": sim.key_secret,
    }
    async with aiohttp.ClientSession() as s, s.post(sim.auth_url, data=form) as r:
        assert r.status == 200


async def test_token_works_on_project_path_only(sim, connect) -> None:
    _, body = await get_token(sim, sim.key_id, sim.key_secret)
    project = connect(sim, token=body["access_token"], plan_id=sim.project_id)
    status, batch = await project.post("/batches", {"to": ["+15550000001"], "body": "x"})
    assert status == 201
    status, _ = await project.get(f"/batches/{batch['id']}")
    assert status == 200
    plan = connect(sim, token=body["access_token"])
    assert (await plan.get("/batches"))[0] == 401
    static = connect(sim, plan_id=sim.project_id)  # the api token is not valid for the project
    assert (await static.get("/batches"))[0] == 401


@pytest.mark.sinch_simulator(token_ttl=60)
async def test_expired_token_gives_www_authenticate(connect, sim) -> None:
    _, body = await get_token(sim, sim.key_id, sim.key_secret)
    assert body["expires_in"] == 60
    project = connect(sim, token=body["access_token"], plan_id=sim.project_id)
    assert (await project.get("/batches"))[0] == 200
    await sim.advance(61)
    status, err = await project.get("/batches")
    assert status == 401
    assert err["code"] == "unauthorized"
    www = project.last_headers["WWW-Authenticate"]
    assert "expired" in www
    assert 'error="invalid_token"' in www
    _, fresh = await get_token(sim, sim.key_id, sim.key_secret)
    project2 = connect(sim, token=fresh["access_token"], plan_id=sim.project_id)
    assert (await project2.get("/batches"))[0] == 200
    sim.expire_tokens()
    status, _ = await project2.get("/batches")
    assert status == 401
    assert "expired" in project2.last_headers["WWW-Authenticate"]
    assert sim.token_requests == 2


async def test_unknown_token_is_not_reported_as_expired(sim, connect) -> None:
    project = connect(sim, token="made-up", plan_id=sim.project_id)
    status, _ = await project.get("/batches")
    assert status == 401
    assert "expired" not in project.last_headers["WWW-Authenticate"]
