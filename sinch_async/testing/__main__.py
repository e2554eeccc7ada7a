"""``python -m sinch_async.testing serve``: run the simulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from sinch_async.testing._control_spec import parse_failure_rule_spec, parse_fault_spec
from sinch_async.testing._simulator import SinchSimulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sinch_async.testing", description="Local Sinch SMS API simulator."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the simulator on 127.0.0.1")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="TCP port, 0 = any (default 8080)")
    serve.add_argument("--messages-per-second", type=float, default=1000.0)
    serve.add_argument("--webhook-secret", default=None, help="sign callbacks with this secret")
    serve.add_argument("--service-plan-id", default="sim-plan")
    serve.add_argument("--api-token", default="sim-token")
    serve.add_argument("--default-callback-url", default=None)
    serve.add_argument("--inbound-callback-url", default=None)
    serve.add_argument("--time-scale", type=float, default=1.0)
    serve.add_argument("--rate-limit-rps", type=float, default=None)
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="ROUTE[:STATUS[:KEY=VALUE,...]]",
        help="script a fault (repeatable), e.g. 'POST /batches:429:times=3,retry_after=1';"
        " keys: times=N|forever, retry_after, latency, drop=before|after",
    )
    serve.add_argument(
        "--failure-rule",
        action="append",
        default=[],
        metavar="PREFIX=STATUS[:CODE]",
        help="final status for recipients starting with PREFIX (repeatable), e.g. +4670=Failed",
    )
    serve.add_argument("--token-ttl", type=float, default=3600.0, help="OAuth token lifetime")
    serve.add_argument("--seed", type=int, default=None, help="seed for generated IDs and tokens")
    serve.add_argument(
        "--state",
        metavar="FILE",
        default=None,
        help="load batches, delivery reports, groups, inbounds and the clock from FILE at start "
        "(if it exists) and save them there on shutdown (Ctrl-C/SIGTERM), so a campaign can be "
        "resumed against a restarted simulator",
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    if not args.token_ttl > 0:
        raise ValueError("--token-ttl must be > 0")
    faults = [parse_fault_spec(spec) for spec in args.fault]
    rules = dict(parse_failure_rule_spec(spec) for spec in args.failure_rule)
    sim = SinchSimulator(
        host=args.host,
        port=args.port,
        service_plan_id=args.service_plan_id,
        api_token=args.api_token,
        messages_per_second=args.messages_per_second,
        webhook_secret=args.webhook_secret,
        default_callback_url=args.default_callback_url,
        inbound_callback_url=args.inbound_callback_url,
        time_scale=args.time_scale,
        rate_limit_rps=args.rate_limit_rps,
        journal_max_requests=10_000,
        token_ttl=args.token_ttl,
        seed=args.seed,
        failure_rules=rules or None,
    )
    for fault in faults:
        sim.faults.add(**fault)
    if args.state is not None and sim.load_state(args.state):
        print(f"State loaded from {args.state}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows
            loop.add_signal_handler(sig, stop.set)
    async with sim:
        print(f"Sinch SMS simulator listening on {sim.url}", flush=True)
        print(f"  service plan id: {sim.service_plan_id}", flush=True)
        print(f"  api token:       {sim.api_token}", flush=True)
        print(f"  base URL:        {sim.url}/xms/v1/{sim.service_plan_id}", flush=True)
        print(f"  OAuth project:   {sim.project_id}", flush=True)
        print(f"  OAuth key:       {sim.key_id} / {sim.key_secret}", flush=True)
        print(f"  OAuth token URL: {sim.auth_url}", flush=True)
        print(f"  control API:     {sim.control_url} (Bearer api token)", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()
    if args.state is not None:
        sim.save_state(args.state)
        print(f"State saved to {args.state}", flush=True)
    print("Simulator stopped.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        try:
            asyncio.run(_serve(args))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # pragma: no cover - signal handler normally catches it
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
