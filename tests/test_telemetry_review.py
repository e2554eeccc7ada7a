"""A hostile review of the OpenTelemetry instrumentation: context leaks, unended spans,
wrong counts, leaks of numbers, telemetry failures reaching the caller, lost metrics.

Each test proved a defect of the first version (each failed on it);
the others pin behaviour that was checked and found right.
"""

from __future__ import annotations

import asyncio
import logging
import textwrap
from typing import Any

import pytest
from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import NoOpMeter, NoOpMeterProvider
from opentelemetry.metrics._internal.instrument import NoOpHistogram
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from sinch_async._retry import RetryPolicy
from sinch_async.errors import ApiError
from tests import _otel
from tests._otel import Otel
from tests.conftest import (
    FAST,
    NUM,
    PLAN,
    fan_out_cancelled,
    header,
    num,
    plan_client,
    recording_server,
    run_python,
    serve,
    text_batch,
)

otel = _otel.otel

SEND = "sinch batches.send"
EMPTY_PAGE = {"count": 0, "page": 0, "page_size": 0, "batches": []}


class Tracking(SpanProcessor):
    """Records every span started and every span ended (to find spans never ended)."""

    def __init__(self) -> None:
        self.started: list[Span] = []
        self.ended: list[ReadableSpan] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started.append(span)

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)

    def unended(self) -> list[str]:
        return [s.name for s in self.started if s.end_time is None]


def tracked(otel: Otel) -> Tracking:
    processor = Tracking()
    otel.tracer_provider.add_span_processor(processor)
    return processor


def no_current_span() -> bool:
    return not trace.get_current_span().get_span_context().is_valid


# --- context and unended spans: cancellation at each await point ---------------------------


