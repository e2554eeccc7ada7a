"""SinchSimulator: a local Sinch SMS REST API on 127.0.0.1 for tests."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sinch_async.testing._app import build_app
from sinch_async.testing._callbacks import CallbackDispatcher, CallbackRecord
from sinch_async.testing._clock import SimClock, format_ts, parse_iso
from sinch_async.testing._conversation import ConversationState
from sinch_async.testing._engine import Context, OutcomeRules, make_outcome
from sinch_async.testing._faults import FaultInjector
from sinch_async.testing._journal import Journal
from sinch_async.testing._models import Inbound
from sinch_async.testing._oauth import TokenStore
from sinch_async.testing._state import Plan
from sinch_async.testing._util import IdFactory, display_msisdn, normalize_msisdn

if TYPE_CHECKING:
    from sinch_async import AsyncSmsClient
    from sinch_async.conversation import AsyncConversationBatchClient

__all__ = ["SinchSimulator"]

log = logging.getLogger("sinch_async.testing")
_MAX_ADVANCE_STEPS = 10_000_000


def _check_loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"SinchSimulator binds to loopback addresses only, not {host!r}")
    return host


class SinchSimulator:
    """A real aiohttp server speaking the Sinch SMS REST API, with a simulated clock.

    Use ``async with SinchSimulator() as sim:`` (or :meth:`start` / :meth:`stop`).

    Args:
        host: loopback address to bind (anything else raises ValueError).
        port: TCP port, 0 for a free one.
        service_plan_id, api_token: credentials of the default service plan.
        project_id, key_id, key_secret: OAuth2 credentials accepted by ``/oauth2/token``;
            requests under ``/xms/v1/{project_id}`` need a token from there.
        messages_per_second: dispatch rate of each service plan's FIFO queue.
        delivery_delay: simulated seconds from dispatch to the final status.
        token_ttl: lifetime of OAuth2 access tokens in simulated seconds.
        webhook_secret: sign callbacks with Sinch's HMAC-SHA256 scheme when set.
        default_callback_url: callback URL for batches that have none.
        inbound_callback_url: where :meth:`inject_inbound` POSTs MO messages.
        time_scale: simulated seconds per real second (0 freezes the clock).
        start_time: simulated start time (default: now).
        failure_rules: recipient prefix -> final status (or (status, code)), or a callable
            ``f(e164) -> status | (status, code) | None``; unmatched recipients are Delivered.
        rate_limit_rps: answer 429 above this many requests per second (real time).
        callback_max_attempts, callback_retry_base, callback_timeout: callback retry policy
            (5xx/429/connection errors retried after base * 2**n simulated seconds).
        seed: seed for generated IDs and tokens.
        journal_max_requests: keep only about this many journal requests (None keeps all).
        conversation_processing_delay: simulated seconds a Conversation batch stays
            ``READY`` after its ``send_after`` (or creation) before it is ``PROCESSED``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        service_plan_id: str = "sim-plan",
        api_token: str = "sim-token",
        project_id: str = "sim-project",
        key_id: str = "sim-key-id",
        key_secret: str = "sim-key-secret",
        messages_per_second: float = 1000.0,
        delivery_delay: float = 0.5,
        token_ttl: float = 3600.0,
        webhook_secret: str | None = None,
        default_callback_url: str | None = None,
        inbound_callback_url: str | None = None,
        time_scale: float = 1.0,
        start_time: datetime | None = None,
        failure_rules: OutcomeRules = None,
        rate_limit_rps: float | None = None,
        callback_max_attempts: int = 8,
        callback_retry_base: float = 5.0,
        callback_timeout: float = 5.0,
        seed: int | None = None,
        journal_max_requests: int | None = None,
        conversation_processing_delay: float = 0.5,
    ) -> None:
        self.host = _check_loopback(host)
        self.port = port
        self.service_plan_id = service_plan_id
        self.api_token = api_token
        self.project_id = project_id
        self.key_id = key_id
        self.key_secret = key_secret
        self.messages_per_second = messages_per_second
        self.webhook_secret = webhook_secret
        self.inbound_callback_url = inbound_callback_url
        self.clock = SimClock(start_time, time_scale)
        self.journal = Journal(journal_max_requests)
        self.faults = FaultInjector(rate_limit_rps)
        self._ids = IdFactory(seed)
        self._tokens = TokenStore(self.clock, self._ids, token_ttl)
        self._callbacks = CallbackDispatcher(
            self.clock,
            webhook_secret,
            max_attempts=callback_max_attempts,
            retry_base=callback_retry_base,
            timeout=callback_timeout,
        )
        self._ctx = Context(
            self.journal,
            self._callbacks,
            make_outcome(failure_rules),
            delivery_delay,
            default_callback_url,
        )
        self._plans: dict[str, Plan] = {}
        self.add_service_plan(service_plan_id, api_token)
        self._plans[project_id] = Plan(
            project_id, None, self._ctx, self._ids, messages_per_second, project=True
        )
        self.conversation = ConversationState(self.clock, self._ids, conversation_processing_delay)
        """The Conversation Batch API's state (batches, cancel requests)."""
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.tick_interval = 0.05

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Bind the server and start the background tick (processing and callbacks)."""
        if self._runner is not None:
            return
        runner = web.AppRunner(build_app(self), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        self._callbacks.open()
        self._ticker = asyncio.create_task(self._tick_loop(), name="sinch-simulator-tick")

    async def stop(self) -> None:
        """Stop the tick, close the callback session and the server (state is kept)."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await self._callbacks.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SinchSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _tick_loop(self) -> None:
        # Not asyncio.wait_for: on Python < 3.12 it can swallow a cancellation that races
        # with the event being set, and stop() would then wait forever.
        wake = self._callbacks.wake
        loop = asyncio.get_running_loop()
        while True:
            timer = loop.call_later(self.tick_interval, wake.set)
            try:
                await wake.wait()
            finally:
                timer.cancel()
            wake.clear()
            try:
                self.process()
                await self._callbacks.flush()
            except Exception:  # pragma: no cover - keep the simulator alive
                log.exception("simulator tick failed")

    # -- addresses and credentials -------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the port is known after :meth:`start`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def auth_url(self) -> str:
        """The OAuth2 token endpoint."""
        return self.url + "/oauth2/token"

    @property
    def token_requests(self) -> int:
        """How many requests reached ``/oauth2/token`` (successful or not)."""
        return self._tokens.requests

    @property
    def plans(self) -> dict[str, Plan]:
        """Service plans (and the OAuth project) by id."""
        return dict(self._plans)

    @property
    def plan(self) -> Plan:
        """The default service plan."""
        return self._plans[self.service_plan_id]

    @property
    def callbacks(self) -> list[CallbackRecord]:
        """Every callback the simulator queued, with its delivery attempts."""
        return list(self._callbacks.records)

    def add_service_plan(
        self, service_plan_id: str, api_token: str, *, messages_per_second: float | None = None
    ) -> Plan:
        """Add a service plan with its own token, state and dispatch queue."""
        if service_plan_id in self._plans:
            raise ValueError(f"service plan {service_plan_id!r} already exists")
        mps = self.messages_per_second if messages_per_second is None else messages_per_second
        plan = Plan(service_plan_id, api_token, self._ctx, self._ids, mps)
        self._plans[service_plan_id] = plan
        return plan

    def set_failure_rules(self, rules: OutcomeRules) -> None:
        """Replace the outcome rules (applies to messages dispatched from now on)."""
        self._ctx.outcome = make_outcome(rules)

    def expire_tokens(self) -> None:
        """Make every OAuth2 token issued so far expired."""
        self._tokens.expire_all()

    def client(self, **kwargs: Any) -> AsyncSmsClient:
        """An ``AsyncSmsClient`` for the default service plan, pointed at this simulator."""
        from sinch_async import AsyncSmsClient

        return AsyncSmsClient(
            service_plan_id=self.service_plan_id,
            api_token=self.api_token,
            base_url=self.url,
            **kwargs,
        )

    def oauth_client(self, **kwargs: Any) -> AsyncSmsClient:
        """An ``AsyncSmsClient`` using OAuth2 project credentials against this simulator."""
        from sinch_async import AsyncSmsClient

        return AsyncSmsClient(
            project_id=self.project_id,
            key_id=self.key_id,
            key_secret=self.key_secret,
            base_url=self.url,
            auth_url=self.auth_url,
            **kwargs,
        )

    def conversation_client(self, **kwargs: Any) -> AsyncConversationBatchClient:
        """An ``AsyncConversationBatchClient`` for the project, pointed at this simulator."""
        from sinch_async.conversation import AsyncConversationBatchClient

        return AsyncConversationBatchClient(
            self.project_id,
            self.key_id,
            self.key_secret,
            base_url=self.url,
            auth_url=self.auth_url,
            **kwargs,
        )

    # -- time ----------------------------------------------------------------------------
    def process(self) -> None:
        """Process everything due on the simulated clock now (no callbacks sent)."""
        now = self.clock.now_ts()
        for plan in self._plans.values():
            plan.lifecycle.process(now)

    def _next_event(self) -> float:
        t = min((p.lifecycle.next_time() for p in self._plans.values()), default=float("inf"))
        if self._runner is not None:
            t = min(t, self._callbacks.next_due())
        return t

    async def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``, stepping through every event on the way.

        Dispatches, deliveries, expiries and callbacks (including retries) due in the
        interval all happen, in time order, before this returns.
        """
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        target = self.clock.now_ts() + seconds
        for step in range(_MAX_ADVANCE_STEPS):
            self.process()
            await self._callbacks.flush()
            t_next = self._next_event()
            if t_next > target:
                break
            self.clock.advance_to(t_next)
            if step % 256 == 255:
                await asyncio.sleep(0)  # let other tasks (e.g. a callback receiver) run
        else:  # pragma: no cover
            raise RuntimeError("advance() did not converge")
        self.clock.advance_to(target)
        self.process()
        await self._callbacks.flush()

    async def settle(self) -> None:
        """Send the callbacks due now (without moving the clock)."""
        self.process()
        await self._callbacks.flush()

    # -- inbound messages ------------------------------------------------------------------
    def inject_inbound(
        self,
        from_: str,
        to: str,
        body: Any = "",
        type: str = "mo_text",
        *,
        udh: str | None = None,
        client_reference: str | None = None,
        operator_id: str | None = None,
        sent_at: datetime | str | None = None,
        media: list[dict[str, Any]] | None = None,
        subject: str | None = None,
        service_plan_id: str | None = None,
    ) -> dict[str, Any]:
        """Create an MO message (listable via ``/inbounds``; POSTed to inbound_callback_url).

        For ``mo_media`` a str ``body`` becomes ``body.message``; ``media`` items default to
        ``status="Uploaded"`` and ``code=0``. Returns the inbound as the API renders it.
        """
        if type not in ("mo_text", "mo_binary", "mo_media"):
            raise ValueError(f"unknown inbound type {type!r}")
        plan = self._plans[service_plan_id or self.service_plan_id]
        now = self.clock.now_ts()
        from_e164 = normalize_msisdn(from_)
        to_e164 = normalize_msisdn(to)
        data: dict[str, Any] = {
            "id": self._ids.new(now),
            "type": type,
            "from": display_msisdn(from_e164) if from_e164 else from_,
            "to": display_msisdn(to_e164) if to_e164 else to,
        }
        if type == "mo_media":
            if isinstance(body, dict):
                media_body = dict(body)
            else:
                media_body = {"message": body} if body else {}
                if subject is not None:
                    media_body["subject"] = subject
                media_body["media"] = [
                    {"status": "Uploaded", "code": 0, **item} for item in (media or [])
                ]
            data["body"] = media_body
        else:
            data["body"] = body
            if type == "mo_binary":
                data["udh"] = udh or ""
        data["received_at"] = format_ts(now)
        if sent_at is not None:
            ts = parse_iso(sent_at) if isinstance(sent_at, str) else sent_at.timestamp()
            data["sent_at"] = format_ts(ts)
        if operator_id is not None:
            data["operator_id"] = operator_id
        if client_reference is not None:
            data["client_reference"] = client_reference
        plan.add_inbound(Inbound(data["id"], data, now, to_e164 or to))
        if self.inbound_callback_url:
            self._callbacks.enqueue(self.inbound_callback_url, data, kind="inbound")
        return dict(data)
