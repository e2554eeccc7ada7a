"""Handlers of the 20 SMS operations (under ``/xms/v1/{plan_id}``).

The request middleware of ``_app`` has already checked the token and put the service plan
(with everything due on the simulated clock processed) under ``request[PLAN_KEY]``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sinch_async.testing._clock import parse_iso
from sinch_async.testing._http import BACKEND_KEY, PLAN_KEY, BadBody, json_body, json_response
from sinch_async.testing._models import FINAL_STATUSES
from sinch_async.testing._state import ListQuery, Plan, not_found
from sinch_async.testing._util import ApiError, display_msisdn, normalize_msisdn
from sinch_async.testing._validate import (
    invalid_json,
    parse_batch,
    parse_group,
    parse_group_update,
    parse_recipient_list,
    parse_update,
)

__all__ = ["add_routes"]

_STATUSES = {s.lower() for s in FINAL_STATUSES | {"Queued", "Dispatched"}}


def _plan(request: web.Request) -> Plan:
    plan: Plan = request[PLAN_KEY]
    return plan


def _now(request: web.Request) -> float:
    return request.app[BACKEND_KEY].now()


def _json(request: web.Request) -> Any:
    body = json_body(request)
    if isinstance(body, BadBody):
        if body.status == 413:
            raise ApiError(413, "request_entity_too_large", body.text)
        raise invalid_json(body.text)
    return body


def _bad_param(name: str, value: str) -> ApiError:
    return ApiError(
        400,
        "syntax_invalid_parameter_format",
        f"The format of parameter '{name}' is invalid; value '{value}' is not valid.",
    )


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_param(name, raw) from None
    if not lo <= value <= hi:
        raise ApiError(
            400, "syntax_constraint_violation", f"Parameter '{name}' must be between {lo} and {hi}."
        )
    return value


def _bool_param(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0", ""):
        raise _bad_param(name, raw)
    return raw in ("true", "1")


def _csv(request: web.Request, name: str) -> list[str] | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    return [v.strip() for v in raw.split(",") if v.strip()]


def _filters(request: web.Request, q: ListQuery) -> None:
    for name in ("start_date", "end_date"):
        raw = request.query.get(name)
        if raw:
            try:
                ts = parse_iso(raw)
            except ValueError:
                raise _bad_param(name, raw) from None
            if name == "start_date":
                q.start = ts
            else:
                q.end = ts
    q.client_reference = request.query.get("client_reference") or None
    statuses = _csv(request, "status")
    if statuses is not None:
        for s in statuses:
            if s.lower() not in _STATUSES:
                raise _bad_param("status", s)
        q.statuses = {s.lower() for s in statuses}
    codes = _csv(request, "code")
    if codes is not None:
        try:
            q.codes = {int(c) for c in codes}
        except ValueError:
            raise _bad_param("code", ",".join(codes)) from None


def _list_query(request: web.Request, values: str | None = None) -> ListQuery:
    q = ListQuery(
        _int_param(request, "page", 0, 0, 1_000_000_000),
        _int_param(request, "page_size", 30, 1, 100),
    )
    _filters(request, q)
    if values is not None:
        raw = _csv(request, values)
        if raw is not None:
            q.values = {normalize_msisdn(v) or v for v in raw}
    return q


# -- batches -------------------------------------------------------------------
async def send_batch(request: web.Request) -> web.Response:
    plan = _plan(request)
    spec = parse_batch(_json(request), plan.group_exists)
    return json_response(plan.create_batch(spec, _now(request)).to_json(), 201)


async def list_batches(request: web.Request) -> web.Response:
    return json_response(_plan(request).list_batches(_list_query(request, "from"), _now(request)))


async def dry_run(request: web.Request) -> web.Response:
    plan = _plan(request)
    per_recipient = _bool_param(request, "per_recipient")
    limit = _int_param(request, "number_of_recipients", 100, 1, 1000)
    spec = parse_batch(_json(request), plan.group_exists)
    return json_response(plan.dry_run(spec, per_recipient, limit))


async def get_batch(request: web.Request) -> web.Response:
    return json_response(_plan(request).get_batch(request.match_info["batch_id"]).to_json())


async def update_batch(request: web.Request) -> web.Response:
    plan = _plan(request)
    batch = plan.get_batch(request.match_info["batch_id"])
    spec = parse_update(_json(request), batch.type, plan.group_exists)
    return json_response(plan.update_batch(batch.id, spec, _now(request)).to_json())


async def replace_batch(request: web.Request) -> web.Response:
    plan = _plan(request)
    batch = plan.get_batch(request.match_info["batch_id"])
    spec = parse_batch(_json(request), plan.group_exists)
    return json_response(plan.replace_batch(batch.id, spec, _now(request)).to_json())


async def cancel_batch(request: web.Request) -> web.Response:
    batch = _plan(request).cancel_batch(request.match_info["batch_id"], _now(request))
    return json_response(batch.to_json())


async def delivery_feedback(request: web.Request) -> web.Response:
    plan = _plan(request)
    batch = plan.get_batch(request.match_info["batch_id"])
    data = _json(request)
    if not isinstance(data, dict):
        raise invalid_json("The request body must be a JSON object.")
    recipients = parse_recipient_list(data.get("recipients", []), "recipients", None, 0, 1000)
    plan.delivery_feedback(batch.id, recipients)
    return web.Response(status=202)


async def batch_delivery_report(request: web.Request) -> web.Response:
    plan = _plan(request)
    batch = plan.get_batch(request.match_info["batch_id"])
    kind = request.query.get("type", "summary") or "summary"
    if kind not in ("summary", "full"):
        raise not_found(f"Unknown delivery report type '{kind}'.")
    q = ListQuery()
    _filters(request, q)
    return json_response(batch.report_json(kind == "full", q.statuses, q.codes))


async def recipient_delivery_report(request: web.Request) -> web.Response:
    r = _plan(request).recipient_report(
        request.match_info["batch_id"], request.match_info["recipient_msisdn"]
    )
    return json_response(r.to_json())


async def list_delivery_reports(request: web.Request) -> web.Response:
    q = _list_query(request)
    return json_response(_plan(request).list_delivery_reports(q, _now(request)))


# -- groups ----------------------------------------------------------------------
async def create_group(request: web.Request) -> web.Response:
    plan = _plan(request)
    spec = parse_group(_json(request), plan.group_exists)
    return json_response(plan.create_group(spec, _now(request)).to_json(), 201)


async def list_groups(request: web.Request) -> web.Response:
    return json_response(_plan(request).list_groups(_list_query(request)))


async def get_group(request: web.Request) -> web.Response:
    return json_response(_plan(request).get_group(request.match_info["group_id"]).to_json())


async def update_group(request: web.Request) -> web.Response:
    plan = _plan(request)
    group = plan.get_group(request.match_info["group_id"])
    spec = parse_group_update(_json(request), plan.group_exists)
    return json_response(plan.update_group(group.id, spec, _now(request)).to_json())


async def replace_group(request: web.Request) -> web.Response:
    plan = _plan(request)
    group = plan.get_group(request.match_info["group_id"])
    spec = parse_group(_json(request), plan.group_exists, replace=True)
    return json_response(plan.replace_group(group.id, spec, _now(request)).to_json())


async def delete_group(request: web.Request) -> web.Response:
    _plan(request).delete_group(request.match_info["group_id"])
    return web.Response(status=200)


async def group_members(request: web.Request) -> web.Response:
    group = _plan(request).get_group(request.match_info["group_id"])
    return json_response([display_msisdn(n) for n in group.members])


# -- inbounds ----------------------------------------------------------------------
async def list_inbounds(request: web.Request) -> web.Response:
    q = _list_query(request, "to")
    return json_response(_plan(request).list_inbounds(q, _now(request)))


async def get_inbound(request: web.Request) -> web.Response:
    return json_response(_plan(request).get_inbound(request.match_info["inbound_id"]).to_json())


def add_routes(router: web.UrlDispatcher, p: str) -> None:
    """Mount the SMS operations under the prefix ``p`` (which holds ``{plan_id}``)."""
    router.add_post(p + "/batches/dry_run", dry_run)
    router.add_post(p + "/batches", send_batch)
    router.add_get(p + "/batches", list_batches)
    router.add_get(p + "/batches/{batch_id}", get_batch)
    router.add_post(p + "/batches/{batch_id}", update_batch)
    router.add_put(p + "/batches/{batch_id}", replace_batch)
    router.add_delete(p + "/batches/{batch_id}", cancel_batch)
    router.add_post(p + "/batches/{batch_id}/delivery_feedback", delivery_feedback)
    router.add_get(p + "/batches/{batch_id}/delivery_report", batch_delivery_report)
    router.add_get(
        p + "/batches/{batch_id}/delivery_report/{recipient_msisdn}", recipient_delivery_report
    )
    router.add_get(p + "/delivery_reports", list_delivery_reports)
    router.add_post(p + "/groups", create_group)
    router.add_get(p + "/groups", list_groups)
    router.add_get(p + "/groups/{group_id}", get_group)
    router.add_post(p + "/groups/{group_id}", update_group)
    router.add_put(p + "/groups/{group_id}", replace_group)
    router.add_delete(p + "/groups/{group_id}", delete_group)
    router.add_get(p + "/groups/{group_id}/members", group_members)
    router.add_get(p + "/inbounds", list_inbounds)
    router.add_get(p + "/inbounds/{inbound_id}", get_inbound)
