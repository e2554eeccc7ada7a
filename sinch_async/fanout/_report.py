"""What a fan-out reports: per-chunk results, progress snapshots, the final report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ChunkResult",
    "DuplicatedChunk",
    "FanOutCancelled",
    "FanOutProgress",
    "FanOutReport",
    "InvalidRecipient",
    "MessageEstimate",
    "Recipient",
]

Recipient = str | tuple[str, Mapping[str, str]]
"""A phone number, or a phone number with its ``${parameter}`` values."""


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
    batch with this ``client_reference``: a resumed campaign), ``"failed"``
    (``error`` says why; the recipients were not sent) or ``"unknown"`` (the send may
    or may not have been applied and that could not be resolved, e.g. a lookup failed
    or the run was stopped while it was unresolved; look it up by its
    ``client_reference`` before sending those recipients again). ``count`` is the number of
    recipients. ``fan_out_iter`` yields every chunk with its ``recipients``; the
    :class:`FanOutReport` keeps the recipients (and parameters) of failed chunks
    only, so that a campaign of millions stays in bounded memory.
    """

    index: int
    client_reference: str
    recipients: list[str]
    status: Literal["created", "existing", "failed", "unknown"]
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
        """True when Sinch has this chunk as a batch (created now or found)."""
        return self.status == "created" or self.status == "existing"


@dataclass(frozen=True, slots=True)
class DuplicatedChunk:
    """A chunk that Sinch has as more than one batch: its recipients got the message
    more than once (a send applied after its settle window ran out, then sent again)."""

    index: int
    client_reference: str
    batch_ids: tuple[str, ...]
    count: int
    """Recipients in the chunk (each got ``len(batch_ids)`` messages)."""


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
    recipients_unknown: int = 0

    @property
    def rate(self) -> float:
        """Recipients sent per second so far."""
        return self.recipients_sent / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class FanOutReport:
    """Where every recipient went: ``read == valid + invalid + duplicates`` and
    ``valid == sent + failed + not_sent + unknown``; ``duplicated`` lists, on top, the
    chunks that Sinch has more than once."""

    campaign_id: str | None = None
    read: int = 0
    valid: int = 0
    duplicates: int = 0
    invalid: list[InvalidRecipient] = field(default_factory=list)
    chunks: list[ChunkResult] = field(default_factory=list)
    not_sent: list[str] = field(default_factory=list)
    """Valid recipients whose chunk never started its send (the run was cancelled)."""
    duplicated: list[DuplicatedChunk] = field(default_factory=list)
    """Chunks found as more than one batch when the run checked its ambiguous sends."""
    estimate: MessageEstimate | None = None
    dry_run: bool = False
    elapsed: float = 0.0

    @property
    def batches(self) -> list[ChunkResult]:
        """Chunks that Sinch has as a batch (created now or found from an earlier run)."""
        return [c for c in self.chunks if c.ok]

    @property
    def failed_chunks(self) -> list[ChunkResult]:
        return [c for c in self.chunks if c.status == "failed"]

    @property
    def unknown_chunks(self) -> list[ChunkResult]:
        """Chunks whose send may or may not have been applied (see :class:`ChunkResult`)."""
        return [c for c in self.chunks if c.status == "unknown"]

    @property
    def sent(self) -> int:
        """Recipients in batches Sinch has."""
        return sum(c.count for c in self.chunks if c.ok)

    @property
    def failed(self) -> int:
        """Recipients of chunks that failed (not sent)."""
        return sum(c.count for c in self.chunks if c.status == "failed")

    @property
    def unknown(self) -> int:
        """Recipients of chunks whose outcome is unknown."""
        return sum(c.count for c in self.chunks if c.status == "unknown")

    def failed_recipients(self) -> list[Recipient]:
        """Recipients of failed chunks (with their parameters), to retry just those.

        Chunks of unknown outcome are not in it: sending them again could text them
        twice; look them up by their ``client_reference`` first.
        """
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
        """True when every valid recipient is in exactly one batch Sinch has."""
        return (
            self.failed == 0
            and self.unknown == 0
            and not self.not_sent
            and not self.duplicated
            and self.sent == self.valid
        )

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
            recipients_unknown=self.unknown,
        )

    def summary(self) -> str:
        lines = [
            f"read {self.read:,}: {self.valid:,} valid, {len(self.invalid):,} invalid, "
            f"{self.duplicates:,} duplicates",
            f"sent {self.sent:,} in {len(self.batches):,} batches"
            + (f"; {self.failed:,} failed in {len(self.failed_chunks)} chunks" * bool(self.failed))
            + (f"; {len(self.not_sent):,} not sent (cancelled)" if self.not_sent else "")
            + (
                f"; {self.unknown:,} unknown in {len(self.unknown_chunks)} chunks (look them up "
                "by client_reference before sending again)"
                if self.unknown
                else ""
            ),
        ]
        if self.duplicated:
            texted = sum(d.count for d in self.duplicated)
            lines.append(
                f"DUPLICATED: {len(self.duplicated)} chunks ({texted:,} recipients) are more "
                "than one batch: "
                + ", ".join(
                    f"{d.client_reference} x{len(d.batch_ids)}" for d in self.duplicated[:5]
                )
                + (" ..." if len(self.duplicated) > 5 else "")
            )
        if self.estimate is not None:
            lines.append(
                f"estimate: {self.estimate.messages:,} messages "
                f"(up to {self.estimate.max_parts} parts each)"
            )
        return "\n".join(lines)


class FanOutCancelled(asyncio.CancelledError):
    """The fan-out was cancelled. ``report`` says exactly which chunks were created
    (requests on the wire were allowed to finish), which recipients were not sent (their
    chunk had not started its request) and which are unknown (a second cancel abandoned
    their request, or it was unresolved).

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
            + (f", {report.unknown:,} are unknown" if report.unknown else "")
        )
