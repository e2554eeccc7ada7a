"""The fan-out engine: one campaign run, whatever the API.

A run reads its recipients lazily (a list, an iterable or an async iterable),
lets the API accept or refuse each one, de-duplicates them, groups them into
chunks and sends the chunks with bounded concurrency. Progress is reported as
chunks finish; a cancelled run lets the chunks in flight finish and reports
exactly what was sent and what was not; with a ``campaign_id`` each chunk has a
deterministic reference, so a re-run finds the chunks Sinch already has.

An API (:mod:`sinch_async.fanout._sms`, :mod:`sinch_async.conversation.fanout`)
subclasses :class:`FanOutEngine` and supplies only how to accept one recipient,
its de-duplication key and label, and how to send and look up one chunk.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Iterable,
)
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, cast

from sinch_async._hooks import CallInfo, call_info
from sinch_async._intset import IntSet
from sinch_async.errors import SinchError, SinchValidationError
from sinch_async.fanout._options import (
    MAX_CHUNK,
    FanOutOptions,
    chunk_reference,
)
from sinch_async.fanout._report import (
    ChunkResult,
    DuplicatedChunk,
    FanOutCancelled,
    FanOutReport,
    InvalidRecipient,
)

if TYPE_CHECKING:
    from sinch_async._telemetry import FanOutTrace, Telemetry

__all__ = ["DedupeKey", "FanOutEngine"]

T = TypeVar("T")
ItemT = TypeVar("ItemT")
ChunkStatus = Literal["created", "existing", "failed", "unknown"]
ReportT = TypeVar("ReportT", bound=FanOutReport)

DedupeKey = str | tuple[str, int]
"""What makes two recipients the same: ``(space, phone number as an int)`` (kept in a
compact integer set per space, e.g. per channel) or any other string."""


async def _iterate(source: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield item
    else:
        for item in source:
            yield item


class _Seen:
    """The de-duplication keys accepted so far: phone numbers in compact integer sets
    (one per space), other keys in a set."""

    def __init__(self) -> None:
        self._numbers: dict[str, IntSet] = {}
        self._other: set[str] = set()

    def add(self, key: DedupeKey) -> bool:
        """True if ``key`` is new (and now seen)."""
        if isinstance(key, str):
            if key in self._other:
                return False
            self._other.add(key)
            return True
        space, number = key
        numbers = self._numbers.get(space)
        if numbers is None:
            numbers = self._numbers[space] = IntSet()
        return numbers.add(number)


class FanOutEngine(ABC, Generic[ItemT, ReportT]):
    """One fan-out run. Subclasses say how to accept a recipient and send one chunk.

    ``run()`` yields chunk results as they complete; ``complete()`` runs to the end
    and returns the report, raising :class:`FanOutCancelled` (with the partial
    report) if cancelled.
    """

    noun: ClassVar[str] = "recipients"
    """What the recipients are called in the error for a bad source."""
    max_chunk: ClassVar[int] = MAX_CHUNK
    result_type: ClassVar[type[ChunkResult]] = ChunkResult
    """The type of the chunk results (see :meth:`kept`)."""

    def __init__(
        self,
        source: Iterable[Any] | AsyncIterable[Any],
        options: FanOutOptions,
        report: ReportT,
        *,
        telemetry: Telemetry | None = None,
    ) -> None:
        if isinstance(cast(object, source), (str, bytes)) or not isinstance(
            source, (Iterable, AsyncIterable)
        ):
            raise SinchValidationError("recipients", f"must be a list or iterable of {self.noun}")
        limit = f"1..{self.max_chunk}"
        if not 1 <= options.chunk_size <= self.max_chunk:
            raise SinchValidationError("chunk_size", f"must be {limit}", limit=limit)
        if options.concurrency < 1:
            raise SinchValidationError("concurrency", "must be at least 1", limit=">= 1")
        campaign_id = options.campaign_id
        if campaign_id is not None and (not isinstance(campaign_id, str) or not campaign_id):
            raise SinchValidationError("campaign_id", "must be a non-empty string")
        self.resume = campaign_id is not None if options.resume is None else options.resume
        if self.resume and campaign_id is None:
            raise SinchValidationError("resume", "needs a campaign_id")
        self.source = source
        self.campaign_id = campaign_id
        self.chunk_size = options.chunk_size
        self.concurrency = options.concurrency
        self.on_progress = options.on_progress
        self.report = report
        self.run_id = uuid.uuid4().hex[:12]
        """Names the chunks of a run without a ``campaign_id``: random, so that no other
        run (in this process or another) has the same chunk references."""
        self._seen = _Seen() if options.dedupe else None
        self._started = time.monotonic()
        self._buffer: list[ItemT] = []
        self._calls: dict[int, CallInfo] = {}
        """The running chunks' call state (requests on the wire, unresolved sends)."""
        self._ambiguous: list[int] = []
        """Chunks whose send was ambiguous at least once: checked for duplicates at the end."""
        self._pending: dict[asyncio.Task[ChunkResult], tuple[int, list[ItemT]]] = {}
        """The chunks being sent: their task, index and recipients."""
        self.telemetry = telemetry
        self._trace: FanOutTrace | None = None
        """The run's span and the chunks' (telemetry on; see :meth:`_schedule`)."""
        self._uncounted: dict[int, int] = {}
        """Chunks whose recipients the metrics count at the end of the run (index -> count):
        failed or unknown after an ambiguous send (the final check may find them sent), or
        stopped on the wire (counted unknown when stopped)."""
        self._stopped_on_wire: set[int] = set()

    # --- what each API supplies ----------------------------------------------------------

    @abstractmethod
    def accept(self, value: Any) -> ItemT | InvalidRecipient:
        """One input value, checked and normalised, or why it is refused."""

    @abstractmethod
    def dedupe_key(self, item: ItemT) -> DedupeKey:
        """What makes two accepted recipients the same recipient."""

    def admit(self, item: ItemT) -> ItemT:
        """A valid, new recipient about to join a chunk (the item to send)."""
        return item

    @abstractmethod
    def label(self, item: ItemT) -> str:
        """A short text naming a recipient in the report."""

    @abstractmethod
    async def find_batches(self, reference: str) -> list[str]:
        """The IDs of the batches Sinch has under this chunk reference, oldest first
        (resume, and the check for duplicates)."""

    @abstractmethod
    async def send_chunk(self, reference: str, items: list[ItemT]) -> str:
        """Send one chunk as one batch; its batch ID."""

    def kept(self, items: list[ItemT]) -> dict[str, Any]:
        """What a chunk's result keeps besides its recipients' labels (keyword arguments
        of :attr:`result_type`); nothing by default."""
        return {}

    # --- reading -------------------------------------------------------------------------

    def _take(self, value: Any) -> ItemT | None:
        report = self.report
        report.read += 1
        item = self.accept(value)
        if isinstance(item, InvalidRecipient):
            report.invalid.append(item)
            return None
        if self._seen is not None and not self._seen.add(self.dedupe_key(item)):
            report.duplicates += 1
            return None
        report.valid += 1
        return self.admit(item)

    async def _chunks(self) -> AsyncGenerator[list[ItemT], None]:
        """Chunks of accepted recipients. ``self._buffer`` holds the chunk being filled,
        so that a cancelled run can report those recipients as not sent."""
        async for value in _iterate(self.source):
            item = self._take(value)
            if item is None:
                continue
            self._buffer.append(item)
            if len(self._buffer) == self.chunk_size:
                chunk, self._buffer = self._buffer, []
                yield chunk
        if self._buffer:
            chunk, self._buffer = self._buffer, []
            yield chunk

    # --- sending -------------------------------------------------------------------------

    def reference(self, index: int) -> str:
        """The reference of chunk ``index``: ``"{campaign_id}#{index}"``, or without a
        campaign id ``"fanout-{run_id}-{index}"`` (unique to this run)."""
        if self.campaign_id is not None:
            return chunk_reference(self.campaign_id, index)
        return f"fanout-{self.run_id}-{index}"

    async def _send(self, index: int, items: list[ItemT]) -> ChunkResult:
        """Send one chunk (in its span when telemetry is on)."""
        trace = self._trace
        if trace is None and self.telemetry is not None and not self.telemetry.idle():
            # a chunk sent on its own (RedisCampaign): its span under the current one
            trace = self._trace = self.telemetry.fan_out(None, {})
        if trace is None:
            return await self._send_chunk(index, items)
        with trace.chunk(index, self.reference(index), len(items)) as span:
            try:
                result = await self._send_chunk(index, items)
            except asyncio.CancelledError:
                info = self._calls.get(index)
                if index in self._stopped_on_wire or (info is not None and info.in_doubt):
                    # the report says unknown (see _stopped, which counts it): so does the span
                    span.status, span.counted = "unknown", False
                raise
            span.status, span.batch_id = result.status, result.batch_id
            if not result.ok and index in self._ambiguous and trace.span is not None:
                span.counted = False  # the run's final check decides: counted at the end
                self._uncounted[index] = len(items)
            return result

    async def _send_chunk(self, index: int, items: list[ItemT]) -> ChunkResult:
        reference = self.reference(index)
        with call_info() as info:  # the send's state, for stopping and for the final check
            self._calls[index] = info
            try:
                if self.resume:
                    existing = await self.find_batches(reference)
                    if existing:
                        return self._result(index, reference, items, "existing", existing[0])
                batch_id = await self.send_chunk(reference, items)
            except SinchError as exc:
                status: ChunkStatus = "unknown" if info.in_doubt else "failed"
                return self._result(index, reference, items, status, None, exc)
            finally:
                if info.ambiguous:
                    self._ambiguous.append(index)
        return self._result(index, reference, items, "created", batch_id)

    def _result(
        self,
        index: int,
        reference: str,
        items: list[ItemT],
        status: ChunkStatus,
        batch_id: str | None,
        error: BaseException | None = None,
    ) -> ChunkResult:
        labels = [self.label(item) for item in items]
        kept = self.kept(items)
        return self.result_type(index, reference, labels, status, batch_id, error, **kept)

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.report.progress(self._started))

    def _take_unsent(self) -> list[str]:
        unsent = [self.label(item) for item in self._buffer]
        self._buffer = []
        return unsent

    def finish(self) -> None:
        """Called once when the run ends, however it ends."""
        self.report.elapsed = time.monotonic() - self._started

    # --- running -------------------------------------------------------------------------

    def run(self) -> AsyncGenerator[ChunkResult, None]:
        """Yield chunk results as they complete; the report fills in as they do."""
        return self._schedule()

    async def complete(self) -> ReportT:
        """Run to the end and return the report; on cancellation raise
        :class:`FanOutCancelled` carrying the report of what was sent."""
        try:
            async for _ in self.run():
                pass
        except asyncio.CancelledError:
            raise FanOutCancelled(self.report) from None
        return self.report

    async def _schedule(self) -> AsyncGenerator[ChunkResult, None]:
        """Start up to ``concurrency`` chunk sends as chunks are read; record and yield
        each result as it completes; at the end, check the ambiguous sends for duplicates.

        Stopped early (cancelled, the source failed, the caller stopped iterating), the
        run stops its chunks as :meth:`_stop` says, and the recipients read but not yet
        in a started chunk go to ``report.not_sent``: nothing is sent after it returns.
        """
        chunks = self._chunks()
        pending = self._pending
        index = 0
        exhausted = False
        if self.telemetry is not None and not self.telemetry.idle():
            attributes: dict[str, Any] = {
                "sinch.fanout.chunk_size": self.chunk_size,
                "sinch.fanout.concurrency": self.concurrency,
                "sinch.fanout.resume": self.resume,
            }
            if self.campaign_id is not None:
                attributes["sinch.campaign_id"] = self.campaign_id
            self._trace = self.telemetry.fan_out("sinch fan_out", attributes)
        error: BaseException | None = None
        try:
            while True:
                while not exhausted and len(pending) < self.concurrency:
                    try:
                        chunk = await chunks.__anext__()
                    except StopAsyncIteration:
                        exhausted = True
                        break
                    pending[asyncio.ensure_future(self._send(index, chunk))] = (index, chunk)
                    index += 1
                if not pending:
                    break
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    del pending[task]
                for result in sorted((t.result() for t in done), key=lambda r: r.index):
                    self._record(result)
                    yield result
            await self._check_ambiguous()
        except BaseException as exc:
            error = exc
            await self._stop(pending)
            self.report.not_sent.extend(self._take_unsent())
            raise
        finally:
            await chunks.aclose()
            self.report.chunks.sort(key=lambda c: c.index)
            self.finish()
            if self._trace is not None:
                self._end_trace(self._trace, error)

    def _end_trace(self, trace: FanOutTrace, error: BaseException | None) -> None:
        """End the run's span with the report's totals."""
        report = self.report
        trace.done("not_sent", len(report.not_sent))
        if self._uncounted:
            status = {chunk.index: chunk.status for chunk in report.chunks}
            for index, count in self._uncounted.items():
                trace.done(status.get(index, "unknown"), count)
        trace.end(
            {
                "sinch.recipients.read": report.read,
                "sinch.recipients.valid": report.valid,
                "sinch.recipients.invalid": len(report.invalid),
                "sinch.recipients.duplicates": report.duplicates,
                "sinch.recipients.sent": report.sent,
                "sinch.recipients.failed": report.failed,
                "sinch.recipients.unknown": report.unknown,
                "sinch.recipients.not_sent": len(report.not_sent),
                "sinch.fanout.chunks": len(report.chunks),
            },
            error,
        )

    def in_flight(self) -> tuple[int, int]:
        """``(chunks, recipients)``: chunks whose request is on the wire now (a stop lets
        them finish), and recipients a stop now would leave unsent (chunks not on the
        wire, and the chunk being filled)."""
        on_wire, waiting = 0, len(self._buffer)
        for index, items in self._pending.values():
            info = self._calls.get(index)
            if info is not None and info.sending > 0:
                on_wire += 1
            else:
                waiting += len(items)
        return on_wire, waiting

    def _record(self, result: ChunkResult) -> None:
        self._calls.pop(result.index, None)
        self.report.chunks.append(result.slim())
        self._progress()

    async def _stop(
        self, pending: dict[asyncio.Task[ChunkResult], tuple[int, list[ItemT]]]
    ) -> None:
        """Stop the chunks of a run that is ending early.

        A chunk with no request of its send on the wire (waiting for the rate limiter,
        a connection, a backoff or a lookup) is cancelled: its recipients are not sent,
        or unknown if an earlier attempt of its send is unresolved. A chunk whose send is
        on the wire is let finish that request (its outcome counts), then stopped before
        any retry. Cancelled again meanwhile, the run abandons the requests on the wire:
        their recipients are unknown.
        """
        abandoning = False
        cancelled: dict[asyncio.Task[ChunkResult], bool] = {}  # -> was on the wire
        while pending:
            for task, (index, items) in list(pending.items()):
                if task.done():
                    del pending[task]
                    self._stopped(task, index, items, cancelled.get(task, False))
                    continue
                info = self._calls.get(index)
                on_wire = info is not None and info.sending > 0
                if task not in cancelled and (abandoning or not on_wire):
                    cancelled[task] = on_wire
                    if on_wire:
                        self._stopped_on_wire.add(index)
                    task.cancel()
            if pending:
                try:
                    await asyncio.wait(pending, timeout=0.05)
                except asyncio.CancelledError:
                    abandoning = True  # cancelled again: stop waiting for the wire

    def _stopped(
        self, task: asyncio.Task[ChunkResult], index: int, items: list[ItemT], on_wire: bool
    ) -> None:
        """Record a chunk of a run that is ending early."""
        info = self._calls.pop(index, None)
        if not task.cancelled() and task.exception() is None:
            self._record(task.result())
            return
        if on_wire or (info is not None and info.in_doubt):
            reference = self.reference(index)
            error = asyncio.CancelledError("stopped while its send was unresolved")
            self.report.chunks.append(
                self._result(index, reference, items, "unknown", None, error).slim()
            )
            if self._trace is not None:
                self._trace.done("unknown", len(items))
        else:
            self.report.not_sent.extend(self.label(item) for item in items)
        self._progress()

    async def _check_ambiguous(self) -> None:
        """Look up every chunk whose send was ambiguous: a chunk Sinch has more than once
        is reported as duplicated; a failed or unknown one that Sinch has after all is
        sent. An unknown one not found stays unknown (a slow request may still land)."""
        if not self._ambiguous:
            return
        by_index = {chunk.index: position for position, chunk in enumerate(self.report.chunks)}
        for index in sorted(self._ambiguous):
            reference = self.reference(index)
            try:
                found = await self.find_batches(reference)
            except SinchError:
                continue  # the chunk keeps the outcome it had
            position = by_index[index]
            chunk = self.report.chunks[position]
            if len(found) > 1:
                duplicate = DuplicatedChunk(index, reference, tuple(found), chunk.count)
                self.report.duplicated.append(duplicate)
            if not chunk.ok and found:
                chunk.status, chunk.batch_id, chunk.error = "created", found[0], None
                self.report.chunks[position] = chunk.slim()
            # An unknown chunk not found stays unknown: a slow send may still land.

    # --- the seams a distributed campaign uses (sinch_async.redis.RedisCampaign) -----------

    def read_chunks(self) -> AsyncGenerator[list[ItemT], None]:
        """The accepted recipients in chunks, in order (the report counts what was read)."""
        return self._chunks()

    async def send_one(self, index: int, items: list[ItemT]) -> tuple[ChunkResult, bool]:
        """Send chunk ``index`` (looked up first when resuming), like a run does; the result,
        and whether its send was ambiguous at least once (to look it up again at the end)."""
        result = await self._send(index, items)
        return result, index in self._ambiguous

    async def read_only(self) -> ReportT:
        """Read and check every recipient without sending anything."""
        async for _ in self._chunks():
            pass
        self.finish()
        return self.report
