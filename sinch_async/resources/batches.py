"""``sms.batches``: send, list, dry-run, get, update, replace, cancel, delivery feedback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, overload

import msgspec
from msgspec import UNSET

from sinch_async._base import DEFAULT, DefaultType, decode_error, new_reference
from sinch_async._codec import TaggedUnion, encode
from sinch_async._core import Operation
from sinch_async._pagination import AsyncPaginator
from sinch_async._retry import Idempotency, RetryPolicy
from sinch_async._transport import RawResponse
from sinch_async._typing import Unpack
from sinch_async._validate import check_recipients
from sinch_async.errors import SinchValidationError
from sinch_async.fanout import ChunkResult, FanOutReport, RecipientSource
from sinch_async.fanout._options import FanOutOptions
from sinch_async.fanout._sms import SmsFanOut, SmsFanOutArgs
from sinch_async.models._base import build_unknown
from sinch_async.models.batches import (
    BATCH_TYPES,
    Batch,
    DeliveryFeedbackRequest,
    DryRunResult,
    KnownBatch,
    MediaBody,
    SendFields,
    SendRequest,
    UnknownBatch,
    UpdateBatchRequest,
)
from sinch_async.resources._batch_request import (
    FAN_OUT_FIELDS,
    dry_run_params,
    send_request,
    update_request,
)
from sinch_async.resources._common import (
    ListSpec,
    decode_union,
    list_query,
    require_id,
    seg,
    timestamp_param,
)

if TYPE_CHECKING:
    from sinch_async.client import AsyncSmsClient

__all__ = ["Batches"]


def _unknown_batch(raw: dict[str, Any]) -> UnknownBatch:
    return build_unknown(UnknownBatch, raw, id="")


_BATCHES = TaggedUnion[Batch](KnownBatch, BATCH_TYPES, _unknown_batch)
_BATCH_LIST = ListSpec[Batch]("Batches", "batches", _BATCHES)


SEND = Operation("batches.send", "/batches", sends=True, id_field="id")
_LIST = Operation("batches.list", "/batches")
_DRY_RUN = Operation("batches.dry_run", "/batches/dry_run")
_GET = Operation("batches.get", "/batches/{batch_id}")
_UPDATE = Operation("batches.update", "/batches/{batch_id}", sends=True)
_REPLACE = Operation("batches.replace", "/batches/{batch_id}", sends=True)
_CANCEL = Operation("batches.cancel", "/batches/{batch_id}")
_FEEDBACK = Operation("batches.send_delivery_feedback", "/batches/{batch_id}/delivery_feedback")


def _path(batch_id: str) -> str:
    return f"/batches/{seg(require_id(batch_id, 'batch_id'))}"


class Batches:
    """Batches: one message to up to 1000 recipients (``/batches``)."""

    def __init__(self, client: AsyncSmsClient) -> None:
        self._client = client

    def _prepared(
        self, method: str, path: str, request: SendRequest, batch_id: str | None = None
    ) -> Coroutine[Any, Any, RawResponse]:
        """The coroutine that sends a checked send/replace request (a send reconciled by
        its ``client_reference``)."""
        client = self._client
        reference = None
        if method == "POST":
            if request.client_reference is UNSET and client.auto_client_reference:
                request = msgspec.structs.replace(request, client_reference=new_reference())
            if isinstance(request.client_reference, str):
                reference = request.client_reference
        return client._send(
            method,
            path,
            SEND if batch_id is None else _REPLACE,
            request,
            messages=len(request.to),
            reference=reference,
            find=self._sent,
            batch_id=batch_id,
        )

    async def _sent(
        self, client_reference: str, retry: RetryPolicy, since: datetime
    ) -> RawResponse | None:
        """The batch an ambiguous send created (as its response), or None."""
        found = await self._find_by_reference(client_reference, since, retry)
        return RawResponse(200, {}, encode(found[0])) if found else None

    async def _find_by_reference(
        self, client_reference: str, since: datetime, retry: RetryPolicy | DefaultType = DEFAULT
    ) -> list[dict[str, Any]]:
        """The batches created since ``since`` with this ``client_reference`` (JSON objects
        as Sinch sent them), oldest first; normally one, or none.

        The one lookup behind the reconciliation of an ambiguous send, the fan-out's
        resume and its check for duplicates: the newest 100 batches with that reference.
        """
        params = [
            ("client_reference", client_reference),
            ("start_date", timestamp_param(since, "start_date")),
            ("page", "0"),
            ("page_size", "100"),
        ]
        response = await self._client._request(
            "GET", "/batches", _LIST, params=params, retry=retry, record=False
        )
        try:
            items = _BATCH_LIST.raw_items(response.body)
        except msgspec.DecodeError as exc:  # (ValidationError is a DecodeError)
            raise decode_error(response, exc, "GET", "/batches") from None
        found = [item for item in items if item.get("client_reference") == client_reference]
        return found[::-1]  # Sinch lists the newest first

    @overload
    async def send(self, to: SendRequest, /) -> Batch: ...

    @overload
    async def send(
        self,
        to: Sequence[str] | str,
        body: str | MediaBody,
        *,
        type: str = "mt_text",
        **fields: Unpack[SendFields],
    ) -> Batch: ...

    async def send(
        self,
        to: Sequence[str] | str | SendRequest,
        body: str | MediaBody | None = None,
        *,
        type: str = "mt_text",
        **fields: Unpack[SendFields],
    ) -> Batch:
        """Send a batch (``POST /batches``): one message to 1..1000 numbers or group IDs.

        ``type`` is ``"mt_text"`` (default), ``"mt_binary"`` (Base64 ``body`` and hex
        ``udh``) or ``"mt_media"`` (``body=MediaBody(url=...)``). ``parameters`` fills
        ``${name}`` placeholders per recipient. ``send_at`` / ``expire_at`` are
        datetimes (naive ones are UTC). Instead of keywords, pass one ready
        :class:`TextRequest`, :class:`BinaryRequest` or :class:`MediaRequest`.
        Returns the created batch.
        """
        request = send_request(to, body, type, fields, "send")
        response = await self._prepared("POST", "/batches", request)
        return decode_union(response, _BATCHES, "POST", "/batches")

    def list(
        self,
        *,
        page_size: int | None = None,
        from_: str | Sequence[str] | None = None,
        start_date: datetime | str | None = None,
        end_date: datetime | str | None = None,
        client_reference: str | None = None,
        limit: int | None = None,
    ) -> AsyncPaginator[Batch]:
        """Batches of the last 14 days, newest first (``GET /batches``), as an async iterator.

        ``async for batch in sms.batches.list(): ...``; ``.pages()`` yields pages.
        ``from_`` filters by sender (one or several), ``start_date`` / ``end_date``
        by creation time, ``client_reference`` by your reference. ``page_size``
        (1..100, default 100) is the size of each request; ``limit`` stops early.
        """
        params = list_query(
            {"from_": from_},
            start_date=start_date,
            end_date=end_date,
            client_reference=client_reference,
        )
        return _BATCH_LIST.paginator(self._client, _LIST, params, page_size=page_size, limit=limit)

    @overload
    async def dry_run(
        self,
        to: SendRequest,
        /,
        *,
        per_recipient: bool | None = None,
        number_of_recipients: int | None = None,
    ) -> DryRunResult: ...

    @overload
    async def dry_run(
        self,
        to: Sequence[str] | str,
        body: str | MediaBody,
        *,
        per_recipient: bool | None = None,
        number_of_recipients: int | None = None,
        type: str = "mt_text",
        **fields: Unpack[SendFields],
    ) -> DryRunResult: ...

    async def dry_run(
        self,
        to: Sequence[str] | str | SendRequest,
        body: str | MediaBody | None = None,
        *,
        per_recipient: bool | None = None,
        number_of_recipients: int | None = None,
        type: str = "mt_text",
        **fields: Unpack[SendFields],
    ) -> DryRunResult:
        """Count recipients and message parts without sending (``POST /batches/dry_run``).

        ``per_recipient=True`` adds per-recipient details (body, parts, encoding)
        for up to ``number_of_recipients`` (1..1000, Sinch's default 100) recipients.
        """
        request = send_request(to, body, type, fields, "dry_run")
        params = dry_run_params(per_recipient, number_of_recipients)
        path = "/batches/dry_run"
        response = await self._client._request(
            "POST", path, _DRY_RUN, params=params, body=encode(request)
        )
        result: DryRunResult = self._client._decode(response, DryRunResult, "POST", path)
        return result

    async def get(self, batch_id: str) -> Batch:
        """One batch by ID (``GET /batches/{batch_id}``)."""
        path = _path(batch_id)
        response = await self._client._request("GET", path, _GET, batch_id=batch_id)
        return decode_union(response, _BATCHES, "GET", path)

    async def update(
        self,
        batch_id: str,
        *,
        to_add: Sequence[str] | None = None,
        to_remove: Sequence[str] | None = None,
        body: str | MediaBody | None = None,
        type: str | None = None,
        request: UpdateBatchRequest | None = None,
        **fields: Unpack[SendFields],
    ) -> Batch:
        """Change a batch that is not yet dispatched (``POST /batches/{batch_id}``).

        Only the fields given are sent. ``to_add`` / ``to_remove`` hold 1..100
        numbers each. ``type`` is sent only when given or implied (``udh`` means
        ``mt_binary``, a :class:`MediaBody` means ``mt_media``, a text ``body``
        means ``mt_text``). Or pass a ready :class:`UpdateBatchRequest` as ``request``.
        """
        path = _path(batch_id)
        request = update_request(request, type, to_add, to_remove, body, fields)
        response = await self._client._request(
            "POST",
            path,
            _UPDATE,
            batch_id=batch_id,
            body=encode(request),
            idempotency=Idempotency.UNSAFE,
            messages=0 if request.to_add is UNSET else len(request.to_add),
            request_obj=request,
        )
        return decode_union(response, _BATCHES, "POST", path)

    @overload
    async def replace(self, batch_id: str, to: SendRequest, /) -> Batch: ...

    @overload
    async def replace(
        self,
        batch_id: str,
        to: Sequence[str] | str,
        body: str | MediaBody,
        *,
        type: str = "mt_text",
        **fields: Unpack[SendFields],
    ) -> Batch: ...

    async def replace(
        self,
        batch_id: str,
        to: Sequence[str] | str | SendRequest,
        body: str | MediaBody | None = None,
        *,
        type: str = "mt_text",
        **fields: Unpack[SendFields],
    ) -> Batch:
        """Replace a batch that is not yet dispatched with a new one (``PUT /batches/{id}``).

        Takes the same fields as :meth:`send` (or one request struct).
        """
        path = _path(batch_id)
        request = send_request(to, body, type, fields, "replace")
        response = await self._prepared("PUT", path, request, batch_id)
        return decode_union(response, _BATCHES, "PUT", path)

    async def cancel(self, batch_id: str) -> Batch:
        """Cancel a batch's messages that are not yet dispatched (``DELETE /batches/{id}``).

        Returns the batch (with ``canceled=True``).
        """
        path = _path(batch_id)
        response = await self._client._request("DELETE", path, _CANCEL, batch_id=batch_id)
        return decode_union(response, _BATCHES, "DELETE", path)

    async def fan_out(
        self,
        recipients: RecipientSource,
        body: str,
        *,
        from_: str | None = None,
        dry_run: bool = False,
        **options: Unpack[SmsFanOutArgs],
    ) -> FanOutReport:
        """Send one message to any number of recipients, in batches of ``chunk_size``.

        ``recipients`` is a list, an iterable or an async iterable of numbers or of
        ``(number, {param: value})`` pairs, read lazily (ten million rows from a
        database cursor run in bounded memory). Numbers are normalised to E.164 and
        validated (invalid ones are reported, not sent) and de-duplicated across
        the campaign (``dedupe=False`` turns that off). Each batch's ``parameters``
        hold only its own recipients' values plus ``default_parameters``.

        Chunks go out ``concurrency`` at a time through the client's retries and
        rate limits. With a ``campaign_id`` each chunk's ``client_reference`` is
        ``"{campaign_id}#{index}"``: ambiguous failures are reconciled instead of
        sent twice, and a re-run of the same campaign (same input, same order)
        skips chunks Sinch already has (one lookup per chunk; ``resume=False``
        skips the lookups for a campaign id never used before).

        The run options are those of :class:`FanOutSettings` (``campaign_id``,
        ``chunk_size`` 1000, ``concurrency`` 8, ``on_progress`` called with a
        :class:`FanOutProgress` as chunks finish, ``dedupe``, ``resume``,
        ``default_parameters``); the other keyword arguments are the
        :class:`FanOutFields` (``delivery_report``, ``send_at``, ``expire_at``,
        ``callback_url``, ...) that go into every batch. ``dry_run=True`` reads the input,
        validates it and returns the report with its ``estimate`` (messages =
        parts x recipients) without sending anything. Cancelling raises
        :class:`FanOutCancelled` whose ``report`` says exactly what was sent.
        """
        run = self._fan_out(recipients, body, from_, options)
        return await (run.estimate_only() if dry_run else run.complete())

    async def fan_out_iter(
        self,
        recipients: RecipientSource,
        body: str,
        *,
        from_: str | None = None,
        **options: Unpack[SmsFanOutArgs],
    ) -> AsyncIterator[ChunkResult]:
        """Like :meth:`fan_out`, but yield each chunk's :class:`ChunkResult` as it completes.

        Stopping the iteration early stops new chunks; chunks already in flight finish.
        """
        async for result in self._fan_out(recipients, body, from_, options).run():
            yield result

    def _fan_out(
        self,
        recipients: RecipientSource,
        body: str,
        from_: str | None,
        arguments: SmsFanOutArgs,
    ) -> SmsFanOut:
        """The fan-out run, its batch fields checked before any I/O."""
        options, fields = FanOutOptions.split(arguments)
        unknown = sorted(set(fields) - FAN_OUT_FIELDS)
        if unknown:
            raise SinchValidationError(
                unknown[0],
                f"is not a batch field fan_out can pass on ({', '.join(sorted(FAN_OUT_FIELDS))})",
            )
        if from_ is not None:
            fields["from_"] = from_
        # Check the fields once, before any I/O, with a stand-in recipient.
        defaults = options.default_parameters or {}
        parameters = {k: {"default": v} for k, v in defaults.items()} or None
        send_request(["+10000000000"], body, "mt_text", {**fields, "parameters": parameters})
        return SmsFanOut(self, recipients, body, options, fields)

    async def send_delivery_feedback(self, batch_id: str, recipients: Sequence[str]) -> None:
        """Tell Sinch these recipients received the message (``POST .../delivery_feedback``).

        Only for batches sent with ``feedback_enabled=True``. Sinch answers 202
        with no body.
        """
        path = f"{_path(batch_id)}/delivery_feedback"
        numbers = check_recipients(recipients, "recipients", maximum=1000)
        await self._client._request(
            "POST",
            path,
            _FEEDBACK,
            body=encode(DeliveryFeedbackRequest(recipients=numbers)),
            batch_id=batch_id,
        )
