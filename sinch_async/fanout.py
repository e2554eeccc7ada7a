"""Campaign fan-out: stream any number of recipients into 1000-recipient batches.

Recipients are read lazily (a list, an iterable or an async iterable, of numbers
or of ``(number, {param: value})`` pairs), normalised to E.164, validated and
de-duplicated, grouped into chunks, and sent with bounded concurrency through
the client's retry and rate-limit layers. Each chunk carries a deterministic
``client_reference`` derived from ``campaign_id`` and the chunk's position, so
an ambiguous failure is reconciled instead of sent twice, and re-running the
same campaign (same input, same order) skips the chunks Sinch already has.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from sinch_async._intset import IntSet
from sinch_async.encoding import count_parts
from sinch_async.errors import SinchError, SinchValidationError

if TYPE_CHECKING:
    from sinch_async.resources.batches import Batches

__all__ = [
    "ChunkResult",
    "FanOutCancelled",
    "FanOutProgress",
    "FanOutReport",
    "InvalidRecipient",
    "MessageEstimate",
    "Recipient",
    "normalize_e164",
    "run_chunks",
]

T = TypeVar("T")

Recipient = str | tuple[str, Mapping[str, str]]
"""A phone number, or a phone number with its ``${parameter}`` values."""

RecipientSource = Iterable[Recipient] | AsyncIterable[Recipient]

_SEPARATORS = re.compile(r"[\s\-().]")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9.\-_ ]+)\}")
MAX_CHUNK = 1000
_LOOKUP_WINDOW_DAYS = 14


def normalize_e164(raw: object) -> tuple[str | None, str | None]:
    """``(e164, None)`` for a valid number, ``(None, reason)`` otherwise.

    Accepts ``+``, ``00`` or no prefix (international format), and ignores
    spaces, dashes, dots and brackets. A number starting with a single ``0`` is
    a national number without a country code and is refused.
    """
    if not isinstance(raw, str):
        return None, f"not a string ({type(raw).__name__})"
    text = _SEPARATORS.sub("", raw)
    if not text:
        return None, "empty"
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    elif text.startswith("0"):
        return None, "national format (starts with 0): give the country code"
    else:
        digits = text
    if not digits.isdigit() or not digits.isascii():
        return None, "not a phone number (only digits, +, spaces, dashes, dots, brackets)"
    if digits.startswith("0"):
        return None, "country code cannot start with 0"
    if len(digits) < 7:
        return None, "too short for an international number (7 to 15 digits)"
    if len(digits) > 15:
        return None, "too long: E.164 numbers have at most 15 digits"
    return "+" + digits, None


@dataclass(frozen=True, slots=True)
class InvalidRecipient:
    """A recipient that was not sent: its value as given and why."""

    value: object
    reason: str


@dataclass(frozen=True, slots=True)
class MessageEstimate:
    """Messages (SMS parts) a campaign costs: parts per message summed over recipients."""

    recipients: int
    messages: int
    max_parts: int
    encodings: tuple[str, ...]


@dataclass(slots=True)
class ChunkResult:
    """The outcome of one chunk (one batch of up to ``chunk_size`` recipients).

    ``status`` is ``"created"`` (sent now), ``"existing"`` (Sinch already had a
    batch with this ``client_reference``: a resumed campaign), or ``"failed"``
    (``error`` says why; the recipients were not sent). ``count`` is the number of
    recipients. ``fan_out_iter`` yields every chunk with its ``recipients``; the
    :class:`FanOutReport` keeps the recipients (and parameters) of failed chunks
    only, so that a campaign of millions stays in bounded memory.
    """

    index: int
    client_reference: str
    recipients: list[str]
    status: Literal["created", "existing", "failed"]
    batch_id: str | None = None
    error: BaseException | None = None
    parameters: dict[str, dict[str, str]] | None = field(default=None, repr=False)
    count: int = -1

    def __post_init__(self) -> None:
        if self.count < 0:
            self.count = len(self.recipients)

    def slim(self) -> ChunkResult:
        """This result without its recipients and parameters (kept for failed chunks)."""
        if not self.ok:
            return self
        return ChunkResult(
            self.index,
            self.client_reference,
            [],
            self.status,
            self.batch_id,
            None,
            None,
            self.count,
        )

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass(frozen=True, slots=True)
class FanOutProgress:
    """Passed to ``on_progress`` each time a chunk finishes."""

    recipients_read: int
    recipients_sent: int
    recipients_failed: int
    batches: int
    chunks_failed: int
    invalid: int
    duplicates: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Recipients sent per second so far."""
        return self.recipients_sent / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class FanOutReport:
    """Where every recipient went: ``read == valid + invalid + duplicates`` and
    ``valid == sent + failed + not_sent``."""

    campaign_id: str | None = None
    read: int = 0
    valid: int = 0
    duplicates: int = 0
    invalid: list[InvalidRecipient] = field(default_factory=list)
    chunks: list[ChunkResult] = field(default_factory=list)
    not_sent: list[str] = field(default_factory=list)
    """Valid recipients of chunks never started (the run was cancelled)."""
    estimate: MessageEstimate | None = None
    dry_run: bool = False
    elapsed: float = 0.0

    @property
    def batches(self) -> list[ChunkResult]:
        """Chunks that Sinch has as a batch (created now or found from an earlier run)."""
        return [c for c in self.chunks if c.ok]

    @property
    def failed_chunks(self) -> list[ChunkResult]:
        return [c for c in self.chunks if not c.ok]

    @property
    def sent(self) -> int:
        """Recipients in batches Sinch has."""
        return sum(c.count for c in self.chunks if c.ok)

    @property
    def failed(self) -> int:
        return sum(c.count for c in self.chunks if not c.ok)

    def failed_recipients(self) -> list[Recipient]:
        """Recipients of failed chunks (with their parameters), to retry just those."""
        out: list[Recipient] = []
        for chunk in self.failed_chunks:
            params = chunk.parameters or {}
            for number in chunk.recipients:
                values = {
                    name: by_number[number]
                    for name, by_number in params.items()
                    if number in by_number
                }
                out.append((number, values) if values else number)
        return out

    @property
    def complete(self) -> bool:
        """True when every valid recipient is in a batch Sinch has."""
        return self.failed == 0 and not self.not_sent and self.sent == self.valid

    def progress(self, started: float) -> FanOutProgress:
        """A :class:`FanOutProgress` snapshot (``started`` is the run's monotonic start)."""
        return FanOutProgress(
            recipients_read=self.read,
            recipients_sent=self.sent,
            recipients_failed=self.failed,
            batches=len(self.batches),
            chunks_failed=len(self.failed_chunks),
            invalid=len(self.invalid),
            duplicates=self.duplicates,
            elapsed=time.monotonic() - started,
        )

    def summary(self) -> str:
        lines = [
            f"read {self.read:,}: {self.valid:,} valid, {len(self.invalid):,} invalid, "
            f"{self.duplicates:,} duplicates",
            f"sent {self.sent:,} in {len(self.batches):,} batches"
            + (f"; {self.failed:,} failed in {len(self.failed_chunks)} chunks" * bool(self.failed))
            + (f"; {len(self.not_sent):,} not sent (cancelled)" if self.not_sent else ""),
        ]
        if self.estimate is not None:
            lines.append(
                f"estimate: {self.estimate.messages:,} messages "
                f"(up to {self.estimate.max_parts} parts each)"
            )
        return "\n".join(lines)


