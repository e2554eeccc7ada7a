"""Exceptions of the webhook receiver."""

from __future__ import annotations

from sinch_async._redact import mask_numbers
from sinch_async.errors import SinchError

__all__ = ["InvalidCallbackError", "InvalidSignatureError", "WebhookError"]


class WebhookError(SinchError, ValueError):
    """Base class of the errors raised while receiving a Sinch callback."""


class InvalidCallbackError(WebhookError):
    """The callback body is not a Sinch callback: malformed JSON, not an object, no ``type``,
    or a known ``type`` whose fields do not have the documented shape.

    Receivers answer it with HTTP 400, which Sinch does not retry.
    """

    def __init__(self, message: str) -> None:
        super().__init__(mask_numbers(message))


class InvalidSignatureError(WebhookError):
    """The callback's HMAC signature headers are missing, malformed, wrong, outside the
    timestamp window, or replayed.

    ``reason`` is one of :attr:`REASONS`: ``"missing_header"``, ``"invalid_timestamp"``,
    ``"unsupported_algorithm"``, ``"bad_signature"``, ``"stale_timestamp"`` or
    ``"replayed_nonce"``. ``header`` names the header concerned, if any. The message never
    contains the secret or the expected signature. Receivers answer it with HTTP 401.
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
