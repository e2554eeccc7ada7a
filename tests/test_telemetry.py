"""OpenTelemetry spans and metrics of API calls, HTTP requests and fan-outs.

Every test passes in-memory SDK providers to its client (``otel.options()``), never the
global ones, and talks to the simulator or to an aiohttp server of its own on 127.0.0.1.
"""

# ruff: noqa: F811 (the ``otel`` fixture, imported from tests._otel, is each test's parameter)

from __future__ import annotations

import asyncio
import re
import textwrap
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from yarl import URL

from sinch_async import SinchValidationError
from sinch_async.conversation import TextMessage
from sinch_async.errors import ApiError, SinchConnectionError
from sinch_async.testing import SinchSimulator
from tests._otel import Otel, otel  # noqa: F401 (fixture)
from tests.conftest import (
    FAST,
    NUM,
    PLAN,
    api_path,
    free_port,
    header,
    num,
    numbers,
    plan_client,
    recording_server,
    run_python,
    serve,
    text_batch,
)
from tests.conftest import TOKEN as SECRET_TOKEN

SEND = "sinch batches.send"
POST = "POST /xms/v1/{service_plan_id}/batches"
GET_LIST = "GET /xms/v1/{service_plan_id}/batches"
DURATION = "http.client.request.duration"
OP_SEND = {"sinch.operation": "batches.send"}
EMPTY_PAGE = {"count": 0, "page": 0, "page_size": 0, "batches": []}
OUTCOMES = ("sent", "failed", "not_sent", "unknown")


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def events(span: ReadableSpan, name: str) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == name]


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else int(span.parent.span_id)


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def messages(otel: Otel) -> dict[str, float]:
    """``sinch_async.messages.*`` totals of sends, by outcome."""
    return {o: otel.metric_total(f"sinch_async.messages.{o}", OP_SEND) for o in OUTCOMES}


def error_body(code: str = "syntax_invalid_parameter_format") -> dict[str, str]:
    return {"code": code, "text": "refused"}


# --- one send against the simulator -------------------------------------------------------------


async def test_a_send_makes_a_client_span_with_an_http_child_and_metrics(
    sim: SinchSimulator, otel: Otel
) -> None:
    to = [num(1), num(2), num(3)]
    async with sim.client(**otel.options()) as sms:
        batch = await sms.batches.send(to, "hi", client_reference="order-1")

    port = URL(sim.url).port
    call = otel.span(SEND)
    assert call.kind is SpanKind.CLIENT
    assert call.parent is None
    a = attrs(call)
    assert a["sinch.operation"] == "batches.send"
    assert a["sinch.recipients"] == 3
    assert a["sinch.client_reference"] == "order-1"
    assert a["sinch.batch_id"] == batch.id
    assert a["sinch.retries"] == 0
    assert a["sinch.reconciled"] is False
    assert a["sinch.rate_limit.wait_ms"] >= 0
    assert a["http.response.status_code"] == 201
    assert "error.type" not in a
    assert call.status.status_code is StatusCode.UNSET

    http = otel.span(POST)
    assert http.kind is SpanKind.CLIENT
    assert parent_id(http) == span_id(call)
    assert http.context is not None
    assert call.context is not None
    assert http.context.trace_id == call.context.trace_id
    h = attrs(http)
    assert h == {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.template": "/xms/v1/{service_plan_id}/batches",
        "url.full": f"{sim.url}/xms/v1/{sim.service_plan_id}/batches",
        "http.response.status_code": 201,
    }
    assert len(otel.spans()) == 2

    assert messages(otel) == {"sent": 3, "failed": 0, "not_sent": 0, "unknown": 0}
    assert otel.metric_points(DURATION) == [
        (
            {
                "http.request.method": "POST",
                "server.address": "127.0.0.1",
                "server.port": port,
                "url.template": "/xms/v1/{service_plan_id}/batches",
                "http.response.status_code": 201,
            },
            1,
        )
    ]
    assert otel.metric_total("sinch_async.rate_limit.wait", OP_SEND) == 1
    assert otel.metric_total("sinch_async.retries") == 0


