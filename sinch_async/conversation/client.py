"""``AsyncConversationBatchClient``: the Conversation Batch API (one message, many recipients)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final, cast
from urllib.parse import quote

import msgspec

from sinch_async import _config
from sinch_async._auth import OAuth2TokenProvider
from sinch_async._base import (
    DEFAULT,
    BaseClient,
    ClientOptions,
    ClientSettings,
    DefaultType,
    decode_error,
    new_reference,
)
from sinch_async._codec import encode, json_decode
from sinch_async._core import Operation
from sinch_async._options import check_pool, reject_unknown
from sinch_async._retry import RetryPolicy
from sinch_async._transport import RawResponse
from sinch_async._typing import Unpack
from sinch_async._validate import check_id, check_text
from sinch_async.conversation._request import (
    BatchFields,
    ConversationFanOutArgs,
    SendFields,
    build_send_request,
)
from sinch_async.conversation._validate import (
    CAMPAIGN_METADATA_KEY,
    CORRELATION_METADATA_KEY,
    RecipientLike,
    check_batch_ids,
    check_metadata,
)
from sinch_async.conversation.fanout import (
    ConversationFanOut,
    ConversationFanOutReport,
    RecipientSource,
)
from sinch_async.conversation.models import (
    BatchList,
    BatchSendResponse,
    BatchStatus,
    CancelBatchRequest,
    Message,
    SendBatchRequest,
)
from sinch_async.errors import SinchValidationError
from sinch_async.fanout import ChunkResult
from sinch_async.fanout._options import FanOutOptions

__all__ = [
    "CAMPAIGN_METADATA_KEY",
    "CONVERSATION_REGIONS",
    "CORRELATION_METADATA_KEY",
    "DEFAULT_REQUESTS_PER_SECOND",
    "AsyncConversationBatchClient",
]

CONVERSATION_REGIONS: Final = ("us", "eu", "br")
DEFAULT_REQUESTS_PER_SECOND: Final = 800.0
"""Sinch's documented Conversation API limit: 800 requests per second per project."""