async def test_cancelled_at_every_await_point_no_span_stays_current_or_unended(
    otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    """Cancel a send on the wire and a get in its backoff sleep; each time nothing stays
    current, the context is the caller's again and every started span is ended."""
    processor = tracked(otel)
    on_wire = asyncio.Event()
    got = asyncio.Event()

    async def post(request: web.Request) -> web.Response:
        on_wire.set()
        await asyncio.sleep(30)
        return web.json_response(text_batch(), status=201)

    async def get(request: web.Request) -> web.Response:
        got.set()
        return web.json_response({"code": "service_unavailable", "text": "x"}, status=503)

    routes = [
        web.post(f"/xms/v1/{PLAN}/batches", post),
        web.get(f"/xms/v1/{PLAN}/batches/{{batch_id}}", get),
    ]
    slow = RetryPolicy(backoff_base=5.0, backoff_max=5.0)
    caplog.set_level(logging.ERROR, logger="opentelemetry.context")
    async with serve(routes) as url, plan_client(url, retry=slow, **otel.options()) as sms:
        before = otel_context.get_current()
        task = asyncio.ensure_future(sms.batches.send([NUM], "a", client_reference="r-1"))
        await asyncio.wait_for(on_wire.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert no_current_span()
        assert otel_context.get_current() == before
        task = asyncio.ensure_future(sms.batches.get("01AAAAAAAAAAAAAAAAAAAAAAAA"))
        await asyncio.wait_for(got.wait(), 30)
        await asyncio.sleep(0.1)  # now in the backoff sleep (or on a later attempt)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert no_current_span()
        assert otel_context.get_current() == before
    assert processor.unended() == []
    assert len(processor.ended) >= 4
    assert [r.getMessage() for r in caplog.records if "detach" in r.getMessage()] == []


async def test_a_send_cancelled_during_its_reconciliation_lookup_ends_every_span(
    otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    processor = tracked(otel)
    in_lookup = asyncio.Event()

    async def post(request: web.Request) -> web.Response:
        return web.json_response({"code": "internal_error", "text": "x"}, status=500)

    async def lookup(request: web.Request) -> web.Response:
        in_lookup.set()
        await asyncio.sleep(30)
        return web.json_response(EMPTY_PAGE)

    routes = [web.post(f"/xms/v1/{PLAN}/batches", post), web.get(f"/xms/v1/{PLAN}/batches", lookup)]
    caplog.set_level(logging.ERROR, logger="opentelemetry.context")
    async with serve(routes) as url, plan_client(url, retry=FAST, **otel.options()) as sms:
        task = asyncio.ensure_future(sms.batches.send([NUM], "a", client_reference="r-2"))
        await asyncio.wait_for(in_lookup.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert no_current_span()
    assert processor.unended() == []
    assert sorted(s.name for s in processor.ended) == sorted(s.name for s in processor.started)
    assert otel.metric_total("sinch_async.messages.unknown") == 1  # the 500 may have landed
    assert [r.getMessage() for r in caplog.records if "detach" in r.getMessage()] == []


async def test_an_abandoned_fan_out_iter_ends_its_spans_and_leaks_no_context(
    otel: Otel,
) -> None:
    processor = tracked(otel)
    async with recording_server() as srv:
        for i in range(4):
            srv.respond(201, text_batch(id=f"01CHUNK{i}"))
        async with plan_client(srv.url, **otel.options()) as sms:
            iterator = sms.batches.fan_out_iter(
                [num(i) for i in range(8)], "hi", chunk_size=2, concurrency=1
            )
            async for _ in iterator:
                break  # abandoned: neither exhausted nor closed by the caller
            assert no_current_span()
            del iterator
            for _ in range(50):  # the loop's async-generator finalizer closes it
                await asyncio.sleep(0.01)
                if "sinch fan_out" in [s.name for s in processor.ended]:
                    break
            assert no_current_span()
    assert processor.unended() == []
    assert "sinch fan_out" in [s.name for s in processor.ended]


# --- wrong counts -------------------------------------------------------------------------------


async def test_fan_out_metrics_agree_with_the_report_after_the_final_check(otel: Otel) -> None:
    async with recording_server() as srv:
        srv.respond(500, {"code": "internal_error", "text": "x"})  # ambiguous
        srv.respond(200, EMPTY_PAGE)  # looked up: not there (yet)
        srv.respond(400, {"code": "syntax_invalid_parameter_format", "text": "no"})  # resend
        async with plan_client(srv.url, retry=FAST, **otel.options()) as sms:
            # the final check finds the first POST applied after all
            late = text_batch(id="01LATE", client_reference="camp#0")
            srv.respond(200, {"count": 1, "page": 0, "page_size": 1, "batches": [late]})
            report = await sms.batches.fan_out(
                [num(1), num(2)], "hi", campaign_id="camp", resume=False
            )
    assert report.sent == 2  # the report counts them sent
    run = otel.span("sinch fan_out")
    assert dict(run.attributes or {})["sinch.recipients.sent"] == 2
    by_outcome = {
        outcome: otel.metric_total("sinch_async.fanout.recipients", {"sinch.outcome": outcome})
        for outcome in ("created", "failed", "unknown", "not_sent")
    }
    assert by_outcome == {"created": 2, "failed": 0, "unknown": 0, "not_sent": 0}


async def test_a_chunk_stopped_on_the_wire_is_unknown_in_its_span(otel: Otel) -> None:
    arrived = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.sleep(30)
        return web.json_response(text_batch(), status=201)

    routes = [web.post(f"/xms/v1/{PLAN}/batches", hang)]
    async with serve(routes) as url, plan_client(url, retry=FAST, **otel.options()) as sms:
        task = asyncio.ensure_future(sms.batches.fan_out([num(1), num(2)], "hi"))
        await asyncio.wait_for(arrived.wait(), 30)
        task.cancel()  # stops the run; cancelled again, it abandons the wire
        await asyncio.sleep(0.1)
        task.cancel()
        stopped = await fan_out_cancelled(task)  # (Python 3.10 wraps it in a CancelledError)
    report = stopped.report
    assert [c.status for c in report.chunks] == ["unknown"]
    chunk = otel.span("sinch fan_out.chunk")
    assert dict(chunk.attributes or {})["sinch.chunk.status"] == "unknown"


# --- numbers in attributes ------------------------------------------------------------------------


async def test_a_reference_holding_a_number_is_not_recorded_in_full(otel: Otel) -> None:
    digits = "46701234567"
    async with recording_server() as srv:
        srv.respond(201, text_batch(id="01REF"))
        async with plan_client(srv.url, **otel.options()) as sms:
            await sms.batches.send([NUM], "hi", client_reference=f"user_{digits}")
    assert [v for v in otel.all_attribute_values() if digits in v] == []


async def test_a_recipient_report_path_is_masked_in_url_full(otel: Otel) -> None:
    digits = "46701234567"
    async with recording_server() as srv:
        srv.respond(404, {"code": "not_found", "text": f"no report for +{digits}"})
        async with plan_client(srv.url, **otel.options()) as sms:
            with pytest.raises(ApiError):
                await sms.delivery_reports.get_for_recipient("01BATCH", f"+{digits}")
    values = otel.all_attribute_values()
    assert any("delivery_report" in v for v in values)
    assert [v for v in values if digits in v] == []


# --- telemetry failing ---------------------------------------------------------------------------


class _BrokenHistogram(NoOpHistogram):
    def record(self, amount: Any, attributes: Any = None, context: Any = None) -> None:
        raise RuntimeError("exporter queue is broken")


class _BrokenMeter(NoOpMeter):
    def create_histogram(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return _BrokenHistogram(name)


class _BrokenMeterProvider(NoOpMeterProvider):
    def get_meter(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return _BrokenMeter(name)


async def test_a_broken_meter_does_not_turn_an_accepted_send_into_an_error(otel: Otel) -> None:
    async with recording_server() as srv:
        srv.respond(201, text_batch(id="01ACCEPTED"))
        async with plan_client(
            srv.url, tracer_provider=otel.tracer_provider, meter_provider=_BrokenMeterProvider()
        ) as sms:
            batch = await sms.batches.send([NUM], "hi")
        assert len(srv.requests) == 1
    assert batch.id == "01ACCEPTED"


# --- propagation ----------------------------------------------------------------------------------


async def test_a_sampled_out_call_still_propagates_its_trace_context() -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF)
    try:
        async with recording_server() as srv:
            srv.respond(201, text_batch(id="01OFF"))
            async with plan_client(
                srv.url, propagate_trace_context=True, tracer_provider=provider
            ) as sms:
                await sms.batches.send([NUM], "hi")
            value = header(srv.last.headers, "traceparent")
    finally:
        provider.shutdown()
    assert value is not None
    assert int(value.rsplit("-", 1)[1], 16) & 1 == 0  # flags: not sampled


# --- metrics lost ---------------------------------------------------------------------------------

SHARED_PROVIDER = textwrap.dedent(
    """
    import asyncio
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from sinch_async.testing import SinchSimulator

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(provider)


    async def main():
        async with SinchSimulator() as sim:
            async with sim.client() as one, sim.client(meter_provider=provider) as two:
                await one.batches.send(["+46700000001"], "hi")
                await two.batches.send(["+46700000002", "+46700000003"], "hi")
        total = 0
        for rm in reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == "sinch_async.messages.sent":
                        total += sum(p.value for p in m.data.data_points)
        print(total)


    asyncio.run(main())
    """
)


async def test_global_and_explicit_same_meter_provider_count_every_message() -> None:
    done = await asyncio.to_thread(run_python, ["-c", SHARED_PROVIDER])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3"]
