"""OpenTelemetry traces and metrics, through ``opentelemetry-api`` only (extra ``otel``).

This module imports the API; nothing else in the package does.
:func:`~sinch_async._instrument.resolve_telemetry` (which does not import it) returns
``None`` when the API is not installed or a client's ``telemetry`` is off, and the core
then takes no telemetry path at all.

What is recorded (the README's "Telemetry" section lists it for users):

* per API call a CLIENT span ``sinch {operation}`` (:class:`CallTrace`), current while
  the call runs, with a CLIENT span per HTTP request under it (HTTP semantic
  conventions) and the ``http.client.request.duration`` histogram per request;
* the library's own metrics under ``sinch_async.`` (:class:`Instruments`);
* per fan-out run an INTERNAL span ``sinch fan_out`` with a span per chunk
  (:class:`FanOutTrace`), and per webhook callback a SERVER span (:class:`WebhookTrace`).

When the call span is not recording (no SDK configured, or sampled out), no attribute is
computed, no child span started and no context attached: only the metric instruments are
called, which the API's proxies make cheap. Attributes carry no secret (no header, no body
is recorded) and no full phone number (paths and messages go through ``mask_numbers``).
"""

from __future__ import annotations

import functools
import logging
import re
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import Token
from typing import TYPE_CHECKING, Any, TypeVar, cast

import msgspec
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.trace import Span, SpanKind, StatusCode, TracerProvider

from sinch_async._redact import mask_numbers
from sinch_async._version import __version__

if TYPE_CHECKING:
    from sinch_async._core import Operation

__all__ = [
    "CallTrace",
    "FanOutTrace",
    "Instruments",
    "Telemetry",
    "WebhookTrace",
]

log = logging.getLogger("sinch_async")

SCOPE = "sinch_async"
"""The instrumentation scope name of every tracer and meter."""

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
"""The HTTP semantic conventions' advised buckets for ``http.client.request.duration``."""


F = TypeVar("F", bound=Callable[..., Any])

_FAILED: set[str] = set()


def _failed(step: str, exc: BaseException) -> None:
    """A telemetry step failed (a broken tracer, meter or propagator): logged once per step,
    and the call goes on, its outcome unchanged."""
    if step not in _FAILED:
        _FAILED.add(step)
        log.warning(
            "sinch_async telemetry: %s failed (%s); calls go on without it",
            step,
            type(exc).__name__,
        )


