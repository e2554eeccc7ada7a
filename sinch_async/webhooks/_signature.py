"""Sinch callback signatures: HMAC-SHA256 over ``body.nonce.timestamp``, Base64."""

from __future__ import annotations

import base64
import heapq
import hmac
import inspect
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from sinch_async.webhooks._errors import InvalidSignatureError

__all__ = [
    "ALGORITHM_HEADER",
    "DEFAULT_TOLERANCE",
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AsyncReplayGuard",
    "NonceCache",
    "ReplayGuard",
    "Secret",
    "compute_signature",
    "sign_headers",
    "verify_signature",
]

SIGNATURE_HEADER = "x-sinch-webhook-signature"
NONCE_HEADER = "x-sinch-webhook-signature-nonce"
TIMESTAMP_HEADER = "x-sinch-webhook-signature-timestamp"
ALGORITHM_HEADER = "x-sinch-webhook-signature-algorithm"
DEFAULT_TOLERANCE = 300.0
"""Seconds a signed timestamp may differ from the local clock (either way)."""

Secret = str | bytes
"""A webhook secret: a ``str`` is used as its UTF-8 bytes (it is not Base64-decoded)."""

_ALGORITHMS: dict[str, str] = {
    "hmacsha256": "sha256",
    "hmacsha384": "sha384",
    "hmacsha512": "sha512",
}
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")  # ASCII digits only (``\d`` matches fullwidth ones)
_MAX_NONCE_LENGTH = 256
_MAX_SIGNATURE_LENGTH = 256  # Base64 of a SHA-512 HMAC is 88 characters


@runtime_checkable
class ReplayGuard(Protocol):
    """Remembers the nonces of accepted callbacks, to refuse a callback replayed later.

    :class:`NonceCache` is the in-memory implementation; for several processes behind a
    load balancer, use a shared store: :class:`AsyncReplayGuard`
    (``sinch_async.redis.RedisNonceCache``).
    """

    def check_and_add(self, nonce: str, *, timestamp: float, now: float) -> bool:
        """Record ``nonce`` and return ``True``, or return ``False`` if it was seen before."""
        ...

    def discard(self, nonce: str) -> None:
        """Forget ``nonce`` (the receiver calls this when ``on_event`` failed, so a retry
        carrying the same signature headers is not refused)."""
        ...


@runtime_checkable
class AsyncReplayGuard(Protocol):
    """A :class:`ReplayGuard` on a shared store reached over the network, with coroutines:
    ``sinch_async.redis.RedisNonceCache`` is one.

    The receivers and :func:`~sinch_async.webhooks.handle_webhook` accept either kind; they
    check the signature first, then await the guard. :func:`verify_signature` is synchronous
    and takes only a :class:`ReplayGuard`. When the store fails, raise
    :class:`~sinch_async.webhooks.WebhookStoreError` (an ``OSError`` or timeout is treated
    the same): the receivers answer 503 and Sinch retries.
    """

    async def check_and_add(self, nonce: str, *, timestamp: float, now: float) -> bool:
        """Record ``nonce`` and return ``True``, or return ``False`` if it was seen before."""
        ...

    async def discard(self, nonce: str) -> None:
        """Forget ``nonce`` (after ``on_event`` failed, so that a retry is not refused)."""
        ...


