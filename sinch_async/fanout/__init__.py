"""Campaign fan-out: stream any number of recipients into 1000-recipient batches.

Recipients are read lazily (a list, an iterable or an async iterable, of numbers
or of ``(number, {param: value})`` pairs), normalised to E.164, validated and
de-duplicated, grouped into chunks, and sent with bounded concurrency through
the client's retry and rate-limit layers. Each chunk carries a deterministic
``client_reference`` derived from ``campaign_id`` and the chunk's position, so
an ambiguous failure is reconciled instead of sent twice, and re-running the
same campaign (same input, same order) skips the chunks Sinch already has.
Without a ``campaign_id`` the references carry a random run id instead.

Layout: :mod:`._report` (what a run reports), :mod:`._engine` (the run, shared
with the Conversation fan-out), :mod:`._sms` (the SMS chunk), :mod:`._numbers`.
"""

from __future__ import annotations

from sinch_async.fanout._numbers import normalize_e164
from sinch_async.fanout._options import MAX_CHUNK as MAX_CHUNK
from sinch_async.fanout._options import FanOutSettings
from sinch_async.fanout._options import chunk_reference as chunk_reference
from sinch_async.fanout._report import (
    ChunkResult,
    DuplicatedChunk,
    FanOutCancelled,
    FanOutProgress,
    FanOutReport,
    InvalidRecipient,
    MessageEstimate,
    Recipient,
)
from sinch_async.fanout._sms import RecipientSource as RecipientSource
from sinch_async.fanout._sms import SmsFanOutArgs

__all__ = [
    "ChunkResult",
    "DuplicatedChunk",
    "FanOutCancelled",
    "FanOutProgress",
    "FanOutReport",
    "FanOutSettings",
    "InvalidRecipient",
    "MessageEstimate",
    "Recipient",
    "SmsFanOutArgs",
    "normalize_e164",
]
