"""The control API under /_simulator/ and the ``serve`` flags, driven over HTTP only.

Each test talks to a real simulator on 127.0.0.1 (the plugin's ``sim``, frozen clock, or
``python -m sinch_async.testing serve`` as a subprocess) with plain aiohttp requests.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from sinch_async.testing import SinchSimulator
from tests.conftest import serve_simulator


class Http:
    """Requests against the simulator: ``/_simulator/...`` and ``/xms/v1/{plan}/...``."""

    def __init__(self, session: aiohttp.ClientSession, plan_id: str, token: str) -> None:
        self.session = session
        self.sms = f"/xms/v1/{plan_id}"
        self.auth = {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
    ) -> tuple[int, Any, Any]:
        h = self.auth if headers is None else headers
        async with self.session.request(
            method, path, json=json, params=params, headers=h, data=data
        ) as resp:
            raw = await resp.read()
            body: Any = await resp.json() if resp.content_type == "application/json" else raw
            return resp.status, body, resp.headers

    async def ctl(self, verb: str, route: str, json: Any = None, **params: Any) -> Any:
        """A control call that must succeed (2xx); its JSON answer."""
        status, body, _ = await self.call(verb, "/_simulator" + route, json, params or None)
        assert 200 <= status < 300, (status, body)
        return body

    async def send(self, to: list[str], **fields: Any) -> dict[str, Any]:
        status, body, _ = await self.call(
            "POST", self.sms + "/batches", {"to": to, "from": "12345", "body": "hi", **fields}
        )
        assert status == 201, body
        return body  # type: ignore[no-any-return]

    async def report(self, batch_id: str) -> dict[str, int]:
        status, body, _ = await self.call("GET", f"{self.sms}/batches/{batch_id}/delivery_report")
        assert status == 200, body
        return {s["status"]: s["count"] for s in body["statuses"]}


@pytest.fixture
async def http(sim: SinchSimulator) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession(base_url=sim.url) as s:
        yield Http(s, sim.service_plan_id, sim.api_token)


ROUTES = [
    ("GET", "/clock"),
    ("POST", "/clock/advance"),
    ("GET", "/faults"),
    ("POST", "/faults"),
    ("DELETE", "/faults"),
    ("POST", "/inbounds"),
    ("POST", "/oauth/expire"),
    ("GET", "/journal/requests"),
    ("GET", "/journal/batches"),
    ("GET", "/journal/recipients"),
    ("GET", "/journal/messages"),
    ("POST", "/reset"),
    ("GET", "/plan"),
    ("PUT", "/plan"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Basic c2ltOnRva2Vu"])
async def test_every_route_needs_the_api_token(http: Http, method: str, path: str, auth) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    status, body, resp_headers = await http.call(
        method, "/_simulator" + path, {"seconds": 1}, headers=headers
    )
    assert status == 401
    assert body["code"] == "unauthorized"
    assert resp_headers["WWW-Authenticate"].startswith("Bearer")
    # and nothing happened: the clock did not move, no batch vanished
    assert (await http.ctl("GET", "/faults"))["faults"] == []


async def test_oauth_tokens_do_not_open_the_control_api(http: Http, sim: SinchSimulator) -> None:
    status, token, _ = await http.call(
        "POST",
        "/oauth2/token",
        headers={},
        data={
            "grant_type": "client_credentials",
            "client_id": sim.key_id,
            "client_secret": sim.key_secret,
        },
    )
    assert status == 200
    status, _, _ = await http.call(
        "POST", "/_simulator/reset", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert status == 401


BAD_INPUT = [
    ("POST", "/clock/advance", None),
    ("POST", "/clock/advance", {}),
    ("POST", "/clock/advance", {"seconds": -1}),
    ("POST", "/clock/advance", {"seconds": "10"}),
    ("POST", "/clock/advance", {"seconds": 1e30}),
    ("POST", "/clock/advance", {"seconds": 1, "minutes": 2}),
    ("POST", "/clock/advance", [1]),
    ("POST", "/faults", {"route": "POST /batches", "status": 700}),
    ("POST", "/faults", {"route": "POST /batches", "drop": "middle"}),
    ("POST", "/faults", {"route": "POST /batches", "times": 0}),
    ("POST", "/faults", {"route": "POST /batches", "latency": -1}),
    ("POST", "/faults", {"route": "POST /batches", "colour": "red"}),
    ("POST", "/faults", {"route_regex": "("}),
    ("POST", "/faults", {"route": 5}),
    ("POST", "/faults", {"rate_limit_rps": "fast"}),
    ("POST", "/faults", {"retry_after": "1\r\nX-Evil: 1"}),
    ("POST", "/inbounds", {"to": "12345", "body": "hi"}),
    ("POST", "/inbounds", {"from": "+15550000001", "to": "12345", "type": "mo_voice"}),
    ("POST", "/inbounds", {"from": "+15550000001", "to": "12345", "sent_at": "yesterday"}),
    ("POST", "/inbounds", {"from": "+15550000001", "to": "12345", "media": "x"}),
    ("POST", "/inbounds", {"from": "+15550000001", "to": "12345", "service_plan_id": "nope"}),
    ("PUT", "/plan", {"messages_per_second": 0}),
    ("PUT", "/plan", {"failure_rules": {"+4670": "Exploded"}}),
    ("PUT", "/plan", {"failure_rules": {"abc": "Failed"}}),
    ("PUT", "/plan", {"failure_rules": ["+4670"]}),
    ("PUT", "/plan", {"speed": 3}),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_INPUT)
async def test_bad_input_is_a_400_with_a_message(http: Http, method: str, path: str, body) -> None:
    status, answer, _ = await http.call(method, "/_simulator" + path, body)
    assert status == 400, answer
    assert answer["code"] == "bad_request"
    assert answer["text"]


@pytest.mark.parametrize(
    "query",
    [
        {"page_size": 0},
        {"page": -1},
        {"limit": "ten"},
        {"page": 1, "limit": 5},
        {"since": "not a time"},
        {"status": "abc"},
    ],
)
async def test_bad_journal_queries_are_400(http: Http, query: dict[str, Any]) -> None:
    status, answer, _ = await http.call("GET", "/_simulator/journal/requests", params=query)
    assert status == 400
    assert answer["code"] == "bad_request"


async def test_malformed_json_is_400_and_unknown_plan_404(http: Http) -> None:
    status, answer, _ = await http.call(
        "POST",
        "/_simulator/clock/advance",
        data=b"{not json",
        headers={**http.auth, "Content-Type": "application/json"},
    )
    assert status == 400
    assert "JSON" in answer["text"]
    status, answer, _ = await http.call("GET", "/_simulator/plan", params={"service_plan_id": "x"})
    assert status == 404


async def test_advancing_the_clock_delivers_a_scheduled_batch(
    http: Http, sim: SinchSimulator
) -> None:
    before = (await http.ctl("GET", "/clock"))["now"]
    send_at = (sim.clock.now() + timedelta(hours=1)).isoformat()
    batch = await http.send(["+15550000001", "+15550000002"], send_at=send_at)
    assert await http.report(batch["id"]) == {"Queued": 2}
    moved = await http.ctl("POST", "/clock/advance", {"seconds": 3599})
    assert moved["now"] > before
    assert await http.report(batch["id"]) == {"Queued": 2}
    await http.ctl("POST", "/clock/advance", {"seconds": 2})
    assert await http.report(batch["id"]) == {"Delivered": 2}


async def test_a_fault_makes_post_batches_answer_429_with_retry_after(http: Http) -> None:
    fault = await http.ctl(
        "POST", "/faults", {"route": "POST /batches", "status": 429, "retry_after": 7, "times": 2}
    )
    assert fault["remaining"] == 2
    for _ in range(2):
        status, body, headers = await http.call(
            "POST", http.sms + "/batches", {"to": ["+15550000001"], "body": "x"}
        )
        assert status == 429
        assert headers["Retry-After"] == "7"
        assert body["code"] == "too_many_requests"
    await http.send(["+15550000001"])  # the fault is used up
    listed = await http.ctl("GET", "/faults")
    assert [(f["route"], f["hits"], f["active"]) for f in listed["faults"]] == [
        ("POST /batches", 2, False)
    ]
    assert (await http.ctl("DELETE", "/faults"))["faults"] == []
    assert (await http.ctl("GET", "/faults"))["faults"] == []


async def test_latency_drop_and_regex_faults(http: Http) -> None:
    await http.ctl("POST", "/faults", {"route_regex": r"^GET /batches$", "status": 503})
    status, body, _ = await http.call("GET", http.sms + "/batches")
    assert status == 503
    assert body["error"]["status"] == "UNAVAILABLE"
    await http.ctl("POST", "/faults", {"route": "POST /batches", "drop": "after"})
    with pytest.raises(aiohttp.ClientError):
        await http.call("POST", http.sms + "/batches", {"to": ["+15550000009"], "body": "x"})
    batches = await http.ctl("GET", "/journal/batches")
    assert batches["count"] == 1  # dropped after processing: the batch exists
    await http.ctl("POST", "/faults", {"route": "GET /batches", "status": None, "latency": 0.05})
    status, _, _ = await http.call("GET", http.sms + "/batches")
    assert status == 200
    faults = (await http.ctl("GET", "/faults"))["faults"]
    assert [f["hits"] for f in faults] == [1, 1, 1]


async def test_a_fault_on_every_request_does_not_lock_out_the_control_api(http: Http) -> None:
    await http.ctl("POST", "/faults", {"route": "*", "status": 500, "times": None})
    status, _, _ = await http.call("GET", http.sms + "/batches")
    assert status == 500
    assert (await http.ctl("GET", "/faults"))["faults"][0]["remaining"] is None
    await http.ctl("DELETE", "/faults")
    status, _, _ = await http.call("GET", http.sms + "/batches")
    assert status == 200


async def test_rate_limit_through_the_faults_route(http: Http) -> None:
    state = await http.ctl("POST", "/faults", {"rate_limit_rps": 2})
    assert state["rate_limit_rps"] == 2
    statuses = [(await http.call("GET", http.sms + "/batches"))[0] for _ in range(6)]
    assert 429 in statuses  # a burst of 2 then refusals (no real second passes in between)
    assert (await http.ctl("GET", "/faults"))["rate_limited"] >= 1
    cleared = await http.ctl("DELETE", "/faults")
    assert cleared["rate_limit_rps"] is None
    assert (await http.call("GET", http.sms + "/batches"))[0] == 200


async def test_inject_an_inbound(http: Http) -> None:
    inbound = await http.ctl(
        "POST",
        "/inbounds",
        {"from": "+46 70 123 4567", "to": "12345", "body": "STOP", "client_reference": "r1"},
    )
    assert inbound["from"] == "46701234567"
    assert inbound["type"] == "mo_text"
    status, listed, _ = await http.call("GET", http.sms + "/inbounds")
    assert status == 200
    assert [i["id"] for i in listed["inbounds"]] == [inbound["id"]]
    assert listed["inbounds"][0]["body"] == "STOP"


async def test_expire_oauth_tokens(http: Http, sim: SinchSimulator) -> None:
    status, token, _ = await http.call(
        "POST",
        "/oauth2/token",
        headers={},
        data={
            "grant_type": "client_credentials",
            "client_id": sim.key_id,
            "client_secret": sim.key_secret,
        },
    )
    assert status == 200
    oauth = {"Authorization": f"Bearer {token['access_token']}"}
    project_batches = f"/xms/v1/{sim.project_id}/batches"
    assert (await http.call("GET", project_batches, headers=oauth))[0] == 200
    assert (await http.ctl("POST", "/oauth/expire")) == {"expired": True}
    status, _, headers = await http.call("GET", project_batches, headers=oauth)
    assert status == 401
    assert "expired" in headers["WWW-Authenticate"]


async def test_journal_routes_filter_and_page(http: Http) -> None:
    first = await http.send(["+15550000001", "+15550000002"])
    await http.ctl("POST", "/clock/advance", {"seconds": 1})
    mark = (await http.ctl("GET", "/clock"))["now"]
    second = await http.send(["+15550000003"])
    await http.call("GET", http.sms + f"/batches/{first['id']}")
    await http.call("GET", http.sms + "/batches/01ABCDEFGHJKMNPQRSTVWXYZ01")  # 404
    await http.ctl("POST", "/clock/advance", {"seconds": 5})

    posts = await http.ctl("GET", "/journal/requests", method="post", path="/batches")
    assert posts["count"] == 2
    assert [r["json"]["to"] for r in posts["items"]] == [
        ["+15550000001", "+15550000002"],
        ["+15550000003"],
    ]
    assert "authorization" not in {k.lower() for k in posts["items"][0]["headers"]}
    assert all(r["status"] == 201 for r in posts["items"])
    missing = await http.ctl("GET", "/journal/requests", status=404)
    assert [r["path"].rsplit("/", 1)[1] for r in missing["items"]] == ["01ABCDEFGHJKMNPQRSTVWXYZ01"]
    assert (await http.ctl("GET", "/journal/requests", since=mark))["count"] == 3
    everything = await http.ctl("GET", "/journal/requests")
    assert not any(r["path"].startswith("/_simulator") for r in everything["items"])
    paged = await http.ctl("GET", "/journal/requests", page=1, page_size=2)
    assert (paged["offset"], paged["limit"]) == (2, 2)
    assert paged["items"] == everything["items"][2:4]
    window = await http.ctl("GET", "/journal/requests", offset=1, limit=1)
    assert window["items"] == everything["items"][1:2]

    batches = await http.ctl("GET", "/journal/batches")
    assert [b["id"] for b in batches["items"]] == [first["id"], second["id"]]
    assert [b["id"] for b in (await http.ctl("GET", "/journal/batches", since=mark))["items"]] == [
        second["id"]
    ]
    recipients = await http.ctl("GET", "/journal/recipients")
    assert recipients["items"] == ["+15550000001", "+15550000002", "+15550000003"]
    dispatched = await http.ctl("GET", "/journal/recipients", dispatched="true", limit=2)
    assert (dispatched["count"], dispatched["items"]) == (3, ["+15550000001", "+15550000002"])
    messages = await http.ctl("GET", "/journal/messages", batch_id=second["id"])
    assert [(m["recipient"], m["body"], m["parts"]) for m in messages["items"]] == [
        ("+15550000003", "hi", 1)
    ]
    by_number = await http.ctl("GET", "/journal/messages", recipient="+15550000002")
    assert [m["batch_id"] for m in by_number["items"]] == [first["id"]]


async def test_reset_forgets_the_state_and_keeps_the_configuration(http: Http) -> None:
    await http.ctl("PUT", "/plan", {"failure_rules": {"+1555": "Failed"}})
    batch = await http.send(["+15550000001"])
    await http.ctl("POST", "/inbounds", {"from": "+15550000001", "to": "12345", "body": "x"})
    await http.ctl("POST", "/faults", {"route": "DELETE /groups/*", "times": None})
    now = (await http.ctl("GET", "/clock"))["now"]

    answer = await http.ctl("POST", "/reset")
    assert answer["now"] == now  # the clock stays
    status, _, _ = await http.call("GET", http.sms + f"/batches/{batch['id']}")
    assert status == 404
    assert (await http.call("GET", http.sms + "/inbounds"))[1]["count"] == 0
    assert (await http.ctl("GET", "/faults"))["faults"] == []
    requests = await http.ctl("GET", "/journal/requests")
    paths = [r["path"] for r in requests["items"]]
    assert paths == [f"{http.sms}/batches/{batch['id']}", f"{http.sms}/inbounds"]
    assert (await http.ctl("GET", "/journal/batches"))["count"] == 0
    plan = await http.ctl("GET", "/plan")
    assert plan["failure_rules"] == {"+1555": {"status": "Failed", "code": 15}}
    again = await http.send(["+15550000001"])  # the plan works after the reset
    await http.ctl("POST", "/clock/advance", {"seconds": 5})
    assert await http.report(again["id"]) == {"Failed": 1}


async def test_plan_reads_and_changes_rate_and_failure_rules(
    http: Http, sim: SinchSimulator
) -> None:
    plan = await http.ctl("GET", "/plan")
    assert plan == {
        "service_plan_id": sim.service_plan_id,
        "messages_per_second": pytest.approx(1000.0),
        "failure_rules": {},
    }
    changed = await http.ctl(
        "PUT",
        "/plan",
        {
            "messages_per_second": 2,
            "failure_rules": {"4670": "Failed", "+4671": ["Rejected", 88], "+4672": "Expired"},
        },
    )
    assert changed["messages_per_second"] == pytest.approx(2.0)
    assert changed["failure_rules"] == {
        "+4670": {"status": "Failed", "code": 15},
        "+4671": {"status": "Rejected", "code": 88},
        "+4672": {"status": "Expired", "code": 406},
    }
    assert sim.failure_rules == {"+4670": "Failed", "+4671": ("Rejected", 88), "+4672": "Expired"}
    numbers = ["+46700000001", "+46710000001", "+46720000001", "+15550000001"]
    batch = await http.send(numbers)
    await http.ctl("POST", "/clock/advance", {"seconds": 1.2})  # 2/s: 3 dispatched by now
    assert (await http.ctl("GET", "/journal/recipients", dispatched="true"))["count"] == 3
    await http.ctl("POST", "/clock/advance", {"seconds": 5})
    assert await http.report(batch["id"]) == {
        "Failed": 1,
        "Rejected": 1,
        "Expired": 1,
        "Delivered": 1,
    }
    cleared = await http.ctl("PUT", "/plan", {"failure_rules": None})
    assert cleared["failure_rules"] == {}


async def test_a_rejected_plan_change_changes_nothing(http: Http) -> None:
    status, _, _ = await http.call(
        "PUT",
        "/_simulator/plan",
        {"messages_per_second": 5, "failure_rules": {"+4670": "Nope"}},
    )
    assert status == 400
    plan = await http.ctl("GET", "/plan")
    assert plan["messages_per_second"] == pytest.approx(1000.0)


async def test_facade_offers_the_same_controls(sim: SinchSimulator, http: Http) -> None:
    sim.set_messages_per_second(4)
    assert (await http.ctl("GET", "/plan"))["messages_per_second"] == pytest.approx(4.0)
    batch = await http.send(["+15550000001"])
    sim.reset()
    assert (await http.call("GET", http.sms + f"/batches/{batch['id']}"))[0] == 404
    assert sim.control_url == sim.url + "/_simulator"


# -- serve flags (a subprocess on port 0) ---------------------------------------------------


async def _token(s: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with s.post(
        url + "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sim-key-id",
            "client_secret": "sim-key-secret",
        },
    ) as r:
        assert r.status == 200
        return await r.json()  # type: ignore[no-any-return]


posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@posix
async def test_serve_flags_configure_faults_rules_token_ttl_and_seed() -> None:
    flags = (
        "--time-scale",
        "0",
        "--seed",
        "42",
        "--token-ttl",
        "60",
        "--failure-rule",
        "+4670=Failed",
        "--failure-rule",
        "+4671=Rejected:88",
        "--fault",
        "POST /batches:429:times=2,retry_after=3",
        "--fault",
        "GET /groups:none:latency=0.01,times=forever",
    )
    served = await serve_simulator("--port", "0", *flags)
    url, text = served.url, served.banner
    try:
        assert f"control API:     {url}/_simulator" in text
        async with aiohttp.ClientSession(base_url=url) as s:
            http = Http(s, "sim-plan", "sim-token")
            token = await _token(s, url)  # first, so that another process can repeat it
            for _ in range(2):
                status, _, headers = await http.call(
                    "POST", http.sms + "/batches", {"to": ["+46700000001"], "body": "x"}
                )
                assert (status, headers["Retry-After"]) == (429, "3")
            batch = await http.send(["+46700000001", "+46710000001", "+15550000001"])
            await http.ctl("POST", "/clock/advance", {"seconds": 5})
            assert await http.report(batch["id"]) == {"Failed": 1, "Rejected": 1, "Delivered": 1}
            faults = (await http.ctl("GET", "/faults"))["faults"]
            assert [(f["route"], f["status"], f["times"]) for f in faults] == [
                ("POST /batches", 429, 2),
                ("GET /groups", None, None),
            ]
            assert (await http.ctl("GET", "/plan"))["failure_rules"]["+4671"] == {
                "status": "Rejected",
                "code": 88,
            }

            assert token["expires_in"] == 60
            oauth = {"Authorization": f"Bearer {token['access_token']}"}
            assert (await http.call("GET", "/xms/v1/sim-project/batches", headers=oauth))[0] == 200
            await http.ctl("POST", "/clock/advance", {"seconds": 61})
            assert (await http.call("GET", "/xms/v1/sim-project/batches", headers=oauth))[0] == 401

        # the same seed gives the same first token in another process
        served2 = await serve_simulator("--port", "0", "--seed", "42", "--time-scale", "0")
        try:
            async with aiohttp.ClientSession() as s2:
                assert (await _token(s2, served2.url))["access_token"] == token["access_token"]
        finally:
            await served2.stop(15)
        served3 = await serve_simulator("--port", "0", "--seed", "43", "--time-scale", "0")
        try:
            async with aiohttp.ClientSession() as s3:
                assert (await _token(s3, served3.url))["access_token"] != token["access_token"]
        finally:
            await served3.stop(15)
    finally:
        code, _, _ = await served.stop(15)
    assert code == 0


@pytest.mark.parametrize(
    "flags",
    [
        ["--fault", "POST /batches:abc"],
        ["--fault", "POST /batches:429:colour=red"],
        ["--fault", "POST /batches:429:times=zero"],
        ["--fault", "POST /batches:999"],
        ["--failure-rule", "+4670"],
        ["--failure-rule", "+4670=Exploded"],
        ["--failure-rule", "abc=Failed"],
        ["--token-ttl", "0"],
    ],
)
def test_bad_serve_flags_exit_2_with_a_message(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from sinch_async.testing.__main__ import main

    assert main(["serve", "--port", "0", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
