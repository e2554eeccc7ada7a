"""A campaign with OpenTelemetry: spans and metrics printed to the console.

    pip install 'sinch_async[otel]' opentelemetry-sdk
    python examples/telemetry.py

It sends the demo campaign (2,500 fictional recipients, +1 555 ...) with
``sms.batches.fan_out()`` in chunks of 1000 to the embedded simulator on 127.0.0.1: no
credentials needed, no real SMS sent. The client gets its own SDK providers
(``tracer_provider=`` / ``meter_provider=``; the global ones are left alone). It prints
each span as JSON as it ends: per chunk a resume lookup (``sinch batches.list``), a
``sinch fan_out.chunk`` span with its ``sinch batches.send`` and the HTTP request's
``POST /xms/v1/{service_plan_id}/batches`` under it; then ``sinch fan_out`` for the run
and ``sinch delivery_reports.get_for_recipient`` for one recipient's delivery report.
Then the campaign report, then the metrics, once, at shutdown
(``sinch_async.messages.sent``, ``http.client.request.duration``, ...). Phone numbers
appear only masked (the lookup's ``url.full``).

To send them to a collector instead (``pip install opentelemetry-exporter-otlp``):

    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    reader = PeriodicExportingMetricReader(OTLPMetricExporter())  # OTEL_EXPORTER_OTLP_*

or the metrics to Prometheus (``pip install opentelemetry-exporter-prometheus``):

    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server
    start_http_server(9464)  # scrape http://localhost:9464/metrics
    meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from sinch_async import SinchError
from sinch_async.testing import SinchSimulator

RECIPIENTS = 2500
NAMES = ("Ann", "Bo", "Cai", "Dana", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun")


def recipients(count: int) -> Iterator[tuple[str, dict[str, str]]]:
    """The demo's fictional numbers (+1 555 000 0000 on), with a first name each."""
    for i in range(count):
        yield f"+1555{i:07d}", {"name": NAMES[i % len(NAMES)]}


def providers() -> tuple[TracerProvider, MeterProvider]:
    """SDK providers printing to stdout: each span as it ends, the metrics at shutdown
    (and every 60 s, for a longer campaign)."""
    resource = Resource.create({"service.name": "sinch-async-telemetry-example"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000)
    return tracer_provider, MeterProvider(resource=resource, metric_readers=[reader])


async def main() -> int:
    tracer_provider, meter_provider = providers()
    try:
        simulator = SinchSimulator(time_scale=0, messages_per_second=2000)
        async with (
            simulator as sim,
            sim.client(tracer_provider=tracer_provider, meter_provider=meter_provider) as sms,
        ):
            try:
                report = await sms.batches.fan_out(
                    recipients(RECIPIENTS),
                    "Hi ${name}, spring sale: 20% off today only!",
                    from_="SinchDemo",
                    campaign_id="otel-demo",
                    chunk_size=1000,
                    concurrency=2,
                )
                await sim.advance(10)  # the simulated clock: dispatch and delivery
                first_batch = report.batches[0].batch_id or ""
                first_number = next(recipients(1))[0]
                one = await sms.delivery_reports.get_for_recipient(first_batch, first_number)
            except SinchError as exc:
                print(f"campaign failed: {exc}", file=sys.stderr)
                return 1
        print(f"\nCampaign report: {report.summary()}", flush=True)
        print(f"The first recipient's delivery report: {one.status}\n", flush=True)
        return 0 if report.complete else 1
    finally:
        # Flush and stop: the last spans, and the metrics, are printed here.
        tracer_provider.shutdown()
        meter_provider.shutdown()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