class FanOutCancelled(asyncio.CancelledError):
    """The fan-out was cancelled. ``report`` says exactly which chunks were created
    (chunks in flight were allowed to finish) and which recipients were not sent.

    A subclass of ``asyncio.CancelledError``: it propagates like a cancellation
    (``except Exception`` does not swallow it) and carries the partial report.
    """

    @staticmethod
    def find(exc: BaseException | None) -> FanOutCancelled | None:
        """The :class:`FanOutCancelled` behind ``exc``, if any.

        Inside the cancelled task (``fan_out`` itself) it is raised as is. Awaiting
        a cancelled task raises it too on Python 3.11+; Python 3.10 raises a fresh
        ``CancelledError`` with the ``FanOutCancelled`` as its ``__context__``. This
        finds it either way::

            except asyncio.CancelledError as exc:
                cancelled = FanOutCancelled.find(exc)
        """
        seen = 0
        while exc is not None and seen < 16:
            if isinstance(exc, FanOutCancelled):
                return exc
            exc = exc.__cause__ or exc.__context__
            seen += 1
        return None

    def __init__(self, report: FanOutReport) -> None:
        self.report = report
        super().__init__(
            f"fan-out cancelled: {report.sent:,} recipients in {len(report.batches)} batches "
            f"were sent, {len(report.not_sent):,} were not"
        )


def chunk_reference(campaign_id: str, index: int) -> str:
    """The deterministic ``client_reference`` of chunk ``index`` of a campaign."""
    if len(campaign_id) > 200:
        campaign_id = hashlib.sha256(campaign_id.encode()).hexdigest()[:32]
    return f"{campaign_id}#{index}"


