"""The values of a :class:`~sinch_async.redis.RedisCampaign`: its errors, its progress, its
stored definition and the JSON of a chunk's recorded outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from sinch_async._validate import check_text
from sinch_async.errors import SinchError, SinchValidationError
from sinch_async.fanout._options import chunk_reference
from sinch_async.fanout._report import ChunkResult
from sinch_async.models.batches import FanOutFields

__all__ = [
    "CampaignCancelledError",
    "CampaignError",
    "CampaignProgress",
    "Definition",
    "check_campaign_id",
    "counters",
    "result_from_json",
    "result_to_json",
]


class CampaignError(SinchError):
    """A campaign that does not exist, or exists with another definition."""


class CampaignCancelledError(CampaignError):
    """The campaign was cancelled: the chunk was not sent."""


@dataclass(frozen=True, slots=True)
class CampaignProgress:
    """A campaign's counters, aggregated over the producer and every worker."""

    campaign_id: str
    read: int
    valid: int
    invalid: int
    duplicates: int
    chunks: int
    """Chunks enqueued so far."""
    chunks_done: int
    sent: int
    failed: int
    unknown: int
    enqueue_done: bool
    cancelled: bool

    @property
    def pending(self) -> int:
        """Valid recipients whose chunk has no outcome yet (queued, or being sent)."""
        return self.valid - self.sent - self.failed - self.unknown

    @property
    def done(self) -> bool:
        """True when every chunk has its outcome (or the campaign was cancelled)."""
        return self.cancelled or (self.enqueue_done and self.chunks_done >= self.chunks)


@dataclass(frozen=True, slots=True)
class Definition:
    body: str
    from_: str | None
    fields: dict[str, Any]
    default_parameters: dict[str, str]
    chunk_size: int
    dedupe: bool

    def encode(self) -> bytes:
        return msgspec.json.encode(
            {
                "body": self.body,
                "from": self.from_,
                "fields": msgspec.to_builtins(self.fields),
                "default_parameters": self.default_parameters,
                "chunk_size": self.chunk_size,
                "dedupe": self.dedupe,
            },
            order="sorted",
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Definition:
        data = msgspec.json.decode(raw)
        return cls(
            body=data["body"],
            from_=data["from"],
            fields=dict(msgspec.convert(data["fields"], FanOutFields)),
            default_parameters=dict(data["default_parameters"]),
            chunk_size=int(data["chunk_size"]),
            dedupe=bool(data["dedupe"]),
        )


def counters(raw: Mapping[Any, Any]) -> dict[str, int]:
    return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}


def check_campaign_id(campaign_id: object) -> None:
    if not isinstance(campaign_id, str) or not campaign_id.strip():
        raise SinchValidationError("campaign_id", "must be a non-empty string")
    check_text(campaign_id, "campaign_id")


def result_to_json(result: ChunkResult, *, ambiguous: bool = False) -> bytes:
    """A chunk's outcome as recorded; ``ambiguous``: its send was in doubt at least once (the
    campaign looks it up again at the end)."""
    keep = not result.ok  # the recipients of failed and unknown chunks, to retry them
    return msgspec.json.encode(
        {
            "ambiguous": ambiguous,
            "status": result.status,
            "batch_id": result.batch_id,
            "count": result.count,
            "error": None
            if result.error is None
            else f"{type(result.error).__name__}: {result.error}",
            "recipients": result.recipients if keep else [],
            "parameters": result.parameters if keep else None,
        }
    )


def result_from_json(campaign_id: str, index: int, raw: bytes | str) -> ChunkResult:
    data = msgspec.json.decode(raw)
    error = data.get("error")
    return ChunkResult(
        index,
        chunk_reference(campaign_id, index),
        list(data.get("recipients") or []),
        data["status"],
        data.get("batch_id"),
        None if error is None else SinchError(error),
        data.get("parameters"),
        int(data["count"]),
    )
