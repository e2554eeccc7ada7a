"""Whether telemetry is on, without importing OpenTelemetry unless it is installed.

:func:`resolve_telemetry` is what clients, receivers and limiters call with their
``telemetry``, ``tracer_provider`` and ``meter_provider`` settings: the shared
:class:`~sinch_async._telemetry.Telemetry` for them, or ``None`` (then nothing is traced
or measured, at the cost of one ``is None`` test per step). The webhook receivers'
"duplicate" outcome travels here too, from ``Deduplicator`` to the receiver's span.
"""

from __future__ import annotations

import importlib.util
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from sinch_async.errors import SinchValidationError

if TYPE_CHECKING:
    from sinch_async._telemetry import Telemetry

__all__ = [
    "AVAILABLE",
    "WebhookNote",
    "current_webhook",
    "note_duplicate",
    "resolve_telemetry",
]


def _api_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):
        return False


AVAILABLE = _api_installed()
"""``opentelemetry-api`` is installed (``pip install 'sinch_async[otel]'``)."""


def resolve_telemetry(
    telemetry: bool,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    propagate_context: bool = False,
) -> Telemetry | None:
    """The :class:`Telemetry` for these settings, or ``None`` when it is off or the API is
    not installed. Providers given without the API, or with ``telemetry=False``, are an
    error (they would silently record nothing)."""
    if not isinstance(telemetry, bool):
        raise SinchValidationError("telemetry", f"must be True or False, got {telemetry!r}")
    given = [
        name
        for name, value in (
            ("tracer_provider", tracer_provider),
            ("meter_provider", meter_provider),
        )
        if value is not None
    ]
    if given and not telemetry:
        raise SinchValidationError(given[0], "was given, but telemetry=False turns telemetry off")
    if given and not AVAILABLE:
        raise SinchValidationError(
            given[0],
            "needs the OpenTelemetry API: pip install 'sinch_async[otel]'",
        )
    for name, value, method, kind in (
        ("tracer_provider", tracer_provider, "get_tracer", "TracerProvider"),
        ("meter_provider", meter_provider, "get_meter", "MeterProvider"),
    ):
        if value is not None and not callable(getattr(value, method, None)):
            raise SinchValidationError(name, f"must be an OpenTelemetry {kind}, got {value!r}")
    if not telemetry or not AVAILABLE:
        return None
    from sinch_async._telemetry import Telemetry

    return Telemetry(tracer_provider, meter_provider, bool(propagate_context))


class WebhookNote:
    """What the handling of one callback found out, for its span and metric."""

    __slots__ = ("duplicate", "verified")

    def __init__(self) -> None:
        self.verified = False
        """The signature was checked and is good."""
        self.duplicate = False
        """A ``Deduplicator`` skipped the callback (already handled)."""


current_webhook: ContextVar[WebhookNote | None] = ContextVar(
    "sinch_async_current_webhook", default=None
)
"""Set by a receiver with telemetry on, around the handling of one callback."""


def note_duplicate() -> None:
    """``Deduplicator`` skipped a callback already handled (the receiver's span and metric
    say ``duplicate`` rather than ``accepted``)."""
    note = current_webhook.get()
    if note is not None:
        note.duplicate = True