class _Estimator:
    def __init__(self, body: str) -> None:
        self.body = body
        self.placeholders = bool(_PLACEHOLDER.search(body))
        self.fixed = count_parts(body) if not self.placeholders else None
        self.messages = 0
        self.recipients = 0
        self.max_parts = 0
        self.encodings: set[str] = set()

    def add(self, values: Mapping[str, str], defaults: Mapping[str, str]) -> None:
        parts = self.fixed
        if parts is None:
            rendered = _PLACEHOLDER.sub(
                lambda m: str(values.get(m.group(1), defaults.get(m.group(1), ""))), self.body
            )
            parts = count_parts(rendered)
        self.recipients += 1
        self.messages += parts.parts
        self.max_parts = max(self.max_parts, parts.parts)
        self.encodings.add(parts.encoding)

    def result(self) -> MessageEstimate:
        return MessageEstimate(
            self.recipients, self.messages, self.max_parts, tuple(sorted(self.encodings))
        )


async def _iterate(source: RecipientSource) -> AsyncIterator[Recipient]:
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield item
    else:
        for item in source:
            yield item


class FanOut:
    """One fan-out run (used by ``sms.batches.fan_out`` and ``fan_out_iter``)."""

    def __init__(
        self,
        batches: Batches,
        recipients: RecipientSource,
        body: str,
        *,
        campaign_id: str | None,
        chunk_size: int,
        concurrency: int,
        dedupe: bool,
        resume: bool | None,
        default_parameters: Mapping[str, str] | None,
        on_progress: Callable[[FanOutProgress], Any] | None,
        fields: dict[str, Any],
    ) -> None:
        if isinstance(cast(object, recipients), (str, bytes)):
            raise SinchValidationError("recipients", "must be a list or iterable of numbers")
        if not isinstance(body, str) or not body:
            raise SinchValidationError("body", "must be a non-empty string")
        if len(body) > 2000:
            raise SinchValidationError("body", f"is {len(body)} characters; the limit is 2000")
        if not 1 <= chunk_size <= MAX_CHUNK:
            raise SinchValidationError("chunk_size", "must be 1..1000", limit="1..1000")
        if concurrency < 1:
            raise SinchValidationError("concurrency", "must be at least 1", limit=">= 1")
        if campaign_id is not None and (not isinstance(campaign_id, str) or not campaign_id):
            raise SinchValidationError("campaign_id", "must be a non-empty string")
        for name in ("to", "parameters", "client_reference", "type", "udh"):
            if name in fields:
                raise SinchValidationError(
                    name, "is set by fan_out itself (use recipients / default_parameters)"
                )
        self.batches = batches
        self.source = recipients
        self.body = body
        self.campaign_id = campaign_id
        self.chunk_size = chunk_size
        self.concurrency = concurrency
        self.dedupe = dedupe
        self.resume = campaign_id is not None if resume is None else resume
        if self.resume and campaign_id is None:
            raise SinchValidationError("resume", "needs a campaign_id")
        self.defaults = dict(default_parameters or {})
        self.on_progress = on_progress
        self.fields = fields
        self.report = FanOutReport(campaign_id=campaign_id)
        self._seen = IntSet() if dedupe else None
        self._estimator = _Estimator(body)
        self._started = time.monotonic()
        self._buffer: list[str] = []

    # --- reading -------------------------------------------------------------------------

    def _accept(self, item: Recipient) -> tuple[str, Mapping[str, str]] | None:
        report = self.report
        report.read += 1
        values: Mapping[str, str] = {}
        raw: object = item
        if isinstance(item, tuple):
            pair = cast(tuple[object, ...], item)
            if len(pair) != 2 or not isinstance(pair[1], Mapping):
                report.invalid.append(InvalidRecipient(item, "expected (number, {param: value})"))
                return None
            raw, values = item
        number, reason = normalize_e164(raw)
        if number is None:
            report.invalid.append(InvalidRecipient(raw, reason or "invalid"))
            return None
        if self._seen is not None and not self._seen.add(int(number[1:])):
            report.duplicates += 1
            return None
        report.valid += 1
        self._estimator.add(values, self.defaults)
        return number, values

    async def _chunks(self) -> AsyncGenerator[tuple[list[str], dict[str, dict[str, str]]], None]:
        """Chunks of accepted recipients. ``self._buffer`` holds the chunk being filled,
        so that a cancelled run can report those recipients as not sent."""
        params: dict[str, dict[str, str]] = {}
        async for item in _iterate(self.source):
            accepted = self._accept(item)
            if accepted is None:
                continue
            number, values = accepted
            self._buffer.append(number)
            for name, value in values.items():
                params.setdefault(name, {})[number] = str(value)
            if len(self._buffer) == self.chunk_size:
                chunk, self._buffer = self._buffer, []
                yield chunk, params
                params = {}
        if self._buffer:
            chunk, self._buffer = self._buffer, []
            yield chunk, params

    # --- sending -------------------------------------------------------------------------

    def _parameters(self, params: dict[str, dict[str, str]]) -> dict[str, dict[str, str]] | None:
        if not params and not self.defaults:
            return None
        merged = {name: dict(values) for name, values in params.items()}
        for name, default in self.defaults.items():
            merged.setdefault(name, {})["default"] = default
        return merged

    async def _existing(self, reference: str) -> str | None:
        from datetime import datetime, timedelta, timezone

        since = datetime.now(timezone.utc) - timedelta(days=_LOOKUP_WINDOW_DAYS)
        page = await self.batches.list(client_reference=reference, start_date=since).page(0)
        for batch in page.items:
            if batch.client_reference == reference:
                return batch.id
        return None

    async def _send_chunk(
        self, index: int, numbers: list[str], params: dict[str, dict[str, str]]
    ) -> ChunkResult:
        reference = (
            chunk_reference(self.campaign_id, index)
            if self.campaign_id is not None
            else f"fanout-{id(self):x}-{index}"
        )
        parameters = self._parameters(params)
        try:
            if self.resume:
                existing = await self._existing(reference)
                if existing is not None:
                    return ChunkResult(
                        index, reference, numbers, "existing", existing, parameters=parameters
                    )
            batch = await self.batches.send(
                numbers, self.body, parameters=parameters, client_reference=reference, **self.fields
            )
        except SinchError as exc:
            return ChunkResult(index, reference, numbers, "failed", None, exc, parameters)
        return ChunkResult(index, reference, numbers, "created", batch.id, parameters=parameters)

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.report.progress(self._started))

    def _take_unsent(self) -> list[str]:
        unsent, self._buffer = self._buffer, []
        return unsent

    def _finish(self) -> None:
        self.report.estimate = self._estimator.result()
        self.report.elapsed = time.monotonic() - self._started

    def run(self) -> AsyncGenerator[ChunkResult, None]:
        """Yield chunk results as they complete; the report fills in as they do."""
        return run_chunks(
            self._chunks(),
            lambda index, chunk: self._send_chunk(index, *chunk),
            concurrency=self.concurrency,
            report=self.report,
            on_result=self._progress,
            take_unsent=self._take_unsent,
            finish=self._finish,
        )

    async def estimate_only(self) -> FanOutReport:
        async for _ in self._chunks():
            pass
        self.report.dry_run = True
        self.report.estimate = self._estimator.result()
        self.report.elapsed = time.monotonic() - self._started
        return self.report