async def test_a_get_names_the_batch_from_its_path_and_counts_no_messages(
    sim: SinchSimulator, otel: Otel
) -> None:
    async with sim.client(**otel.options()) as sms:
        batch = await sms.batches.send([NUM], "hi")
        got = await sms.batches.get(batch.id)
    assert got.id == batch.id
    call = otel.span("sinch batches.get")
    a = attrs(call)
    assert (a["sinch.operation"], a["sinch.batch_id"]) == ("batches.get", batch.id)
    assert a["http.response.status_code"] == 200
    assert "sinch.recipients" not in a
    http = otel.span("GET /xms/v1/{service_plan_id}/batches/{batch_id}")
    assert parent_id(http) == span_id(call)
    assert attrs(http)["url.full"] == f"{sim.url}/xms/v1/{sim.service_plan_id}/batches/{batch.id}"
    assert messages(otel)["sent"] == 1  # the send only
    assert otel.metric_total(DURATION, {"http.request.method": "GET"}) == 1


# --- retries, reconciliation, 429 (a server of our own) ---------------------------------------


async def test_a_503_on_a_send_is_looked_up_then_resent(otel: Otel) -> None:
    async with recording_server() as srv:
        srv.respond(503, error_body("service_unavailable"))
        srv.respond(200, EMPTY_PAGE)
        srv.respond(201, text_batch(id="01RESENT", client_reference="order-2"))
        async with plan_client(srv.url, retry=FAST, **otel.options()) as sms:
            batch = await sms.batches.send([NUM], "hi", client_reference="order-2")
        assert [(r.method, r.path) for r in srv.requests] == [
            ("POST", api_path("/batches")),
            ("GET", api_path("/batches")),
            ("POST", api_path("/batches")),
        ]
    assert batch.id == "01RESENT"

    call = otel.span(SEND)
    a = attrs(call)
    assert a["sinch.retries"] == 1
    assert a["sinch.reconciled"] is False
    assert a["sinch.batch_id"] == "01RESENT"
    assert a["http.response.status_code"] == 201
    assert call.status.status_code is StatusCode.UNSET
    assert events(call, "sinch.reconciliation") == [
        {"sinch.reconciliation.outcome": "not_applied", "sinch.failure": "503"}
    ]
    [retry] = events(call, "sinch.retry")
    assert retry["sinch.retry.cause"] == "503"
    assert retry["sinch.delay_s"] >= 0

    first, second = sorted(otel.spans(POST), key=lambda s: s.start_time or 0)
    assert parent_id(first) == parent_id(second) == span_id(call)
    f, s = attrs(first), attrs(second)
    assert (f["http.response.status_code"], f["error.type"]) == (503, "503")
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in f
    # The lookup is a call of its own (its request is not one of the send's), so the
    # resent POST is the send's second request: resend_count 1.
    assert s["http.request.resend_count"] == 1
    assert s["http.response.status_code"] == 201
    assert "error.type" not in s

    lookup = otel.span("sinch batches.list")
    assert parent_id(lookup) == span_id(call)
    assert attrs(lookup)["sinch.operation"] == "batches.list"
    assert parent_id(otel.span(GET_LIST)) == span_id(lookup)

    assert otel.metric_total("sinch_async.retries", {**OP_SEND, "sinch.retry.cause": "503"}) == 1
    assert otel.metric_total("sinch_async.retries") == 1
    assert messages(otel) == {"sent": 1, "failed": 0, "not_sent": 0, "unknown": 0}
    assert otel.metric_total(DURATION, {"http.response.status_code": 503, "error.type": "503"}) == 1
    assert otel.metric_total(DURATION, {"http.request.method": "POST"}) == 2


