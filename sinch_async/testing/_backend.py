"""SimulatorBackend: the simulator's state and the operations its HTTP routes call.

The route modules (``_app``, ``_routes``, ``_oauth``, ``_conversation``) see only this
object, through ``request.app[BACKEND_KEY]``. ``SinchSimulator`` owns one, runs the HTTP
server and the background tick around it and forwards its public methods here. A test can
drive a backend without a ``SinchSimulator``: serve ``build_app(backend)`` with any aiohttp
runner and call :meth:`SimulatorBackend.open` / :meth:`SimulatorBackend.close` around it
for callbacks.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sinch_async.testing._callbacks import CallbackDispatcher, CallbackRecord
from sinch_async.testing._clock import SimClock, format_ts, parse_iso
from sinch_async.testing._conversation import ConversationState
from sinch_async.testing._engine import Context, OutcomeRules, make_outcome
from sinch_async.testing._faults import FaultInjector
from sinch_async.testing._journal import Journal
from sinch_async.testing._models import Inbound
from sinch_async.testing._oauth import TokenState, TokenStore
from sinch_async.testing._persist import apply_state, dump_state
from sinch_async.testing._state import Plan
from sinch_async.testing._util import IdFactory, display_msisdn, normalize_msisdn

__all__ = ["SimulatorBackend"]

_MAX_ADVANCE_STEPS = 10_000_000
_INBOUND_TYPES = ("mo_text", "mo_binary", "mo_media")


class SimulatorBackend:
    """Service plans, OAuth2 tokens, callbacks, the clock, faults and the journal.

    Takes the options of ``SinchSimulator`` except ``host`` and ``port`` (it serves no HTTP
    itself). Callbacks are sent only between :meth:`open` and :meth:`close`.
    """

    def __init__(
        self,
        *,
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
        self._failure_rules: OutcomeRules = failure_rules
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

    # -- service plans ------------------------------------------------------------------
    @property
    def plans(self) -> dict[str, Plan]:
        """Service plans (and the OAuth project) by id (a copy of the mapping)."""
        return dict(self._plans)

    def plan(self, plan_id: str | None = None) -> Plan:
        """The service plan ``plan_id`` (default: the default plan); KeyError if unknown."""
        return self._plans[plan_id or self.service_plan_id]

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

    def process_plan(self, plan_id: str) -> Plan:
        """The plan, with what is due on the clock processed (before a handler reads it)."""
        plan = self._plans[plan_id]
        plan.lifecycle.process(self.clock.now_ts())
        return plan

    def set_failure_rules(self, rules: OutcomeRules) -> None:
        """Replace the outcome rules (applies to messages dispatched from now on)."""
        self._ctx.outcome = make_outcome(rules)
        self._failure_rules = rules

    # -- credentials --------------------------------------------------------------------
    def check_plan_token(self, plan_id: str, token: str) -> TokenState:
        """Whether ``token`` opens ``/xms/v1/{plan_id}``.

        A service plan takes its API token; the OAuth project takes tokens from
        ``/oauth2/token``.
        """
        plan = self._plans.get(plan_id)
        if plan is None:
            return "invalid"
        if plan.token is not None and token == plan.token:
            return "ok"
        if plan.project:
            return self._tokens.check(token, plan_id)
        return "invalid"

    def check_access_token(self, project_id: str, token: str) -> TokenState:
        """Whether ``token`` is a valid OAuth2 token issued for ``project_id``."""
        return self._tokens.check(token, project_id)

    def count_token_request(self) -> None:
        """Count one request to ``/oauth2/token`` (see :attr:`token_requests`)."""
        self._tokens.requests += 1

    def valid_client(self, credentials: tuple[str, str] | None) -> bool:
        """True if (client id, secret) are the project's key."""
        return credentials == (self.key_id, self.key_secret)

    def issue_token(self) -> tuple[str, int]:
        """A new OAuth2 access token for the project and its lifetime in seconds."""
        return self._tokens.issue(self.project_id)

    @property
    def token_requests(self) -> int:
        """How many requests reached ``/oauth2/token`` (successful or not)."""
        return self._tokens.requests

    def expire_tokens(self) -> None:
        """Make every OAuth2 token issued so far expired."""
        self._tokens.expire_all()

    # -- callbacks ----------------------------------------------------------------------
    @property
    def callbacks(self) -> list[CallbackRecord]:
        """Every callback queued so far, with its delivery attempts."""
        return list(self._callbacks.records)

    def open(self) -> None:
        """Start sending callbacks (creates the HTTP session in the running loop)."""
        self._callbacks.open()

    async def close(self) -> None:
        """Stop sending callbacks (queued ones wait for the next :meth:`open`)."""
        await self._callbacks.close()

    def after_request(self) -> None:
        """Wake :meth:`wait_for_work` if the request queued callbacks."""
        self._callbacks.wake_if_pending()

    async def wait_for_work(self, timeout: float) -> None:
        """Wait until a callback is queued or ``timeout`` real seconds pass."""
        await self._callbacks.wait(timeout)

    # -- time -----------------------------------------------------------------------------
    def now(self) -> float:
        """The simulated time as a Unix timestamp."""
        return self.clock.now_ts()

    def process(self) -> None:
        """Process everything due on the simulated clock now (no callbacks sent)."""
        now = self.clock.now_ts()
        for plan in self._plans.values():
            plan.lifecycle.process(now)

    async def tick(self) -> None:
        """Process what is due now and send the callbacks due now."""
        self.process()
        await self._callbacks.flush()

    def _next_event(self) -> float:
        t = min((p.lifecycle.next_time() for p in self._plans.values()), default=float("inf"))
        if self._callbacks.is_open:
            t = min(t, self._callbacks.next_due())
        return t

    async def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``, stepping through every event on the way.

        Dispatches, deliveries, expiries and callbacks (including retries, while callbacks
        are open) due in the interval all happen, in time order, before this returns.
        """
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        target = self.clock.now_ts() + seconds
        for step in range(_MAX_ADVANCE_STEPS):
            await self.tick()
            t_next = self._next_event()
            if t_next > target:
                break
            self.clock.advance_to(t_next)
            if step % 256 == 255:
                await asyncio.sleep(0)  # let other tasks (e.g. a callback receiver) run
        else:  # pragma: no cover
            raise RuntimeError("advance() did not converge")
        self.clock.advance_to(target)
        await self.tick()

    # -- inbound messages -----------------------------------------------------------------
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
        if type not in _INBOUND_TYPES:
            raise ValueError(f"unknown inbound type {type!r}")
        for name, value in (("from_", from_), ("to", to), ("body", body), ("subject", subject)):
            if isinstance(value, str) and not _is_unicode(value):
                raise ValueError(f"{name} holds a lone surrogate: not Unicode text")
        plan = self.plan(service_plan_id)
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
            data["body"] = _media_body(body, subject, media)
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

    # -- state that survives a restart (serve --state FILE) ---------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The state as a JSON-ready dict (what :mod:`._persist` says is kept)."""
        self.process()
        return dump_state(self._plans, self.journal, self.clock.now_ts(), self._ids.get_state())

    def restore(self, state: Any) -> None:
        """Load a :meth:`snapshot` into this backend, whose plans must hold no state yet.

        Raises ``StateFileError`` (a ValueError) if ``state`` is not a snapshot, ValueError
        if a plan is not empty or the snapshot names a plan this backend does not have.
        """

        def set_clock(saved: float) -> float:
            self.clock.advance_to(saved)  # never backwards
            return self.clock.now_ts()

        apply_state(state, self._plans, self.journal, set_clock, self._ids.set_state)

    # -- controls (the control API and SinchSimulator share these) -------------------------
    @property
    def failure_rules(self) -> OutcomeRules:
        """The outcome rules given at start or by :meth:`set_failure_rules`."""
        return self._failure_rules

    def set_messages_per_second(
        self, messages_per_second: float, service_plan_id: str | None = None
    ) -> None:
        """Change a service plan's dispatch rate (default plan; KeyError if unknown)."""
        if not messages_per_second > 0:
            raise ValueError("messages_per_second must be > 0")
        self.plan(service_plan_id).lifecycle.set_messages_per_second(messages_per_second)

    def reset(self) -> None:
        """Forget all state: batches, groups, inbounds, reports, journal, callbacks, tokens,
        Conversation batches and faults.

        The configuration stays: service plans and credentials, dispatch rates, failure
        rules, the rate limit and the clock.
        """
        for plan_id, plan in list(self._plans.items()):
            self._plans[plan_id] = Plan(
                plan_id,
                plan.token,
                self._ctx,
                self._ids,
                plan.lifecycle.messages_per_second,
                project=plan.project,
            )
        self.journal.clear()
        self.faults.clear()
        self._callbacks.clear()
        self._tokens = TokenStore(self.clock, self._ids, self._tokens.ttl)
        self.conversation = ConversationState(
            self.clock, self._ids, self.conversation.processing_delay
        )


def _media_body(
    body: Any, subject: str | None, media: list[dict[str, Any]] | None
) -> dict[str, Any]:
    if isinstance(body, dict):
        return dict(body)
    media_body: dict[str, Any] = {"message": body} if body else {}
    if subject is not None:
        media_body["subject"] = subject
    media_body["media"] = [{"status": "Uploaded", "code": 0, **item} for item in (media or [])]
    return media_body


def _is_unicode(text: str) -> bool:
    """False for a string holding a lone surrogate (which cannot be sent as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
