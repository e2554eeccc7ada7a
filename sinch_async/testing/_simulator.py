"""SinchSimulator: a local Sinch SMS REST API on 127.0.0.1 for tests.

The public facade: it owns a :class:`SimulatorBackend` (the state and what the routes may
do with it) and the HTTP server and background tick around it; its other methods forward
to the backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from aiohttp import web

from sinch_async.testing._app import build_app
from sinch_async.testing._backend import SimulatorBackend
from sinch_async.testing._callbacks import CallbackRecord
from sinch_async.testing._clock import SimClock
from sinch_async.testing._conversation import ConversationState
from sinch_async.testing._engine import OutcomeRules
from sinch_async.testing._faults import FaultInjector
from sinch_async.testing._journal import Journal
from sinch_async.testing._persist import read_state_file, write_state_file
from sinch_async.testing._state import Plan

if TYPE_CHECKING:
    from sinch_async import AsyncSmsClient
    from sinch_async.conversation import AsyncConversationBatchClient

__all__ = ["SinchSimulator"]

log = logging.getLogger("sinch_async.testing")
T = TypeVar("T")


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


class _OnBackend(Generic[T]):
    """A ``SinchSimulator`` attribute kept on its backend (read and written through)."""

    def __init__(self, doc: str | None = None) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, sim: None, owner: type[Any]) -> _OnBackend[T]: ...
    @overload
    def __get__(self, sim: SinchSimulator, owner: type[Any]) -> T: ...
    def __get__(self, sim: SinchSimulator | None, owner: type[Any]) -> T | _OnBackend[T]:
        if sim is None:
            return self
        value: T = getattr(sim._backend, self.name)
        return value

    def __set__(self, sim: SinchSimulator, value: T) -> None:
        setattr(sim._backend, self.name, value)


class SinchSimulator:
    """A real aiohttp server speaking the Sinch SMS and Conversation Batch APIs, on a sim clock.

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

    The options other than ``host`` and ``port`` configure its backend, and the attributes
    of the same name (``service_plan_id``, ``inbound_callback_url``, ...) read and write
    the backend's.
    """

    service_plan_id = _OnBackend[str]()
    api_token = _OnBackend[str]()
    project_id = _OnBackend[str]()
    key_id = _OnBackend[str]()
    key_secret = _OnBackend[str]()
    messages_per_second = _OnBackend[float]("Default dispatch rate of new service plans.")
    webhook_secret = _OnBackend["str | None"]()
    inbound_callback_url = _OnBackend["str | None"]("Where :meth:`inject_inbound` POSTs.")
    clock = _OnBackend[SimClock]("The simulated clock.")
    journal = _OnBackend[Journal]("What the simulator saw: requests, batches, dispatches.")
    faults = _OnBackend[FaultInjector]("Scripted faults and the request-rate limit.")
    conversation = _OnBackend[ConversationState](
        "The Conversation Batch API's state (batches, cancel requests)."
    )

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
        self._backend = SimulatorBackend(
            service_plan_id=service_plan_id,
            api_token=api_token,
            project_id=project_id,
            key_id=key_id,
            key_secret=key_secret,
            messages_per_second=messages_per_second,
            delivery_delay=delivery_delay,
            token_ttl=token_ttl,
            webhook_secret=webhook_secret,
            default_callback_url=default_callback_url,
            inbound_callback_url=inbound_callback_url,
            time_scale=time_scale,
            start_time=start_time,
            failure_rules=failure_rules,
            rate_limit_rps=rate_limit_rps,
            callback_max_attempts=callback_max_attempts,
            callback_retry_base=callback_retry_base,
            callback_timeout=callback_timeout,
            seed=seed,
            journal_max_requests=journal_max_requests,
            conversation_processing_delay=conversation_processing_delay,
        )
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.tick_interval = 0.05
        """Real seconds between background ticks when no callback wakes the tick earlier."""

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Bind the server and start the background tick (processing and callbacks)."""
        if self._runner is not None:
            return
        runner = web.AppRunner(build_app(self._backend), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        self._backend.open()
        self._ticker = asyncio.create_task(self._tick_loop(), name="sinch-simulator-tick")

    async def stop(self) -> None:
        """Stop the tick, close the callback session and the server (state is kept)."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await self._backend.close()
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
        backend = self._backend
        while True:
            await backend.wait_for_work(self.tick_interval)
            try:
                await backend.tick()
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
        return self._backend.token_requests

    @property
    def plans(self) -> dict[str, Plan]:
        """Service plans (and the OAuth project) by id."""
        return self._backend.plans

    @property
    def plan(self) -> Plan:
        """The default service plan."""
        return self._backend.plan()

    @property
    def callbacks(self) -> list[CallbackRecord]:
        """Every callback the simulator queued, with its delivery attempts."""
        return self._backend.callbacks

    def add_service_plan(
        self, service_plan_id: str, api_token: str, *, messages_per_second: float | None = None
    ) -> Plan:
        """Add a service plan with its own token, state and dispatch queue."""
        return self._backend.add_service_plan(
            service_plan_id, api_token, messages_per_second=messages_per_second
        )

    def set_failure_rules(self, rules: OutcomeRules) -> None:
        """Replace the outcome rules (applies to messages dispatched from now on)."""
        self._backend.set_failure_rules(rules)

    def expire_tokens(self) -> None:
        """Make every OAuth2 token issued so far expired."""
        self._backend.expire_tokens()

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

    # -- time and inbound messages ----------------------------------------------------------
    def process(self) -> None:
        """Process everything due on the simulated clock now (no callbacks sent)."""
        self._backend.process()

    async def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``, stepping through every event on the way.

        Dispatches, deliveries, expiries and callbacks (including retries) due in the
        interval all happen, in time order, before this returns.
        """
        await self._backend.advance(seconds)

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
        return self._backend.inject_inbound(
            from_,
            to,
            body,
            type,
            udh=udh,
            client_reference=client_reference,
            operator_id=operator_id,
            sent_at=sent_at,
            media=media,
            subject=subject,
            service_plan_id=service_plan_id,
        )

    # -- state that survives a restart ------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The state (batches, delivery reports, groups, inbounds, journal batches and
        dispatches, clock) as a JSON-ready dict, for :meth:`restore`."""
        return self._backend.snapshot()

    def restore(self, state: Any) -> None:
        """Load a :meth:`snapshot` (of another run) into this simulator, which holds no state
        yet. ValueError if it is not one, or names a service plan this one does not have."""
        self._backend.restore(state)

    def save_state(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`snapshot` to ``path`` as JSON, atomically (temporary file + rename)."""
        write_state_file(path, self.snapshot())

    def load_state(self, path: str | os.PathLike[str]) -> bool:
        """:meth:`restore` from a :meth:`save_state` file; False (nothing done) if ``path``
        does not exist. ValueError (``StateFileError``) if it is not a state file."""
        state = read_state_file(path)
        if state is None:
            return False
        self.restore(state)
        return True

    # -- controls (also served under /_simulator/) -----------------------------------------
    def reset(self) -> None:
        """Forget all state (batches, groups, inbounds, reports, journal, callbacks, tokens,
        Conversation batches, faults); keep plans, credentials, rates, rules and the clock."""
        self._backend.reset()

    def set_messages_per_second(
        self, messages_per_second: float, service_plan_id: str | None = None
    ) -> None:
        """Change a service plan's dispatch rate (default: the default plan)."""
        self._backend.set_messages_per_second(messages_per_second, service_plan_id)

    @property
    def failure_rules(self) -> OutcomeRules:
        """The outcome rules in force (see :meth:`set_failure_rules`)."""
        return self._backend.failure_rules

    @property
    def control_url(self) -> str:
        """The base of the control API (``Authorization: Bearer <api_token>``)."""
        return self.url + "/_simulator"
