"""The Conversation Batch API in the simulator: state and routes.

Routes (under ``/v1/projects/{project_id}``; an OAuth2 token from ``/oauth2/token`` is
required): ``POST /messages`` (send a batch), ``DELETE /messages`` (cancel by batch IDs
or batch metadata, always 200), ``GET /messages/{batch_id}`` (status) and
``GET /messages?metadataKey=&metadataValue=`` (batches by metadata).

A batch is ``SCHEDULED`` until its ``send_after``, then ``READY`` for
``processing_delay`` simulated seconds, then ``PROCESSED``; a cancel before
``send_after`` makes it ``CANCELLED``. Statuses follow the simulated clock, so
``await sim.advance(seconds)`` moves them on. Errors use the Conversation shape
``{"error": {"code", "message", "status", "details"}}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sinch_async.testing._clock import SimClock, format_ts, parse_iso
from sinch_async.testing._http import (
    BACKEND_KEY,
    BadBody,
    bearer_failure,
    json_body,
    json_response,
)
from sinch_async.testing._util import IdFactory

__all__ = [
    "ConversationBatch",
    "ConversationError",
    "ConversationState",
    "add_conversation_routes",
]

PREFIX = "/v1/projects/{project_id}"
MAX_RECIPIENTS = 1000
MAX_SCHEDULE_AHEAD = 7 * 24 * 3600.0
_CLOCK_SLACK = 120.0  # client and simulator clocks differ a little
_ROUND_AFTER = 60.0
_ROUND_TO = 300.0
_RESERVED = "_batch_id"
_TTL = re.compile(r"[0-9]+(\.[0-9]{1,9})?s")
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
_MESSAGE_KEYS = frozenset(
    {
        "text_message",
        "media_message",
        "template_message",
        "choice_message",
        "card_message",
        "carousel_message",
        "location_message",
        "list_message",
        "contact_info_message",
    }
)
_GRPC = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    415: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
}


class ConversationError(Exception):
    """An error answer in the Conversation shape."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = {
            "error": {
                "code": self.status,
                "message": self.message,
                "status": _GRPC.get(self.status, "UNKNOWN"),
                "details": [],
            }
        }
        resp = json_response(body, self.status)
        resp.headers.update(self.headers)
        return resp


def _bad(message: str) -> ConversationError:
    return ConversationError(400, message)


def _render(value: Any, params: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: params.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_render(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, params) for k, v in value.items()}
    return value


@dataclass
class ConversationBatch:
    """One batch as the simulator stores it."""

    id: str
    project_id: str
    app_id: str
    message: dict[str, Any]
    recipients: list[dict[str, Any]]
    created_at: float
    send_after: float | None
    batch_metadata: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    cancelled_at: float | None = None

    def status(self, now: float, processing_delay: float) -> str:
        if self.cancelled_at is not None:
            return "CANCELLED"
        start = self.created_at
        if self.send_after is not None:
            if now < self.send_after:
                return "SCHEDULED"
            start = max(start, self.send_after)
        return "PROCESSED" if now >= start + processing_delay else "READY"

    def to_json(self, now: float, processing_delay: float) -> dict[str, Any]:
        data: dict[str, Any] = {
            "batch_id": self.id,
            "app_id": self.app_id,
            "status": self.status(now, processing_delay),
            "batch_metadata": dict(self.batch_metadata),
            "created_at": format_ts(self.created_at),
            "recipients": len(self.recipients),
        }
        if self.send_after is not None:
            data["send_after"] = format_ts(self.send_after)
        return data

    def rendered(self, index: int) -> dict[str, Any]:
        """The message recipient ``index`` gets, with its ``${parameters}`` filled in."""
        params = self.recipients[index].get("parameters") or {}
        rendered: dict[str, Any] = _render(self.message, params)
        return rendered


def _check_metadata(value: Any, name: str, *, strings: bool = False) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"'{name}' must be an object.")
    if _RESERVED in value:
        raise _bad(f"'{name}' must not use the reserved key '{_RESERVED}'.")
    if strings and not all(isinstance(v, str) for v in value.values()):
        raise _bad(f"Values of '{name}' must be strings.")
    return dict(value)