class NonceCache:
    """An in-memory :class:`ReplayGuard`: remembers each nonce until ``timestamp + ttl``.

    With ``ttl`` equal to the ``tolerance`` of :func:`verify_signature` (both default to
    300 s), a nonce is remembered exactly as long as its signed timestamp would still be
    accepted, so a replay is refused either by the cache or by the timestamp window. At most
    ``max_size`` nonces are kept; beyond that the ones expiring soonest are dropped. Only
    callbacks with a valid signature reach the cache, so an attacker cannot fill it.
    """

    def __init__(
        self,
        ttl: float = DEFAULT_TOLERANCE,
        max_size: int = 100_000,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be > 0")
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        self.ttl = float(ttl)
        self.max_size = max_size
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def __contains__(self, nonce: object) -> bool:
        if not isinstance(nonce, str):
            return False
        expiry = self._expiry.get(nonce)
        return expiry is not None and expiry > self._clock()

    def check_and_add(self, nonce: str, *, timestamp: float, now: float) -> bool:
        self._purge(now)
        expiry = self._expiry.get(nonce)
        if expiry is not None and expiry > now:
            return False
        expiry = max(timestamp, now) + self.ttl
        self._expiry[nonce] = expiry
        heapq.heappush(self._heap, (expiry, nonce))
        while len(self._expiry) > self.max_size:
            self._pop()
        return True

    def discard(self, nonce: str) -> None:
        self._expiry.pop(nonce, None)  # its heap entry is skipped when popped

    def clear(self) -> None:
        self._expiry.clear()
        self._heap.clear()

    def _purge(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            self._pop()
        if len(heap) > 2 * len(self._expiry) + 64:  # many stale entries after discards
            self._heap = [(e, n) for n, e in self._expiry.items()]
            heapq.heapify(self._heap)

    def _pop(self) -> None:
        expiry, nonce = heapq.heappop(self._heap)
        if self._expiry.get(nonce) == expiry:
            del self._expiry[nonce]


def _secret_bytes(secret: Secret) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    elif not isinstance(secret, bytes):
        raise TypeError("the webhook secret must be str or bytes")
    if not secret:
        raise ValueError("the webhook secret must not be empty")
    return secret


def _secrets(secret: Secret | Sequence[Secret]) -> list[bytes]:
    if isinstance(secret, (str, bytes)):
        return [_secret_bytes(secret)]
    keys = [_secret_bytes(s) for s in secret]
    if not keys:
        raise ValueError("at least one webhook secret is needed")
    return keys


def compute_signature(
    body: bytes,
    secret: Secret,
    nonce: str,
    timestamp: int | str,
    *,
    algorithm: str = "HmacSHA256",
) -> str:
    """``Base64(HMAC(secret, body + "." + nonce + "." + timestamp))``, as Sinch signs."""
    digest = _ALGORITHMS.get(algorithm.lower())
    if digest is None:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    signed = b".".join((bytes(body), nonce.encode("utf-8"), str(timestamp).encode("utf-8")))
    mac = hmac.new(_secret_bytes(secret), signed, digest).digest()
    return base64.b64encode(mac).decode("ascii")


def sign_headers(
    body: bytes,
    secret: Secret,
    *,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The four ``x-sinch-webhook-signature*`` headers Sinch would send with ``body``.

    For tests of your own receiver. ``nonce`` defaults to a random one and ``timestamp`` to
    now.
    """
    nonce = secrets.token_hex(13) if nonce is None else nonce
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        SIGNATURE_HEADER: compute_signature(body, secret, nonce, ts),
        NONCE_HEADER: nonce,
        TIMESTAMP_HEADER: str(ts),
        ALGORITHM_HEADER: "HmacSHA256",
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by lower-case name from any mapping (case-insensitive ones answer at once)."""
    value = headers.get(name)
    if value is None:
        for key, item in headers.items():
            if key.lower() == name:
                return item
    return value


def _required(headers: Mapping[str, str], name: str) -> str:
    value = _header(headers, name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidSignatureError(
            "missing_header", f"missing signature header {name!r}", header=name
        )
    return value.strip()


def _utf8(value: str, name: str, limit: int) -> bytes:
    """``value`` as UTF-8, or :class:`InvalidSignatureError` if too long or not encodable
    (lone surrogates: what aiohttp makes of bytes that are not UTF-8)."""
    if len(value) > limit:
        raise InvalidSignatureError("bad_signature", f"header {name!r} is too long", header=name)
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSignatureError(
            "bad_signature", f"header {name!r} is not valid UTF-8 text", header=name
        ) from None


def verify_signature(
    body: bytes,
    headers: Mapping[str, str],
    secret: Secret | Sequence[Secret],
    *,
    tolerance: float | None = DEFAULT_TOLERANCE,
    now: float | None = None,
    replay_guard: ReplayGuard | None = None,
) -> None:
    """Check the Sinch HMAC signature of a callback; return ``None`` or raise.

    Args:
        body: the raw request body, exactly as received (never a re-serialized JSON).
        headers: the request headers, any ``Mapping`` (a dict, aiohttp's ``CIMultiDict``,
            Starlette's ``Headers``); names are matched case-insensitively.
        secret: the webhook secret (``str`` as UTF-8, or ``bytes``), or a sequence of secrets
            to accept during a rotation.
        tolerance: how many seconds the signed timestamp may be older or newer than ``now``;
            ``None`` disables the check (for re-verifying stored callbacks).
        now: the current Unix time (default: ``time.time()``).
        replay_guard: e.g. a :class:`NonceCache`; a nonce seen before is refused.

    Any header content whatsoever (non-ASCII or fullwidth digits in the timestamp, lone
    surrogates, a nonce or signature longer than 256 characters) is refused with
    :class:`InvalidSignatureError` before any hashing; nothing else is raised for the
    request's input.

    An :class:`AsyncReplayGuard` (e.g. ``RedisNonceCache``) cannot be awaited here: pass it
    to the receivers or :func:`~sinch_async.webhooks.handle_webhook` instead.

    Raises:
        InvalidSignatureError: ``reason`` says what is wrong (see its docstring).
        ValueError: the secret is empty (``TypeError``: it is not ``str`` or ``bytes``, or
            ``replay_guard`` is an :class:`AsyncReplayGuard`).
    """
    if replay_guard is not None and inspect.iscoroutinefunction(replay_guard.check_and_add):
        raise TypeError(
            "verify_signature() is synchronous and cannot use an async replay guard: "
            "pass it to the receivers or to handle_webhook()"
        )
    nonce, timestamp, current = signed_nonce(body, headers, secret, tolerance=tolerance, now=now)
    if replay_guard is None:
        return
    accepted: object = replay_guard.check_and_add(nonce, timestamp=timestamp, now=current)
    if inspect.isawaitable(accepted):  # an async guard not defined with ``async def``
        close = getattr(accepted, "close", None)
        if callable(close):
            close()
        raise TypeError("verify_signature() cannot await the replay guard's check_and_add()")
    if not accepted:
        raise replayed_nonce()


def replayed_nonce() -> InvalidSignatureError:
    """The error for a nonce the replay guard has seen before."""
    return InvalidSignatureError(
        "replayed_nonce",
        "this signature nonce was already used by an accepted callback (a replay)",
        header=NONCE_HEADER,
    )


def signed_nonce(
    body: bytes,
    headers: Mapping[str, str],
    secret: Secret | Sequence[Secret],
    *,
    tolerance: float | None,
    now: float | None,
) -> tuple[str, float, float]:
    """:func:`verify_signature` without the replay guard; returns what the guard needs:
    ``(nonce, signed timestamp, now)``."""
    keys = _secrets(secret)
    signature = _required(headers, SIGNATURE_HEADER)
    nonce = _required(headers, NONCE_HEADER)
    timestamp_text = _required(headers, TIMESTAMP_HEADER)
    given: object = _header(headers, ALGORITHM_HEADER)
    if given is None or (isinstance(given, str) and not given.strip()):
        algorithm = "HmacSHA256"
    else:  # (a value that is not a string is no algorithm either)
        algorithm = given.strip() if isinstance(given, str) else type(given).__name__
    digest = _ALGORITHMS.get(algorithm.lower())
    if digest is None:
        raise InvalidSignatureError(
            "unsupported_algorithm",
            f"unsupported signature algorithm {algorithm[:40]!r} "
            "(supported: HmacSHA256, HmacSHA384, HmacSHA512)",
            header=ALGORITHM_HEADER,
        )
    if not _TIMESTAMP_RE.fullmatch(timestamp_text):
        raise InvalidSignatureError(
            "invalid_timestamp",
            f"header {TIMESTAMP_HEADER!r} is not a Unix time in seconds",
            header=TIMESTAMP_HEADER,
        )
    nonce_bytes = _utf8(nonce, NONCE_HEADER, _MAX_NONCE_LENGTH)
    provided = _utf8(signature, SIGNATURE_HEADER, _MAX_SIGNATURE_LENGTH)

    signed = b".".join((bytes(body), nonce_bytes, timestamp_text.encode("ascii")))
    valid = False
    for key in keys:  # no early exit: the time taken does not depend on which key matched
        expected = base64.b64encode(hmac.new(key, signed, digest).digest())
        valid |= hmac.compare_digest(expected, provided)
    if not valid:
        raise InvalidSignatureError(
            "bad_signature",
            "the webhook signature does not match the body "
            "(wrong secret, or the body was modified or re-serialized)",
            header=SIGNATURE_HEADER,
        )

    timestamp = int(timestamp_text)
    current = time.time() if now is None else now
    if tolerance is not None:
        skew = current - timestamp
        if skew > tolerance:
            raise InvalidSignatureError(
                "stale_timestamp",
                f"the signed timestamp is {skew:.0f} s old (tolerance {tolerance:g} s): "
                "a replay, or a clock out of sync",
                header=TIMESTAMP_HEADER,
            )
        if -skew > tolerance:
            raise InvalidSignatureError(
                "stale_timestamp",
                f"the signed timestamp is {-skew:.0f} s in the future "
                f"(tolerance {tolerance:g} s): a clock out of sync",
                header=TIMESTAMP_HEADER,
            )
    return nonce, float(timestamp), current
