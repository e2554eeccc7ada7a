"""Conversation Batch fan-out: stream any number of recipients into 1000-recipient batches.

The accounting follows the SMS fan-out (:mod:`sinch_async.fanout`): recipients are
read lazily, checked, de-duplicated and grouped into chunks sent with bounded
concurrency through the client's retry and rate-limit layers; the report says where
every recipient went (``read == valid + invalid + duplicates`` and
``valid == sent + failed + not_sent``). Each chunk's ``batch_metadata`` carries a
deterministic correlation ID derived from ``campaign_id`` and the chunk's position,
so an ambiguous failure is reconciled instead of sent twice, and re-running the
same campaign skips the batches Sinch already has.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
)
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

import msgspec
from msgspec import UnsetType

from sinch_async._intset import IntSet
from sinch_async.conversation._validate import (
    CAMPAIGN_METADATA_KEY,
    CORRELATION_METADATA_KEY,
    MAX_RECIPIENTS,
    RecipientLike,
    to_recipient,
)
from sinch_async.conversation.models import (
    ChannelIdentities,
    ChannelIdentity,
    Recipient,
    RecipientAndParams,
    SendBatchRequest,
)
from sinch_async.errors import SinchError, SinchValidationError
from sinch_async.fanout import (
    ChunkResult,
    FanOutProgress,
    FanOutReport,
    InvalidRecipient,
    chunk_reference,
    normalize_e164,
    run_chunks,
)

if TYPE_CHECKING:
    from sinch_async.conversation.client import AsyncConversationBatchClient

__all__ = [
    "PHONE_CHANNELS",
    "ConversationChunkResult",
    "ConversationFanOut",
    "ConversationFanOutReport",
    "RecipientSource",
    "recipient_label",
]

RecipientSource = Iterable[RecipientLike] | AsyncIterable[RecipientLike]

PHONE_CHANNELS: Final = frozenset({"SMS", "MMS", "WHATSAPP", "RCS", "VIBERBM"})
"""Channels whose identities are phone numbers (normalised to E.164 by ``fan_out``)."""


@dataclass(slots=True)
class ConversationChunkResult(ChunkResult):
    """A :class:`ChunkResult` that also keeps the chunk's recipients as sent
    (``items``), so that a failed chunk can be sent again as it was."""

    items: list[RecipientAndParams] | None = field(default=None, repr=False)


@dataclass
class ConversationFanOutReport(FanOutReport):
    """The :class:`FanOutReport` of a Conversation fan-out.

    ``chunks[i].recipients`` are labels (the contact ID, or ``"CHANNEL:identity"``);
    :meth:`failed_items` gives the failed recipients with their parameters and
    metadata, ready to pass to ``fan_out`` again.
    """

    def failed_items(self) -> list[RecipientAndParams]:
        out: list[RecipientAndParams] = []
        for chunk in self.failed_chunks:
            if isinstance(chunk, ConversationChunkResult) and chunk.items is not None:
                out.extend(chunk.items)
        return out


def recipient_label(item: RecipientAndParams) -> str:
    """A short text naming a recipient: its contact ID or ``CHANNEL:identity``."""
    recipient = item.recipient
    if isinstance(recipient.contact_id, str):
        return recipient.contact_id
    identified = cast(ChannelIdentities, recipient.identified_by)
    return ",".join(f"{i.channel}:{i.identity}" for i in identified.channel_identities)


async def _iterate(source: RecipientSource) -> AsyncIterator[RecipientLike]:
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield item
    else:
        for item in source:
            yield item


class _Seen:
    """De-duplication: compact integer sets for phone numbers, a set for the rest."""

    def __init__(self) -> None:
        self._numbers: dict[str, IntSet] = {}
        self._other: set[str] = set()

    def add(self, item: RecipientAndParams) -> bool:
        recipient = item.recipient
        if isinstance(recipient.contact_id, str):
            key = "c\x00" + recipient.contact_id
        else:
            identities = cast(ChannelIdentities, recipient.identified_by).channel_identities
            if len(identities) == 1 and identities[0].channel in PHONE_CHANNELS:
                only = identities[0]
                numbers = self._numbers.get(only.channel)
                if numbers is None:
                    numbers = self._numbers[only.channel] = IntSet()
                return numbers.add(int(only.identity[1:]))
            key = "i\x00" + "\x00".join(sorted(f"{i.channel}\x01{i.identity}" for i in identities))
        if key in self._other:
            return False
        self._other.add(key)
        return True


def _normalise(item: RecipientAndParams) -> tuple[RecipientAndParams | None, str | None]:
    """Phone identities in E.164 (``+`` and digits); ``(None, reason)`` if one is invalid."""
    recipient = item.recipient
    if isinstance(recipient.identified_by, UnsetType):
        return item, None
    identities = recipient.identified_by.channel_identities
    changed = False
    out: list[ChannelIdentity] = []
    for identity in identities:
        channel = identity.channel.upper()
        value = identity.identity
        if channel in PHONE_CHANNELS:
            number, reason = normalize_e164(value)
            if number is None:
                return None, f"{channel} identity: {reason}"
            value = number
        if channel != identity.channel or value != identity.identity:
            changed = True
            identity = ChannelIdentity(channel, value)
        out.append(identity)
    if not changed:
        return item, None
    return msgspec.structs.replace(item, recipient=Recipient.identities(*out)), None


class ConversationFanOut:
    """One fan-out run (used by ``AsyncConversationBatchClient.fan_out`` / ``fan_out_iter``)."""

    def __init__(
        self,
        client: AsyncConversationBatchClient,
        probe: SendBatchRequest,
        recipients: RecipientSource,
        *,
        campaign_id: str | None,
        chunk_size: int,
        concurrency: int,
        dedupe: bool,
        resume: bool | None,
        default_parameters: Mapping[str, str] | None,
        on_progress: Callable[[FanOutProgress], Any] | None,
    ) -> None:
        if isinstance(cast(object, recipients), (str, bytes, Mapping)):
            raise SinchValidationError("recipients", "must be a list or iterable of recipients")
        if not isinstance(recipients, (Iterable, AsyncIterable)):
            raise SinchValidationError("recipients", "must be a list or iterable of recipients")
        if not 1 <= chunk_size <= MAX_RECIPIENTS:
            raise SinchValidationError(
                "chunk_size", f"must be 1..{MAX_RECIPIENTS}", limit=f"1..{MAX_RECIPIENTS}"
            )
        if concurrency < 1:
            raise SinchValidationError("concurrency", "must be at least 1", limit=">= 1")
        if campaign_id is not None and (not isinstance(campaign_id, str) or not campaign_id):
            raise SinchValidationError("campaign_id", "must be a non-empty string")
        self.resume = campaign_id is not None if resume is None else resume
        if self.resume and campaign_id is None:
            raise SinchValidationError("resume", "needs a campaign_id")
        defaults: dict[str, str] = {}
        for key, value in (default_parameters or {}).items():
            if not isinstance(key, str) or not key or not isinstance(value, str):
                raise SinchValidationError(
                    "default_parameters", "must map parameter names to string values"
                )
            defaults[key] = value
        self.client = client
        self.probe = probe
        self.source = recipients
        self.campaign_id = campaign_id
        self.chunk_size = chunk_size
        self.concurrency = concurrency
        self.defaults = defaults
        self.on_progress = on_progress
        self.report = ConversationFanOutReport(campaign_id=campaign_id)
        self._seen = _Seen() if dedupe else None
        self._run_id = uuid.uuid4().hex[:12]
        self._started = time.monotonic()
        self._buffer: list[RecipientAndParams] = []

    # --- reading -------------------------------------------------------------------------

    def _accept(self, value: RecipientLike) -> RecipientAndParams | None:
        report = self.report
        report.read += 1
        try:
            item = to_recipient(value, "recipient")
        except SinchValidationError as exc:
            report.invalid.append(InvalidRecipient(value, str(exc)))
            return None
        normalised, reason = _normalise(item)
        if normalised is None:
            report.invalid.append(InvalidRecipient(value, reason or "invalid"))
            return None
        item = normalised
        if self._seen is not None and not self._seen.add(item):
            report.duplicates += 1
            return None
        if self.defaults:
            own = item.parameters if isinstance(item.parameters, dict) else {}
            item = msgspec.structs.replace(item, parameters={**self.defaults, **own})
        report.valid += 1
        return item

    async def _chunks(self) -> AsyncGenerator[list[RecipientAndParams], None]:
        """Chunks of accepted recipients; ``self._buffer`` holds the chunk being filled,
        so that a cancelled run can report those recipients as not sent."""
        async for value in _iterate(self.source):
            item = self._accept(value)
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
        """The correlation ID of chunk ``index``."""
        if self.campaign_id is not None:
            return chunk_reference(self.campaign_id, index)
        return f"fanout-{self._run_id}-{index}"

    def _request(self, index: int, items: list[RecipientAndParams]) -> SendBatchRequest:
        base = self.probe.batch_metadata
        meta = dict(base) if isinstance(base, dict) else {}
        meta[CORRELATION_METADATA_KEY] = self.reference(index)
        if self.campaign_id is not None:
            meta[CAMPAIGN_METADATA_KEY] = self.campaign_id
        return msgspec.structs.replace(self.probe, recipient_and_params=items, batch_metadata=meta)

    async def _existing(self, reference: str) -> str | None:
        for batch in await self.client.list_by_metadata(CORRELATION_METADATA_KEY, reference):
            if batch.batch_metadata.get(CORRELATION_METADATA_KEY) == reference:
                return batch.batch_id
        return None

    async def _send_chunk(self, index: int, items: list[RecipientAndParams]) -> ChunkResult:
        reference = self.reference(index)
        labels = [recipient_label(item) for item in items]
        try:
            if self.resume:
                existing = await self._existing(reference)
                if existing is not None:
                    return ConversationChunkResult(
                        index, reference, labels, "existing", existing, items=items
                    )
            sent = await self.client.send_request(self._request(index, items))
        except SinchError as exc:
            return ConversationChunkResult(
                index, reference, labels, "failed", None, exc, items=items
            )
        return ConversationChunkResult(
            index, reference, labels, "created", sent.batch_id, items=items
        )

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.report.progress(self._started))

    def _take_unsent(self) -> list[str]:
        unsent = [recipient_label(item) for item in self._buffer]
        self._buffer = []
        return unsent

    def _finish(self) -> None:
        self.report.elapsed = time.monotonic() - self._started

    def run(self) -> AsyncGenerator[ChunkResult, None]:
        """Yield chunk results as they complete; the report fills in as they do."""
        return run_chunks(
            self._chunks(),
            self._send_chunk,
            concurrency=self.concurrency,
            report=self.report,
            on_result=self._progress,
            take_unsent=self._take_unsent,
            finish=self._finish,
        )
