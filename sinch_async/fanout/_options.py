"""The run options every ``fan_out`` takes: typed once for the keyword arguments
(:class:`FanOutSettings`), with their defaults filled in for the engine
(:class:`FanOutOptions`), and the chunk references they lead to."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from sinch_async._validate import check_text
from sinch_async.errors import SinchValidationError
from sinch_async.fanout._report import FanOutProgress

__all__ = ["MAX_CHUNK", "FanOutOptions", "FanOutSettings", "chunk_reference"]

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

    def __post_init__(self) -> None:
        campaign_id = self.campaign_id
        if campaign_id is not None:
            # It goes on the wire in every chunk's reference and lookup: checked before any.
            if not isinstance(campaign_id, str) or not campaign_id.strip():
                raise SinchValidationError("campaign_id", "must be a non-empty string")
            check_text(campaign_id, "campaign_id")

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
