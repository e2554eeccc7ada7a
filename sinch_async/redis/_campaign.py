"""``RedisCampaign``: one campaign sent by many worker processes, exactly once, one report.

A producer (:meth:`RedisCampaign.enqueue`) reads the recipients with the fan-out engine
(validation, de-duplication, chunking), stores each chunk's recipients and appends its
index to the campaign's Redis Stream; workers (:meth:`RedisCampaign.run_worker`) read the
indexes through the stream's consumer group and send each chunk with
:meth:`RedisCampaign.send_chunk`. The stream delivers at least once (a chunk left pending
by a dead worker is claimed by another); the chunk's ``client_reference``
(``"{campaign_id}#{index}"``), looked up before a chunk delivered before is sent again,
makes the sends exactly once. Each outcome is recorded once (``HSETNX``) with the totals
in the same script, before the stream entry is acknowledged.

Keys, under ``{prefix}{campaign_id}:``: ``def`` (the message), ``state`` (counters),
``chunks`` (the stream, group ``workers``), ``data`` (recipients of chunks not yet done),
``attempts``, ``results`` and ``invalid``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import msgspec

from sinch_async.errors import SinchError, SinchValidationError
from sinch_async.fanout._options import MAX_CHUNK, FanOutOptions, chunk_reference
from sinch_async.fanout._report import (
    ChunkResult,
    DuplicatedChunk,
    FanOutReport,
    InvalidRecipient,
)
from sinch_async.fanout._sms import SmsFanOut
from sinch_async.models.batches import FanOutFields
from sinch_async.redis._campaign_model import (
    CampaignCancelledError,
    CampaignError,
    CampaignProgress,
    Definition,
    check_campaign_id,
    counters,
    result_from_json,
    result_to_json,
)
from sinch_async.redis._lua import (
    APPEND_CHUNK,
    MAX_INVALID_KEPT,
    RECORD_OUTCOME,
    SETTLE_OUTCOME,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from sinch_async.client import AsyncSmsClient

from redis.exceptions import ResponseError

logger = logging.getLogger("sinch_async.redis")

__all__ = [
    "CampaignCancelledError",
    "CampaignError",
    "CampaignProgress",
    "RedisCampaign",
    "send_chunk",
]

DEFAULT_PREFIX = "sinch:campaign:"
GROUP = "workers"


class RedisCampaign:
    """One campaign in Redis, sent by any number of worker processes.

    Make one with :meth:`create` (the message is stored once) or :meth:`open` (a worker,
    a status check); see the module documentation for how the work is shared.
    """

    def __init__(self, redis: Redis, campaign_id: str, definition: Definition, prefix: str) -> None:
        self.redis = redis
        self.campaign_id = campaign_id
        self.prefix = prefix
        self._definition = definition
        base = f"{prefix}{campaign_id}:"
        self._def, self._state, self._chunks = base + "def", base + "state", base + "chunks"
        self._data, self._attempts = base + "data", base + "attempts"
        self._results, self._invalid = base + "results", base + "invalid"
        self._checked, self._duplicated = base + "checked", base + "duplicated"
        self._append = redis.register_script(APPEND_CHUNK)
        self._record = redis.register_script(RECORD_OUTCOME)
        self._settle = redis.register_script(SETTLE_OUTCOME)

    def __repr__(self) -> str:
        return f"RedisCampaign({self.campaign_id!r})"

    @property
    def body(self) -> str:
        return self._definition.body

    # --- making and opening ------------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        redis: Redis,
        campaign_id: str,
        body: str,
        *,
        from_: str | None = None,
        default_parameters: Mapping[str, str] | None = None,
        chunk_size: int = MAX_CHUNK,
        dedupe: bool = True,
        prefix: str = DEFAULT_PREFIX,
        **fields: Any,
    ) -> RedisCampaign:
        """Store the campaign's message (``body``, ``from_``, the batch fields of
        ``fan_out`` and ``default_parameters``) once. Creating it again with the same
        definition opens it; with another, raises :class:`CampaignError`."""
        check_campaign_id(campaign_id)
        unknown = sorted(set(fields) - set(FanOutFields.__annotations__))
        if unknown:
            raise SinchValidationError(unknown[0], "is not a batch field of a campaign")
        definition = Definition(
            body=body,
            from_=from_,
            fields={k: v for k, v in fields.items() if v is not None},
            default_parameters=dict(default_parameters or {}),
            chunk_size=chunk_size,
            dedupe=dedupe,
        )
        campaign = cls(redis, campaign_id, definition, prefix)
        campaign._engine([])  # checks the body, the fields and the chunk size before any I/O
        encoded = definition.encode()
        if not await redis.set(campaign._def, encoded, nx=True):
            stored = await redis.get(campaign._def)
            if isinstance(stored, str):  # a client made with decode_responses=True
                stored = stored.encode()
            if stored != encoded:
                raise CampaignError(
                    f"campaign {campaign_id!r} exists with another definition; use another "
                    "campaign_id or RedisCampaign.open()"
                )
        try:
            await redis.xgroup_create(campaign._chunks, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        return campaign

    @classmethod
    async def open(
        cls, redis: Redis, campaign_id: str, *, prefix: str = DEFAULT_PREFIX
    ) -> RedisCampaign:
        """The campaign stored under ``campaign_id`` (:class:`CampaignError` if none)."""
        check_campaign_id(campaign_id)
        raw = await redis.get(f"{prefix}{campaign_id}:def")
        if raw is None:
            raise CampaignError(f"no campaign {campaign_id!r} in this Redis")
        return cls(redis, campaign_id, Definition.decode(raw), prefix)

    def _engine(
        self,
        recipients: Iterable[Any] | AsyncIterable[Any],
        client: AsyncSmsClient | None = None,
        *,
        resume: bool = False,
    ) -> SmsFanOut:
        """The fan-out engine for this campaign's message: reading, or sending a chunk."""
        definition = self._definition
        options = FanOutOptions(
            campaign_id=self.campaign_id,
            chunk_size=definition.chunk_size,
            dedupe=definition.dedupe,
            resume=resume,
            default_parameters=definition.default_parameters,
        )
        fields = dict(definition.fields)
        if definition.from_ is not None:
            fields["from_"] = definition.from_
        batches = cast(Any, None if client is None else client.batches)
        # (no message estimate: a campaign's report does not carry one)
        return SmsFanOut(batches, recipients, definition.body, options, fields, estimate=False)

    # --- the producer --------------------------------------------------------------------------

    async def enqueue(self, recipients: Iterable[Any] | AsyncIterable[Any]) -> CampaignProgress:
        """Read ``recipients`` (numbers or ``(number, {param: value})``, an iterable or an
        async iterable), check and de-duplicate them, and append their chunks to the
        stream; invalid rows go to the report. Memory stays bounded.

        Run it again with the same input after a crash: chunks already appended are
        skipped (the same input gives the same chunks), none is appended twice. Once the
        campaign is cancelled it stops reading.
        """
        engine = self._engine(recipients)
        report = engine.report
        invalid_total = 0
        index = 0
        chunks = engine.read_chunks()
        try:
            async for chunk in chunks:
                rows, invalid_total = self._drain_invalid(report, invalid_total)
                data = msgspec.json.encode([[number, dict(values)] for number, values in chunk])
                if await self._append_call(index, report, invalid_total, rows, data) < 0:
                    return await self.progress()  # cancelled
                index += 1
        finally:
            await chunks.aclose()
        rows, invalid_total = self._drain_invalid(report, invalid_total)
        await self._append_call(index, report, invalid_total, rows, b"")
        return await self.progress()

    @staticmethod
    def _drain_invalid(report: FanOutReport, total: int) -> tuple[list[bytes], int]:
        """The invalid rows read since the last call (taken out of the report: memory stays
        bounded), as JSON, and the running total."""
        rows = [msgspec.json.encode([str(row.value)[:200], row.reason]) for row in report.invalid]
        report.invalid.clear()
        return rows, total + len(rows)

    async def _append_call(
        self, index: int, report: FanOutReport, total: int, rows: list[bytes], data: bytes
    ) -> int:
        """Append chunk ``index`` (``data``; ``b""`` at the end of the input) with the counters;
        the chunks enqueued, or -1 when the campaign was cancelled."""
        first = total - len(rows) + 1
        keys = [self._state, self._chunks, self._data, self._invalid]
        args: list[Any] = [index, report.read, report.valid, report.duplicates, total, first]
        return int(await self._append(keys=keys, args=[*args, data, *rows]))

    # --- sending -------------------------------------------------------------------------------

    async def send_chunk(self, client: AsyncSmsClient, index: int) -> ChunkResult:
        """Send chunk ``index`` once, whoever calls, however often: its recorded outcome if
        it has one; otherwise the chunk is sent with ``client_reference =
        "{campaign_id}#{index}"`` (looked up first if it was tried before, reconciled if the
        send is ambiguous) and its outcome recorded. Raises
        :class:`CampaignCancelledError` (nothing sent) when the campaign was cancelled."""
        recorded = await self.redis.hget(self._results, str(index))
        if recorded is not None:
            return result_from_json(self.campaign_id, index, recorded)
        if await self.redis.hget(self._state, "cancelled"):
            raise CampaignCancelledError(f"campaign {self.campaign_id!r} was cancelled")
        raw = await self.redis.hget(self._data, str(index))
        if raw is None:
            raise CampaignError(f"campaign {self.campaign_id!r} has no chunk {index}")
        items = [(number, values) for number, values in msgspec.json.decode(raw)]
        tries = await self.redis.hincrby(self._attempts, str(index), 1)
        engine = self._engine([], client, resume=tries > 1)
        result, ambiguous = await engine.send_one(index, items)
        outcome = result_to_json(result, ambiguous=ambiguous)
        await self._record(
            keys=[self._state, self._results, self._data],
            args=[index, outcome, result.status, result.count],
        )
        recorded = await self.redis.hget(self._results, str(index))
        assert recorded is not None
        return result_from_json(self.campaign_id, index, recorded)

    async def run_worker(
        self,
        client: AsyncSmsClient,
        *,
        concurrency: int = 8,
        consumer: str | None = None,
        claim_idle: float = 600.0,
        block: float = 1.0,
    ) -> int:
        """Send chunks until the campaign is done or cancelled; returns the chunks this
        worker handled.

        Chunks come through the stream's consumer group, ``concurrency`` at a time; a
        chunk is acknowledged only after its outcome is recorded. A chunk another worker
        left pending for ``claim_idle`` seconds (longer than the worst rate-limit wait
        plus the retries of one send) is claimed and, since it was delivered before,
        looked up before it is sent. Cancelling the task stops taking chunks and lets the
        sends in flight finish.
        """
        if concurrency < 1:
            raise SinchValidationError("concurrency", "must be at least 1", limit=">= 1")
        name = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        tasks: set[asyncio.Task[None]] = set()
        handled = 0
        finished = False
        try:
            while True:
                progress = await self.progress()
                if progress.done:
                    finished = not progress.cancelled
                    break
                free = concurrency - len(tasks)
                if free > 0:
                    for entry_id, index in await self._next(name, free, claim_idle, block):
                        task = asyncio.ensure_future(self._handle(client, entry_id, index))
                        tasks.add(task)
                if tasks:
                    done, _ = await asyncio.wait(
                        tasks, timeout=0 if free > 0 else block, return_when="FIRST_COMPLETED"
                    )
                    for task in done:
                        tasks.discard(task)
                        task.result()
                        handled += 1
        finally:
            if tasks:  # a stop lets the sends in flight finish (their outcome is recorded)
                results = await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
                handled += sum(not isinstance(result, BaseException) for result in results)
                for result in results:
                    if isinstance(result, Exception):
                        logger.warning(
                            "campaign %s: a chunk in flight failed: %s", self.campaign_id, result
                        )
        if finished:
            await self.check_ambiguous(client)
        return handled

    async def check_ambiguous(self, client: AsyncSmsClient) -> int:
        """Look up once more every chunk whose send was ambiguous (each chunk once, whichever
        worker gets there first; every worker calls this when the campaign is done): a chunk
        Sinch has more than once is reported in ``duplicated``; a failed or unknown one that
        Sinch has after all counts as sent. Returns the chunks looked up."""
        results, checked = await self._read(self._results, self._checked)
        engine = self._engine([], client)
        looked_up = 0
        for raw_index, raw in results.items():
            index, data = int(raw_index), msgspec.json.decode(raw)
            if not data.get("ambiguous") or str(index).encode() in checked or str(index) in checked:
                continue
            try:
                found = await engine.find_batches(chunk_reference(self.campaign_id, index))
            except SinchError:
                continue  # the chunk keeps the outcome it had; a later worker tries again
            looked_up += 1
            count = int(data["count"])
            if len(found) > 1:
                duplicate = {"batch_ids": found, "count": count}
                await self.redis.hset(self._duplicated, str(index), msgspec.json.encode(duplicate))
            was = str(data["status"])
            if was in ("failed", "unknown") and found:
                data = {**data, "status": "created", "batch_id": found[0], "error": None}
                data.update(recipients=[], parameters=None)
            await self._settle(
                keys=[self._state, self._results, self._checked, self._data],
                args=[index, msgspec.json.encode(data), data["status"], count, was],
            )
        return looked_up

    async def _read(self, *keys: str) -> list[dict[Any, Any]]:
        """Several hashes, read at one moment."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.hgetall(key)
            return list(await pipe.execute())

    async def _next(
        self, consumer: str, count: int, claim_idle: float, block: float
    ) -> list[tuple[bytes, int]]:
        """Up to ``count`` chunks: first those left pending too long by others, then new ones."""
        redis: Any = self.redis  # (redis-py's stream replies are loosely typed)
        claimed = await redis.xautoclaim(
            self._chunks, GROUP, consumer, int(claim_idle * 1000), "0-0", count=count
        )
        entries = claimed[1]
        if not entries:
            streams = await redis.xreadgroup(
                GROUP, consumer, {self._chunks: ">"}, count=count, block=int(block * 1000)
            )
            entries = streams[0][1] if streams else []
        # (an entry deleted while pending comes back from XAUTOCLAIM without fields)
        return [
            (entry_id, int(fields.get(b"i") or fields["i"]))
            for entry_id, fields in entries
            if fields
        ]

    async def _handle(self, client: AsyncSmsClient, entry_id: bytes, index: int) -> None:
        try:
            await self.send_chunk(client, index)
        except CampaignCancelledError:
            return  # left in the stream: reported as not sent
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._chunks, GROUP, entry_id)
            pipe.xdel(self._chunks, entry_id)
            await pipe.execute()

    # --- control and reporting ------------------------------------------------------------------

    async def cancel(self) -> None:
        """Every worker stops taking chunks; chunks not sent are reported as not sent."""
        await self.redis.hset(self._state, "cancelled", 1)

    async def progress(self) -> CampaignProgress:
        """The counters now (one Redis call: consistent at any moment)."""
        state = counters(await self.redis.hgetall(self._state))
        return CampaignProgress(
            campaign_id=self.campaign_id,
            read=state.get("read", 0),
            valid=state.get("valid", 0),
            invalid=state.get("invalid", 0),
            duplicates=state.get("duplicates", 0),
            chunks=state.get("enqueued", 0),
            chunks_done=state.get("chunks_done", 0),
            sent=state.get("sent", 0),
            failed=state.get("failed", 0),
            unknown=state.get("unknown", 0),
            enqueue_done=bool(state.get("enqueue_done", 0)),
            cancelled=bool(state.get("cancelled", 0)),
        )

    async def report(self) -> FanOutReport:
        """The campaign's :class:`FanOutReport`, aggregated over every worker: each chunk's
        outcome, the invalid rows, and (once cancelled) the recipients not sent."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._state)
            pipe.hgetall(self._results)
            pipe.lrange(self._invalid, 0, MAX_INVALID_KEPT - 1)
            pipe.hgetall(self._data)
            pipe.hgetall(self._duplicated)
            state_raw, results, invalid, data, duplicated = await pipe.execute()
        state = counters(state_raw)
        report = FanOutReport(
            campaign_id=self.campaign_id,
            read=state.get("read", 0),
            valid=state.get("valid", 0),
            duplicates=state.get("duplicates", 0),
        )
        report.invalid = [InvalidRecipient(*msgspec.json.decode(row)) for row in invalid]
        report.chunks = sorted(
            (result_from_json(self.campaign_id, int(i), raw) for i, raw in results.items()),
            key=lambda chunk: chunk.index,
        )
        for raw_index, raw in sorted(duplicated.items(), key=lambda item: int(item[0])):
            index, found = int(raw_index), msgspec.json.decode(raw)
            report.duplicated.append(
                DuplicatedChunk(
                    index,
                    chunk_reference(self.campaign_id, index),
                    tuple(found["batch_ids"]),
                    int(found["count"]),
                )
            )
        if state.get("cancelled"):
            done = {int(i) for i in results}
            for index, raw in sorted((int(i), raw) for i, raw in data.items()):
                if index not in done:
                    report.not_sent.extend(number for number, _ in msgspec.json.decode(raw))
        return report

    async def delete(self) -> None:
        """Remove every key of the campaign."""
        await self.redis.delete(
            self._def, self._state, self._chunks, self._data, self._attempts,
            self._results, self._invalid, self._checked, self._duplicated,
        )  # fmt: skip


async def send_chunk(
    client: AsyncSmsClient,
    redis: Redis,
    campaign_id: str,
    index: int,
    *,
    prefix: str = DEFAULT_PREFIX,
) -> ChunkResult:
    """Send chunk ``index`` of a campaign exactly once, from any queue (taskiq, Celery,
    arq): see :meth:`RedisCampaign.send_chunk`. Safe to call again, from anywhere."""
    campaign = await RedisCampaign.open(redis, campaign_id, prefix=prefix)
    return await campaign.send_chunk(client, index)
