"""The SMS chunk: how ``sms.batches.fan_out`` accepts a recipient and sends one batch.

Recipients are numbers or ``(number, {param: value})`` pairs, normalised to E.164.
Each chunk is one ``POST /batches`` whose ``parameters`` hold only its own
recipients' values plus the defaults, and whose ``client_reference`` is the chunk
reference (see :class:`~sinch_async.fanout._engine.FanOutEngine`): an ambiguous
failure is reconciled by it, and a resumed campaign finds its earlier batches by it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from sinch_async.encoding import count_parts
from sinch_async.errors import SinchValidationError
from sinch_async.fanout._engine import DedupeKey, FanOutEngine
from sinch_async.fanout._numbers import normalize_e164
from sinch_async.fanout._options import FanOutOptions, FanOutSettings
from sinch_async.fanout._report import (
    FanOutReport,
    InvalidRecipient,
    MessageEstimate,
    Recipient,
)
from sinch_async.models.batches import FanOutFields

if TYPE_CHECKING:
    from sinch_async.resources.batches import Batches

__all__ = ["RecipientSource", "SmsFanOut", "SmsFanOutArgs"]

RecipientSource = Iterable[Recipient] | AsyncIterable[Recipient]


class SmsFanOutArgs(FanOutSettings, FanOutFields, total=False):
    """The keyword arguments of ``sms.batches.fan_out``: its run options and the batch
    fields that go into every chunk."""


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9.\-_ ]+)\}")
_LOOKUP_WINDOW_DAYS = 14
_NO_VALUES: Mapping[str, str] = MappingProxyType({})

_Item = tuple[str, Mapping[str, str]]
"""An accepted recipient: its E.164 number and its parameter values."""


class _Estimator:
    """Messages (SMS parts) the campaign costs, added up recipient by recipient."""

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


class SmsFanOut(FanOutEngine[_Item, FanOutReport]):
    """One SMS fan-out run (``sms.batches.fan_out`` and ``fan_out_iter``)."""

    noun = "numbers"

    def __init__(
        self,
        batches: Batches,
        recipients: RecipientSource,
        body: str,
        options: FanOutOptions,
        fields: dict[str, Any],
        *,
        estimate: bool = True,
    ) -> None:
        if not isinstance(body, str) or not body:
            raise SinchValidationError("body", "must be a non-empty string")
        if len(body) > 2000:
            raise SinchValidationError("body", f"is {len(body)} characters; the limit is 2000")
        for name in ("to", "parameters", "client_reference", "type", "udh"):
            if name in fields:
                raise SinchValidationError(
                    name, "is set by fan_out itself (use recipients / default_parameters)"
                )
        super().__init__(
            recipients,
            options,
            FanOutReport(campaign_id=options.campaign_id),
            telemetry=None if batches is None else batches._client._core.telemetry,
        )
        self.batches = batches
        self.body = body
        self.defaults = dict(options.default_parameters or {})
        self.fields = fields
        self._estimator = _Estimator(body) if estimate else None

    # --- recipients ----------------------------------------------------------------------

    def accept(self, value: Any) -> _Item | InvalidRecipient:
        values: Mapping[str, str] = _NO_VALUES
        raw: object = value
        if isinstance(value, tuple):
            pair = cast(tuple[object, ...], value)
            if len(pair) != 2 or not isinstance(pair[1], Mapping):
                return InvalidRecipient(value, "expected (number, {param: value})")
            raw, values = value
        number, reason = normalize_e164(raw)
        if number is None:
            return InvalidRecipient(raw, reason or "invalid")
        return number, values

    def dedupe_key(self, item: _Item) -> DedupeKey:
        return "", int(item[0][1:])

    def admit(self, item: _Item) -> _Item:
        if self._estimator is not None:
            self._estimator.add(item[1], self.defaults)
        return item

    def label(self, item: _Item) -> str:
        return item[0]

    # --- one chunk -----------------------------------------------------------------------

    def _batch_fields(
        self, items: list[_Item]
    ) -> tuple[list[str], dict[str, dict[str, str]] | None]:
        """The chunk's numbers and its ``parameters``: its own recipients' values plus
        the defaults (None when there are neither)."""
        numbers: list[str] = []
        params: dict[str, dict[str, str]] = {}
        for number, values in items:
            numbers.append(number)
            for name, value in values.items():
                params.setdefault(name, {})[number] = str(value)
        if not params and not self.defaults:
            return numbers, None
        for name, default in self.defaults.items():
            params.setdefault(name, {})["default"] = default
        return numbers, params

    async def find_batches(self, reference: str) -> list[str]:
        since = datetime.now(timezone.utc) - timedelta(days=_LOOKUP_WINDOW_DAYS)
        found = await self.batches._find_by_reference(reference, since)
        return [str(batch["id"]) for batch in found]

    async def send_chunk(self, reference: str, items: list[_Item]) -> str:
        numbers, parameters = self._batch_fields(items)
        batch = await self.batches.send(
            numbers, self.body, parameters=parameters, client_reference=reference, **self.fields
        )
        return batch.id

    def kept(self, items: list[_Item]) -> dict[str, Any]:
        """The chunk's ``parameters`` (kept for failed chunks, to retry them)."""
        return {"parameters": self._batch_fields(items)[1]}

    # --- the end -------------------------------------------------------------------------

    def finish(self) -> None:
        if self._estimator is not None:
            self.report.estimate = self._estimator.result()
        super().finish()

    async def estimate_only(self) -> FanOutReport:
        """The dry run: read and check every recipient, estimate, send nothing."""
        self.report.dry_run = True
        return await self.read_only()