def _present(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


_SEND = Operation("conversation.batches.send", "/messages", sends=True, id_field="batch_id")
_CANCEL = Operation("conversation.batches.cancel", "/messages")
_GET = Operation("conversation.batches.get", "/messages/{batch_id}")
_LIST = Operation("conversation.batches.list_by_metadata", "/messages")


class AsyncConversationBatchClient(BaseClient):
    """An asyncio client for the Conversation API's Batch API.

    One message definition to up to 1000 recipients per request, with
    ``${parameter}`` values per recipient, optional scheduling (``send_after``),
    cancellation and status. Authenticates with OAuth2 project credentials::

        async with AsyncConversationBatchClient("project", "key-id", "key-secret") as conv:
            sent = await conv.send(app_id, TextMessage("Hi ${name}"), [
                (ChannelIdentity("SMS", "+46700000001"), {"name": "Ada"}),
            ])

    The session, retry policy and rate limiter work as in ``AsyncSmsClient``: one
    ``aiohttp`` session created lazily in the running loop, ``async with`` or
    :meth:`aclose`, a ``ResourceWarning`` if dropped unclosed.

    Args:
        project_id: Sinch project ID (goes into the URL path).
        key_id: Access key ID.
        key_secret: Access key secret.
        region: ``us`` (default), ``eu`` or ``br``; must match the Conversation app's.
        base_url: Override the API host (a local simulator, a proxy).
        auth_url: Override the OAuth2 token endpoint.
        token_provider: An :class:`OAuth2TokenProvider` to share with other clients of
            the same project (then ``key_id`` / ``key_secret`` may be omitted).
        auto_correlation_id: Give every send without a ``correlation_id`` a unique
            one, so that ambiguous failures are reconciled instead of raised (off).
        **settings: The :class:`ClientSettings` every client takes, as for
            ``AsyncSmsClient``; here ``requests_per_second`` defaults to 800, Sinch's
            per-project limit (``None`` for no limit).
    """

    def __init__(
        self,
        project_id: str,
        key_id: str | None = None,
        key_secret: str | None = None,
        region: str = "us",
        base_url: str | None = None,
        auth_url: str | None = None,
        *,
        token_provider: OAuth2TokenProvider | None = None,
        auto_correlation_id: bool = False,
        **settings: Unpack[ClientSettings],
    ) -> None:
        reject_unknown(f"{type(self).__name__}.__init__", settings)
        if not _present(project_id):
            raise SinchValidationError("project_id", "must be a non-empty string")
        if token_provider is None:
            pairs = (("key_id", key_id), ("key_secret", key_secret))
            missing = [name for name, value in pairs if not _present(value)]
            if missing:
                raise SinchValidationError(
                    missing[0],
                    f"project credentials need project_id, key_id and key_secret; missing "
                    f"{', '.join(missing)}",
                )
        check_pool(settings)
        region = (region or "us").strip().lower()
        if region not in CONVERSATION_REGIONS:
            raise SinchValidationError(
                "region",
                f"unknown region {region!r} for the Conversation Batch API; valid "
                f"regions: {', '.join(CONVERSATION_REGIONS)}",
                limit=" | ".join(CONVERSATION_REGIONS),
            )
        options = ClientOptions.build(
            settings,
            region=region,
            account_id=project_id,
            base_url=base_url or f"https://{region}.conversationbatch.api.sinch.com",
            auth_url=None if token_provider is not None else auth_url or _config.DEFAULT_AUTH_URL,
            default_requests_per_second=DEFAULT_REQUESTS_PER_SECOND,
            auto_reference=auto_correlation_id,
        )
        if token_provider is not None:
            options = replace(options, auth_url=token_provider.auth_url)
        else:
            token_provider = options.token_provider(key_id or "", key_secret or "")
        prefix = f"{options.base_url}/v1/projects/{quote(project_id, safe='')}"
        session = settings.get("session")
        self._open(options, auth=token_provider, prefix=prefix, oauth=True, session=session)

    def _bind(self, options: ClientOptions) -> None:
        super()._bind(options)
        self.project_id = options.account_id
        self.auto_correlation_id = options.auto_reference

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> AsyncConversationBatchClient:
        """Build a client from ``SINCH_*`` environment variables.

        Reads ``SINCH_PROJECT_ID``, ``SINCH_KEY_ID``, ``SINCH_KEY_SECRET``, the region
        from ``SINCH_CONVERSATION_REGION`` (else ``SINCH_REGION``) and the host from
        ``SINCH_CONVERSATION_BATCH_URL``; keyword arguments override them.
        """
        names = {
            "project_id": ("SINCH_PROJECT_ID",),
            "key_id": ("SINCH_KEY_ID",),
            "key_secret": ("SINCH_KEY_SECRET",),
            "region": ("SINCH_CONVERSATION_REGION", "SINCH_REGION"),
            "base_url": ("SINCH_CONVERSATION_BATCH_URL",),
        }
        kwargs = {"project_id": "", **cls._env_arguments(names, environ), **overrides}
        return cls(**kwargs)

    def with_options(
        self,
        *,
        retry: RetryPolicy | DefaultType | None = DEFAULT,
        auto_correlation_id: bool | None = None,
    ) -> AsyncConversationBatchClient:
        """A view of this client with other per-call options, sharing its session.

        The view shares the session, token and rate limiter; closing either closes both.
        """
        return self._with(retry, auto_correlation_id)

    # --- requests ----------------------------------------------------------------------------

    def build_send_request(
        self,
        app_id: str,
        message: Message | Mapping[str, Any],
        recipient_and_params: Sequence[RecipientLike],
        **fields: Unpack[SendFields],
    ) -> SendBatchRequest:
        """The checked request body of :meth:`send` (no network I/O)."""
        return build_send_request(
            app_id, message, recipient_and_params, fields, "build_send_request"
        )

    async def send(
        self,
        app_id: str,
        message: Message | Mapping[str, Any],
        recipient_and_params: Sequence[RecipientLike],
        **fields: Unpack[SendFields],
    ) -> BatchSendResponse:
        """Send one message to 1..1000 recipients (``POST /v1/projects/{id}/messages``).

        ``message`` is a typed message (:class:`TextMessage`, :class:`MediaMessage`,
        :class:`TemplateMessage`, :class:`ChoiceMessage`, :class:`CardMessage`,
        :class:`CarouselMessage`, :class:`LocationMessage`, :class:`ListMessage`,
        :class:`ContactInfoMessage`) or a raw ``AppMessage`` dict; ``${name}`` in any
        of its strings is replaced by each recipient's ``parameters["name"]``.
        ``recipient_and_params`` items are contact IDs, :class:`ChannelIdentity`,
        :class:`Recipient` or :class:`RecipientAndParams` objects, or
        ``(recipient, {param: value})`` pairs.

        ``fields`` are the :class:`SendFields`: ``processing_strategy``,
        ``batch_metadata``, ``message_metadata``, ``conversation_metadata``,
        ``send_after`` (schedules the batch, at most 7 days ahead; Sinch rounds times
        more than a minute ahead up to the next 5-minute mark and returns the value it
        uses), ``channel_priority_order``, ``ttl`` (``"<n>s"``, seconds or a
        timedelta), ``channel_properties``, ``callback_url`` and ``correlation_id``
        (stored in ``batch_metadata``; it lets an ambiguous failure, a timeout or a
        5xx, be reconciled by a lookup instead of raised or sent twice).

        Returns the ``batch_id`` and ``send_after``. Raises
        :class:`SinchValidationError` before any network I/O for bad input.
        """
        request = build_send_request(app_id, message, recipient_and_params, fields)
        return await self.send_request(request)

    async def send_request(self, request: SendBatchRequest) -> BatchSendResponse:
        """Send a prepared :class:`SendBatchRequest` (see :meth:`build_send_request`)."""
        meta = request.batch_metadata if isinstance(request.batch_metadata, dict) else {}
        correlation = meta.get(CORRELATION_METADATA_KEY)
        if correlation is None and self.auto_correlation_id:
            correlation = new_reference()
            request = msgspec.structs.replace(
                request, batch_metadata={**meta, CORRELATION_METADATA_KEY: correlation}
            )
        path = "/messages"
        response = await self._send(
            "POST",
            path,
            _SEND,
            request,
            messages=len(request.recipient_and_params),
            reference=correlation,
            find=self._sent,
        )
        result: BatchSendResponse = self._decode(response, BatchSendResponse, "POST", path)
        return result

    async def _sent(
        self, correlation_id: str, retry: RetryPolicy, since: datetime
    ) -> RawResponse | None:
        """The batch an ambiguous send created (as its send response), or None."""
        found = await self._find_by_reference(correlation_id, retry)
        if not found:
            return None
        batch = found[0]
        answer = BatchSendResponse(batch_id=batch.batch_id, send_after=batch.send_after)
        return RawResponse(200, {}, encode(answer))

    async def _find_by_reference(
        self, correlation_id: str, retry: RetryPolicy | DefaultType = DEFAULT
    ) -> list[BatchStatus]:
        """The batches sent with this correlation ID (normally one, or none): the one
        lookup behind the reconciliation of an ambiguous send, the fan-out's resume and
        its check for duplicates."""
        found = await self._list(CORRELATION_METADATA_KEY, correlation_id, lookup=retry)
        return [
            b for b in found if b.batch_metadata.get(CORRELATION_METADATA_KEY) == correlation_id
        ]

    async def cancel(
        self,
        batch_id: str | Sequence[str] | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Cancel scheduled batches by ID(s) or by batch metadata (``DELETE .../messages``).

        Give ``batch_id`` (one ID or a list) or ``metadata`` (every batch whose
        ``batch_metadata`` has these key/value pairs). Only batches whose
        ``send_after`` has not passed can be cancelled. Cancellation is
        asynchronous and Sinch answers 200 even when nothing was cancelled: check
        with :meth:`get`.
        """
        if (batch_id is None) == (metadata is None):
            raise SinchValidationError("batch_id", "give exactly one of batch_id and metadata")
        if batch_id is not None:
            request = CancelBatchRequest(batch_ids=check_batch_ids(batch_id))
        else:
            meta = check_metadata(metadata, "metadata", strings=True)
            if not meta:
                raise SinchValidationError("metadata", "must hold at least one key", limit=">= 1")
            request = CancelBatchRequest(batch_metadata=meta)
        await self._request("DELETE", "/messages", _CANCEL, body=encode(request))

    async def get(self, batch_id: str) -> BatchStatus:
        """The status of a batch (``GET .../messages/{batch_id}``)."""
        path = f"/messages/{quote(check_id(batch_id, 'batch_id'), safe='')}"
        response = await self._request("GET", path, _GET, batch_id=batch_id)
        result: BatchStatus = self._decode(response, BatchStatus, "GET", path)
        return result

    async def list_by_metadata(self, key: str, value: str) -> list[BatchStatus]:
        """Batches whose ``batch_metadata[key] == value`` (``GET .../messages?metadataKey=``)."""
        if not _present(key):
            raise SinchValidationError("key", "must be a non-empty string")
        if not isinstance(value, str):
            raise SinchValidationError("value", "must be a string")
        check_text(key, "key")
        check_text(value, "value")
        return await self._list(key, value)

    async def _list(
        self, key: str, value: str, lookup: RetryPolicy | DefaultType | None = None
    ) -> list[BatchStatus]:
        """Batches by metadata: a user's list (``lookup`` None, recorded in ``call_info``),
        or the client's own lookup with that retry policy (not recorded)."""
        path = "/messages"
        response = await self._request(
            "GET",
            path,
            _LIST,
            params=[("metadataKey", key), ("metadataValue", value)],
            retry=DEFAULT if lookup is None else lookup,
            record=lookup is None,
        )
        try:
            raw = json_decode(response.body) if response.body.strip() else {}
            if isinstance(raw, list):  # tolerate a bare array
                raw = {"batches": raw}
            return msgspec.convert(raw, BatchList).batches
        except msgspec.DecodeError as exc:  # (ValidationError is a DecodeError)
            raise decode_error(response, exc, "GET", path) from None

    # --- fan-out -----------------------------------------------------------------------------

    async def fan_out(
        self,
        app_id: str,
        message: Message | Mapping[str, Any],
        recipients: RecipientSource,
        **options: Unpack[ConversationFanOutArgs],
    ) -> ConversationFanOutReport:
        """Send one message to any number of recipients, in batches of ``chunk_size``.

        ``recipients`` (a list, an iterable or an async iterable of anything
        :meth:`send` accepts as a recipient) is read lazily, checked (invalid ones
        are reported, not sent; phone numbers on phone channels are normalised to
        E.164) and de-duplicated (``dedupe=False`` turns that off). Each recipient's
        parameters are merged over ``default_parameters``.

        Every batch gets the ``batch_metadata`` ``{CAMPAIGN_METADATA_KEY: campaign_id,
        CORRELATION_METADATA_KEY: "{campaign_id}#{index}"}``: ambiguous failures are
        reconciled instead of sent twice, a re-run of the same campaign (same input,
        same order) skips the batches Sinch already has, and
        ``cancel(metadata={CAMPAIGN_METADATA_KEY: campaign_id})`` cancels a scheduled
        campaign. The run options are those of :class:`FanOutSettings` (``campaign_id``,
        ``chunk_size`` 1000, ``concurrency`` 8, ``on_progress``, ``dedupe``, ``resume``,
        ``default_parameters``); the other keyword arguments are :class:`BatchFields`
        (``send_after``, ``ttl``, ``batch_metadata``, ``message_metadata``, ...) that go
        into every batch.

        Returns a report accounting for every recipient; cancelling raises
        :class:`FanOutCancelled` carrying the partial report.
        """
        return await self._fan_out(app_id, message, recipients, options).complete()

    async def fan_out_iter(
        self,
        app_id: str,
        message: Message | Mapping[str, Any],
        recipients: RecipientSource,
        **options: Unpack[ConversationFanOutArgs],
    ) -> AsyncIterator[ChunkResult]:
        """Like :meth:`fan_out`, but yield each chunk's result as it completes."""
        async for result in self._fan_out(app_id, message, recipients, options).run():
            yield result

    def _fan_out(
        self,
        app_id: str,
        message: Message | Mapping[str, Any],
        recipients: RecipientSource,
        arguments: ConversationFanOutArgs,
    ) -> ConversationFanOut:
        """The fan-out run, its message and batch fields checked before any I/O."""
        options, fields = FanOutOptions.split(arguments)
        allowed = BatchFields.__optional_keys__
        for name in fields:
            if name not in allowed:
                raise SinchValidationError(
                    name,
                    "is not a batch field fan_out can pass on "
                    f"({', '.join(sorted(allowed))}; recipients and correlation are its own)",
                )
        meta = fields.get("batch_metadata")
        if meta is not None:
            for key in (CORRELATION_METADATA_KEY, CAMPAIGN_METADATA_KEY):
                if key in meta:
                    raise SinchValidationError("batch_metadata", f"{key!r} is set by fan_out")
        # Check the message and fields once, before any I/O, with a stand-in recipient.
        probe = build_send_request(app_id, message, ["probe"], cast(SendFields, fields))
        return ConversationFanOut(self, probe, recipients, options)
