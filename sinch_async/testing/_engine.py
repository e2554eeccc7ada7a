"""The per-service-plan message lifecycle on the simulated clock.

A discrete-event model, processed lazily (on every request, on the background tick and
step by step in ``SimulatorBackend.advance``):

* release: at ``send_at`` (or on creation) group IDs expand, parameters render and the
  recipients join the plan's FIFO dispatch queue (Queued, code 400);
* dispatch: the queue drains at ``messages_per_second`` (Dispatched, code 401);
* final: ``delivery_delay`` seconds after dispatch the outcome rule decides the final
  status (Delivered/0 by default);
* expiry: at ``expire_at`` recipients still queued become Expired (code 406);
* cancel: recipients still queued become Cancelled (code 407); a batch cancelled before its
  ``send_at`` keeps an empty delivery report.
"""

from __future__ import annotations

import heapq
import re
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from sinch_async.encoding import count_parts
from sinch_async.testing._models import Batch, Recipient
from sinch_async.testing._util import looks_like_id, normalize_msisdn

if TYPE_CHECKING:
    from sinch_async.testing._callbacks import CallbackDispatcher
    from sinch_async.testing._journal import Journal

__all__ = [
    "DEFAULT_CODES",
    "Context",
    "Lifecycle",
    "Outcome",
    "OutcomeRules",
    "lookup_table",
    "make_outcome",
    "render_parameters",
]

Outcome = str | tuple[str, int] | None
OutcomeRules = Mapping[str, str | tuple[str, int]] | Callable[[str], Outcome] | None

#: The code reported with a final status when a rule gives only the status.
DEFAULT_CODES: dict[str, int] = {
    "Delivered": 0,
    "Failed": 15,
    "Expired": 406,
    "Rejected": 408,
    "Aborted": 402,
    "Deleted": 0,
    "Unknown": 0,
    "Cancelled": 407,
}

_RELEASE, _EXPIRE, _FINAL = 0, 1, 2
_INF = float("inf")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def make_outcome(rules: OutcomeRules) -> Callable[[str], tuple[str, int]]:
    """Turn ``failure_rules`` (prefix map or callable) into recipient -> (status, code)."""

    def resolve(value: Outcome) -> tuple[str, int]:
        if value is None:
            return ("Delivered", 0)
        if isinstance(value, tuple):
            return (value[0], int(value[1]))
        return (value, DEFAULT_CODES.get(value, 0))

    if rules is None:
        return lambda _r: ("Delivered", 0)
    if callable(rules):
        fn = rules
        return lambda r: resolve(fn(r))
    prefixes: list[tuple[str, tuple[str, int]]] = []
    for prefix, value in rules.items():
        digits = prefix.strip().lstrip("+")
        prefixes.append(("+" + digits, resolve(value)))
    prefixes.sort(key=lambda p: len(p[0]), reverse=True)  # longest prefix wins

    def by_prefix(recipient: str) -> tuple[str, int]:
        for prefix, outcome in prefixes:
            if recipient.startswith(prefix):
                return outcome
        return ("Delivered", 0)

    return by_prefix


