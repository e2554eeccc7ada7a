"""Request-body validation with Sinch's error codes.

400 ``syntax_invalid_json``: a field has the wrong JSON type or an unknown enum value.
400 ``syntax_constraint_violation``: a required field is missing or a size limit is broken.
400 ``syntax_invalid_parameter_format``: a malformed MSISDN or timestamp.
403 ``unknown_group``: a group ID that does not exist (or was deleted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sinch_async.testing._clock import parse_iso
from sinch_async.testing._util import ApiError, looks_like_id, normalize_msisdn

__all__ = [
    "BATCH_TYPES",
    "DELIVERY_REPORTS",
    "BatchSpec",
    "GroupSpec",
    "GroupUpdateSpec",
    "UpdateSpec",
    "invalid_json",
    "parse_batch",
    "parse_group",
    "parse_group_update",
    "parse_recipient_list",
    "parse_update",
]

BATCH_TYPES = ("mt_text", "mt_binary", "mt_media")
DELIVERY_REPORTS = ("none", "summary", "full", "per_recipient", "per_recipient_final")
MAX_TO = 1000
MAX_BODY = 2000
MAX_UPDATE_TO = 100
MAX_GROUP_NAME = 20
MAX_GROUP_MEMBERS = 10_000
MAX_URL = 2048

GroupExists = Callable[[str], bool]

# Optional batch fields that are echoed back exactly as stored, with their checks.
_STR_OPTS = {"from": 128, "callback_url": MAX_URL, "client_reference": MAX_URL}
_BOOL_OPTS = ("feedback_enabled", "flash_message", "truncate_concat", "strict_validation")
_INT_OPTS = {"max_number_of_message_parts": (1, 1_000_000), "from_ton": (0, 6), "from_npi": (0, 18)}


def invalid_json(text: str) -> ApiError:
    return ApiError(400, "syntax_invalid_json", text)


def _constraint(text: str) -> ApiError:
    return ApiError(400, "syntax_constraint_violation", text)


def _bad_format(param: str, value: object, what: str) -> ApiError:
    return ApiError(
        400,
        "syntax_invalid_parameter_format",
        f"The format of parameter '{param}' is invalid; value '{value}' is not a valid {what}.",
    )


def _require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise invalid_json("The request body must be a JSON object.")
    return data


def _timestamp(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_json(f"Field '{key}' must be a string.")
    try:
        return parse_iso(value)
    except ValueError:
        raise _bad_format(key, value, "timestamp") from None


def parse_recipient_list(
    values: Any, param: str, group_exists: GroupExists | None, lo: int, hi: int
) -> list[str]:
    """Normalize a list of MSISDNs (and group IDs when ``group_exists`` is given).

    Returns E.164 numbers with ``+`` and group IDs, duplicates removed, order kept.
    """
    if not isinstance(values, list):
        raise invalid_json(f"Field '{param}' must be an array.")
    if not lo <= len(values) <= hi:
        raise _constraint(f"Field '{param}' must have between {lo} and {hi} elements.")
    out: dict[str, None] = {}
    for i, raw in enumerate(values):
        if not isinstance(raw, str):
            raise invalid_json(f"Field '{param}[{i}]' must be a string.")
        number = normalize_msisdn(raw)
        if number is not None:
            out[number] = None
            continue
        ident = raw.strip()
        if group_exists is not None and looks_like_id(ident):
            if not group_exists(ident):
                raise ApiError(403, "unknown_group", f"Group '{ident}' does not exist.")
            out[ident] = None
            continue
        what = "MSISDN or group ID" if group_exists is not None else "MSISDN"
        raise _bad_format(f"{param}[{i}]", raw, what)
    return list(out)


def _body(data: dict[str, Any], btype: str, required: bool) -> str | dict[str, Any] | None:
    if "body" not in data or data["body"] is None:
        if required:
            raise _constraint("Field 'body' is required.")
        return None
    body = data["body"]
    if btype == "mt_media":
        if not isinstance(body, dict):
            raise invalid_json("Field 'body' must be an object for mt_media.")
        if not isinstance(body.get("url"), str):
            raise _constraint("Field 'body.url' is required.")
        for key in ("message", "subject"):
            if key in body and not isinstance(body[key], str):
                raise invalid_json(f"Field 'body.{key}' must be a string.")
        if len(body.get("message", "")) > MAX_BODY:
            raise _constraint(f"Field 'body.message' must be at most {MAX_BODY} characters.")
        return {k: body[k] for k in ("url", "message", "subject") if k in body}
    if not isinstance(body, str):
        raise invalid_json("Field 'body' must be a string.")
    if len(body) > MAX_BODY:
        raise _constraint(f"Field 'body' must be at most {MAX_BODY} characters.")
    return body


def _parameters(value: Any) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        raise invalid_json("Field 'parameters' must be an object.")
    for key, per in value.items():
        if not isinstance(per, dict) or not all(isinstance(v, str) for v in per.values()):
            raise invalid_json(f"Field 'parameters.{key}' must be an object of strings.")
    return value


def _options(data: dict[str, Any], btype: str, out: dict[str, Any]) -> None:
    for key, limit in _STR_OPTS.items():
        if key in data:
            v = data[key]
            if v is None:
                out[key] = None
                continue
            if not isinstance(v, str):
                raise invalid_json(f"Field '{key}' must be a string.")
            if len(v) > limit:
                raise _constraint(f"Field '{key}' must be at most {limit} characters.")
            out[key] = v
    for key in _BOOL_OPTS:
        if key in data:
            v = data[key]
            if v is not None and not isinstance(v, bool):
                raise invalid_json(f"Field '{key}' must be a boolean.")
            out[key] = v
    for key, (lo, hi) in _INT_OPTS.items():
        if key in data:
            v = data[key]
            if v is None:
                out[key] = None
                continue
            if not isinstance(v, int) or isinstance(v, bool):
                raise invalid_json(f"Field '{key}' must be an integer.")
            if not lo <= v <= hi:
                raise _constraint(f"Field '{key}' must be between {lo} and {hi}.")
            out[key] = v
    if "udh" in data:
        v = data["udh"]
        if v is not None and not isinstance(v, str):
            raise invalid_json("Field 'udh' must be a string.")
        out["udh"] = v
    if data.get("parameters") is not None:
        if btype == "mt_binary":
            raise _constraint("Field 'parameters' is not allowed for mt_binary.")
        out["parameters"] = _parameters(data["parameters"])
    elif "parameters" in data:
        out["parameters"] = None


class BatchSpec:
    """A validated send/replace/dry-run body."""

    __slots__ = ("body", "delivery_report", "expire_at", "opts", "send_at", "to", "type")

    def __init__(
        self,
        to: list[str],
        btype: str,
        body: str | dict[str, Any],
        delivery_report: str,
        send_at: float | None,
        expire_at: float | None,
        opts: dict[str, Any],
    ) -> None:
        self.to = to
        self.type = btype
        self.body = body
        self.delivery_report = delivery_report
        self.send_at = send_at
        self.expire_at = expire_at
        self.opts = opts


def _type(data: dict[str, Any], default: str | None) -> str:
    btype = data.get("type", default)
    if btype is None:
        btype = default or "mt_text"
    if btype not in BATCH_TYPES:
        raise invalid_json(f"Unknown batch type '{btype}'.")
    return str(btype)


def _delivery_report(data: dict[str, Any], default: str) -> str:
    dr = data.get("delivery_report")
    if dr is None:
        return default
    if dr not in DELIVERY_REPORTS:
        raise invalid_json(f"Unknown delivery_report value '{dr}'.")
    return str(dr)


def parse_batch(raw: Any, group_exists: GroupExists) -> BatchSpec:
    """Validate a send / replace / dry-run body."""
    data = _require_object(raw)
    btype = _type(data, "mt_text")
    if "to" not in data or data["to"] is None:
        raise _constraint("Field 'to' is required.")
    to = parse_recipient_list(data["to"], "to", group_exists, 1, MAX_TO)
    body = _body(data, btype, required=True)
    assert body is not None
    opts: dict[str, Any] = {}
    _options(data, btype, opts)
    opts = {k: v for k, v in opts.items() if v is not None}
    if btype == "mt_binary" and not opts.get("udh"):
        raise _constraint("Field 'udh' is required for mt_binary.")
    return BatchSpec(
        to,
        btype,
        body,
        _delivery_report(data, "none"),
        _timestamp(data, "send_at"),
        _timestamp(data, "expire_at"),
        opts,
    )


class UpdateSpec:
    """A validated partial update (``POST /batches/{id}``)."""

    __slots__ = ("body", "delivery_report", "expire_at", "fields", "send_at", "to_add", "to_remove")

    def __init__(self) -> None:
        self.to_add: list[str] = []
        self.to_remove: list[str] = []
        self.body: str | dict[str, Any] | None = None
        self.delivery_report: str | None = None
        self.send_at: float | None = None
        self.expire_at: float | None = None
        self.fields: dict[str, Any] = {}  # None means "remove the field"


def parse_update(raw: Any, btype: str, group_exists: GroupExists) -> UpdateSpec:
    data = _require_object(raw)
    if data.get("type") is not None and data["type"] != btype:
        raise _constraint(f"Field 'type' must be '{btype}' for this batch.")
    spec = UpdateSpec()
    if data.get("to_add") is not None:
        spec.to_add = parse_recipient_list(data["to_add"], "to_add", group_exists, 1, MAX_UPDATE_TO)
    if data.get("to_remove") is not None:
        spec.to_remove = parse_recipient_list(
            data["to_remove"], "to_remove", lambda _gid: True, 1, MAX_UPDATE_TO
        )
    spec.body = _body(data, btype, required=False)
    if data.get("delivery_report") is not None:
        spec.delivery_report = _delivery_report(data, "none")
    spec.send_at = _timestamp(data, "send_at")
    spec.expire_at = _timestamp(data, "expire_at")
    _options(data, btype, spec.fields)
    return spec


class GroupSpec:
    __slots__ = ("auto_update", "child_groups", "members", "name")

    def __init__(
        self,
        name: str | None,
        members: list[str],
        child_groups: list[str] | None,
        auto_update: dict[str, Any] | None,
    ) -> None:
        self.name = name
        self.members = members
        self.child_groups = child_groups
        self.auto_update = auto_update


def _group_name(data: dict[str, Any]) -> str | None:
    name = data.get("name")
    if name is None:
        return None
    if not isinstance(name, str):
        raise invalid_json("Field 'name' must be a string.")
    if not 1 <= len(name) <= MAX_GROUP_NAME:
        raise _constraint(f"Field 'name' must be between 1 and {MAX_GROUP_NAME} characters.")
    return name


def _auto_update(data: dict[str, Any]) -> dict[str, Any] | None:
    value = data.get("auto_update")
    if value is not None and not isinstance(value, dict):
        raise invalid_json("Field 'auto_update' must be an object.")
    return value


def _group_ref(data: dict[str, Any], key: str, group_exists: GroupExists) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_json(f"Field '{key}' must be a string.")
    if not group_exists(value):
        raise ApiError(403, "unknown_group", f"Group '{value}' does not exist.")
    return value


def parse_group(raw: Any, group_exists: GroupExists, *, replace: bool = False) -> GroupSpec:
    """Validate a create / replace group body (``members`` is required to replace)."""
    data = _require_object(raw)
    if replace and data.get("members") is None:
        raise _constraint("Field 'members' is required.")
    members: list[str] = []
    if data.get("members") is not None:
        members = parse_recipient_list(data["members"], "members", None, 0, MAX_GROUP_MEMBERS)
    child_groups: list[str] | None = None
    if data.get("child_groups") is not None:
        value = data["child_groups"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_json("Field 'child_groups' must be an array of strings.")
        if len(value) > 10:
            raise _constraint("Field 'child_groups' must have at most 10 elements.")
        for gid in value:
            if not group_exists(gid):
                raise ApiError(403, "unknown_group", f"Group '{gid}' does not exist.")
        child_groups = list(dict.fromkeys(value))
    return GroupSpec(_group_name(data), members, child_groups, _auto_update(data))


class GroupUpdateSpec:
    __slots__ = (
        "add",
        "add_from_group",
        "auto_update",
        "has_auto_update",
        "name",
        "name_action",
        "remove",
        "remove_from_group",
    )

    def __init__(self) -> None:
        self.name_action = "keep"  # keep | set | remove
        self.name: str | None = None
        self.add: list[str] = []
        self.remove: list[str] = []
        self.add_from_group: str | None = None
        self.remove_from_group: str | None = None
        self.has_auto_update = False
        self.auto_update: dict[str, Any] | None = None


def parse_group_update(raw: Any, group_exists: GroupExists) -> GroupUpdateSpec:
    data = _require_object(raw)
    spec = GroupUpdateSpec()
    if "name" in data:
        if data["name"] is None:
            spec.name_action = "remove"
        else:
            spec.name_action = "set"
            spec.name = _group_name(data)
    if data.get("add") is not None:
        spec.add = parse_recipient_list(data["add"], "add", None, 0, MAX_GROUP_MEMBERS)
    if data.get("remove") is not None:
        spec.remove = parse_recipient_list(data["remove"], "remove", None, 0, MAX_GROUP_MEMBERS)
    spec.add_from_group = _group_ref(data, "add_from_group", group_exists)
    spec.remove_from_group = _group_ref(data, "remove_from_group", group_exists)
    if "auto_update" in data:
        spec.has_auto_update = True
        spec.auto_update = _auto_update(data)
    return spec
