"""``sms.batches``: send, list, dry-run, get, update, replace, cancel, delivery feedback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, overload

import msgspec
from msgspec import UNSET

from sinch_async._base import DEFAULT, DefaultType
from sinch_async._codec import decoder_for, encode
from sinch_async._core import Reconcile
from sinch_async._pagination import AsyncPaginator
from sinch_async._retry import Idempotency, RetryPolicy
from sinch_async._transport import RawResponse
from sinch_async._validate import (
    MAX_BODY_CHARS,
    MAX_UPDATE_RECIPIENTS,
    check_recipients,
    check_send_request,
    check_update_request,
)
from sinch_async.errors import SinchValidationError
from sinch_async.fanout import ChunkResult, FanOutProgress, FanOutReport, RecipientSource
from sinch_async.fanout._engine import FanOutOptions
from sinch_async.fanout._sms import SmsFanOut
from sinch_async.models._base import build_unknown
from sinch_async.models.batches import (
    BATCH_TYPES,
    Batch,
    BinaryRequest,
    DeliveryFeedbackRequest,
    DryRunResult,
    KnownBatch,
    MediaBody,
    MediaRequest,
    Parameters,
    SendRequest,
    TextRequest,
    UnknownBatch,
    UpdateBatchRequest,
)
from sinch_async.resources._common import (
    ListSpec,
    csv,
    opt,
    require_id,
    seg,
    timestamp_param,
    utc,
)

if TYPE_CHECKING:
    from sinch_async.client import AsyncSmsClient

__all__ = ["Batches"]


def _unknown_batch(raw: dict[str, Any]) -> UnknownBatch:
    return build_unknown(UnknownBatch, raw, id="")


_BATCH_DECODER = decoder_for(KnownBatch)

_BATCH_LIST = ListSpec[Batch](
    "Batches", "batches", KnownBatch, known_tags=BATCH_TYPES, fallback=_unknown_batch
)


_PER_BATCH_HINT = " per batch; use sms.batches.fan_out() to send to more recipients"


def _build_send_request(
    to: Sequence[str] | str,
    body: str | MediaBody | None,
    type: str,
    fields: dict[str, Any],
) -> SendRequest:
    """A validated request struct from keyword fields (timestamps in UTC)."""
    recipients = check_recipients(to, hint=_PER_BATCH_HINT)
    if body is None:
        raise SinchValidationError("body", "is required")
    if not fields and type == "mt_text" and isinstance(body, str) and len(body) <= MAX_BODY_CHARS:
        return TextRequest(to=recipients, body=body)  # the common case, nothing else to check
    request = _build_checked(recipients, body, type, fields)
    check_send_request(request, recipients_checked=True)
    return request


def _build_checked(
    recipients: list[str], body: str | MediaBody, type: str, fields: dict[str, Any]
) -> SendRequest:
    values = {name: value for name, value in fields.items() if value is not None}
    for name in ("send_at", "expire_at"):
        if name in values:
            values[name] = utc(values[name], name)
    udh = values.pop("udh", UNSET)
    strict_validation = values.pop("strict_validation", UNSET)
    if udh is not UNSET and type != "mt_binary":
        raise SinchValidationError("udh", "is only for type='mt_binary'")
    if strict_validation is not UNSET and type != "mt_media":
        raise SinchValidationError("strict_validation", "is only for type='mt_media'")
    if type == "mt_text":
        if not isinstance(body, str):
            raise SinchValidationError("body", "must be a string for mt_text")
        return TextRequest(to=recipients, body=body, **values)
    if type == "mt_binary":
        if not isinstance(body, str):
            raise SinchValidationError("body", "must be a Base64 string for mt_binary")
        if udh is UNSET:
            raise SinchValidationError(
                "udh", "an mt_binary batch needs udh (the user data header, hex encoded)"
            )
        return BinaryRequest(to=recipients, body=body, udh=udh, **values)
    if type == "mt_media":
        if isinstance(body, dict):
            body = MediaBody(**body)
        if not isinstance(body, MediaBody):
            raise SinchValidationError("body", "must be a MediaBody(url=...) for mt_media")
        return MediaRequest(to=recipients, body=body, strict_validation=strict_validation, **values)
    raise SinchValidationError(
        "type", f"unknown batch type {type!r}; valid: mt_text, mt_binary, mt_media"
    )


_SEND_FIELDS = (
    "from_",
    "udh",
    "parameters",
    "delivery_report",
    "send_at",
    "expire_at",
    "callback_url",
    "client_reference",
    "feedback_enabled",
    "flash_message",
    "truncate_concat",
    "max_number_of_message_parts",
    "from_ton",
    "from_npi",
    "strict_validation",
)

_SEND_FIELD_NAMES = frozenset(_SEND_FIELDS)


def _request_from(
    to: Any, body: Any, type: str, fields: dict[str, Any], method: str
) -> SendRequest:
    """The request struct for send/dry_run/replace, from a struct or from keyword fields."""
    if (
        not fields
        and type == "mt_text"
        and to.__class__ is list
        and body.__class__ is str
        and len(body) <= MAX_BODY_CHARS
    ):
        # The common case (text to a list of numbers): nothing else to check.
        return TextRequest(to=check_recipients(to, hint=_PER_BATCH_HINT), body=body)
    if fields:
        unknown = fields.keys() - _SEND_FIELD_NAMES
        if unknown:
            raise TypeError(f"{method}() got an unexpected keyword argument {min(unknown)!r}")
    if isinstance(to, (TextRequest, BinaryRequest, MediaRequest)):
        given = [name for name, value in fields.items() if value is not None]
        if type != "mt_text":
            given.insert(0, "type")
        if body is not None:
            given.insert(0, "body")
        if given:
            raise SinchValidationError(
                given[0], "give either a request struct or keyword fields, not both"
            )
        return to
    return _build_send_request(to, body, type, fields)


_FAN_OUT_FIELDS = frozenset(
    {
        "delivery_report",
        "send_at",
        "expire_at",
        "callback_url",
        "feedback_enabled",
        "flash_message",
        "truncate_concat",
        "max_number_of_message_parts",
        "from_ton",
        "from_npi",
    }
)


def _in_utc(request: SendRequest) -> SendRequest:
    """The request with ``send_at`` / ``expire_at`` in UTC (naive values taken as UTC)."""
    changes: dict[str, Any] = {}
    for name in ("send_at", "expire_at"):
        value = getattr(request, name)
        if isinstance(value, datetime) and value.tzinfo is not timezone.utc:
            changes[name] = utc(value, name)
    return msgspec.structs.replace(request, **changes) if changes else request


class Batches:
    """Batches: one message to up to 1000 recipients (``/batches``)."""

    def __init__(self, client: AsyncSmsClient) -> None:
        self._client = client

    def _prepared(
        self, method: str, path: str, request: SendRequest, *, built: bool = False
    ) -> Coroutine[Any, Any, RawResponse]:
        """Validate a send/replace request and return the coroutine that performs it.

        ``built``: made by :func:`_build_send_request`, so already checked and in UTC.
        """
        if not built:
            check_send_request(request)
            request = _in_utc(request)
        client = self._client
        reconcile = None
        if method == "POST":
            if request.client_reference is UNSET and client.auto_client_reference:
                request = msgspec.structs.replace(
                    request, client_reference=f"sinch-async-{uuid.uuid4().hex}"
                )
            if isinstance(request.client_reference, str) and client.retry is not None:
                reconcile = self._reconciler(request.client_reference, client.retry)
        return client._request(
            method,
            path,
            body=encode(request),
            idempotency=Idempotency.UNSAFE,
            messages=len(request.to),
            request_obj=request,
            reconcile=reconcile,
        )

    def _batch(self, response: RawResponse, method: str, path: str) -> Batch:
        try:
            known: Batch = _BATCH_DECODER.decode(response.body)  # the common case
            return known
        except msgspec.DecodeError:
            pass  # a type newer than this client, or not a batch: see _decode_union
        result: Batch = self._client._decode_union(
            response, KnownBatch, BATCH_TYPES, _unknown_batch, method, path
        )
        return result

    def _reconciler(self, client_reference: str, policy: RetryPolicy) -> Reconcile:
        """Look up whether an ambiguous send created its batch (by ``client_reference``)."""
        since = datetime.now(timezone.utc) - timedelta(seconds=policy.reconcile_window)
        lookup_policy = replace(policy, max_attempts=min(policy.max_attempts, 3))

        async def reconcile() -> RawResponse | None:
            found = await self._find_by_reference(client_reference, since, lookup_policy)
            return None if found is None else RawResponse(200, {}, encode(found))

        return reconcile

    async def _find_by_reference(
        self, client_reference: str, since: datetime, retry: RetryPolicy | DefaultType = DEFAULT
    ) -> dict[str, Any] | None:
        """The batch created since ``since`` with this ``client_reference`` (its JSON
        object as Sinch sent it), or None.

        The one lookup behind both the reconciliation of an ambiguous send and the
        fan-out's resume: the newest 100 batches with that reference.
        """
        params = [
            ("client_reference", client_reference),
            ("start_date", timestamp_param(since, "start_date")),
            ("page", "0"),
            ("page_size", "100"),
        ]
        response = await self._client._request(
            "GET", "/batches", params=params, retry=retry, record=False
        )
        for item in _BATCH_LIST.raw_items(response.body):
            if item.get("client_reference") == client_reference:
                return item
        return None

    @overload
    async def send(self, to: SendRequest, /) -> Batch: ...

    @overload
    async def send(
        self,
        to: Sequence[str] | str,
        body: str | MediaBody,
        *,
        from_: str | None = None,
        type: str = "mt_text",
        udh: str | None = None,
        parameters: Parameters | None = None,
        delivery_report: str | None = None,
        send_at: datetime | None = None,
        expire_at: datetime | None = None,
        callback_url: str | None = None,
        client_reference: str | None = None,
        feedback_enabled: bool | None = None,
        flash_message: bool | None = None,
        truncate_concat: bool | None = None,
        max_number_of_message_parts: int | None = None,
        from_ton: int | None = None,
        from_npi: int | None = None,
        strict_validation: bool | None = None,
    ) -> Batch: ...

    async def send(
        self,
        to: Sequence[str] | str | SendRequest,
        body: str | MediaBody | None = None,
        *,
        type: str = "mt_text",
        **fields: Any,
    ) -> Batch:
        """Send a batch (``POST /batches``): one message to 1..1000 numbers or group IDs.

        ``type`` is ``"mt_text"`` (default), ``"mt_binary"`` (Base64 ``body`` and hex
        ``udh``) or ``"mt_media"`` (``body=MediaBody(url=...)``). ``parameters`` fills
        ``${name}`` placeholders per recipient. ``send_at`` / ``expire_at`` are
        datetimes (naive ones are UTC). Instead of keywords, pass one ready
        :class:`TextRequest`, :class:`BinaryRequest` or :class:`MediaRequest`.
        Returns the created batch.
        """
        request = _request_from(to, body, type, fields, "send")
        response = await self._prepared("POST", "/batches", request, built=request is not to)
        return self._batch(response, "POST", "/batches")

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
        params: list[tuple[str, str]] = []
        if from_ is not None:
            params.append(("from", csv(from_, "from_")))
        if start_date is not None:
            params.append(("start_date", timestamp_param(start_date, "start_date")))
        if end_date is not None:
            params.append(("end_date", timestamp_param(end_date, "end_date")))
        if client_reference is not None:
            params.append(("client_reference", client_reference))
        return _BATCH_LIST.paginator(
            self._client, "/batches", params, page_size=page_size, limit=limit
        )

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
        from_: str | None = None,
        type: str = "mt_text",
        udh: str | None = None,
        parameters: Parameters | None = None,
        delivery_report: str | None = None,
        send_at: datetime | None = None,
        expire_at: datetime | None = None,
        callback_url: str | None = None,
        client_reference: str | None = None,
        feedback_enabled: bool | None = None,
        flash_message: bool | None = None,
        truncate_concat: bool | None = None,
        max_number_of_message_parts: int | None = None,
        from_ton: int | None = None,
        from_npi: int | None = None,
        strict_validation: bool | None = None,
    ) -> DryRunResult: ...

    async def dry_run(
        self,
        to: Sequence[str] | str | SendRequest,
        body: str | MediaBody | None = None,
        *,
        per_recipient: bool | None = None,
        number_of_recipients: int | None = None,
        type: str = "mt_text",
        **fields: Any,
    ) -> DryRunResult:
        """Count recipients and message parts without sending (``POST /batches/dry_run``).

        ``per_recipient=True`` adds per-recipient details (body, parts, encoding)
        for up to ``number_of_recipients`` (1..1000, Sinch's default 100) recipients.
        """
        request = _request_from(to, body, type, fields, "dry_run")
        check_send_request(request)
        params: list[tuple[str, str]] = []
        if per_recipient is not None:
            params.append(("per_recipient", "true" if per_recipient else "false"))
        if number_of_recipients is not None:
            if (
                isinstance(number_of_recipients, bool)
                or not isinstance(number_of_recipients, int)
                or not 1 <= number_of_recipients <= 1000
            ):
                raise SinchValidationError(
                    "number_of_recipients", "must be an integer in 1..1000", limit="1..1000"
                )
            params.append(("number_of_recipients", str(number_of_recipients)))
        path = "/batches/dry_run"
        response = await self._client._request(
            "POST", path, params=params or None, body=encode(request)
        )
        result: DryRunResult = self._client._decode(response, DryRunResult, "POST", path)
        return result

    async def get(self, batch_id: str) -> Batch:
        """One batch by ID (``GET /batches/{batch_id}``)."""
        path = f"/batches/{seg(require_id(batch_id, 'batch_id'))}"
        response = await self._client._request("GET", path)
        result: Batch = self._client._decode_union(
            response, KnownBatch, BATCH_TYPES, _unknown_batch, "GET", path
        )
        return result

    async def update(
        self,
        batch_id: str,
        *,
        to_add: Sequence[str] | None = None,
        to_remove: Sequence[str] | None = None,
        from_: str | None = None,
        body: str | MediaBody | None = None,
        type: str | None = None,
        udh: str | None = None,
        parameters: Parameters | None = None,
        delivery_report: str | None = None,
        send_at: datetime | None = None,
        expire_at: datetime | None = None,
        callback_url: str | None = None,
        client_reference: str | None = None,
        feedback_enabled: bool | None = None,
        flash_message: bool | None = None,
        truncate_concat: bool | None = None,
        max_number_of_message_parts: int | None = None,
        from_ton: int | None = None,
        from_npi: int | None = None,
        strict_validation: bool | None = None,
        request: UpdateBatchRequest | None = None,
    ) -> Batch:
        """Change a batch that is not yet dispatched (``POST /batches/{batch_id}``).

        Only the fields given are sent. ``to_add`` / ``to_remove`` hold 1..100
        numbers each. ``type`` is sent only when given or implied (``udh`` means
        ``mt_binary``, a :class:`MediaBody` means ``mt_media``, a text ``body``
        means ``mt_text``). Or pass a ready :class:`UpdateBatchRequest` as ``request``.
        """
        path = f"/batches/{seg(require_id(batch_id, 'batch_id'))}"
        if request is None:
            if type is None:
                if udh is not None:
                    type = "mt_binary"
                elif isinstance(body, MediaBody):
                    type = "mt_media"
                elif body is not None:
                    type = "mt_text"
            request = UpdateBatchRequest(
                type=opt(type),
                to_add=UNSET
                if to_add is None
                else check_recipients(to_add, "to_add", maximum=MAX_UPDATE_RECIPIENTS),
                to_remove=UNSET
                if to_remove is None
                else check_recipients(to_remove, "to_remove", maximum=MAX_UPDATE_RECIPIENTS),
                from_=opt(from_),
                body=opt(body),
                udh=opt(udh),
                parameters=opt(parameters),
                delivery_report=opt(delivery_report),
                send_at=opt(utc(send_at, "send_at")),
                expire_at=opt(utc(expire_at, "expire_at")),
                callback_url=opt(callback_url),
                client_reference=opt(client_reference),
                feedback_enabled=opt(feedback_enabled),
                flash_message=opt(flash_message),
                truncate_concat=opt(truncate_concat),
                max_number_of_message_parts=opt(max_number_of_message_parts),
                from_ton=opt(from_ton),
                from_npi=opt(from_npi),
                strict_validation=opt(strict_validation),
            )
        elif not isinstance(request, UpdateBatchRequest):
            raise SinchValidationError("request", "must be an UpdateBatchRequest")
        check_update_request(request)
        response = await self._client._request(
            "POST",
            path,
            body=encode(request),
            idempotency=Idempotency.UNSAFE,
            messages=0 if request.to_add is UNSET else len(request.to_add),
            request_obj=request,
        )
        result: Batch = self._client._decode_union(
            response, KnownBatch, BATCH_TYPES, _unknown_batch, "POST", path
        )
        return result

    @overload
    async def replace(self, batch_id: str, to: SendRequest, /) -> Batch: ...

    @overload
    async def replace(
        self,
        batch_id: str,
        to: Sequence[str] | str,
        body: str | MediaBody,
        *,
        from_: str | None = None,
        type: str = "mt_text",
        udh: str | None = None,
        parameters: Parameters | None = None,
        delivery_report: str | None = None,
        send_at: datetime | None = None,
        expire_at: datetime | None = None,
        callback_url: str | None = None,
        client_reference: str | None = None,
        feedback_enabled: bool | None = None,
        flash_message: bool | None = None,
        truncate_concat: bool | None = None,
        max_number_of_message_parts: int | None = None,
        from_ton: int | None = None,
        from_npi: int | None = None,
        strict_validation: bool | None = None,
    ) -> Batch: ...

    async def replace(
        self,
        batch_id: str,
        to: Sequence[str] | str | SendRequest,
        body: str | MediaBody | None = None,
        *,
        type: str = "mt_text",
        **fields: Any,
    ) -> Batch:
        """Replace a batch that is not yet dispatched with a new one (``PUT /batches/{id}``).

        Takes the same fields as :meth:`send` (or one request struct).
        """
        path = f"/batches/{seg(require_id(batch_id, 'batch_id'))}"
        request = _request_from(to, body, type, fields, "replace")
        response = await self._prepared("PUT", path, request, built=request is not to)
        return self._batch(response, "PUT", path)

    async def cancel(self, batch_id: str) -> Batch:
        """Cancel a batch's messages that are not yet dispatched (``DELETE /batches/{id}``).

        Returns the batch (with ``canceled=True``).
        """
        path = f"/batches/{seg(require_id(batch_id, 'batch_id'))}"
        response = await self._client._request("DELETE", path)
        result: Batch = self._client._decode_union(
            response, KnownBatch, BATCH_TYPES, _unknown_batch, "DELETE", path
        )
        return result

    async def fan_out(
        self,
        recipients: RecipientSource,
        body: str,
        *,
        from_: str | None = None,
        campaign_id: str | None = None,
        chunk_size: int = 1000,
        concurrency: int = 8,
        on_progress: Callable[[FanOutProgress], Any] | None = None,
        dedupe: bool = True,
        resume: bool | None = None,
        default_parameters: Mapping[str, str] | None = None,
        dry_run: bool = False,
        **fields: Any,
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

        ``on_progress`` is called with a :class:`FanOutProgress` as chunks finish.
        Other keyword arguments (``delivery_report``, ``send_at``, ``expire_at``,
        ``callback_url``, ...) go into every batch. ``dry_run=True`` reads the input,
        validates it and returns the report with its ``estimate`` (messages =
        parts x recipients) without sending anything. Cancelling raises
        :class:`FanOutCancelled` whose ``report`` says exactly what was sent.
        """
        options = FanOutOptions(
            campaign_id, chunk_size, concurrency, on_progress, dedupe, resume, default_parameters
        )
        run = self._fan_out(recipients, body, from_, options, fields)
        return await (run.estimate_only() if dry_run else run.complete())

    async def fan_out_iter(
        self,
        recipients: RecipientSource,
        body: str,
        *,
        from_: str | None = None,
        campaign_id: str | None = None,
        chunk_size: int = 1000,
        concurrency: int = 8,
        on_progress: Callable[[FanOutProgress], Any] | None = None,
        dedupe: bool = True,
        resume: bool | None = None,
        default_parameters: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> AsyncIterator[ChunkResult]:
        """Like :meth:`fan_out`, but yield each chunk's :class:`ChunkResult` as it completes.

        Stopping the iteration early stops new chunks; chunks already in flight finish.
        """
        options = FanOutOptions(
            campaign_id, chunk_size, concurrency, on_progress, dedupe, resume, default_parameters
        )
        async for result in self._fan_out(recipients, body, from_, options, fields).run():
            yield result

    def _fan_out(
        self,
        recipients: RecipientSource,
        body: str,
        from_: str | None,
        options: FanOutOptions,
        fields: dict[str, Any],
    ) -> SmsFanOut:
        """The fan-out run, its batch fields checked before any I/O."""
        unknown = set(fields) - _FAN_OUT_FIELDS
        if unknown:
            name = sorted(unknown)[0]
            raise SinchValidationError(
                name,
                f"is not a batch field fan_out can pass on ({', '.join(sorted(_FAN_OUT_FIELDS))})",
            )
        if from_ is not None:
            fields = {**fields, "from_": from_}
        # Check the fields once, before any I/O, with a stand-in recipient.
        defaults = options.default_parameters or {}
        probe = _build_send_request(
            ["+10000000000"],
            body,
            "mt_text",
            {name: fields[name] for name in _SEND_FIELDS if name in fields}
            | {"parameters": {k: {"default": v} for k, v in defaults.items()} or None},
        )
        check_send_request(probe)
        return SmsFanOut(self, recipients, body, options, fields)

    async def send_delivery_feedback(self, batch_id: str, recipients: Sequence[str]) -> None:
        """Tell Sinch these recipients received the message (``POST .../delivery_feedback``).

        Only for batches sent with ``feedback_enabled=True``. Sinch answers 202
        with no body.
        """
        path = f"/batches/{seg(require_id(batch_id, 'batch_id'))}/delivery_feedback"
        numbers = check_recipients(recipients, "recipients", maximum=1000)
        await self._client._request(
            "POST", path, body=encode(DeliveryFeedbackRequest(recipients=numbers))
        )
