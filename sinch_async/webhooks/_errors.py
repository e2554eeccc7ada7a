"""Exceptions of the webhook receiver."""

from __future__ import annotations

from sinch_async._redact import mask_numbers
from sinch_async.errors import SinchError

__all__ = [
    "CallbackInProgressError",
    "CallbackTooLargeError",
    "InvalidCallbackError",
    "InvalidSignatureError",
    "WebhookError",
    "WebhookRetryLater",
    "WebhookStoreError",
]


class WebhookError(SinchError, ValueError):
    """Base class of the errors raised while receiving a Sinch callback."""


class InvalidCallbackError(WebhookError):
    """The callback body is not a Sinch callback: malformed JSON, not an object, no ``type``,
    or a known ``type`` whose fields do not have the documented shape.

    Receivers answer it with HTTP 400, which Sinch does not retry.
    """

    def __init__(self, message: str) -> None:
        super().__init__(mask_numbers(message))


class CallbackTooLargeError(WebhookError):
    """The callback body is longer than the receiver's ``max_body_size``.

    ``size`` is the length declared by ``Content-Length`` (or the length read so far, past
    the cap, for a body without one); ``max_body_size`` the cap. Receivers answer it with
    HTTP 413 and do not read the rest of the body.
    """

    def __init__(self, size: int, max_body_size: int) -> None:
        self.size = size
        self.max_body_size = max_body_size
        super().__init__(f"callback body over the limit of {max_body_size} bytes")


class InvalidSignatureError(WebhookError):
    """The callback's HMAC signature headers are missing, malformed, wrong, outside the
    timestamp window, or replayed.

    ``reason`` is one of :attr:`REASONS`: ``"missing_header"``, ``"invalid_timestamp"``,
    ``"unsupported_algorithm"``, ``"bad_signature"``, ``"stale_timestamp"`` or
    ``"replayed_nonce"``; a nonce or signature that is over 256 characters or not valid
    UTF-8 text is a ``"bad_signature"``, a timestamp that is not 1 to 12 ASCII digits an
    ``"invalid_timestamp"``. ``header`` names the header concerned, if any. The message never
    contains the secret, the expected signature, or the nonce or signature received.
    Receivers answer it with HTTP 401.
    """

    REASONS = frozenset(
        {
            "missing_header",
            "invalid_timestamp",
            "unsupported_algorithm",
            "bad_signature",
            "stale_timestamp",
            "replayed_nonce",
        }
    )

    def __init__(self, reason: str, message: str, *, header: str | None = None) -> None:
        self.reason = reason
        self.header = header
        super().__init__(message)


class WebhookRetryLater(SinchError):
    """The callback cannot be handled now, but a later delivery can be: receivers answer it
    with HTTP 503 (Sinch retries), one WARNING line and no traceback.

    Raised by a replay guard or a :class:`~sinch_async.webhooks.Deduplicator` (from inside
    ``on_event``); see the two subclasses.
    """


class WebhookStoreError(WebhookRetryLater):
    """A shared webhook store (the replay guard or the de-duplication store, e.g. Redis) is
    unreachable or failed. Receivers answer 503, never skip the callback silently.

    The message names the store and the kind of failure, never a password or a URL with
    credentials.
    """


class CallbackInProgressError(WebhookRetryLater):
    """Another process is handling the same callback right now (it holds the claim of the
    :class:`~sinch_async.webhooks.Deduplicator`'s store). Receivers answer 503; Sinch's
    retry finds it done (200 without running the handler) or released after a failure
    (the handler runs)."""