def guarded(method: F) -> F:
    """Telemetry never fails a call: an exception of the OpenTelemetry SDK (or of a provider
    of yours) in ``method`` is logged once and ``method`` returns ``None``. Above all after a
    request went out: an accepted send must not reach its caller as an error."""

    @functools.wraps(method)
    def safe(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            _failed(method.__qualname__, exc)
            return None

    return cast(F, safe)


_DIGIT_RUN = re.compile(r"[0-9]{7,}")
_OWN_REFERENCE = re.compile(r"sinch-async-[0-9a-f]{32}|fanout-[0-9a-f]{12}-[0-9]{1,9}")
"""The references the client makes itself (``auto_client_reference``, a fan-out without a
campaign ID): random hex, nothing to mask."""


def safe_text(text: str) -> str:
    """A caller's text (a reference, a campaign ID) fit for an attribute: phone numbers
    masked, also when glued to letters (``user_46701234567``), and at most 256 characters."""
    if _OWN_REFERENCE.fullmatch(text):
        return text
    masked = _DIGIT_RUN.sub(lambda m: m.group()[:3] + "*" * (len(m.group()) - 3), text[:256])
    return mask_numbers(masked)


class Tally:
    """A count per attribute set, reported through an asynchronous (observable) counter.

    Adding is one dict update on the hot path; the SDK reads the totals when it collects.
    The synchronous instruments cost several microseconds per measurement in the SDK,
    which a send would pay for every count it makes."""

    def __init__(
        self, meter: metrics.Meter, name: str, unit: str, description: str, *, monotonic: bool
    ) -> None:
        self._counts: dict[tuple[tuple[str, Any], ...], int] = {}
        create = (
            meter.create_observable_counter
            if monotonic
            else (meter.create_observable_up_down_counter)
        )
        create(name, callbacks=[self._observe], unit=unit, description=description)

    def add(self, amount: int, attributes: Mapping[str, Any]) -> None:
        key = tuple(attributes.items())
        self._counts[key] = self._counts.get(key, 0) + amount

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        counts = dict(self._counts)  # one copy: the callback may run in another thread
        return [Observation(value, dict(key)) for key, value in counts.items()]


class Instruments:
    """The metric instruments of one meter provider (the README's "Telemetry" lists them)."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.request_duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        self.rate_limit_wait = meter.create_histogram(
            "sinch_async.rate_limit.wait",
            unit="s",
            description="Time an attempt waited in the rate limiter before it was sent.",
            explicit_bucket_boundaries_advisory=[0, 0.001, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30],
        )

        def tally(name: str, unit: str, description: str, monotonic: bool = True) -> Tally:
            return Tally(meter, name, unit, description, monotonic=monotonic)

        self.retries = tally(
            "sinch_async.retries", "{retry}", "Retries of API calls, by operation and cause."
        )
        self.rate_limited = tally(
            "sinch_async.rate_limited", "{response}", "429 answers, by operation."
        )
        self.messages = {
            outcome: tally(f"sinch_async.messages.{outcome}", "{message}", description)
            for outcome, description in (
                ("sent", "Recipients of sends that succeeded."),
                ("failed", "Recipients of sends that failed."),
                ("not_sent", "Recipients of sends stopped before their request left."),
                ("unknown", "Recipients of sends whose outcome is unknown (ambiguous)."),
            )
        }
        self.chunks_in_flight = tally(
            "sinch_async.fanout.chunks_in_flight",
            "{chunk}",
            "Fan-out chunks being sent now.",
            monotonic=False,
        )
        self.recipients_done = tally(
            "sinch_async.fanout.recipients",
            "{recipient}",
            "Fan-out recipients done, by outcome (sinch.outcome).",
        )
        self.webhook_events = tally(
            "sinch_async.webhook.events",
            "{event}",
            "Webhook callbacks received, by type and outcome.",
        )
        self.limiter_fallback = tally(
            "sinch_async.rate_limit.fallback",
            "{limiter}",
            "1 while a Redis rate limiter limits locally because Redis is unreachable.",
            monotonic=False,
        )


_NOOP_INSTRUMENTS: list[Instruments] = []
_INSTRUMENTS: weakref.WeakKeyDictionary[MeterProvider, Instruments] = weakref.WeakKeyDictionary()
_UNREFERABLE: dict[int, tuple[MeterProvider, Instruments]] = {}
"""Providers that take no weak reference (kept for the life of the process)."""


def _is_proxy(meter_provider: MeterProvider) -> bool:
    """The API's global stand-in while no SDK is configured (its class is private to the
    API: were it renamed, counts made before an SDK is configured would be kept, that is all)."""
    return type(meter_provider).__name__ == "_ProxyMeterProvider"


def instruments_for(meter_provider: MeterProvider) -> Instruments:
    """The instruments of a meter provider: one set per provider, for as long as it lives
    (the observable counters must be registered once on a meter, or the SDK keeps one
    registration's totals and drops the other's). The global one is resolved by the caller,
    so that a client given the global SDK provider and one using the global default share
    one set; while the global one is still the API's proxy (no SDK), nothing is recorded."""
    if _is_proxy(meter_provider):
        if not _NOOP_INSTRUMENTS:
            _NOOP_INSTRUMENTS.append(Instruments(metrics.NoOpMeter(SCOPE)))
        return _NOOP_INSTRUMENTS[0]
    try:
        instruments = _INSTRUMENTS.get(meter_provider)
    except TypeError:  # no weak references: keep it
        kept = _UNREFERABLE.get(id(meter_provider))
        instruments = None if kept is None else kept[1]
        if instruments is None:
            meter = metrics.get_meter(SCOPE, __version__, meter_provider)
            instruments = Instruments(meter)
            _UNREFERABLE[id(meter_provider)] = (meter_provider, instruments)
        return instruments
    if instruments is None:
        meter = metrics.get_meter(SCOPE, __version__, meter_provider)
        instruments = _INSTRUMENTS[meter_provider] = Instruments(meter)
    return instruments


def _no_sdk() -> bool:
    """The global providers are still the API's proxies: no SDK is configured."""
    meter_provider = metrics.get_meter_provider()
    return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider) and _is_proxy(
        meter_provider
    )


