"""State of one service plan (or OAuth project): batches, groups, inbounds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sinch_async.encoding import count_parts
from sinch_async.testing._clock import days
from sinch_async.testing._engine import Context, Lifecycle, lookup_table, render_parameters
from sinch_async.testing._models import Batch, Group, Inbound, Recipient
from sinch_async.testing._util import ApiError, IdFactory, looks_like_id, normalize_msisdn
from sinch_async.testing._validate import (
    BatchSpec,
    GroupSpec,
    GroupUpdateSpec,
    UpdateSpec,
)

__all__ = ["ListQuery", "Plan", "not_found", "paginate"]

T = TypeVar("T")
DEFAULT_EXPIRY = days(3)
BATCH_LIST_WINDOW = days(14)

_INTERMEDIATE = frozenset({"Queued", "Dispatched"})


def _norm(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return normalize_msisdn(value) or value


def not_found(text: str) -> ApiError:
    return ApiError(404, "not_found", text)


class ListQuery:
    """Common list filters (already parsed)."""

    __slots__ = (
        "client_reference",
        "codes",
        "end",
        "page",
        "page_size",
        "start",
        "statuses",
        "values",
    )

    def __init__(self, page: int = 0, page_size: int = 30) -> None:
        self.page = page
        self.page_size = page_size
        self.start: float | None = None
        self.end: float | None = None
        self.client_reference: str | None = None
        self.values: set[str] | None = None  # `from` for batches, `to` for inbounds
        self.statuses: set[str] | None = None
        self.codes: set[int] | None = None


def paginate(items: list[T], q: ListQuery, key: str, render: Callable[[T], Any]) -> dict[str, Any]:
    """Sinch pagination: ``page_size`` in the response is the number of items returned."""
    lo = q.page * q.page_size
    page = [render(x) for x in items[lo : lo + q.page_size]]
    return {"count": len(items), "page": q.page, key: page, "page_size": len(page)}


class Plan:
    """One service plan: its token, data, and lifecycle engine."""

    def __init__(
        self,
        plan_id: str,
        token: str | None,
        ctx: Context,
        ids: IdFactory,
        messages_per_second: float,
        *,
        project: bool = False,
    ) -> None:
        self.id = plan_id
        self.token = token
        self.project = project
        self.ids = ids
        self.ctx = ctx
        self.batches: dict[str, Batch] = {}
        self.groups: dict[str, Group] = {}
        self.deleted_groups: set[str] = set()
        self.inbounds: dict[str, Inbound] = {}
        self.lifecycle = Lifecycle(ctx, self, messages_per_second)

    # -- groups used by the engine -------------------------------------------
    def group_exists(self, group_id: str) -> bool:
        return group_id in self.groups

    def expand_group(self, group_id: str) -> list[str]:
        """Members of a group plus those of its child groups; a deleted group is empty."""
        group = self.groups.get(group_id)
        if group is None:
            return []
        out = dict(group.members)
        for child in group.child_groups or ():
            sub = self.groups.get(child)
            if sub is not None:
                out.update(sub.members)
        return list(out)

    # -- batches ----------------------------------------------------------------
    def _batch(self, batch_id: str) -> Batch:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise not_found(f"Batch '{batch_id}' not found.")
        return batch

    def _apply_spec(self, batch: Batch, spec: BatchSpec, now: float) -> None:
        batch.to = spec.to
        batch.type = spec.type
        batch.body = spec.body
        batch.delivery_report = spec.delivery_report
        batch.send_at = spec.send_at
        batch.explicit_expire = spec.expire_at is not None
        base = spec.send_at if spec.send_at is not None else batch.created_at
        batch.expire_at = spec.expire_at if spec.expire_at is not None else base + DEFAULT_EXPIRY
        batch.opts = spec.opts
        batch.recipients = {n: Recipient(n, batch, now) for n in spec.to if n.startswith("+")}

    def _check_callback(self, delivery_report: str, opts: dict[str, Any]) -> None:
        if (
            delivery_report != "none"
            and not opts.get("callback_url")
            and not self.ctx.default_callback_url
        ):
            raise ApiError(
                403,
                "missing_callback_url",
                "Requesting delivery report without any callback URL.",
            )

    def create_batch(self, spec: BatchSpec, now: float) -> Batch:
        self._check_callback(spec.delivery_report, spec.opts)
        batch = Batch(self.ids.new(now), self.id, now)
        self._apply_spec(batch, spec, now)
        self.batches[batch.id] = batch
        self.ctx.journal.record_batch(batch)
        self.lifecycle.schedule(batch, now)
        return batch

    def get_batch(self, batch_id: str) -> Batch:
        return self._batch(batch_id)

    def _check_not_dispatched(self, batch: Batch) -> None:
        if batch.released or batch.canceled:
            raise ApiError(
                403,
                "batch_already_dispatched",
                f"Batch '{batch.id}' has already been dispatched and cannot be modified.",
            )

    def replace_batch(self, batch_id: str, spec: BatchSpec, now: float) -> Batch:
        batch = self._batch(batch_id)
        self._check_not_dispatched(batch)
        self._check_callback(spec.delivery_report, spec.opts)
        self._apply_spec(batch, spec, now)
        batch.modified_at = now
        self.lifecycle.schedule(batch, now)
        return batch

    def update_batch(self, batch_id: str, spec: UpdateSpec, now: float) -> Batch:
        batch = self._batch(batch_id)
        self._check_not_dispatched(batch)
        opts = dict(batch.opts)
        for key, value in spec.fields.items():
            if value is None:
                opts.pop(key, None)
            else:
                opts[key] = value
        dr = spec.delivery_report or batch.delivery_report
        self._check_callback(dr, opts)
        if batch.type == "mt_binary" and not opts.get("udh"):
            raise ApiError(400, "syntax_constraint_violation", "Field 'udh' is required.")
        to = dict.fromkeys(batch.to)
        to.update(dict.fromkeys(spec.to_add))
        for entry in spec.to_remove:
            to.pop(entry, None)
        if not to:
            raise ApiError(
                400, "syntax_constraint_violation", "A batch must keep at least one recipient."
            )
        batch.to = list(to)
        batch.recipients = {
            n: batch.recipients.get(n) or Recipient(n, batch, now)
            for n in batch.to
            if n.startswith("+")
        }
        batch.opts = opts
        batch.delivery_report = dr
        if spec.body is not None:
            batch.body = spec.body
        if spec.send_at is not None:
            batch.send_at = spec.send_at
        if spec.expire_at is not None:
            batch.expire_at = spec.expire_at
            batch.explicit_expire = True
        elif spec.send_at is not None and not batch.explicit_expire:
            batch.expire_at = spec.send_at + DEFAULT_EXPIRY
        batch.modified_at = now
        self.lifecycle.schedule(batch, now)
        return batch

    def cancel_batch(self, batch_id: str, now: float) -> Batch:
        batch = self._batch(batch_id)
        if not batch.canceled:
            self.lifecycle.cancel(batch, now)
            batch.modified_at = now
        return batch

    def delivery_feedback(self, batch_id: str, recipients: list[str]) -> None:
        batch = self._batch(batch_id)
        batch.feedback.extend(recipients or list(batch.recipients))

    def recipient_report(self, batch_id: str, msisdn: str) -> Recipient:
        batch = self._batch(batch_id)
        number = normalize_msisdn(msisdn)
        r = batch.recipients.get(number or "")
        if r is None or (batch.canceled and r.status == "Queued"):  # cancelled before send_at
            raise not_found(f"Recipient '{msisdn}' is not in batch '{batch_id}'.")
        return r

    def dry_run(self, spec: BatchSpec, per_recipient: bool, limit: int) -> dict[str, Any]:
        numbers: dict[str, None] = {}
        for entry in spec.to:
            if entry.startswith("+"):
                numbers[entry] = None
            elif looks_like_id(entry):
                numbers.update(dict.fromkeys(self.expand_group(entry)))
        table = lookup_table(spec.opts.get("parameters") or {})
        total = 0
        details: list[dict[str, Any]] = []
        for n in numbers:
            body = spec.body
            if isinstance(body, str) and spec.type == "mt_text":
                rendered = render_parameters(body, table, n) if table else body
                if rendered is None:
                    continue
                info = count_parts(rendered)
                parts = 1 if spec.opts.get("truncate_concat") else info.parts
                encoding = "text" if info.encoding == "GSM-7" else "unicode"
                shown: Any = rendered
            elif isinstance(body, str):  # mt_binary: the Base64 body as sent
                parts, encoding, shown = 1, "binary", body
            else:  # mt_media: Sinch shows the message text as a string, not the body object
                text = str(body.get("message", ""))
                rendered = render_parameters(text, table, n) if table else text
                if rendered is None:
                    continue
                parts, encoding, shown = 1, "mms", rendered
            total += parts
            if per_recipient and len(details) < limit:
                details.append(
                    {
                        "recipient": n[1:],
                        "number_of_parts": parts,
                        "body": shown,
                        "encoding": encoding,
                    }
                )
        out: dict[str, Any] = {"number_of_recipients": len(numbers), "number_of_messages": total}
        if per_recipient:
            out["per_recipient"] = details
        return out

    def list_batches(self, q: ListQuery, now: float) -> dict[str, Any]:
        horizon = now - BATCH_LIST_WINDOW
        start = q.start if q.start is not None else now - days(1)  # Sinch's default: now - 24 h
        ref = q.client_reference
        items: list[Batch] = []
        for b in reversed(self.batches.values()):
            if b.created_at < horizon:
                break
            if b.created_at < start:
                continue
            if q.end is not None and b.created_at >= q.end:
                continue
            if ref is not None and b.opts.get("client_reference") != ref:
                continue
            if q.values is not None and _norm(b.opts.get("from")) not in q.values:
                continue
            items.append(b)
        return paginate(items, q, "batches", Batch.to_json)

    def list_delivery_reports(self, q: ListQuery, now: float) -> dict[str, Any]:
        start = q.start if q.start is not None else now - days(1)
        ref = q.client_reference
        items: list[Recipient] = []
        for b in self.batches.values():
            if ref is not None and b.opts.get("client_reference") != ref:
                continue
            for r in b.recipients.values():
                if r.status in _INTERMEDIATE:  # Sinch lists finished reports only
                    continue
                if r.at < start or (q.end is not None and r.at >= q.end):
                    continue
                if q.statuses is not None and r.status.lower() not in q.statuses:
                    continue
                if q.codes is not None and r.code not in q.codes:
                    continue
                items.append(r)
        items.sort(key=lambda r: r.at, reverse=True)
        return paginate(items, q, "delivery_reports", Recipient.to_json)

    # -- groups -------------------------------------------------------------------
    def _group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise not_found(f"Group '{group_id}' not found.")
        return group

    def _check_name(self, name: str | None, own_id: str | None) -> None:
        if name is None:
            return
        for g in self.groups.values():
            if g.name == name and g.id != own_id:
                raise ApiError(
                    403, "conflict_group_name", f"A group named '{name}' already exists."
                )

    def create_group(self, spec: GroupSpec, now: float) -> Group:
        self._check_name(spec.name, None)
        group = Group(self.ids.new(now), now)
        self._fill_group(group, spec)
        self.groups[group.id] = group
        return group

    @staticmethod
    def _fill_group(group: Group, spec: GroupSpec) -> None:
        group.name = spec.name
        group.members = dict.fromkeys(spec.members)
        group.child_groups = spec.child_groups
        group.auto_update = spec.auto_update

    def get_group(self, group_id: str) -> Group:
        return self._group(group_id)

    def replace_group(self, group_id: str, spec: GroupSpec, now: float) -> Group:
        group = self._group(group_id)
        self._check_name(spec.name, group.id)
        self._fill_group(group, spec)
        group.modified_at = now
        return group

    def update_group(self, group_id: str, spec: GroupUpdateSpec, now: float) -> Group:
        group = self._group(group_id)
        if spec.name_action == "set":
            self._check_name(spec.name, group.id)
        members = group.members
        adds: Iterable[str] = spec.add
        if spec.add_from_group is not None:
            adds = [*spec.add, *self._group(spec.add_from_group).members]
        for n in adds:  # adds first, duplicates ignored
            members.setdefault(n, None)
        removes: Iterable[str] = spec.remove
        if spec.remove_from_group is not None:
            removes = [*spec.remove, *self._group(spec.remove_from_group).members]
        for n in removes:
            members.pop(n, None)
        if spec.name_action == "set":
            group.name = spec.name
        elif spec.name_action == "remove":
            group.name = None
        if spec.has_auto_update:
            group.auto_update = spec.auto_update
        group.modified_at = now
        return group

    def delete_group(self, group_id: str) -> None:
        self._group(group_id)
        del self.groups[group_id]
        self.deleted_groups.add(group_id)

    def list_groups(self, q: ListQuery) -> dict[str, Any]:
        return paginate(list(reversed(self.groups.values())), q, "groups", Group.to_json)

    # -- inbounds -----------------------------------------------------------------
    def add_inbound(self, inbound: Inbound) -> None:
        self.inbounds[inbound.id] = inbound

    def get_inbound(self, inbound_id: str) -> Inbound:
        inbound = self.inbounds.get(inbound_id)
        if inbound is None:
            raise not_found(f"Inbound '{inbound_id}' not found.")
        return inbound

    def list_inbounds(self, q: ListQuery, now: float) -> dict[str, Any]:
        start = q.start if q.start is not None else now - days(1)
        items = [
            i
            for i in reversed(self.inbounds.values())
            if i.received_at >= start
            and (q.end is None or i.received_at < q.end)
            and (q.values is None or i.to_key in q.values)
            and (q.client_reference is None or i.data.get("client_reference") == q.client_reference)
        ]
        return paginate(items, q, "inbounds", Inbound.to_json)
