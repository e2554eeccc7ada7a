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
import hashlib
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypedDict, TypeVar, cast

from sinch_async._intset import IntSet
from sinch_async.errors import SinchError, SinchValidationError
from sinch_async.fanout._report import (
    ChunkResult,
    FanOutCancelled,
    FanOutProgress,
    FanOutReport,
    InvalidRecipient,
)

__all__ = [
    "DedupeKey",
    "FanOutEngine",
    "FanOutOptions",
    "FanOutSettings",
    "chunk_reference",
    "run_chunks",
]

T = TypeVar("T")
ItemT = TypeVar("ItemT")
ReportT = TypeVar("ReportT", bound=FanOutReport)

DedupeKey = str | tuple[str, int]
"""What makes two recipients the same: ``(space, phone number as an int)`` (kept in a
compact integer set per space, e.g. per channel) or any other string."""

MAX_CHUNK = 1000


class FanOutSettings(TypedDict, total=False):
    """The run options every ``fan_out`` / ``fan_out_iter`` takes as keywords (defaults
    in brackets); its other keywords are batch fields.

    * ``campaign_id``: names the chunks ``"{campaign_id}#{index}"``, so that an
      ambiguous failure is reconciled and a re-run skips what Sinch has (none: a
      random run id, and no resume).
    * ``chunk_size``: recipients per batch (1000, the most Sinch takes).
    * ``concurrency``: chunks in flight (8).
    * ``on_progress``: called with a :class:`FanOutProgress` as chunks finish.
    * ``dedupe``: skip repeated recipients (on).
    * ``resume``: look each chunk up before sending it (on with a ``campaign_id``).
    * ``default_parameters``: ``${parameter}`` values for recipients without their own.
    """

    campaign_id: str | None
    chunk_size: int
    concurrency: int
    on_progress: Callable[[FanOutProgress], Any] | None
    dedupe: bool
    resume: bool | None
    default_parameters: Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class FanOutOptions:
    """The run options of :class:`FanOutSettings`, with their defaults filled in."""

    campaign_id: str | None = None
    chunk_size: int = MAX_CHUNK
    concurrency: int = 8
    on_progress: Callable[[FanOutProgress], Any] | None = None
    dedupe: bool = True
    resume: bool | None = None
    default_parameters: Mapping[str, str] | None = None

    @classmethod
    def split(cls, arguments: Mapping[str, Any]) -> tuple[FanOutOptions, dict[str, Any]]:
        """A ``fan_out``'s keyword arguments as its run options and the rest (batch fields)."""
        names = FanOutSettings.__optional_keys__
        run = {name: value for name, value in arguments.items() if name in names}
        return cls(**run), {k: v for k, v in arguments.items() if k not in names}


def chunk_reference(campaign_id: str, index: int) -> str:
    """The deterministic ``client_reference`` of chunk ``index`` of a campaign."""
    if len(campaign_id) > 200:
        campaign_id = hashlib.sha256(campaign_id.encode()).hexdigest()[:32]
    return f"{campaign_id}#{index}"


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
        self, source: Iterable[Any] | AsyncIterable[Any], options: FanOutOptions, report: ReportT
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
    async def find_chunk(self, reference: str) -> str | None:
        """The ID of the batch Sinch has for this chunk reference, if any (resume)."""

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
        reference = self.reference(index)
        try:
            if self.resume:
                existing = await self.find_chunk(reference)
                if existing is not None:
                    return self._result(index, reference, items, "existing", existing)
            batch_id = await self.send_chunk(reference, items)
        except SinchError as exc:
            return self._result(index, reference, items, "failed", None, exc)
        return self._result(index, reference, items, "created", batch_id)

    def _result(
        self,
        index: int,
        reference: str,
        items: list[ItemT],
        status: Literal["created", "existing", "failed"],
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
        return run_chunks(
            self._chunks(),
            self._send,
            concurrency=self.concurrency,
            report=self.report,
            on_result=self._progress,
            take_unsent=self._take_unsent,
            finish=self.finish,
        )

    async def complete(self) -> ReportT:
        """Run to the end and return the report; on cancellation raise
        :class:`FanOutCancelled` carrying the report of what was sent."""
        try:
            async for _ in self.run():
                pass
        except asyncio.CancelledError:
            raise FanOutCancelled(self.report) from None
        return self.report

    async def read_only(self) -> ReportT:
        """Read and check every recipient without sending anything."""
        async for _ in self._chunks():
            pass
        self.finish()
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
    """The chunk scheduler of :class:`FanOutEngine`.

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