def _check_recipient(item: Any, i: int) -> dict[str, Any]:
    where = f"recipient_and_params[{i}]"
    if not isinstance(item, dict) or not isinstance(item.get("recipient"), dict):
        raise _bad(f"'{where}.recipient' is required.")
    recipient = item["recipient"]
    contact = recipient.get("contact_id")
    identified = recipient.get("identified_by")
    if (contact is None) == (identified is None):
        raise _bad(f"'{where}.recipient' needs exactly one of contact_id and identified_by.")
    if contact is not None and (not isinstance(contact, str) or not contact):
        raise _bad(f"'{where}.recipient.contact_id' must be a non-empty string.")
    if identified is not None:
        identities = identified.get("channel_identities") if isinstance(identified, dict) else None
        if not isinstance(identities, list) or not identities:
            raise _bad(f"'{where}.recipient.identified_by.channel_identities' is required.")
        for identity in identities:
            if (
                not isinstance(identity, dict)
                or not isinstance(identity.get("channel"), str)
                or not isinstance(identity.get("identity"), str)
                or not identity["identity"]
            ):
                raise _bad(f"'{where}' has an invalid channel identity.")
    params = item.get("parameters")
    if params is not None and (
        not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values())
    ):
        raise _bad(f"'{where}.parameters' must map names to strings.")
    for name in ("message_metadata", "conversation_metadata"):
        if item.get(name) is not None:
            _check_metadata(item[name], f"{where}.{name}")
    return item


class ConversationState:
    """``sim.conversation``: the batches of the Conversation Batch API and their journal."""

    def __init__(self, clock: SimClock, ids: IdFactory, processing_delay: float = 0.5) -> None:
        self.clock = clock
        self.ids = ids
        self.processing_delay = processing_delay
        self.batches: dict[str, ConversationBatch] = {}
        self.cancel_requests: list[dict[str, Any]] = []
        """Bodies of every cancel request, in order."""

    def status(self, batch_id: str) -> str:
        """The current status of a batch (KeyError if unknown)."""
        return self.batches[batch_id].status(self.clock.now_ts(), self.processing_delay)

    def recipients_sent(self) -> int:
        """Recipients of processed batches."""
        now = self.clock.now_ts()
        return sum(
            len(b.recipients)
            for b in self.batches.values()
            if b.status(now, self.processing_delay) == "PROCESSED"
        )

    def create(self, project_id: str, body: Any) -> ConversationBatch:
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object.")
        now = self.clock.now_ts()
        app_id = body.get("app_id")
        if not isinstance(app_id, str) or not app_id:
            raise _bad("'app_id' is required.")
        message = body.get("message")
        if not isinstance(message, dict) or not message:
            raise _bad("'message' is required.")
        if not (set(message) & _MESSAGE_KEYS) and not any(
            k.startswith("explicit_channel") for k in message
        ):
            raise _bad(f"'message' must hold one of {', '.join(sorted(_MESSAGE_KEYS))}.")
        recipients = body.get("recipient_and_params")
        if not isinstance(recipients, list) or not 1 <= len(recipients) <= MAX_RECIPIENTS:
            raise _bad(f"'recipient_and_params' must hold 1 to {MAX_RECIPIENTS} recipients.")
        checked = [_check_recipient(item, i) for i, item in enumerate(recipients)]
        meta: dict[str, str] = {}
        if body.get("batch_metadata") is not None:
            meta = _check_metadata(body["batch_metadata"], "batch_metadata", strings=True)
        for name in ("message_metadata", "conversation_metadata"):
            if body.get(name) is not None:
                _check_metadata(body[name], name)
        ttl = body.get("ttl")
        if ttl is not None and (not isinstance(ttl, str) or not _TTL.fullmatch(ttl)):
            raise _bad("'ttl' must be a duration such as '86400s'.")
        send_after: float | None = None
        raw_after = body.get("send_after")
        if raw_after is not None:
            try:
                send_after = parse_iso(str(raw_after))
            except ValueError:
                raise _bad(f"'send_after' is not a timestamp: {raw_after!r}.") from None
            if send_after - now > MAX_SCHEDULE_AHEAD + _CLOCK_SLACK:
                raise _bad("'send_after' must be at most 7 days ahead.")
            if send_after - now > _ROUND_AFTER:
                send_after = math.ceil(send_after / _ROUND_TO) * _ROUND_TO
            elif send_after <= now:
                send_after = None  # in the past: sent at once
        batch = ConversationBatch(
            id=self.ids.new(now),
            project_id=project_id,
            app_id=app_id,
            message=message,
            recipients=checked,
            created_at=now,
            send_after=send_after,
            batch_metadata=meta,
            body=body,
        )
        self.batches[batch.id] = batch
        return batch

    def get(self, batch_id: str, project_id: str | None = None) -> ConversationBatch:
        """The batch with this ID (of ``project_id`` if given); a 404 ConversationError if none."""
        batch = self.batches.get(batch_id)
        if batch is None or project_id not in (None, batch.project_id):
            raise ConversationError(404, f"Batch '{batch_id}' not found.")
        return batch

    def find(self, key: str, value: str, project_id: str | None = None) -> list[ConversationBatch]:
        """Batches (of ``project_id`` if given) whose ``batch_metadata[key]`` is ``value``."""
        return [
            b
            for b in self.batches.values()
            if project_id in (None, b.project_id) and b.batch_metadata.get(key) == value
        ]

    def render(self, batch: ConversationBatch) -> dict[str, Any]:
        """The batch as the status endpoints show it now."""
        return batch.to_json(self.clock.now_ts(), self.processing_delay)

    def cancel(self, body: Any) -> list[str]:
        """Cancel what can be cancelled; returns the IDs cancelled (the API says nothing)."""
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object.")
        self.cancel_requests.append(body)
        ids = body.get("batch_ids")
        if ids is None and isinstance(body.get("batch_id"), str):
            ids = [body["batch_id"]]
        meta = body.get("batch_metadata")
        if (ids is None) == (meta is None):
            raise _bad("Give either 'batch_ids' or 'batch_metadata'.")
        if ids is not None:
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise _bad("'batch_ids' must be a list of batch IDs.")
            targets = [self.batches[i] for i in ids if i in self.batches]
        else:
            wanted = _check_metadata(meta, "batch_metadata", strings=True)
            if not wanted:
                raise _bad("'batch_metadata' must not be empty.")
            targets = [
                b
                for b in self.batches.values()
                if all(b.batch_metadata.get(k) == v for k, v in wanted.items())
            ]
        now = self.clock.now_ts()
        done: list[str] = []
        for batch in targets:
            scheduled = batch.send_after is not None and now < batch.send_after
            if batch.cancelled_at is None and scheduled:
                batch.cancelled_at = now
                done.append(batch.id)
        return done