async def test_an_ambiguous_send_found_applied_is_reconciled_not_resent(otel: Otel) -> None:
    found = text_batch(id="01FOUND", client_reference="order-3")
    async with recording_server() as srv:
        srv.respond(500, error_body("internal_error"))
        srv.respond(200, {"count": 1, "page": 0, "page_size": 1, "batches": [found]})
        async with plan_client(srv.url, retry=FAST, **otel.options()) as sms:
            batch = await sms.batches.send([num(1), num(2)], "hi", client_reference="order-3")
        methods = [r.method for r in srv.requests]
    assert batch.id == "01FOUND"
    assert methods == ["POST", "GET"]  # one POST only

    call = otel.span(SEND)
    a = attrs(call)
    assert a["sinch.reconciled"] is True
    assert a["sinch.retries"] == 0
    assert a["sinch.batch_id"] == "01FOUND"
    assert call.status.status_code is StatusCode.UNSET
    assert events(call, "sinch.reconciliation") == [
        {"sinch.reconciliation.outcome": "applied", "sinch.failure": "500"}
    ]
    assert events(call, "sinch.retry") == []
    assert len(otel.spans(POST)) == 1
    assert messages(otel) == {"sent": 2, "failed": 0, "not_sent": 0, "unknown": 0}
    assert otel.metric_total("sinch_async.retries") == 0


async def test_a_429_cools_down_then_succeeds(otel: Otel) -> None:
    async with recording_server() as srv:
        srv.respond(429, error_body("too_many_requests"), headers={"Retry-After": "0"})
        srv.respond(201, text_batch(id="01AFTER429"))
        async with plan_client(srv.url, retry=FAST, **otel.options()) as sms:
            batch = await sms.batches.send([NUM], "hi")
        assert len(srv.requests) == 2
    assert batch.id == "01AFTER429"
    call = otel.span(SEND)
    assert events(call, "sinch.rate_limit.cooldown") == [
        {"http.response.status_code": 429, "sinch.retry_after_s": 0.0}
    ]
    assert events(call, "sinch.reconciliation") == []  # a 429 was not applied
    assert attrs(call)["sinch.retries"] == 1
    first, second = sorted(otel.spans(POST), key=lambda s: s.start_time or 0)
    assert attrs(first)["error.type"] == "429"
    assert attrs(second)["http.request.resend_count"] == 1
    assert otel.metric_total("sinch_async.rate_limited", OP_SEND) == 1
    assert otel.metric_total("sinch_async.retries", {**OP_SEND, "sinch.retry.cause": "429"}) == 1
    assert messages(otel)["sent"] == 1


async def test_a_refused_send_is_an_error_span_and_failed_messages(otel: Otel) -> None:
    async with recording_server() as srv:
        srv.respond(400, error_body())
        async with plan_client(srv.url, retry=FAST, **otel.options()) as sms:
            with pytest.raises(ApiError) as caught:
                await sms.batches.send([num(1), num(2)], "hi", client_reference="order-4")
        assert len(srv.requests) == 1  # a 400 is not retried
    assert caught.value.status == 400
    call = otel.span(SEND)
    assert call.status.status_code is StatusCode.ERROR
    a = attrs(call)
    assert a["error.type"] == "400"
    assert "http.response.status_code" not in a  # no successful response
    assert "sinch.batch_id" not in a
    http = otel.span(POST)
    assert (attrs(http)["http.response.status_code"], attrs(http)["error.type"]) == (400, "400")
    assert http.status.status_code is StatusCode.ERROR
    assert messages(otel) == {"sent": 0, "failed": 2, "not_sent": 0, "unknown": 0}
    assert otel.metric_total(DURATION, {"error.type": "400"}) == 1


# --- fan-out ------------------------------------------------------------------------------------


