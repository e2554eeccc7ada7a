"""The simulator's state as JSON: what ``serve --state FILE`` saves on shutdown and loads.

Saved: per service plan (and the OAuth project) its batches with every recipient's delivery
state, its groups (and deleted group IDs) and its inbounds; the journal's batches created
and messages dispatched; the simulated clock; the ID generator. Not saved: the journal's
requests, callbacks not delivered yet, OAuth tokens, faults, the Conversation API's state
and configuration (plans' tokens and rates, failure rules: the command line gives those).

On restore the clock resumes at the saved time, or later if the new simulator starts later
(it never goes back). Batches still in progress carry on: recipients still queued are
dispatched again from the queue, a scheduled batch is released at its ``send_at``, expiry
applies as before; a message dispatched but not final at shutdown gets its final status at
restore (without a callback).

The file is written atomically (a temporary file in the same directory, then a rename).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinch_async.testing._models import Batch, Group, Inbound, Recipient

if TYPE_CHECKING:
    from sinch_async.testing._journal import Journal
    from sinch_async.testing._state import Plan

__all__ = [
    "STATE_FORMAT",
    "StateFileError",
    "apply_state",
    "dump_state",
    "read_state_file",
    "write_state_file",
]

STATE_FORMAT = "sinch_async.testing state"
STATE_VERSION = 1

_BATCH_FIELDS = (
    "modified_at",
    "to",
    "type",
    "body",
    "delivery_report",
    "send_at",
    "expire_at",
    "explicit_expire",
    "opts",
    "canceled",
    "released",
    "pending",
    "summary_sent",
    "feedback",
)


class StateFileError(ValueError):
    """A state file that cannot be read, is not one, or cannot be written."""


# -- to JSON --------------------------------------------------------------------------------
def _recipient(r: Recipient) -> list[Any]:
    body = None if r.body == r.batch.body else r.body
    return [r.msisdn, r.status, r.code, r.at, r.operator_status_at, r.parts, r.encoding, body]


def _batch(b: Batch) -> dict[str, Any]:
    d: dict[str, Any] = {"id": b.id, "created_at": b.created_at}
    d.update({name: getattr(b, name) for name in _BATCH_FIELDS})
    d["same_body"] = [r.msisdn for r in b.recipients.values() if r.body == b.body]
    d["recipients"] = [_recipient(r) for r in b.recipients.values()]
    return d


def _group(g: Group) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "members": list(g.members),
        "child_groups": g.child_groups,
        "auto_update": g.auto_update,
        "created_at": g.created_at,
        "modified_at": g.modified_at,
    }


def dump_state(
    plans: Mapping[str, Plan], journal: Journal, now: float, ids: list[Any]
) -> dict[str, Any]:
    """The state as a JSON-ready dict (``ids``: the ID generator's state)."""
    return {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "clock": now,
        "ids": ids,
        "plans": {
            pid: {
                "batches": [_batch(b) for b in plan.batches.values()],
                "groups": [_group(g) for g in plan.groups.values()],
                "deleted_groups": sorted(plan.deleted_groups),
                "inbounds": [
                    {"id": i.id, "data": i.data, "received_at": i.received_at, "to": i.to_key}
                    for i in plan.inbounds.values()
                ],
            }
            for pid, plan in plans.items()
        },
        "journal": {
            "batches": [b["id"] for b in journal.batches_created()],
            "dispatched": [
                [m.batch_id, m.recipient, m.time.timestamp()] for m in journal.dispatched()
            ],
        },
    }


# -- from JSON ------------------------------------------------------------------------------
def _load_batch(d: dict[str, Any], plan_id: str) -> Batch:
    b = Batch(str(d["id"]), plan_id, float(d["created_at"]))
    for name in _BATCH_FIELDS:
        setattr(b, name, d[name])
    if not isinstance(b.to, list) or not isinstance(b.opts, dict):
        raise TypeError("batch 'to' or options")
    same = set(d["same_body"])
    for msisdn, status, code, at, op_at, parts, encoding, body in d["recipients"]:
        r = Recipient(str(msisdn), b, float(at))
        r.status, r.code, r.parts, r.encoding = str(status), int(code), int(parts), encoding
        r.operator_status_at = None if op_at is None else float(op_at)
        r.body = b.body if r.msisdn in same else body
        b.recipients[r.msisdn] = r
    return b


def _load_group(d: dict[str, Any]) -> Group:
    g = Group(str(d["id"]), float(d["created_at"]))
    g.name = d["name"]
    g.members = dict.fromkeys(str(m) for m in d["members"])
    g.child_groups = d["child_groups"]
    g.auto_update = d["auto_update"]
    g.modified_at = float(d["modified_at"])
    return g


def _finish_in_flight(plan: Plan, batch: Batch, now: float) -> None:
    """Carry on a batch that was not done at shutdown (see the module docstring)."""
    if batch.canceled or batch.done:
        return
    if batch.released:
        for r in batch.recipients.values():
            if r.status == "Dispatched":
                r.status, r.code = plan.ctx.outcome(r.msisdn)
                r.at = r.operator_status_at = now
        batch.released = False  # released again: queued recipients rejoin the queue
    plan.lifecycle.schedule(batch, now)


def apply_state(
    data: Any,
    plans: Mapping[str, Plan],
    journal: Journal,
    set_clock: Callable[[float], float],
    set_ids: Callable[[list[Any]], None],
) -> None:
    """Load ``data`` (from :func:`dump_state`) into empty ``plans``.

    ``set_clock(saved)`` moves the clock and returns the time now. Raises
    :class:`StateFileError` if ``data`` is not a state (nothing is changed then) and
    ValueError if a plan already holds state or the state names a plan not in ``plans``.
    """
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise StateFileError("not a sinch_async simulator state")
    if data.get("version") != STATE_VERSION:
        raise StateFileError(f"unsupported state version {data.get('version')!r}")
    for pid, plan in plans.items():
        if plan.batches or plan.groups or plan.inbounds:
            raise ValueError(f"service plan {pid!r} is not empty: restore into a new simulator")
    try:
        loaded: dict[str, tuple[list[Batch], list[Group], list[Inbound], list[str]]] = {}
        for pid, d in data["plans"].items():
            if pid not in plans:
                raise ValueError(
                    f"the state holds service plan {pid!r}, which this simulator does not "
                    "have (start it with the same --service-plan-id)"
                )
            inbounds = [
                Inbound(str(i["id"]), dict(i["data"]), float(i["received_at"]), str(i["to"]))
                for i in d["inbounds"]
            ]
            loaded[pid] = (
                [_load_batch(b, pid) for b in d["batches"]],
                [_load_group(g) for g in d["groups"]],
                inbounds,
                [str(x) for x in d["deleted_groups"]],
            )
        clock = float(data["clock"])
        journal_batches = [str(x) for x in data["journal"]["batches"]]
        dispatched = [(str(b), str(n), float(t)) for b, n, t in data["journal"]["dispatched"]]
        ids = list(data["ids"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ValueError) and "this simulator does not have" in str(exc):
            raise
        raise StateFileError(f"damaged state ({type(exc).__name__}: {exc})") from None
    try:
        set_ids(ids)
    except (TypeError, ValueError) as exc:
        raise StateFileError(f"damaged state (ids: {exc})") from None
    now = set_clock(clock)
    by_id: dict[str, Batch] = {}
    for pid, (batches, groups, inbounds, deleted) in loaded.items():
        plan = plans[pid]
        plan.groups.update((g.id, g) for g in groups)
        plan.deleted_groups.update(deleted)
        plan.inbounds.update((i.id, i) for i in inbounds)
        for b in batches:
            plan.batches[b.id] = by_id[b.id] = b
    for bid in journal_batches:
        if bid in by_id:
            journal.record_batch(by_id[bid])
    for bid, number, t in dispatched:
        r = by_id[bid].recipients.get(number) if bid in by_id else None
        if r is not None:
            journal.record_dispatch(r, t)
    for pid, (batches, _, _, _) in loaded.items():
        for b in batches:
            _finish_in_flight(plans[pid], b, now)


# -- files ----------------------------------------------------------------------------------
def read_state_file(path: str | os.PathLike[str]) -> Any:
    """The JSON in ``path``; None if there is no such file. StateFileError if unreadable."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not p.parent.is_dir():
            raise StateFileError(f"state file {p}: directory {p.parent} does not exist") from None
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateFileError(f"state file {p}: cannot read it: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StateFileError(f"state file {p} is not valid JSON: {exc}") from None


def write_state_file(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (temporary file + rename)."""
    p = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, p)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise StateFileError(f"state file {p}: cannot write it: {exc}") from None
