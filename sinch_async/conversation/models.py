"""msgspec structs of the Conversation Batch API: messages, recipients, requests, responses.

Messages follow the Conversation API's ``AppMessage``: each typed message struct is
sent under its own key (``TextMessage`` as ``{"text_message": {...}}``). A raw
``dict`` can stand in for any message (it is sent as the ``message`` object as is),
for message kinds or fields this module does not model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "BATCH_STATUSES",
    "BatchSendResponse",
    "BatchStatus",
    "CallMessage",
    "CardMessage",
    "CarouselMessage",
    "ChannelIdentities",
    "ChannelIdentity",
    "Choice",
    "ChoiceMessage",
    "ContactAddress",
    "ContactEmail",
    "ContactInfoMessage",
    "ContactName",
    "ContactOrganization",
    "ContactPhoneNumber",
    "ContactUrl",
    "Coordinates",
    "ListChoiceItem",
    "ListItem",
    "ListMessage",
    "ListProductItem",
    "ListSection",
    "LocationMessage",
    "MediaMessage",
    "Message",
    "Recipient",
    "RecipientAndParams",
    "SendBatchRequest",
    "TemplateMessage",
    "TemplateReference",
    "TextMessage",
    "UrlMessage",
]

BATCH_STATUSES: Final = ("READY", "SCHEDULED", "PROCESSED", "CANCELLED")
"""Statuses of a batch (``BatchStatus.status`` is a plain ``str``: new values decode too)."""


class _Wire(msgspec.Struct, omit_defaults=True):
    """Base of the request structs: unset optional fields are left out of the JSON."""


# --- building blocks ------------------------------------------------------------------------


class TextMessage(_Wire):
    """A text message: ``TextMessage(text="Hi ${name}")``."""

    key: ClassVar[str] = "text_message"
    text: str


class MediaMessage(_Wire):
    """An image, video, audio or document by URL."""

    key: ClassVar[str] = "media_message"
    url: str
    thumbnail_url: str | UnsetType = UNSET
    filename_override: str | UnsetType = UNSET


class Coordinates(_Wire):
    latitude: float
    longitude: float


class LocationMessage(_Wire):
    """A geographic location with a title (and an optional label)."""

    key: ClassVar[str] = "location_message"
    coordinates: Coordinates
    title: str
    label: str | UnsetType = UNSET


class CallMessage(_Wire):
    """A choice that starts a phone call."""

    phone_number: str
    title: str


class UrlMessage(_Wire):
    """A choice that opens a URL."""

    url: str
    title: str


class Choice(_Wire):
    """One button of a choice, card or carousel message: set exactly one action.

    Build one with :meth:`text`, :meth:`url`, :meth:`call` or :meth:`location`.
    """

    text_message: TextMessage | UnsetType = UNSET
    url_message: UrlMessage | UnsetType = UNSET
    call_message: CallMessage | UnsetType = UNSET
    location_message: LocationMessage | UnsetType = UNSET
    postback_data: str | UnsetType = UNSET

    @classmethod
    def text(cls, text: str, *, postback_data: str | None = None) -> Choice:
        """A quick-reply button."""
        return cls(text_message=TextMessage(text=text), postback_data=_opt(postback_data))

    @classmethod
    def url(cls, title: str, url: str, *, postback_data: str | None = None) -> Choice:
        """A button that opens ``url``."""
        return cls(url_message=UrlMessage(url=url, title=title), postback_data=_opt(postback_data))

    @classmethod
    def call(cls, title: str, phone_number: str, *, postback_data: str | None = None) -> Choice:
        """A button that calls ``phone_number`` (E.164 with a leading ``+``)."""
        return cls(
            call_message=CallMessage(phone_number=phone_number, title=title),
            postback_data=_opt(postback_data),
        )

    @classmethod
    def location(
        cls, title: str, latitude: float, longitude: float, *, label: str | None = None
    ) -> Choice:
        """A button that shows a place on a map."""
        return cls(
            location_message=LocationMessage(
                coordinates=Coordinates(latitude=latitude, longitude=longitude),
                title=title,
                label=_opt(label),
            )
        )


def _opt(value: str | None) -> str | UnsetType:
    return UNSET if value is None else value


class ChoiceMessage(_Wire):
    """Text with buttons (``choices``)."""

    key: ClassVar[str] = "choice_message"
    choices: list[Choice]
    text_message: TextMessage | UnsetType = UNSET


class CardMessage(_Wire):
    """A card: title, description, media and buttons. ``height``: SHORT, MEDIUM or TALL."""

    key: ClassVar[str] = "card_message"
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    media_message: MediaMessage | UnsetType = UNSET
    height: str | UnsetType = UNSET
    choices: list[Choice] | UnsetType = UNSET


class CarouselMessage(_Wire):
    """Several cards shown side by side, with optional outer buttons."""

    key: ClassVar[str] = "carousel_message"
    cards: list[CardMessage]
    choices: list[Choice] | UnsetType = UNSET


class TemplateReference(_Wire):
    """A template by ID and version, with its parameter values."""

    template_id: str
    version: str | UnsetType = UNSET
    language_code: str | UnsetType = UNSET
    parameters: dict[str, str] | UnsetType = UNSET


class TemplateMessage(_Wire):
    """A stored template: an omnichannel one and/or channel-specific ones (by channel)."""

    key: ClassVar[str] = "template_message"
    omni_template: TemplateReference | UnsetType = UNSET
    channel_template: dict[str, TemplateReference] | UnsetType = UNSET


class ListChoiceItem(_Wire):
    title: str
    description: str | UnsetType = UNSET
    media: MediaMessage | UnsetType = UNSET
    postback_data: str | UnsetType = UNSET


class ListProductItem(_Wire):
    id: str
    marketplace: str
    quantity: int | UnsetType = UNSET
    item_price: float | UnsetType = UNSET
    currency: str | UnsetType = UNSET


class ListItem(_Wire):
    """One row of a list section: a ``choice`` or a ``product``."""

    choice: ListChoiceItem | UnsetType = UNSET
    product: ListProductItem | UnsetType = UNSET


class ListSection(_Wire):
    items: list[ListItem]
    title: str | UnsetType = UNSET


class ListMessage(_Wire):
    """A list of choices or products in sections."""

    key: ClassVar[str] = "list_message"
    title: str
    sections: list[ListSection]
    description: str | UnsetType = UNSET
    message_properties: dict[str, Any] | UnsetType = UNSET


class ContactName(_Wire):
    full_name: str
    first_name: str | UnsetType = UNSET
    last_name: str | UnsetType = UNSET
    middle_name: str | UnsetType = UNSET
    prefix: str | UnsetType = UNSET
    suffix: str | UnsetType = UNSET


class ContactPhoneNumber(_Wire):
    phone_number: str
    type: str | UnsetType = UNSET


class ContactAddress(_Wire):
    city: str | UnsetType = UNSET
    country: str | UnsetType = UNSET
    state: str | UnsetType = UNSET
    zip: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    country_code: str | UnsetType = UNSET


class ContactEmail(_Wire):
    email_address: str
    type: str | UnsetType = UNSET


class ContactOrganization(_Wire):
    company: str | UnsetType = UNSET
    department: str | UnsetType = UNSET
    title: str | UnsetType = UNSET


class ContactUrl(_Wire):
    url: str
    type: str | UnsetType = UNSET


class ContactInfoMessage(_Wire):
    """A contact card (vCard-like): name, phone numbers and optional details."""

    key: ClassVar[str] = "contact_info_message"
    name: ContactName
    phone_numbers: list[ContactPhoneNumber]
    addresses: list[ContactAddress] | UnsetType = UNSET
    email_addresses: list[ContactEmail] | UnsetType = UNSET
    organization: ContactOrganization | UnsetType = UNSET
    urls: list[ContactUrl] | UnsetType = UNSET
    birthday: str | UnsetType = UNSET


Message = (
    TextMessage
    | MediaMessage
    | TemplateMessage
    | ChoiceMessage
    | CardMessage
    | CarouselMessage
    | LocationMessage
    | ListMessage
    | ContactInfoMessage
)
"""The typed messages ``send`` accepts (a raw ``dict`` AppMessage is accepted too)."""

MESSAGE_TYPES: Final[tuple[type[Message], ...]] = (
    TextMessage,
    MediaMessage,
    TemplateMessage,
    ChoiceMessage,
    CardMessage,
    CarouselMessage,
    LocationMessage,
    ListMessage,
    ContactInfoMessage,
)


# --- recipients -----------------------------------------------------------------------------


class ChannelIdentity(_Wire):
    """A recipient's identity on one channel: ``ChannelIdentity("SMS", "+46700000001")``.

    ``channel`` is a Conversation channel name (``SMS``, ``WHATSAPP``, ``RCS``,
    ``MESSENGER``, ``VIBER``, ``VIBERBM``, ``MMS``, ...); ``identity`` is the
    phone number (SMS, WhatsApp, RCS, Viber Business, MMS) or the channel's ID.
    """

    channel: str
    identity: str


class ChannelIdentities(_Wire):
    channel_identities: list[ChannelIdentity]


class Recipient(_Wire):
    """A contact ID, or channel identities (``identified_by``): set exactly one."""

    contact_id: str | UnsetType = UNSET
    identified_by: ChannelIdentities | UnsetType = UNSET

    @classmethod
    def contact(cls, contact_id: str) -> Recipient:
        return cls(contact_id=contact_id)

    @classmethod
    def identities(cls, *identities: ChannelIdentity) -> Recipient:
        return cls(identified_by=ChannelIdentities(channel_identities=list(identities)))


class RecipientAndParams(_Wire):
    """One recipient of a batch with its ``${parameter}`` values and metadata.

    Recipient-level ``message_metadata`` / ``conversation_metadata`` are merged
    with the batch-level ones (the recipient's keys win).
    """

    recipient: Recipient
    parameters: dict[str, str] | UnsetType = UNSET
    message_metadata: dict[str, Any] | UnsetType = UNSET
    conversation_metadata: dict[str, Any] | UnsetType = UNSET


class SendBatchRequest(_Wire):
    """The body of ``POST /v1/projects/{project_id}/messages``."""

    app_id: str
    message: dict[str, Any]
    recipient_and_params: list[RecipientAndParams]
    processing_strategy: str | UnsetType = UNSET
    batch_metadata: dict[str, str] | UnsetType = UNSET
    message_metadata: dict[str, Any] | UnsetType = UNSET
    conversation_metadata: dict[str, Any] | UnsetType = UNSET
    send_after: datetime | UnsetType = UNSET
    callback_url: str | UnsetType = UNSET
    channel_priority_order: list[str] | UnsetType = UNSET
    ttl: str | UnsetType = UNSET
    channel_properties: dict[str, str] | UnsetType = UNSET


class CancelBatchRequest(_Wire):
    """The body of ``DELETE /v1/projects/{project_id}/messages``."""

    batch_ids: list[str] | UnsetType = UNSET
    batch_metadata: dict[str, str] | UnsetType = UNSET


# --- responses ------------------------------------------------------------------------------


class BatchSendResponse(msgspec.Struct, kw_only=True):
    """The answer to a send: the batch ID, and ``send_after`` as the API set it.

    Sinch rounds a ``send_after`` more than a minute ahead up to the next
    five-minute mark; ``None`` for a batch sent at once.
    """

    batch_id: str
    send_after: datetime | None = None


class BatchStatus(msgspec.Struct, kw_only=True):
    """The status of one batch: ``READY``, ``SCHEDULED``, ``PROCESSED`` or ``CANCELLED``."""

    batch_id: str
    status: str
    batch_metadata: dict[str, str] = msgspec.field(default_factory=dict)
    send_after: datetime | None = None
    app_id: str | None = None
    created_at: datetime | None = None
    recipients: int | None = None
    """Number of recipients, when the API reports it."""

    @property
    def metadata(self) -> dict[str, str]:
        """The batch metadata (``batch_metadata``)."""
        return self.batch_metadata

    @property
    def cancellable(self) -> bool:
        """True while the batch waits for its ``send_after`` (only then can it be cancelled)."""
        return self.status == "SCHEDULED"


class BatchList(msgspec.Struct, kw_only=True):
    batches: list[BatchStatus] = msgspec.field(default_factory=list)
