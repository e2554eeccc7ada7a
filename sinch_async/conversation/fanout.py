"""The Conversation Batch chunk: how ``fan_out`` accepts a recipient and sends one batch.

The run itself (reading, de-duplication, chunking, concurrency, progress,
cancellation, resume, the report) is the engine shared with the SMS fan-out
(:mod:`sinch_async.fanout`). Recipients are anything ``send`` accepts; phone
identities are normalised to E.164. Each chunk's ``batch_metadata`` carries the
chunk reference as its correlation ID (and the ``campaign_id``): an ambiguous
failure is reconciled by it, a re-run of the same campaign finds the batches
Sinch already has, and ``cancel(metadata=...)`` cancels a scheduled campaign.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

import msgspec
from msgspec import UnsetType

from sinch_async.conversation._validate import (
    CAMPAIGN_METADATA_KEY,
    CORRELATION_METADATA_KEY,
    MAX_RECIPIENTS,
    PHONE_IDENTITY_CHANNELS,
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
from sinch_async.errors import SinchValidationError
from sinch_async.fanout import ChunkResult, FanOutReport, InvalidRecipient, normalize_e164
from sinch_async.fanout._engine import DedupeKey, FanOutEngine
from sinch_async.fanout._options import FanOutOptions

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

PHONE_CHANNELS: Final = PHONE_IDENTITY_CHANNELS
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


class ConversationFanOut(FanOutEngine[RecipientAndParams, ConversationFanOutReport]):
    """One fan-out run (used by ``AsyncConversationBatchClient.fan_out`` / ``fan_out_iter``).

    ``probe`` is the checked request every chunk copies, with the chunk's recipients
    and correlation metadata in place of the probe's.
    """

    max_chunk = MAX_RECIPIENTS
    result_type = ConversationChunkResult

    def __init__(
        self,
        client: AsyncConversationBatchClient,
        probe: SendBatchRequest,
        recipients: RecipientSource,
        options: FanOutOptions,
    ) -> None:
        if isinstance(cast(object, recipients), Mapping):
            raise SinchValidationError("recipients", "must be a list or iterable of recipients")
        report = ConversationFanOutReport(campaign_id=options.campaign_id)
        super().__init__(recipients, options, report, telemetry=client._core.telemetry)
        defaults: dict[str, str] = {}
        for key, value in (options.default_parameters or {}).items():
            if not isinstance(key, str) or not key or not isinstance(value, str):
                raise SinchValidationError(
                    "default_parameters", "must map parameter names to string values"
                )
            defaults[key] = value
        self.client = client
        self.probe = probe
        self.defaults = defaults

    # --- recipients ----------------------------------------------------------------------

    def accept(self, value: RecipientLike) -> RecipientAndParams | InvalidRecipient:
        try:
            item = to_recipient(value, "recipient")
        except SinchValidationError as exc:
            return InvalidRecipient(value, str(exc))
        normalised, reason = _normalise(item)
        if normalised is None:
            return InvalidRecipient(value, reason or "invalid")
        return normalised

    def dedupe_key(self, item: RecipientAndParams) -> DedupeKey:
        """A phone number on one channel, a contact ID, or a set of identities."""
        recipient = item.recipient
        if isinstance(recipient.contact_id, str):
            return "c\x00" + recipient.contact_id
        identities = cast(ChannelIdentities, recipient.identified_by).channel_identities
        if len(identities) == 1 and identities[0].channel in PHONE_CHANNELS:
            return identities[0].channel, int(identities[0].identity[1:])
        return "i\x00" + "\x00".join(sorted(f"{i.channel}\x01{i.identity}" for i in identities))

    def admit(self, item: RecipientAndParams) -> RecipientAndParams:
        if not self.defaults:
            return item
        own = item.parameters if isinstance(item.parameters, dict) else {}
        return msgspec.structs.replace(item, parameters={**self.defaults, **own})

    def label(self, item: RecipientAndParams) -> str:
        return recipient_label(item)

    # --- one chunk -----------------------------------------------------------------------

    def _request(self, reference: str, items: list[RecipientAndParams]) -> SendBatchRequest:
        base = self.probe.batch_metadata
        meta = dict(base) if isinstance(base, dict) else {}
        meta[CORRELATION_METADATA_KEY] = reference
        if self.campaign_id is not None:
            meta[CAMPAIGN_METADATA_KEY] = self.campaign_id
        return msgspec.structs.replace(self.probe, recipient_and_params=items, batch_metadata=meta)

    async def find_batches(self, reference: str) -> list[str]:
        return [batch.batch_id for batch in await self.client._find_by_reference(reference)]

    async def send_chunk(self, reference: str, items: list[RecipientAndParams]) -> str:
        sent = await self.client.send_request(self._request(reference, items))
        return sent.batch_id

    def kept(self, items: list[RecipientAndParams]) -> dict[str, Any]:
        """The chunk's recipients as sent (kept for failed chunks, to send them again)."""
        return {"items": items}
