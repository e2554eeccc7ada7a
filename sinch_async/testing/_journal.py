"""What the simulator saw: requests, created batches, dispatched messages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sinch_async.testing._util import normalize_msisdn

if TYPE_CHECKING:
    from sinch_async.testing._models import Batch, Recipient

__all__ = ["DispatchedMessage", "Journal", "JournalEntry"]

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


@dataclass(slots=True)
class JournalEntry:
    """One HTTP request received by the simulator.

    ``status`` is None when the connection was dropped without a response (``dropped`` is
    then ``"before"`` or ``"after"`` processing). ``headers`` never holds Authorization or
    cookies. ``json`` is the decoded JSON body (None if absent or not JSON).
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int | None
    time: datetime
    plan_id: str | None = None
    dropped: str | None = None
    fault: bool = False


@dataclass(frozen=True, slots=True)
class DispatchedMessage:
    """One message handed to the (simulated) SMSC: recipient in E.164 with ``+``."""

    batch_id: str
    recipient: str
    body: Any
    parts: int
    time: datetime


def scrub_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k: v for k, v in headers if k.lower() not in _SECRET_HEADERS}


class Journal:
    """Inspection helpers for tests.

    * :attr:`requests`: every request, in arrival order.
    * :meth:`batches_created`: every batch accepted (201), as ``GET /batches/{id}`` shows it now.
    * :meth:`recipients_sent`: one E.164 number per message *accepted*: the recipients of
      every accepted batch, in creation order (direct numbers at creation, group members
      once the batch is released; canceled batches included). A number in two batches
      appears twice.
    * :meth:`recipients_dispatched`: one E.164 number per message *dispatched* so far, in
      dispatch order (only what the simulated clock has reached).
    """

    def __init__(self, max_requests: int | None = None) -> None:
        self.max_requests = max_requests  # keep at most this many (oldest dropped); None = all
        self.requests: list[JournalEntry] = []
        self._batches: list[Batch] = []
        self._dispatched: list[DispatchedMessage] = []

    def clear(self) -> None:
        """Forget all requests, created batches and dispatched messages (state is kept)."""
        self.requests.clear()
        self._batches.clear()
        self._dispatched.clear()

    # -- recording (called by the simulator) ----------------------------------
    def record_request(self, entry: JournalEntry) -> None:
        self.requests.append(entry)
        limit = self.max_requests
        if limit is not None and len(self.requests) > 2 * limit:
            del self.requests[:-limit]

    def record_batch(self, batch: Batch) -> None:
        self._batches.append(batch)

    def record_dispatch(self, r: Recipient, t: float) -> None:
        self._dispatched.append(
            DispatchedMessage(
                r.batch.id,
                r.msisdn,
                r.body,
                r.parts,
                datetime.fromtimestamp(t, timezone.utc),
            )
        )

    # -- queries -------------------------------------------------------------
    def find(
        self, method: str | None = None, path_contains: str | None = None
    ) -> list[JournalEntry]:
        """Requests filtered by method and a substring of the path."""
        return [
            e
            for e in self.requests
            if (method is None or e.method == method.upper())
            and (path_contains is None or path_contains in e.path)
        ]

    def batches_created(self) -> list[dict[str, Any]]:
        """Accepted batches in creation order, rendered as the API shows them now."""
        return [b.to_json() for b in self._batches]

    def recipients_sent(self) -> list[str]:
        """E.164 numbers (with ``+``), one per accepted message, in batch-creation order."""
        return [n for b in self._batches for n in b.recipients]

    def recipients_dispatched(self) -> list[str]:
        """E.164 numbers (with ``+``), one per dispatched message, in dispatch order."""
        return [m.recipient for m in self._dispatched]

    def dispatched(self) -> list[DispatchedMessage]:
        """Dispatched messages with their final rendered body, in dispatch order."""
        return list(self._dispatched)

    def assert_each_recipient_once(
        self, expected: Iterable[str] | None = None, *, dispatched: bool = False
    ) -> None:
        """Assert no recipient got more than one message (and, if given, exactly ``expected``).

        Uses :meth:`recipients_sent` (or :meth:`recipients_dispatched` if ``dispatched``).
        ``expected`` numbers may be written in any accepted MSISDN form.
        """
        sent = self.recipients_dispatched() if dispatched else self.recipients_sent()
        counts = Counter(sent)
        dupes = {n: c for n, c in counts.items() if c > 1}
        problems: list[str] = []
        if dupes:
            shown = ", ".join(f"{n} x{c}" for n, c in sorted(dupes.items())[:20])
            more = "" if len(dupes) <= 20 else f" (and {len(dupes) - 20} more)"
            problems.append(f"{len(dupes)} recipient(s) got more than one message: {shown}{more}")
        if expected is not None:
            want = {normalize_msisdn(n) or n for n in expected}
            missing = sorted(want - counts.keys())
            extra = sorted(counts.keys() - want)
            if missing:
                shown = ", ".join(missing[:20])
                problems.append(f"{len(missing)} expected recipient(s) got no message: {shown}")
            if extra:
                problems.append(
                    f"{len(extra)} unexpected recipient(s) got a message: {', '.join(extra[:20])}"
                )
        if problems:
            what = "dispatched" if dispatched else "accepted"
            raise AssertionError(
                f"{len(sent)} message(s) {what} for {len(counts)} recipient(s); "
                + "; ".join(problems)
            )