async def test_a_fan_out_has_a_span_per_chunk_each_with_its_send(
    sim: SinchSimulator, otel: Otel
) -> None:
    recipients = numbers(2500)
    async with sim.client(**otel.options()) as sms:
        report = await sms.batches.fan_out(
            recipients, "Hello", campaign_id="camp-otel", chunk_size=1000
        )
    assert report.sent == 2500

    run = otel.span("sinch fan_out")
    assert run.kind is SpanKind.INTERNAL
    assert run.parent is None
    r = attrs(run)
    assert r["sinch.fanout.chunk_size"] == 1000
    assert r["sinch.campaign_id"] == "camp-otel"
    assert r["sinch.fanout.resume"] is True  # the default with a campaign_id
    assert r["sinch.fanout.concurrency"] >= 1
    assert {k: r[k] for k in r if k.startswith("sinch.recipients.")} == {
        "sinch.recipients.read": 2500,
        "sinch.recipients.valid": 2500,
        "sinch.recipients.invalid": 0,
        "sinch.recipients.duplicates": 0,
        "sinch.recipients.sent": 2500,
        "sinch.recipients.failed": 0,
        "sinch.recipients.unknown": 0,
        "sinch.recipients.not_sent": 0,
    }
    assert r["sinch.fanout.chunks"] == 3
    assert run.status.status_code is StatusCode.UNSET

    chunks = sorted(otel.spans("sinch fan_out.chunk"), key=lambda s: attrs(s)["sinch.chunk.index"])
    sends = otel.spans(SEND)
    assert len(chunks) == 3
    assert len(sends) == 3
    send_by_parent = {parent_id(s): s for s in sends}
    # resume: each chunk first looks its reference up, in a call under the chunk's span
    lookups = otel.spans("sinch batches.list")
    assert sorted(parent_id(s) or 0 for s in lookups) == sorted(span_id(c) for c in chunks)
    created = {c.batch_id for c in report.chunks}
    for index, (chunk, size) in enumerate(zip(chunks, [1000, 1000, 500], strict=True)):
        assert chunk.kind is SpanKind.INTERNAL
        assert parent_id(chunk) == span_id(run)
        c = attrs(chunk)
        assert c["sinch.chunk.index"] == index
        assert c["sinch.client_reference"] == f"camp-otel#{index}"
        assert c["sinch.recipients"] == size
        assert c["sinch.chunk.status"] == "created"
        send = send_by_parent[span_id(chunk)]  # each chunk's send is its child
        assert attrs(send)["sinch.batch_id"] == c["sinch.batch_id"]
        assert attrs(send)["sinch.client_reference"] == f"camp-otel#{index}"
        assert attrs(send)["sinch.recipients"] == size
    assert {attrs(c)["sinch.batch_id"] for c in chunks} == created

    assert messages(otel)["sent"] == 2500
    assert otel.metric_total("sinch_async.fanout.recipients", {"sinch.outcome": "created"}) == 2500
    assert otel.metric_total("sinch_async.fanout.recipients") == 2500
    points = otel.metric_points("sinch_async.fanout.chunks_in_flight")
    assert points
    assert sum(v for _, v in points) == 0


# --- secrets and phone numbers --------------------------------------------------------------------

SIM_TOKEN = "tok-ZQX9Y8W7V6"
KEY_SECRET = "ks-PLM5N4B3V2"
SECRET_NUMBER = "+46701234567"