_IDLE_RECHECK = 1.0
"""Seconds between checks whether an SDK has been configured since (see ``idle``)."""


class Telemetry:
    """The tracer and the instruments of one client or receiver (the instruments are
    shared by everything using the same meter provider: see :func:`instruments_for`)."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        propagate_context: bool,
    ) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        self._instruments = None if meter_provider is None else instruments_for(meter_provider)
        self.propagate_context = propagate_context
        self._uses_globals = tracer_provider is None and meter_provider is None
        self._idle_until = 0.0

    def idle(self) -> bool:
        """True while nothing would record: no provider was given and no SDK is configured
        globally (the API's proxies). Then a call skips telemetry altogether; an SDK
        configured later is noticed within a second."""
        if not self._uses_globals:
            return False
        now = time.monotonic()
        if now < self._idle_until:
            return True
        if not _no_sdk():
            self._uses_globals = False  # an SDK was configured: from now on, always on
            return False
        self._idle_until = now + _IDLE_RECHECK
        return True

    @property
    def instruments(self) -> Instruments:
        """The meter provider's instruments (the global provider's as it is now)."""
        if self._instruments is not None:
            return self._instruments
        return instruments_for(metrics.get_meter_provider())

    @guarded
    def call(self, call: Any) -> CallTrace | None:
        """The trace of one API call (a :class:`~sinch_async._core.Call`), started now."""
        return CallTrace(self, call)

    @guarded
    def webhook(self) -> WebhookTrace | None:
        """The SERVER span of one callback, current from now until its ``end``."""
        return WebhookTrace(self)

    @guarded
    def fan_out(self, name: str | None, attributes: Mapping[str, Any]) -> FanOutTrace | None:
        """The span of a fan-out run (``name`` ``None``: no run span, for chunks sent one
        by one, e.g. by ``RedisCampaign`` workers: their spans go under the current one)."""
        return FanOutTrace(self, name, attributes)

    def inject(self, headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
        """``headers`` with the current trace context added, if ``propagate_context``."""
        if not self.propagate_context:
            return headers
        try:
            carrier = dict(headers) if headers is not None else {}
            propagate.inject(carrier)
        except Exception as exc:
            _failed("Telemetry.inject", exc)
            return headers
        return carrier


# --- one API call ---------------------------------------------------------------------------


class _Id(msgspec.Struct):
    id: str | None = None


class _BatchId(msgspec.Struct):
    batch_id: str | None = None


_ID_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "id": msgspec.json.Decoder(_Id),
    "batch_id": msgspec.json.Decoder(_BatchId),
}


def _cause(error: BaseException) -> str:
    """A low-cardinality cause: the HTTP status, ``timeout``, ``connection``, or the type."""
    status = getattr(error, "status", None)
    if isinstance(status, int) and status >= 300:
        return str(status)
    name = type(error).__name__
    if "Timeout" in name:
        return "timeout"
    if "Connection" in name or isinstance(error, OSError):
        return "connection"
    return name


class CallTrace:
    """The spans and measurements of one API call.

    Made when the call starts; the core reports each step (:meth:`waited`,
    :meth:`request_started` / :meth:`request_ended`, :meth:`rate_limited`,
    :meth:`reconciliation`, :meth:`retrying`) and the end (:meth:`end`).
    """

    __slots__ = (
        "_attempt",
        "_attempt_token",
        "_request_started",
        "_token",
        "_wait",
        "call",
        "in_doubt",
        "instruments",
        "op_attributes",
        "recording",
        "span",
        "telemetry",
    )

    def __init__(self, telemetry: Telemetry, call: Any) -> None:
        self.telemetry = telemetry
        self.instruments = telemetry.instruments
        self.call = call
        op: Operation = call.operation
        self.op_attributes = op.attributes
        self._wait = 0.0
        self._attempt: Span | None = None
        self._attempt_token: object = None
        self._request_started = 0.0
        self.in_doubt = False
        """A request of this send may have been applied and is not resolved yet."""
        span = telemetry.tracer.start_span(
            f"sinch {op.name}", kind=SpanKind.CLIENT, attributes=self._call_attributes()
        )
        self.span = span
        self.recording = span.is_recording()
        self._token: Token[Context] | None = None
        if self.recording:
            self._token = otel_context.attach(trace.set_span_in_context(span))

    def _call_attributes(self) -> dict[str, Any]:
        call = self.call
        attributes: dict[str, Any] = {"sinch.operation": call.operation.name}
        if call.messages:
            attributes["sinch.recipients"] = call.messages
        if call.reference is not None:
            attributes["sinch.client_reference"] = safe_text(call.reference)
        if call.batch_id is not None:
            attributes["sinch.batch_id"] = call.batch_id
        return attributes

    # -- the steps of the call -------------------------------------------------------------

    @guarded
    def waited(self, seconds: float) -> None:
        """An attempt waited ``seconds`` in the rate limiter."""
        self._wait += seconds
        self.instruments.rate_limit_wait.record(seconds, self.op_attributes)

    def request_started(self, headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
        """An HTTP request is about to go out: its span (current while it is on the wire)
        and, when asked, the trace context in its headers (the headers to send)."""
        self._request_started = time.perf_counter()
        if self.recording:
            try:
                self._start_request()
            except Exception as exc:
                _failed("CallTrace.request_started", exc)
            return self.telemetry.inject(headers)
        if self.telemetry.propagate_context:  # sampled out: say so downstream
            with _current(self.span):
                return self.telemetry.inject(headers)
        return headers

    def _start_request(self) -> None:
        call = self.call
        core = call.core
        template = core.url_template(call.operation)
        attributes: dict[str, Any] = {
            "http.request.method": call.method,
            "server.address": core.host,
            "server.port": core.port,
            "url.template": template,
            "url.full": _masked_url(call.url),
        }
        resends = call.sent - 1
        if resends > 0:
            attributes["http.request.resend_count"] = resends
        attempt = self.telemetry.tracer.start_span(
            f"{call.method} {template}", kind=SpanKind.CLIENT, attributes=attributes
        )
        self._attempt = attempt
        self._attempt_token = otel_context.attach(trace.set_span_in_context(attempt))

    @guarded
    def request_ended(self, status: int | None, error: BaseException | None = None) -> None:
        """The HTTP request got ``status``, or failed with ``error`` before an answer."""
        attempt = self._attempt
        if attempt is not None:  # first of all, the caller's context back as it was
            self._attempt = None
            otel_context.detach(self._attempt_token)  # type: ignore[arg-type]
        call = self.call
        core = call.core
        attributes: dict[str, Any] = {
            "http.request.method": call.method,
            "server.address": core.host,
            "server.port": core.port,
            "url.template": core.url_template(call.operation),
        }
        if status is not None:
            attributes["http.response.status_code"] = status
            if status >= 400:
                attributes["error.type"] = str(status)
        else:
            attributes["error.type"] = _error_type(error)
        self.instruments.request_duration.record(
            time.perf_counter() - self._request_started, attributes
        )
        if attempt is None:
            return
        outcome: dict[str, Any] = {}
        if status is not None:
            outcome["http.response.status_code"] = status
        if "error.type" in attributes:
            outcome["error.type"] = attributes["error.type"]
            attempt.set_status(StatusCode.ERROR)
        attempt.set_attributes(outcome)
        attempt.end()

    @guarded
    def rate_limited(self, retry_after: float | None) -> None:
        """A 429: the limiter cools down (an event on the call span)."""
        self.instruments.rate_limited.add(1, self.op_attributes)
        if self.recording:
            event: dict[str, Any] = {"http.response.status_code": 429}
            if retry_after is not None:
                event["sinch.retry_after_s"] = retry_after
            self.span.add_event("sinch.rate_limit.cooldown", event)

    @guarded
    def reconciliation(self, applied: bool, failure: BaseException) -> None:
        """An ambiguous send was looked up by its reference: found ``applied``, or not."""
        if self.recording:
            self.span.add_event(
                "sinch.reconciliation",
                {
                    "sinch.reconciliation.outcome": "applied" if applied else "not_applied",
                    "sinch.failure": _cause(failure),
                },
            )

    @guarded
    def retrying(self, delay: float, failure: BaseException) -> None:
        """The call goes round again after ``delay`` seconds because of ``failure``."""
        cause = _cause(failure)
        self.instruments.retries.add(1, {**self.op_attributes, "sinch.retry.cause": cause})
        if self.recording:
            self.span.add_event("sinch.retry", {"sinch.retry.cause": cause, "sinch.delay_s": delay})

    # -- the end -----------------------------------------------------------------------------

    @guarded
    def end(self, response: Any, error: BaseException | None) -> None:
        """The call returned ``response`` or raised ``error`` (cancellation included)."""
        call = self.call
        if self._attempt is not None:  # cancelled on the wire
            self.in_doubt = True
            self.request_ended(None, error)
        if self._token is not None:  # the caller's context back before anything else
            otel_context.detach(self._token)
            self._token = None
        if call.messages and call.operation.sends:
            self._count_messages(error)
        if not self.recording:
            return
        span = self.span
        attributes: dict[str, Any] = {
            "sinch.retries": max(call.attempts - 1, 0),
            "sinch.reconciled": call.reconciled,
            "sinch.rate_limit.wait_ms": round(self._wait * 1000, 3),
        }
        if response is not None:
            attributes["http.response.status_code"] = response.status
            if call.batch_id is None:
                batch_id = _created_id(call.operation.id_field, response.body)
                if batch_id is not None:
                    attributes["sinch.batch_id"] = batch_id
        if error is not None:
            attributes["error.type"] = _error_type(error)
            span.set_status(StatusCode.ERROR, mask_numbers(str(error))[:500])
        span.set_attributes(attributes)
        span.end()

    def _count_messages(self, error: BaseException | None) -> None:
        if error is None:
            outcome = "sent"
        elif self.in_doubt or _is_ambiguous(error):
            outcome = "unknown"
        elif _never_sent(error):
            outcome = "not_sent"
        else:
            outcome = "failed"
        self.instruments.messages[outcome].add(self.call.messages, self.op_attributes)


@functools.lru_cache(maxsize=1024)
def _masked_url(url: object) -> str:
    """``url.full``: the URL without its query, phone numbers masked (cached: a send's URL
    is the same every time, and masking costs microseconds)."""
    return mask_numbers(str(url))


def _error_type(error: BaseException | None) -> str:
    if error is None:
        return "_OTHER"
    status = getattr(error, "status", None)
    if isinstance(status, int) and status >= 300:
        return str(status)
    return type(error).__name__


def _is_ambiguous(error: BaseException) -> bool:
    from sinch_async._retry import is_ambiguous
    from sinch_async.errors import AmbiguousSendError, SinchError

    if isinstance(error, AmbiguousSendError):
        return True
    return isinstance(error, SinchError) and is_ambiguous(error)


def _never_sent(error: BaseException) -> bool:
    """Cancelled or closed before any request of the send left."""
    from sinch_async.errors import ClientClosedError

    if isinstance(error, ClientClosedError):
        return not error.in_flight
    return isinstance(error, BaseException) and not isinstance(error, Exception)


def _created_id(field: str | None, body: bytes) -> str | None:
    """The ID a send created, from its response (only for a recording span)."""
    if field is None:
        return None
    try:
        value = _ID_DECODERS[field].decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    found = getattr(value, field)
    return found if isinstance(found, str) else None


@contextmanager
def _current(span: Span) -> Iterator[None]:
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        otel_context.detach(token)


# --- fan-out ---------------------------------------------------------------------------------


class FanOutTrace:
    """The span of one fan-out run (not current: each chunk's span is made under it)."""

    def __init__(
        self, telemetry: Telemetry, name: str | None, attributes: Mapping[str, Any]
    ) -> None:
        self.telemetry = telemetry
        self.instruments = telemetry.instruments
        self.span: Span | None = None
        self._context: Context | None = None  # None: the chunks' parent is the current span
        self.recording = True
        if name is not None:
            span = self.span = telemetry.tracer.start_span(name, kind=SpanKind.INTERNAL)
            self.recording = span.is_recording()
            if self.recording:
                campaign_id = attributes.get("sinch.campaign_id")
                if isinstance(campaign_id, str):
                    attributes = {**attributes, "sinch.campaign_id": safe_text(campaign_id)}
                span.set_attributes(attributes)
            self._context = trace.set_span_in_context(span)

    @contextmanager
    def chunk(self, index: int, reference: str, recipients: int) -> Iterator[ChunkSpan]:
        """The span of one chunk, current while it is sent (the send's span is its child)."""
        outcome = ChunkSpan()
        started = self._start_chunk(index, reference, recipients)
        try:
            yield outcome
        finally:
            if started is not None:
                otel_context.detach(started[1])
            self._end_chunk(None if started is None else started[0], outcome, recipients)

    @guarded
    def _start_chunk(
        self, index: int, reference: str, recipients: int
    ) -> tuple[Span, Token[Context]] | None:
        self.instruments.chunks_in_flight.add(1, _NO_ATTRIBUTES)
        if not self.recording:
            return None
        span = self.telemetry.tracer.start_span(
            "sinch fan_out.chunk",
            context=self._context,
            kind=SpanKind.INTERNAL,
            attributes={
                "sinch.chunk.index": index,
                "sinch.client_reference": safe_text(reference),
                "sinch.recipients": recipients,
            },
        )
        return span, otel_context.attach(trace.set_span_in_context(span))

    @guarded
    def _end_chunk(self, span: Span | None, outcome: ChunkSpan, recipients: int) -> None:
        self.instruments.chunks_in_flight.add(-1, _NO_ATTRIBUTES)
        if outcome.status is not None and outcome.counted:
            self.done(outcome.status, recipients)
        if span is None:
            return
        attributes: dict[str, Any] = {"sinch.chunk.status": outcome.status or "stopped"}
        if outcome.batch_id is not None:
            attributes["sinch.batch_id"] = outcome.batch_id
        span.set_attributes(attributes)
        if outcome.status in ("failed", "unknown"):
            span.set_status(StatusCode.ERROR)
        span.end()

    @guarded
    def done(self, status: str, recipients: int) -> None:
        """``recipients`` reached an outcome (a chunk status, or ``not_sent``)."""
        if recipients:
            self.instruments.recipients_done.add(recipients, {"sinch.outcome": status})

    @guarded
    def end(self, attributes: Mapping[str, Any], error: BaseException | None) -> None:
        """The run ended (``error``: how it stopped early) with these totals."""
        span = self.span
        if span is None:
            return
        if self.recording:
            span.set_attributes(attributes)
            if error is not None:
                span.set_attribute("error.type", type(error).__name__)
                span.set_status(StatusCode.ERROR)
        span.end()


_NO_ATTRIBUTES: Mapping[str, Any] = {}


class ChunkSpan:
    """What the fan-out engine reports about a chunk it sent: its status and batch, and
    whether its recipients count now (``counted``) or are counted by the engine later."""

    __slots__ = ("batch_id", "counted", "status")

    def __init__(self) -> None:
        self.status: str | None = None
        self.batch_id: str | None = None
        self.counted = True


# --- webhooks --------------------------------------------------------------------------------

_OUTCOMES = {
    200: "accepted",
    400: "invalid",
    401: "rejected_signature",
    413: "too_large",
    500: "handler_failed",
    503: "retry_later",
}


class WebhookTrace:
    """The SERVER span of one callback (current while it is handled) and its metric."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.span = telemetry.tracer.start_span("sinch webhook", kind=SpanKind.SERVER)
        self.recording = self.span.is_recording()
        self._token = (
            otel_context.attach(trace.set_span_in_context(self.span)) if self.recording else None
        )

    @guarded
    def end(
        self,
        status: int,
        event_type: str | None,
        verification: str,
        duplicate: bool,
        error: BaseException | None = None,
    ) -> None:
        """Answered ``status``. ``verification`` is ``verified``, ``not_checked`` (no
        secret) or the signature failure's reason; ``duplicate``: a ``Deduplicator``
        skipped the callback."""
        if self._token is not None:  # the caller's context back before anything else
            otel_context.detach(self._token)
            self._token = None
        outcome = _OUTCOMES.get(status, "error")
        if status == 200 and duplicate:
            outcome = "duplicate"
        elif status == 401 and verification == "replayed_nonce":
            outcome = "replay"
        attributes = {
            "sinch.webhook.type": event_type or "unknown",
            "sinch.webhook.outcome": outcome,
        }
        self.telemetry.instruments.webhook_events.add(1, attributes)
        if not self.recording:
            return
        span = self.span
        span.set_attributes(
            {
                **attributes,
                "http.request.method": "POST",
                "http.response.status_code": status,
                "sinch.webhook.verification": verification,
            }
        )
        if status >= 500:
            span.set_attribute("error.type", str(status) if error is None else type(error).__name__)
            span.set_status(StatusCode.ERROR)
        span.end()
