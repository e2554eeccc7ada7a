"""In-memory OpenTelemetry SDK providers for the telemetry tests.

Tests never set the global providers: they pass ``otel.options()`` to the client (or
receiver) under test. Register the ``otel`` fixture in a module with
``from tests._otel import otel  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["Otel", "otel"]


class _Started(SpanProcessor):
    """Counts the spans started (the exporter sees only those that ended)."""

    def __init__(self) -> None:
        self.count = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.count += 1


@dataclass
class Otel:
    """SDK providers that keep every finished span and metric point in memory."""

    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)
    tracer_provider: TracerProvider = field(init=False)
    meter_provider: MeterProvider = field(init=False)
    started: _Started = field(init=False, default_factory=_Started)

    def __post_init__(self) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(self.started)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def options(self) -> dict[str, Any]:
        """``tracer_provider`` and ``meter_provider``, to splat into a client's options."""
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    # -- spans --------------------------------------------------------------------------------

    def unended(self) -> int:
        """Spans started and not ended (yet)."""
        return self.started.count - len(self.exporter.get_finished_spans())

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """The finished spans (in the order they ended), only those named ``name`` if given."""
        found = list(self.exporter.get_finished_spans())
        return found if name is None else [s for s in found if s.name == name]

    def span(self, name: str) -> ReadableSpan:
        """The one finished span named ``name`` (asserts there is exactly one)."""
        found = self.spans(name)
        names = [s.name for s in self.spans()]
        assert len(found) == 1, f"{len(found)} spans named {name!r} among {names}"
        return found[0]

    # -- metrics ------------------------------------------------------------------------------

    def metric_points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """``(attributes, value)`` of each point of the metric ``name``: the value for sums
        and gauges, the count for histograms. Cumulative, so reading twice is harmless."""
        data = self.reader.get_metrics_data()
        points: list[tuple[dict[str, Any], Any]] = []
        if data is None:
            return points
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        attributes = dict(point.attributes or {})
                        if isinstance(point, HistogramDataPoint):
                            points.append((attributes, point.count))
                        else:
                            points.append((attributes, point.value))  # type: ignore[union-attr]
        return points

    def metric_total(self, name: str, where: dict[str, Any] | None = None, **attrs: Any) -> float:
        """The sum of the values (histograms: counts) of ``name``'s points whose attributes
        include all of ``where`` and ``attrs`` (0 when there is none). Dotted attribute
        names go in ``where``: ``metric_total("x", {"sinch.operation": "batches.send"})``."""
        wanted = {**(where or {}), **attrs}
        return float(
            sum(
                value
                for attributes, value in self.metric_points(name)
                if all(attributes.get(k) == v for k, v in wanted.items())
            )
        )

    # -- scans --------------------------------------------------------------------------------

    def all_attribute_values(self) -> list[str]:
        """Every attribute value of every span and span event, every span name and status
        description, and every metric point's attribute value, as strings."""
        values: list[str] = []
        for span in self.spans():
            values.append(span.name)
            if span.status.description:
                values.append(span.status.description)
            values.extend(str(v) for v in (span.attributes or {}).values())
            for event in span.events:
                values.append(event.name)
                values.extend(str(v) for v in (event.attributes or {}).values())
        data = self.reader.get_metrics_data()
        if data is not None:
            for resource_metrics in data.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        for point in metric.data.data_points:
                            values.extend(str(v) for v in (point.attributes or {}).values())
        return values

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def otel() -> Iterator[Otel]:
    """An :class:`Otel`, shut down after the test."""
    providers = Otel()
    try:
        yield providers
    finally:
        providers.shutdown()