@pytest.mark.sinch_simulator(api_token=SIM_TOKEN, key_secret=KEY_SECRET)
async def test_no_secret_and_no_full_number_in_any_span_or_metric(
    sim: SinchSimulator, otel: Otel
) -> None:
    async with sim.client(**otel.options()) as sms:
        batch = await sms.batches.send(
            [SECRET_NUMBER], "hi", client_reference=f"cust-{SECRET_NUMBER}"
        )
        await sms.delivery_reports.get_for_recipient(batch.id, SECRET_NUMBER)
        with pytest.raises(ApiError):  # an error naming the number in its message
            await sms.delivery_reports.get_for_recipient(
                "01JZZZZZZZZZZZZZZZZZZZZZZZ", SECRET_NUMBER
            )
    async with sim.oauth_client(**otel.options()) as oauth:
        await oauth.batches.send([SECRET_NUMBER], "hi again")
    async with sim.client(**otel.options()) as sms:
        await sms.batches.fan_out([SECRET_NUMBER], "Hello", campaign_id="c-1")

    # the calls were traced (the scan below is not of an empty list)
    assert len(otel.spans(SEND)) == 3
    failed = [
        s
        for s in otel.spans("sinch delivery_reports.get_for_recipient")
        if s.status.status_code is StatusCode.ERROR
    ]
    assert len(failed) == 1
    assert failed[0].status.description
    values = otel.all_attribute_values()
    assert len(values) > 50
    digits = SECRET_NUMBER.lstrip("+")
    leaks = [v for v in values if SIM_TOKEN in v or KEY_SECRET in v or digits in v]
    assert leaks == []


async def test_a_server_echoing_the_token_and_number_leaks_neither_into_spans(otel: Otel) -> None:
    echo = f"bad credentials {SECRET_TOKEN} for {SECRET_NUMBER}"
    async with recording_server() as srv:
        srv.respond(400, {"code": "syntax_invalid_parameter_format", "text": echo})
        async with plan_client(srv.url, **otel.options()) as sms:
            with pytest.raises(ApiError):
                await sms.batches.send([SECRET_NUMBER], "hi")
        assert header(srv.last.headers, "Authorization") == f"Bearer {SECRET_TOKEN}"
    call = otel.span(SEND)
    assert call.status.status_code is StatusCode.ERROR
    description = call.status.description or ""
    assert "bad credentials" in description  # the server's text is there, scrubbed
    values = otel.all_attribute_values()
    digits = SECRET_NUMBER.lstrip("+")
    assert [v for v in values if SECRET_TOKEN in v or digits in v] == []


# --- switches -----------------------------------------------------------------------------------


async def test_telemetry_off_records_nothing(sim: SinchSimulator, otel: Otel) -> None:
    async with sim.client(telemetry=False) as sms:
        assert sms._core.telemetry is None
        await sms.batches.send([NUM], "hi")
        await sms.batches.fan_out(numbers(3), "Hello")
    async with sim.client(**otel.options()) as on:
        assert on._core.telemetry is not None
    assert otel.spans() == []
    assert otel.metric_points("sinch_async.messages.sent") == []
    assert otel.metric_points(DURATION) == []


async def test_providers_with_telemetry_off_or_a_non_bool_switch_are_refused(
    sim: SinchSimulator, otel: Otel
) -> None:
    with pytest.raises(SinchValidationError, match="tracer_provider"):
        sim.client(telemetry=False, tracer_provider=otel.tracer_provider)
    with pytest.raises(SinchValidationError, match="meter_provider"):
        sim.client(telemetry=False, meter_provider=otel.meter_provider)
    with pytest.raises(SinchValidationError, match="telemetry"):
        sim.client(telemetry="yes")
    with pytest.raises(SinchValidationError, match="telemetry"):
        sim.conversation_client(telemetry=False, tracer_provider=otel.tracer_provider)


TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


async def test_trace_context_is_propagated_only_when_asked(otel: Otel) -> None:
    async with recording_server() as srv:
        srv.respond(201, text_batch(id="01PROP"))
        srv.respond(201, text_batch(id="01NOPROP"))
        async with plan_client(srv.url, propagate_trace_context=True, **otel.options()) as sms:
            await sms.batches.send([NUM], "hi")
        async with plan_client(srv.url, **otel.options()) as sms:
            await sms.batches.send([NUM], "hi")
        propagated, default = srv.requests
    value = header(propagated.headers, "traceparent")
    assert value is not None
    found = TRACEPARENT.match(value)
    assert found is not None, value
    first = min(otel.spans(POST), key=lambda s: s.start_time or 0)
    assert first.context is not None
    assert found.group(1) == f"{first.context.trace_id:032x}"
    assert found.group(2) == f"{first.context.span_id:016x}"  # the HTTP span is the parent
    assert int(found.group(3), 16) & 1 == 1  # sampled (the SDK may add the "random" flag, 02)
    assert header(default.headers, "traceparent") is None
    assert len(otel.spans(POST)) == 2  # the second request was traced, just not propagated


