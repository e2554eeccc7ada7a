"""The one-call commands: send, batches, delivery-report, groups, inbounds."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from sinch_async._cli._output import cell, emit_json, out, table
from sinch_async._cli._runtime import Runtime
from sinch_async.models import Batch, Group, Inbound

__all__ = [
    "cmd_batches",
    "cmd_delivery_report",
    "cmd_groups",
    "cmd_inbounds",
    "cmd_send",
    "split_numbers",
]


def split_numbers(values: Sequence[str] | None) -> list[str]:
    """``--to a --to b,c`` -> ``[a, b, c]`` (commas separate numbers too)."""
    return [n.strip() for v in values or () for n in v.split(",") if n.strip()]


def _limit(value: int) -> int | None:
    return None if value == 0 else value


def _body_text(batch: Batch) -> str:
    body: Any = getattr(batch, "body", None)
    if body is None or isinstance(body, str):
        return cell(body)
    return cell(getattr(body, "message", None) or getattr(body, "url", None))


def _fields(obj: object, names: Sequence[str]) -> None:
    for name in names:
        value = getattr(obj, name, None)
        if value is None:
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        out(f"{name.rstrip('_') + ':':<20}{cell(value)}")


_BATCH_FIELDS = (
    "id",
    "type",
    "from_",
    "to",
    "body",
    "canceled",
    "created_at",
    "modified_at",
    "send_at",
    "expire_at",
    "delivery_report",
    "callback_url",
    "client_reference",
)


def _show_batch(batch: Batch, as_json: bool) -> None:
    if as_json:
        emit_json(batch)
    else:
        _fields(batch, _BATCH_FIELDS)


async def cmd_send(args: argparse.Namespace, rt: Runtime) -> int:
    fields: dict[str, Any] = {}
    if args.delivery_report:
        fields["delivery_report"] = args.delivery_report
    if args.callback_url:
        fields["callback_url"] = args.callback_url
    if args.client_reference:
        fields["client_reference"] = args.client_reference
    batch = await rt.sms.batches.send(split_numbers(args.to), args.body, from_=args.from_, **fields)
    if args.json:
        emit_json(batch)
    else:
        out(f"batch {batch.id} created: {len(batch.to):,} recipient(s)")
    return 0


async def cmd_batches(args: argparse.Namespace, rt: Runtime) -> int:
    batches = rt.sms.batches
    if args.action == "list":
        items = await batches.list(
            client_reference=args.client_reference, limit=_limit(args.limit)
        ).collect()
        if args.json:
            emit_json(items)
            return 0
        table(
            ("ID", "CREATED", "TYPE", "TO", "CANCELED", "CLIENT REFERENCE", "BODY"),
            (
                (
                    b.id,
                    cell(b.created_at),
                    cell(b.type),
                    f"{len(b.to):,}",
                    cell(b.canceled),
                    cell(b.client_reference, 32),
                    cell(_body_text(b), 40),
                )
                for b in items
            ),
        )
        return 0
    if args.action == "get":
        _show_batch(await batches.get(args.batch_id), args.json)
        return 0
    batch = await batches.cancel(args.batch_id)
    if args.json:
        emit_json(batch)
    else:
        out(f"batch {batch.id} canceled (messages not yet dispatched will not be sent)")
    return 0


async def cmd_delivery_report(args: argparse.Namespace, rt: Runtime) -> int:
    reports = rt.sms.delivery_reports
    if args.recipient:
        one = await reports.get_for_recipient(args.batch_id, args.recipient)
        if args.json:
            emit_json(one)
        else:
            _fields(
                one,
                (
                    "batch_id",
                    "recipient",
                    "status",
                    "code",
                    "at",
                    "operator_status_at",
                    "client_reference",
                    "applied_originator",
                    "encoding",
                    "number_of_message_parts",
                    "operator",
                ),
            )
        return 0
    report = await reports.get(args.batch_id, type="full" if args.full else "summary")
    if args.json:
        emit_json(report)
        return 0
    total = sum(s.count for s in report.statuses)
    out(f"batch {report.batch_id}: {total:,} message(s)")
    headers = ("STATUS", "CODE", "COUNT") + (("RECIPIENTS",) if args.full else ())
    rows = []
    for s in sorted(report.statuses, key=lambda s: -s.count):
        row = [s.status, str(s.code), f"{s.count:,}"]
        if args.full:
            row.append(", ".join(s.recipients or []))
        rows.append(row)
    table(headers, rows)
    return 0


def _group_row(g: Group) -> tuple[str, ...]:
    return (g.id, cell(g.name), cell(g.size), cell(g.created_at), cell(g.child_groups))


async def cmd_groups(args: argparse.Namespace, rt: Runtime) -> int:
    groups = rt.sms.groups
    action = args.action
    if action == "list":
        items = await groups.list(limit=_limit(args.limit)).collect()
        if args.json:
            emit_json(items)
        else:
            table(("ID", "NAME", "SIZE", "CREATED", "CHILD GROUPS"), map(_group_row, items))
        return 0
    if action == "members":
        members = await groups.members(args.group_id)
        if args.json:
            emit_json(members)
        else:
            for number in members:
                out(number)
        return 0
    if action == "delete":
        await groups.delete(args.group_id)
        if args.json:
            emit_json({"deleted": args.group_id})
        else:
            out(f"group {args.group_id} deleted")
        return 0
    if action == "create":
        group = await groups.create(name=args.name, members=split_numbers(args.member) or None)
    else:
        group = await groups.get(args.group_id)
    if args.json:
        emit_json(group)
    elif action == "create":
        out(f"group {group.id} created: {cell(group.name)}, {cell(group.size)} member(s)")
    else:
        _fields(group, ("id", "name", "size", "created_at", "modified_at", "child_groups"))
    return 0


def _inbound_body(item: Inbound) -> str:
    body: Any = getattr(item, "body", None)
    if body is None or isinstance(body, str):
        return cell(body)
    return cell(getattr(body, "message", None) or f"({len(getattr(body, 'media', []))} media)")


async def cmd_inbounds(args: argparse.Namespace, rt: Runtime) -> int:
    items = await rt.sms.inbounds.list(limit=_limit(args.limit)).collect()
    if args.json:
        emit_json(items)
        return 0
    table(
        ("ID", "RECEIVED", "FROM", "TO", "TYPE", "BODY"),
        (
            (
                i.id,
                cell(i.received_at),
                cell(i.from_),
                cell(i.to),
                cell(i.type),
                cell(_inbound_body(i), 50),
            )
            for i in items
        ),
    )
    return 0