def lookup_table(params: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """A batch's ``parameters`` with their recipient keys normalized to E.164."""
    table: dict[str, dict[str, str]] = {}
    for key, per in params.items():
        norm: dict[str, str] = {}
        for who, value in per.items():
            n = normalize_msisdn(who) if who != "default" else None
            norm[n or who] = value
        table[key] = norm
    return table


def render_parameters(text: str, table: dict[str, dict[str, str]], recipient: str) -> str | None:
    """Substitute ``${key}`` for ``recipient``; None if a key has no value and no default."""
    missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal missing
        per = table.get(m.group(1))
        if per is None:
            return m.group(0)  # not a declared parameter: left as is
        value = per.get(recipient, per.get("default"))
        if value is None:
            missing = True
            return ""
        return value

    out = _PLACEHOLDER.sub(sub, text)
    return None if missing else out


class PlanView(Protocol):
    def expand_group(self, group_id: str) -> list[str]: ...


class Context:
    """What the lifecycle needs from the backend: journal, callbacks, outcome rules, timings."""

    def __init__(
        self,
        journal: Journal,
        callbacks: CallbackDispatcher,
        outcome: Callable[[str], tuple[str, int]],
        delivery_delay: float,
        default_callback_url: str | None,
    ) -> None:
        self.journal = journal
        self.callbacks = callbacks
        self.outcome = outcome
        self.delivery_delay = delivery_delay
        self.default_callback_url = default_callback_url


class Lifecycle:
    """Event heap + FIFO dispatch queue of one service plan."""

    __slots__ = ("_heap", "_interval", "_queue", "_seq", "ctx", "cursor", "plan")

    def __init__(self, ctx: Context, plan: PlanView, messages_per_second: float) -> None:
        self.ctx = ctx
        self.plan = plan
        self._heap: list[tuple[float, int, int, Any, Any]] = []
        self._queue: deque[tuple[float, Recipient]] = deque()
        self._seq = 0
        self.cursor = 0.0
        self._interval = 1.0 / messages_per_second if messages_per_second > 0 else 0.0

    def _push(self, t: float, kind: int, obj: Any, extra: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, obj, extra))

    @property
    def messages_per_second(self) -> float:
        """The dispatch rate (0 means no throttling)."""
        return 1.0 / self._interval if self._interval else 0.0

    def set_messages_per_second(self, messages_per_second: float) -> None:
        """Change the dispatch rate (messages already dispatched keep their times)."""
        self._interval = 1.0 / messages_per_second if messages_per_second > 0 else 0.0

    # -- scheduling ----------------------------------------------------------
    def schedule(self, batch: Batch, now: float) -> None:
        """Register a new or changed batch: release now or at send_at, expire at expire_at."""
        batch.version += 1
        if batch.send_at is not None and batch.send_at > now:
            self._push(batch.send_at, _RELEASE, batch, batch.version)
        else:
            self.release(batch, now)
        self._push(batch.expire_at, _EXPIRE, batch, batch.version)

    def next_time(self) -> float:
        q = self._queue
        while q and q[0][1].status != "Queued":
            q.popleft()
        t_disp = max(self.cursor, q[0][0]) if q else _INF
        t_ev = self._heap[0][0] if self._heap else _INF
        return t_disp if t_disp < t_ev else t_ev

    def process(self, now: float) -> None:
        """Handle everything due up to ``now``, in time order."""
        heap = self._heap
        q = self._queue
        while True:
            while q and q[0][1].status != "Queued":
                q.popleft()
            t_disp = max(self.cursor, q[0][0]) if q else _INF
            t_ev = heap[0][0] if heap else _INF
            if t_ev <= t_disp:
                if t_ev > now:
                    return
                t, _, kind, obj, extra = heapq.heappop(heap)
                if kind == _FINAL:
                    self._finish(obj, t, extra)
                elif extra == obj.version:
                    if kind == _RELEASE:
                        self.release(obj, t)
                    else:
                        self._expire(obj, t)
            else:
                if t_disp > now:
                    return
                _, r = q.popleft()
                self._dispatch(r, t_disp)
                self.cursor = t_disp + self._interval

    # -- transitions -----------------------------------------------------------
    def release(self, batch: Batch, t: float) -> None:
        if batch.released:
            return
        batch.released = True
        recipients = batch.recipients
        for entry in batch.to:
            if not entry.startswith("+") and looks_like_id(entry):
                for number in self.plan.expand_group(entry):
                    if number not in recipients:
                        recipients[number] = Recipient(number, batch, batch.created_at)
        table = lookup_table(batch.opts.get("parameters") or {})
        max_parts = batch.opts.get("max_number_of_message_parts")
        truncate = bool(batch.opts.get("truncate_concat"))
        pending = 0
        for r in recipients.values():
            if r.status != "Queued":
                continue
            r.body = body = _render(batch, table, r.msisdn)
            if body is None:
                self._set(r, "Aborted", 405, t)
                continue
            if isinstance(body, str) and batch.type == "mt_text":
                parts = count_parts(body)
                r.parts = 1 if truncate else parts.parts
                r.encoding = parts.encoding
            if max_parts is not None and r.parts > max_parts:
                self._set(r, "Aborted", 411, t)
                continue
            pending += 1
            self._queue.append((t, r))
        batch.pending = pending
        self._check_done(batch, t)

    def _dispatch(self, r: Recipient, t: float) -> None:
        r.status = "Dispatched"
        r.code = 401
        r.at = t
        self.ctx.journal.record_dispatch(r, t)
        self._notify(r)
        status, code = self.ctx.outcome(r.msisdn)
        self._push(t + self.ctx.delivery_delay, _FINAL, r, (status, code))

    def _finish(self, r: Recipient, t: float, outcome: tuple[str, int]) -> None:
        if r.status != "Dispatched":
            return
        r.operator_status_at = t
        self._set(r, outcome[0], outcome[1], t)
        r.batch.pending -= 1
        self._check_done(r.batch, t)

    def _expire(self, batch: Batch, t: float) -> None:
        if not batch.released:
            self.release(batch, t)
        for r in batch.recipients.values():
            if r.status == "Queued":
                self._set(r, "Expired", 406, t)
                batch.pending -= 1
        self._check_done(batch, t)

    def cancel(self, batch: Batch, t: float) -> None:
        batch.canceled = True
        batch.version += 1  # drop the pending release/expiry events
        if not batch.released:
            # Nothing was sent yet: like Sinch, the delivery report of a cancelled scheduled
            # batch is empty (no Cancelled/407 entries, no recipient callbacks). The recipients
            # stay (the journal counts them as accepted), never released: reports skip them.
            batch.released = True
            batch.pending = 0
        else:
            for r in batch.recipients.values():
                if r.status == "Queued":
                    self._set(r, "Cancelled", 407, t)
                    batch.pending -= 1
        self._check_done(batch, t)

    def _set(self, r: Recipient, status: str, code: int, t: float) -> None:
        r.status = status
        r.code = code
        r.at = t
        self._notify(r)

    # -- callbacks -------------------------------------------------------------
    def _url(self, batch: Batch) -> str | None:
        url: str | None = batch.opts.get("callback_url") or self.ctx.default_callback_url
        return url

    def _notify(self, r: Recipient) -> None:
        mode = r.batch.delivery_report
        if mode == "per_recipient" or (mode == "per_recipient_final" and r.final):
            url = self._url(r.batch)
            if url:
                self.ctx.callbacks.enqueue(url, r.to_json(), kind="recipient_delivery_report")

    def _check_done(self, batch: Batch, t: float) -> None:
        if not batch.done or batch.summary_sent:
            return
        batch.summary_sent = True
        if batch.delivery_report in ("summary", "full"):
            url = self._url(batch)
            if url:
                body = batch.report_json(full=batch.delivery_report == "full")
                self.ctx.callbacks.enqueue(url, body, kind="delivery_report")


def _render(
    batch: Batch, table: dict[str, dict[str, str]], recipient: str
) -> str | dict[str, Any] | None:
    body = batch.body
    if not table or batch.type == "mt_binary":
        return body
    if isinstance(body, str):
        return render_parameters(body, table, recipient)
    out = dict(body)
    for key in ("message", "subject"):
        if isinstance(out.get(key), str):
            value = render_parameters(out[key], table, recipient)
            if value is None:
                return None
            out[key] = value
    return out