# --- without the OpenTelemetry API ----------------------------------------------------------------

NO_OTEL = textwrap.dedent(
    """
    import asyncio
    import importlib.abc
    import sys


    class NoOtel(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, NoOtel())

    from sinch_async import AsyncSmsClient, SinchValidationError
    from sinch_async.testing import SinchSimulator


    async def main():
        async with SinchSimulator() as sim:
            async with sim.client() as sms:
                batch = await sms.batches.send(["+46700000001"], "hi")
                report = await sms.batches.fan_out(["+46700000002", "+46700000003"], "Hello")
                print("telemetry", sms._core.telemetry is None)
                print("batch", batch.id)
                print("fanout", report.sent)
            try:
                AsyncSmsClient(
                    service_plan_id="p", api_token="t", base_url=sim.url, tracer_provider=object()
                )
            except SinchValidationError as exc:
                print("refused", exc)
            else:
                print("accepted")
        print("loaded", sorted(m for m in sys.modules if m.startswith("opentelemetry")))


    asyncio.run(main())
    """
)


async def test_without_the_api_the_client_works_untraced_and_refuses_providers() -> None:
    done = await asyncio.to_thread(run_python, ["-c", NO_OTEL])
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["telemetry"] == "True"
    assert re.fullmatch(r"[0-9A-Z]{26}", lines["batch"]), lines["batch"]
    assert lines["fanout"] == "2"
    assert "tracer_provider" in lines["refused"]
    assert "sinch_async[otel]" in lines["refused"]
    assert lines["loaded"] == "[]"


# --- the Conversation client --------------------------------------------------------------------


async def test_a_conversation_send_is_traced_with_its_batch(
    sim: SinchSimulator, otel: Otel
) -> None:
    async with sim.conversation_client(**otel.options()) as conv:
        result = await conv.send("app", TextMessage("x"), ["c1", "c2"], correlation_id="corr-1")
    call = otel.span("sinch conversation.batches.send")
    assert call.kind is SpanKind.CLIENT
    a = attrs(call)
    assert a["sinch.batch_id"] == result.batch_id
    assert a["sinch.recipients"] == 2
    assert a["sinch.operation"] == "conversation.batches.send"
    http = [s for s in otel.spans() if parent_id(s) == span_id(call)]
    assert [s.name for s in http] == ["POST /v1/projects/{project_id}/messages"]
    op = {"sinch.operation": "conversation.batches.send"}
    assert otel.metric_total("sinch_async.messages.sent", op) == 2


# --- cancellation -------------------------------------------------------------------------------