async def run_chunks(
    chunks: AsyncGenerator[T, None],
    send: Callable[[int, T], Awaitable[ChunkResult]],
    *,
    concurrency: int,
    report: FanOutReport,
    on_result: Callable[[], None],
    take_unsent: Callable[[], list[str]],
    finish: Callable[[], None],
) -> AsyncGenerator[ChunkResult, None]:
    """The chunk scheduler shared by the SMS and Conversation fan-outs.

    Starts up to ``concurrency`` sends at a time as chunks come from ``chunks``,
    records each result in ``report`` and yields it as it completes. If the run
    is cancelled, stopped early, or the source fails, chunks in flight are let
    finish (nothing is sent after the call returns, and the report is exact) and
    the recipients read but not in a started chunk (``take_unsent()``) go to
    ``report.not_sent``.
    """
    pending: set[asyncio.Task[ChunkResult]] = set()
    index = 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < concurrency:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                pending.add(asyncio.ensure_future(send(index, chunk)))
                index += 1
            if not pending:
                break
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for result in sorted((t.result() for t in done), key=lambda r: r.index):
                report.chunks.append(result.slim())
                on_result()
                yield result
    except BaseException:
        if pending:
            finished = await asyncio.shield(asyncio.gather(*pending, return_exceptions=True))
            for outcome in finished:
                if isinstance(outcome, ChunkResult):
                    report.chunks.append(outcome.slim())
        report.not_sent.extend(take_unsent())
        raise
    finally:
        await chunks.aclose()
        report.chunks.sort(key=lambda c: c.index)
        finish()
