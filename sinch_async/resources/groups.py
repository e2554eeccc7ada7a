"""``sms.groups``: named sets of recipients that batches can address by ID."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from msgspec import UNSET, UnsetType

from sinch_async._codec import encode
from sinch_async._core import Operation
from sinch_async._pagination import AsyncPaginator
from sinch_async._retry import Idempotency
from sinch_async._validate import check_group_name, check_phone_numbers, check_text
from sinch_async.errors import SinchValidationError
from sinch_async.models._base import build_unknown
from sinch_async.models.groups import (
    AutoUpdate,
    CreateGroupRequest,
    Group,
    ReplaceGroupRequest,
    UnknownGroup,
    UpdateGroupRequest,
)
from sinch_async.resources._common import ListSpec, opt, require_id, seg

if TYPE_CHECKING:
    from sinch_async.client import AsyncSmsClient

__all__ = ["Groups"]


def _unknown_group(raw: dict[str, Any]) -> Group:
    return build_unknown(UnknownGroup, raw, id="")


_GROUP_LIST = ListSpec[Group]("Groups", "groups", Group, _unknown_group)
_MAX_CHILD_GROUPS = 10


def _numbers(values: Sequence[str] | None, field: str) -> list[str] | UnsetType:
    """Members to set, add or remove: phone numbers (the rule of :mod:`sinch_async.numbers`),
    sent as given."""
    if values is None:
        return UNSET
    return check_phone_numbers(values, field)


def _child_groups(values: Sequence[str] | None) -> list[str] | UnsetType:
    if values is None:
        return UNSET
    if isinstance(values, str):
        raise SinchValidationError("child_groups", "must be a list of group IDs, not a string")
    items = list(values)
    for index, item in enumerate(items):
        require_id(item, f"child_groups[{index}]")
    if len(items) > _MAX_CHILD_GROUPS:
        raise SinchValidationError(
            "child_groups", f"holds {len(items)} groups; the limit is 10", limit="0..10"
        )
    return items


def _group_id(value: str | None, field: str) -> str | UnsetType:
    return UNSET if value is None else require_id(value, field)


def _auto_update(value: AutoUpdate | None) -> AutoUpdate | UnsetType:
    """``auto_update`` with its strings checked for control characters and surrogates."""
    if value is None:
        return UNSET
    if isinstance(value, AutoUpdate):
        check_text(value.to, "auto_update.to")
        for side in ("add", "remove"):
            keywords = getattr(value, side)
            if keywords is not None:
                check_text(keywords.first_word, f"auto_update.{side}.first_word")
                check_text(keywords.second_word, f"auto_update.{side}.second_word")
    return value


_CREATE = Operation("groups.create", "/groups")
_LIST = Operation("groups.list", "/groups")
_GET = Operation("groups.get", "/groups/{group_id}")
_REPLACE = Operation("groups.replace", "/groups/{group_id}")
_UPDATE = Operation("groups.update", "/groups/{group_id}")
_DELETE = Operation("groups.delete", "/groups/{group_id}")
_MEMBERS = Operation("groups.members", "/groups/{group_id}/members")


class Groups:
    """Groups (``/groups``)."""

    def __init__(self, client: AsyncSmsClient) -> None:
        self._client = client

    async def _group_call(
        self,
        method: str,
        path: str,
        operation: Operation,
        body: Any | None,
        idempotency: Idempotency = Idempotency.SAFE,
    ) -> Group:
        response = await self._client._request(
            method,
            path,
            operation,
            body=None if body is None else encode(body),
            idempotency=idempotency,
            request_obj=body,
        )
        result: Group = self._client._decode(response, Group, method, path)
        return result

    async def create(
        self,
        *,
        name: str | None = None,
        members: Sequence[str] | None = None,
        child_groups: Sequence[str] | None = None,
        auto_update: AutoUpdate | None = None,
    ) -> Group:
        """Create a group (``POST /groups``). ``name`` is 1..20 characters."""
        check_group_name(name)
        request = CreateGroupRequest(
            name=opt(name),
            members=_numbers(members, "members"),
            child_groups=_child_groups(child_groups),
            auto_update=_auto_update(auto_update),
        )
        return await self._group_call("POST", "/groups", _CREATE, request, Idempotency.UNSAFE)

    def list(
        self, *, page_size: int | None = None, limit: int | None = None
    ) -> AsyncPaginator[Group]:
        """All groups (``GET /groups``), as an async iterator."""
        return _GROUP_LIST.paginator(self._client, _LIST, (), page_size=page_size, limit=limit)

    async def get(self, group_id: str) -> Group:
        """One group (``GET /groups/{group_id}``)."""
        return await self._group_call(
            "GET", f"/groups/{seg(require_id(group_id, 'group_id'))}", _GET, None
        )

    async def replace(
        self,
        group_id: str,
        *,
        name: str | None = None,
        members: Sequence[str] | None = None,
        child_groups: Sequence[str] | None = None,
        auto_update: AutoUpdate | None = None,
    ) -> Group:
        """Replace a group's name and members (``PUT /groups/{group_id}``)."""
        path = f"/groups/{seg(require_id(group_id, 'group_id'))}"
        check_group_name(name)
        request = ReplaceGroupRequest(
            name=opt(name),
            members=_numbers(members, "members"),
            child_groups=_child_groups(child_groups),
            auto_update=_auto_update(auto_update),
        )
        return await self._group_call("PUT", path, _REPLACE, request)

    async def update(
        self,
        group_id: str,
        *,
        add: Sequence[str] | None = None,
        remove: Sequence[str] | None = None,
        name: str | UnsetType | None = UNSET,
        add_from_group: str | None = None,
        remove_from_group: str | None = None,
        auto_update: AutoUpdate | None = None,
    ) -> Group:
        """Change a group in place (``POST /groups/{group_id}``).

        Adds are applied before removes; adding a member twice is ignored.
        Leave ``name`` out to keep the name, ``name=None`` removes it.
        """
        path = f"/groups/{seg(require_id(group_id, 'group_id'))}"
        check_group_name(name)
        request = UpdateGroupRequest(
            name=name,
            add=_numbers(add, "add"),
            remove=_numbers(remove, "remove"),
            add_from_group=_group_id(add_from_group, "add_from_group"),
            remove_from_group=_group_id(remove_from_group, "remove_from_group"),
            auto_update=_auto_update(auto_update),
        )
        return await self._group_call("POST", path, _UPDATE, request)

    async def delete(self, group_id: str) -> None:
        """Delete a group (``DELETE /groups/{group_id}``)."""
        path = f"/groups/{seg(require_id(group_id, 'group_id'))}"
        await self._client._request("DELETE", path, _DELETE)

    async def members(self, group_id: str) -> builtins.list[str]:
        """The phone numbers in a group (``GET /groups/{group_id}/members``)."""
        path = f"/groups/{seg(require_id(group_id, 'group_id'))}/members"
        response = await self._client._request("GET", path, _MEMBERS)
        result: builtins.list[str] = self._client._decode(response, builtins.list[str], "GET", path)
        return result