# --- routes ---------------------------------------------------------------------------------

Handler = Callable[[web.Request, ConversationState, str], Awaitable[web.Response]]


def _body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ConversationError(415, "Content-Type must be application/json.")
    body = json_body(request)
    if isinstance(body, BadBody):
        raise ConversationError(body.status, body.text)
    return body


def _route(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Check the OAuth2 token, run ``handler``, answer errors in the Conversation shape."""

    async def wrapped(request: web.Request) -> web.Response:
        backend = request.app[BACKEND_KEY]
        project_id = request.match_info["project_id"]
        failure = bearer_failure(
            request,
            lambda token: backend.check_access_token(project_id, token),
            "Invalid access token for this project.",
        )
        try:
            if failure is not None:
                text, www_authenticate = failure
                raise ConversationError(401, text, {"WWW-Authenticate": www_authenticate})
            return await handler(request, backend.conversation, project_id)
        except ConversationError as err:
            return err.response()

    return wrapped


async def _send(request: web.Request, state: ConversationState, project_id: str) -> web.Response:
    batch = state.create(project_id, _body(request))
    data: dict[str, Any] = {"batch_id": batch.id}
    if batch.send_after is not None:
        data["send_after"] = format_ts(batch.send_after)
    return json_response(data)


async def _cancel(request: web.Request, state: ConversationState, project_id: str) -> web.Response:
    state.cancel(_body(request))
    return json_response({})


async def _get(request: web.Request, state: ConversationState, project_id: str) -> web.Response:
    return json_response(state.render(state.get(request.match_info["batch_id"], project_id)))


async def _list(request: web.Request, state: ConversationState, project_id: str) -> web.Response:
    key = request.query.get("metadataKey")
    value = request.query.get("metadataValue")
    if not key or value is None:
        raise _bad("'metadataKey' and 'metadataValue' are required.")
    found = state.find(key, value, project_id)
    return json_response({"batches": [state.render(b) for b in found]})


def add_conversation_routes(router: web.UrlDispatcher) -> None:
    """Mount the Batch API routes (``/v1/projects/{project_id}/messages``)."""
    router.add_post(PREFIX + "/messages", _route(_send))
    router.add_delete(PREFIX + "/messages", _route(_cancel))
    router.add_get(PREFIX + "/messages", _route(_list))
    router.add_get(PREFIX + "/messages/{batch_id}", _route(_get))
