"""Outgoing callbacks (delivery reports, inbound MOs), signed and retried on the sim clock."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import heapq
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec

from sinch_async.testing._clock import SimClock
from sinch_async.testing._util import IdFactory

__all__ = ["CallbackDispatcher", "CallbackRecord", "sign_webhook"]

_encode = msgspec.json.encode


def sign_webhook(body: bytes, secret: str, nonce: str, timestamp: int) -> str:
    """Sinch webhook signature: Base64(HMAC-SHA256(secret, body + "." + nonce + "." + timestamp)).

    The secret is used as UTF-8 bytes (not Base64-decoded) and ``body`` is the raw body.
    """
    signed = body + b"." + nonce.encode() + b"." + str(timestamp).encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(slots=True)
class CallbackRecord:
    """One callback and the outcome of its delivery attempts.

    ``kind`` is ``recipient_delivery_report``, ``delivery_report`` or ``inbound``.
    ``statuses`` holds the HTTP status of each attempt (None for a connection error).
    """

    url: str
    kind: str
    payload: dict[str, Any]
    body: bytes
    statuses: list[int | None] = field(default_factory=list)
    delivered: bool = False
    gave_up: bool = False

    @property
    def attempts(self) -> int:
        return len(self.statuses)


class CallbackDispatcher:
    """Queue of callbacks due on the simulated clock, sent one at a time in order.

    Retries 5xx, 429 and connection errors after ``retry_base`` * 2**(attempt-1) simulated
    seconds, at most ``max_attempts`` attempts; other statuses are final.
    """

    def __init__(
        self,
        clock: SimClock,
        secret: str | None,
        *,
        max_attempts: int = 8,
        retry_base: float = 5.0,
        timeout: float = 5.0,
    ) -> None:
        self.clock = clock
        self.secret = secret
        self.max_attempts = max(1, max_attempts)
        self.retry_base = retry_base
        self.timeout = timeout
        self.records: list[CallbackRecord] = []
        self._heap: list[tuple[float, int, CallbackRecord]] = []
        self._seq = 0
        self._ids = IdFactory()
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def open(self) -> None:
        """Create the HTTP session (and loop-bound primitives) in the running loop."""
        if self._session is None:
            self._lock = asyncio.Lock()
            self._wake = asyncio.Event()
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def close(self) -> None:
        """Close the HTTP session; callbacks stay queued until :meth:`open` again."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and :meth:`close` (only then are callbacks sent)."""
        return self._session is not None

    async def wait(self, timeout: float) -> None:
        """Wait until a callback is queued (or :meth:`wake_if_pending` wakes) or ``timeout``."""
        # Not asyncio.wait_for: on Python < 3.12 it can swallow a cancellation that races
        # with the event being set, and the caller's task could then never be cancelled.
        wake = self._wake
        timer = asyncio.get_running_loop().call_later(timeout, wake.set)
        try:
            await wake.wait()
        finally:
            timer.cancel()
        wake.clear()

    def wake_if_pending(self) -> None:
        """Wake :meth:`wait` if callbacks are queued."""
        if self.pending:
            self._wake.set()

    def enqueue(self, url: str, payload: dict[str, Any], *, kind: str) -> CallbackRecord:
        """Queue a callback due now and wake :meth:`wait`."""
        record = CallbackRecord(url, kind, payload, _encode(payload))
        self.records.append(record)
        self._push(self.clock.now_ts(), record)
        self._wake.set()
        return record

    def clear(self) -> None:
        """Forget every callback, sent or queued (for a reset)."""
        self.records.clear()
        self._heap.clear()

    def _push(self, due: float, record: CallbackRecord) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, record))

    def next_due(self) -> float:
        """Simulated time of the next attempt due (inf if none is queued)."""
        return self._heap[0][0] if self._heap else float("inf")

    @property
    def pending(self) -> int:
        """Callbacks waiting for a (first or retry) attempt."""
        return len(self._heap)

    async def flush(self) -> None:
        """Send every callback due now (retries scheduled later stay queued)."""
        if self._session is None:
            return
        async with self._lock:
            heap = self._heap
            for _ in range(len(heap) + 1):
                if not heap or heap[0][0] > self.clock.now_ts():
                    return
                _, _, record = heapq.heappop(heap)
                await self._attempt(record)

    async def _attempt(self, record: CallbackRecord) -> None:
        session = self._session
        if session is None:
            return
        headers = {"Content-Type": "application/json"}
        if self.secret:
            nonce = self._ids.new(time.time())
            ts = int(time.time())
            headers["x-sinch-webhook-signature"] = sign_webhook(record.body, self.secret, nonce, ts)
            headers["x-sinch-webhook-signature-nonce"] = nonce
            headers["x-sinch-webhook-signature-timestamp"] = str(ts)
            headers["x-sinch-webhook-signature-algorithm"] = "HmacSHA256"
        status: int | None
        try:
            async with session.post(record.url, data=record.body, headers=headers) as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            status = None
        record.statuses.append(status)
        if status is not None and 200 <= status < 300:
            record.delivered = True
            return
        retry = status is None or status == 429 or status >= 500
        if retry and record.attempts < self.max_attempts:
            delay = self.retry_base * (2 ** (record.attempts - 1))
            self._push(self.clock.now_ts() + delay, record)
        else:
            record.gave_up = True
