"""Groups of recipients (``/groups``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import msgspec
from msgspec import UNSET, UnsetType

from sinch_async.models._base import RequestStruct, ResponseStruct, UnknownVariant

__all__ = [
    "AutoUpdate",
    "AutoUpdateKeywords",
    "CreateGroupRequest",
    "Group",
    "ReplaceGroupRequest",
    "UnknownGroup",
    "UpdateGroupRequest",
]


class AutoUpdateKeywords(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Keywords an inbound message must start with (one word each, up to 15 characters)."""

    first_word: str | None = None
    second_word: str | None = None


class AutoUpdate(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Add or remove members automatically from inbound messages sent to ``to``.

    ``to`` is a phone number or short code; Sinch sends it as a number or a string.
    """

    to: str | int | None = None
    add: AutoUpdateKeywords | None = None
    remove: AutoUpdateKeywords | None = None


class CreateGroupRequest(RequestStruct, kw_only=True):
    name: str | UnsetType = UNSET
    members: list[str] | UnsetType = UNSET
    child_groups: list[str] | UnsetType = UNSET
    auto_update: AutoUpdate | UnsetType = UNSET


class ReplaceGroupRequest(RequestStruct, kw_only=True):
    name: str | UnsetType = UNSET
    members: list[str] | UnsetType = UNSET
    child_groups: list[str] | UnsetType = UNSET
    auto_update: AutoUpdate | UnsetType = UNSET


class UpdateGroupRequest(RequestStruct, kw_only=True):
    """Partial group update. ``name=None`` sends ``"name": null`` (removes the name)."""

    name: str | UnsetType | None = UNSET
    add: list[str] | UnsetType = UNSET
    remove: list[str] | UnsetType = UNSET
    add_from_group: str | UnsetType = UNSET
    remove_from_group: str | UnsetType = UNSET
    auto_update: AutoUpdate | UnsetType = UNSET


class Group(ResponseStruct, kw_only=True):
    """A group as Sinch returns it."""

    _timestamp_fields: ClassVar[tuple[str, ...]] = ("created_at", "modified_at")

    id: str
    name: str | None = None
    size: int | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    child_groups: list[str] | None = None
    auto_update: AutoUpdate | None = None


class UnknownGroup(Group, UnknownVariant, kw_only=True):
    """A group in a list page that did not decode: ``raw`` keeps the JSON, ``decode_error``
    says what did not fit; the fields that did fit are set."""

    type: str | None = None
    raw: dict[str, Any] = msgspec.field(default_factory=dict)
    decode_error: str | None = None