async def test_a_send_cancelled_on_the_wire_counts_unknown(otel: Otel) -> None:
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.json_response(text_batch(), status=201)

    async with serve([web.post(f"/xms/v1/{PLAN}/batches", hang)]) as url:
        async with plan_client(url, retry=FAST, **otel.options()) as sms:
            task = asyncio.ensure_future(sms.batches.send([num(1), num(2)], "hi"))
            await asyncio.wait_for(arrived.wait(), 30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        release.set()

    call = otel.span(SEND)
    assert call.status.status_code is StatusCode.ERROR
    assert attrs(call)["error.type"] == "CancelledError"
    http = otel.span(POST)
    assert parent_id(http) == span_id(call)
    assert http.status.status_code is StatusCode.ERROR
    assert attrs(http)["error.type"] == "CancelledError"
    assert "http.response.status_code" not in attrs(http)
    assert messages(otel) == {"sent": 0, "failed": 0, "not_sent": 0, "unknown": 2}
    assert otel.metric_total(DURATION, {"error.type": "CancelledError"}) == 1


async def test_a_send_cancelled_in_the_rate_limiter_counts_not_sent(otel: Otel) -> None:
    async with recording_server() as srv:
        srv.respond(201, text_batch(id="01FIRST"))
        async with plan_client(srv.url, requests_per_second=0.1, **otel.options()) as sms:
            await sms.batches.send([NUM], "first")
            task = asyncio.ensure_future(sms.batches.send([num(1), num(2), num(3)], "second"))
            await asyncio.sleep(0.3)  # the next request may go 10 s after the first
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert len(srv.requests) == 1  # the second send never left

    first, second = sorted(otel.spans(SEND), key=lambda s: s.start_time or 0)
    assert attrs(first)["sinch.batch_id"] == "01FIRST"
    assert second.status.status_code is StatusCode.ERROR
    assert attrs(second)["error.type"] == "CancelledError"
    assert [s for s in otel.spans() if parent_id(s) == span_id(second)] == []  # no HTTP span
    assert len(otel.spans(POST)) == 1
    assert messages(otel) == {"sent": 1, "failed": 0, "not_sent": 3, "unknown": 0}


# --- context and sharing ------------------------------------------------------------------------


async def test_a_call_made_inside_the_callers_span_is_its_child(
    sim: SinchSimulator, otel: Otel
) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    async with sim.client(**otel.options()) as sms:
        with tracer.start_as_current_span("handle order") as outer:
            await sms.batches.send([NUM], "hi")
        await sms.batches.send([NUM], "outside")
    inside, outside = sorted(otel.spans(SEND), key=lambda s: s.start_time or 0)
    assert parent_id(inside) == outer.get_span_context().span_id
    assert inside.context is not None
    assert inside.context.trace_id == outer.get_span_context().trace_id
    assert outside.parent is None  # the caller's span was no longer current, nor is the send's


async def test_clients_sharing_providers_count_each_message_once(
    sim: SinchSimulator, otel: Otel
) -> None:
    async with (
        sim.client(**otel.options()) as one,
        sim.client(propagate_trace_context=True, **otel.options()) as two,
    ):
        await one.batches.send([num(1), num(2)], "hi")
        await two.batches.send([num(3)], "hi")
    assert len(otel.spans(SEND)) == 2
    assert messages(otel)["sent"] == 3
    assert otel.metric_total(DURATION) == 2


async def test_connection_failures_of_a_get_are_retried_with_cause_connection(
    otel: Otel,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: every connection is refused
    async with plan_client(url, retry=FAST, **otel.options()) as sms:
        with pytest.raises(SinchConnectionError) as caught:
            await sms.batches.get("01JZZZZZZZZZZZZZZZZZZZZZZZ")
    tries = caught.value.attempts
    assert tries == FAST.max_attempts
    call = otel.span("sinch batches.get")
    assert attrs(call)["sinch.retries"] == tries - 1
    assert attrs(call)["error.type"] == type(caught.value).__name__
    assert [e["sinch.retry.cause"] for e in events(call, "sinch.retry")] == ["connection"] * (
        tries - 1
    )
    http = sorted(
        otel.spans("GET /xms/v1/{service_plan_id}/batches/{batch_id}"),
        key=lambda s: s.start_time or 0,
    )
    assert len(http) == tries
    assert [attrs(s).get("http.request.resend_count") for s in http] == [None, *range(1, tries)]
    assert all(attrs(s)["error.type"] == type(caught.value).__name__ for s in http)
    assert all("http.response.status_code" not in attrs(s) for s in http)
    ops = {"sinch.operation": "batches.get", "sinch.retry.cause": "connection"}
    assert otel.metric_total("sinch_async.retries", ops) == tries - 1
