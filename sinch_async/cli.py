"""The ``sinch-async`` command line (``python -m sinch_async``).

Commands: ``send``, ``campaign``, ``batches``, ``delivery-report``, ``groups``,
``inbounds``, ``worker`` and ``campaign-status`` (a campaign across many processes on Redis:
``campaign FILE --redis URL --campaign-id ID --enqueue-only`` is its producer; see
:mod:`sinch_async._cli._distributed`), plus ``demo`` and ``serve`` (dispatched by
:mod:`sinch_async.__main__`).
Credentials come from ``SINCH_*`` environment variables (``AsyncSmsClient.from_env``);
``--simulate`` runs a command against an embedded :class:`~sinch_async.testing.SinchSimulator`.

Exit codes: 0 everything sent / done, 1 something failed (an API or network error, a
failed campaign chunk), 2 bad input (arguments, the recipient file, validation, missing
credentials), 130 interrupted. Invalid or duplicate rows in a campaign file are reported
but do not change the exit code: 0 means every *valid* recipient was sent (a file with no
valid recipient at all exits 2).

A campaign's chunks carry the client references ``{campaign_id}#{index}``. With
``--campaign-id`` each chunk is looked up before it is sent (a re-run never sends a chunk
twice); ``--resume`` says the campaign exists, and without it an id whose chunk 0 exists is
refused. A generated id (file name + UTC time + 4 random hex digits) is new, so no lookups.
The embedded simulator starts empty and ends with the run, unless ``--simulate-state FILE``
keeps its state in FILE (loaded at start if it exists, saved at the end, interrupted or
not): ``--simulate --resume`` needs it (exit 2 without), and then resumes the campaign of an
earlier ``--simulate`` run with the same FILE. ``sinch-async serve`` and ``SINCH_BASE_URL``
give a simulator that outlives the run.

Invalid rows are listed with their line numbers: in full (values as written) in the
``--invalid-out`` CSV file, masked in the JSON report (``invalid_rows``) and in the text
report's examples, since stdout and stderr often end up in logs. A ``${column}`` of the body
that is empty in some rows and has no ``--default`` is warned about with a count before
sending (in a dry run, after reading; from stdin, after sending).

``rich`` (the ``cli`` extra) is optional and imported lazily, only for the progress bar.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sinch_async._cli._args import chunk_size_arg, non_negative_int, positive_float, positive_int
from sinch_async._cli._distributed import add_arguments as _add_distributed
from sinch_async._cli._output import CliError, err
from sinch_async.errors import SinchError, SinchValidationError

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS = (
    "send",
    "campaign",
    "batches",
    "delivery-report",
    "groups",
    "inbounds",
    "worker",
    "campaign-status",
)
EXTERNAL = {
    "demo": "run a demo campaign against the embedded simulator (no credentials needed)",
    "serve": "run the local Sinch simulator (same as python -m sinch_async.testing serve)",
}
DELIVERY_REPORTS = ("none", "summary", "full", "per_recipient", "per_recipient_final")

EPILOG = """\
credentials: SINCH_SERVICE_PLAN_ID + SINCH_API_TOKEN, or SINCH_PROJECT_ID + SINCH_KEY_ID +
SINCH_KEY_SECRET; optional SINCH_REGION, SINCH_BASE_URL. --simulate needs none.
exit codes: 0 done, 1 some sends/calls failed, 2 bad input or no credentials, 130 interrupted.
"""


def _common(suppress: bool) -> argparse.ArgumentParser:
    """--simulate / --json, accepted before or after the command."""
    parser = argparse.ArgumentParser(add_help=False)
    default: Any = argparse.SUPPRESS if suppress else False
    parser.add_argument(
        "--simulate",
        action="store_true",
        default=default,
        help="run against an embedded Sinch simulator (no credentials, no real SMS)",
    )
    parser.add_argument(
        "--simulate-state",
        metavar="FILE",
        default=argparse.SUPPRESS if suppress else None,
        help="with --simulate: load the embedded simulator's batches, reports, groups, "
        "inbounds and clock from FILE (if it exists) and save them there at the end, so a "
        "later --simulate run (e.g. campaign --resume) continues from them",
    )
    parser.add_argument(
        "--json", action="store_true", default=default, help="print results as JSON"
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    from sinch_async import __version__

    common = _common(suppress=True)
    parser = argparse.ArgumentParser(
        prog="sinch-async",
        description="Send SMS and manage batches, groups and inbounds with the Sinch SMS API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"sinch_async {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common], **kw)

    send = add("send", "send one batch (up to 1000 recipients)")
    send.add_argument(
        "--to",
        action="append",
        required=True,
        metavar="NUMBER",
        help="recipient (repeat, or separate with commas)",
    )
    send.add_argument("--body", required=True, help="message text (may use ${parameters})")
    send.add_argument("--from", dest="from_", metavar="SENDER", help="sender number or name")
    send.add_argument("--delivery-report", choices=DELIVERY_REPORTS)
    send.add_argument("--callback-url", metavar="URL", help="where Sinch POSTs delivery reports")
    send.add_argument("--client-reference", metavar="TEXT")

    camp = add(
        "campaign",
        "send one message to every recipient of a file, in batches",
        epilog="FILE is CSV with a header row (a number/msisdn/phone/phone_number/mobile/to "
        "column; other columns fill ${column} placeholders) or one number per line; "
        "'-' reads stdin. Invalid and duplicate rows are reported, not sent; exit 0 means "
        "every valid recipient was sent. Invalid rows are reported with their line numbers "
        "(--invalid-out writes them all; the report on stdout masks the numbers). A "
        "${column} left empty in some rows without a --default is warned about, with a "
        "count, before sending.",
    )
    camp.add_argument("file", metavar="FILE")
    camp.add_argument("--body", required=True, help="message text, e.g. 'Hi ${name}'")
    camp.add_argument("--from", dest="from_", metavar="SENDER", help="sender number or name")
    camp.add_argument(
        "--campaign-id",
        metavar="ID",
        help="stable id: chunk client references are ID#0, ID#1, ...; chunks already sent "
        "under it are looked up and skipped (default: a new id from the file name and the "
        "time, printed)",
    )
    camp.add_argument(
        "--resume",
        action="store_true",
        help="continue the campaign --campaign-id (same file, same --chunk-size); without "
        "it, an id whose first chunk was already sent is refused. Not with --simulate alone: "
        "add --simulate-state FILE (the same FILE as the earlier --simulate run)",
    )
    camp.add_argument(
        "--concurrency",
        type=positive_int,
        default=8,
        metavar="N",
        help="batches in flight (default 8)",
    )
    camp.add_argument(
        "--chunk-size",
        type=chunk_size_arg,
        default=1000,
        metavar="N",
        help="recipients per batch, 1..1000 (default 1000)",
    )
    camp.add_argument(
        "--messages-per-second",
        type=positive_float,
        metavar="N",
        help="client-side rate limit in recipients per second",
    )
    camp.add_argument("--delivery-report", choices=DELIVERY_REPORTS)
    camp.add_argument("--callback-url", metavar="URL", help="where Sinch POSTs delivery reports")
    camp.add_argument(
        "--default",
        action="append",
        metavar="NAME=VALUE",
        help="value of ${NAME} for rows without one (repeatable); without it an empty NAME "
        "cell sends the text without the word, and a warning counts those rows",
    )
    camp.add_argument(
        "--invalid-out",
        metavar="FILE.csv",
        help="write the invalid rows to FILE.csv (columns: line, value as written, reason), "
        "to fix them; written in dry runs too",
    )
    camp.add_argument(
        "--dry-run",
        action="store_true",
        help="read and validate the file, estimate messages, send nothing",
    )
    camp.add_argument(
        "--progress",
        choices=("auto", "rich", "plain", "none"),
        default="auto",
        help="progress display on stderr (default auto: a rich bar on a "
        "terminal, plain lines otherwise)",
    )
    camp.add_argument(
        "-q",
        "--quiet",
        dest="progress",
        action="store_const",
        const="none",
        help="no progress display",
    )

    batches = add("batches", "list, show or cancel batches")
    bsub = batches.add_subparsers(dest="action", required=True, metavar="ACTION")
    blist = bsub.add_parser(
        "list", help="batches of the last 14 days, newest first", parents=[common]
    )
    blist.add_argument(
        "--limit",
        type=non_negative_int,
        default=20,
        metavar="N",
        help="at most N batches (default 20, 0 = all)",
    )
    blist.add_argument("--client-reference", metavar="TEXT")
    for action, text in (("get", "show a batch"), ("cancel", "cancel a batch")):
        p = bsub.add_parser(action, help=text, parents=[common])
        p.add_argument("batch_id", metavar="BATCH_ID")

    dlr = add("delivery-report", "a batch's delivery report")
    dlr.add_argument("batch_id", metavar="BATCH_ID")
    which = dlr.add_mutually_exclusive_group()
    which.add_argument("--full", action="store_true", help="list the recipients per status")
    which.add_argument("--recipient", metavar="NUMBER", help="one recipient's report")

    groups = add("groups", "manage groups of recipients")
    gsub = groups.add_subparsers(dest="action", required=True, metavar="ACTION")
    glist = gsub.add_parser("list", help="all groups", parents=[common])
    glist.add_argument(
        "--limit",
        type=non_negative_int,
        default=20,
        metavar="N",
        help="at most N groups (default 20, 0 = all)",
    )
    gcreate = gsub.add_parser("create", help="create a group", parents=[common])
    gcreate.add_argument("--name", required=True, help="1..20 characters")
    gcreate.add_argument(
        "--member",
        action="extend",
        nargs="+",
        metavar="NUMBER",
        help="member number(s) (repeat, or separate with commas)",
    )
    for action, text in (
        ("get", "show a group"),
        ("delete", "delete a group"),
        ("members", "list a group's phone numbers"),
    ):
        p = gsub.add_parser(action, help=text, parents=[common])
        p.add_argument("group_id", metavar="GROUP_ID")

    inbounds = add("inbounds", "inbound (MO) messages")
    isub = inbounds.add_subparsers(dest="action", required=True, metavar="ACTION")
    ilist = isub.add_parser("list", help="inbound messages, newest first", parents=[common])
    ilist.add_argument(
        "--limit",
        type=non_negative_int,
        default=20,
        metavar="N",
        help="at most N messages (default 20, 0 = all)",
    )

    _add_distributed(sub, camp)

    for name, text in EXTERNAL.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace, Any], Awaitable[int]]:
    from sinch_async._cli import _commands

    handlers: dict[str, Callable[[argparse.Namespace, Any], Awaitable[int]]] = {
        "send": _commands.cmd_send,
        "batches": _commands.cmd_batches,
        "delivery-report": _commands.cmd_delivery_report,
        "groups": _commands.cmd_groups,
        "inbounds": _commands.cmd_inbounds,
    }
    return handlers[args.command]


async def _run_command(args: argparse.Namespace) -> int:
    from sinch_async._cli._runtime import open_runtime

    handler = _handler(args)
    async with open_runtime(
        args.simulate, state=args.simulate_state, user_agent="sinch-async-cli"
    ) as rt:
        return await handler(args, rt)


def _execute(args: argparse.Namespace) -> int:
    if args.command in ("worker", "campaign-status") or (
        args.command == "campaign" and (args.redis or args.enqueue_only)
    ):
        from sinch_async._cli._distributed_run import cmd_enqueue, cmd_worker
        from sinch_async._cli._distributed_status import cmd_campaign_status

        command = {
            "campaign": cmd_enqueue,
            "worker": cmd_worker,
            "campaign-status": cmd_campaign_status,
        }[args.command]
        return asyncio.run(command(args))
    if args.command == "campaign":
        from sinch_async._cli._campaign import prepare_campaign, run_campaign

        plan = prepare_campaign(args)
        try:
            return asyncio.run(run_campaign(args, plan))
        finally:
            plan.close()
    return asyncio.run(_run_command(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI (without ``demo``/``serve``, which ``__main__`` dispatches); an exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    args.simulate = bool(getattr(args, "simulate", False))
    args.json = bool(getattr(args, "json", False))
    args.simulate_state = getattr(args, "simulate_state", None)
    if args.simulate_state is not None and not args.simulate:
        err("error: --simulate-state needs --simulate")
        return 2
    try:
        return _execute(args)
    except CliError as exc:
        err(f"error: {exc}")
        return exc.code
    except SinchValidationError as exc:
        err(f"error: invalid input: {exc}")
        return 2
    except SinchError as exc:
        err(f"error: {type(exc).__name__}: {exc}")
        return 1
    except KeyboardInterrupt:
        err("interrupted")
        return 130
