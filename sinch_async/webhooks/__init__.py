"""Receiving Sinch SMS callbacks: delivery reports and inbound (MO) messages.

* :func:`parse_callback` decodes a callback body into a typed struct (:data:`WebhookEvent`);
* :func:`verify_signature` checks Sinch's HMAC-SHA256 signature headers, with an optional
  replay guard (:class:`NonceCache`);
* :func:`sinch_webhook_handler` is a ready aiohttp handler, and
  ``sinch_async.webhooks.fastapi.sinch_webhook_router`` a FastAPI router (that module is the
  only one that imports FastAPI);
* :func:`handle_webhook` is the framework-independent core, for other frameworks;
* :class:`Deduplicator` and :func:`event_key` make handling idempotent: Sinch retries, so
  the same report can arrive more than once.
"""

from sinch_async.webhooks._aiohttp import sinch_webhook_handler
from sinch_async.webhooks._errors import (
    InvalidCallbackError,
    InvalidSignatureError,
    WebhookError,
)
from sinch_async.webhooks._idempotency import (
    DEFAULT_DEDUP_TTL,
    Deduplicator,
    EventHandler,
    MemorySeenStore,
    SeenStore,
    event_key,
)
from sinch_async.webhooks._parse import (
    CALLBACK_TYPES,
    UnknownCallback,
    WebhookEvent,
    parse_callback,
)
from sinch_async.webhooks._receiver import OnEvent, WebhookResponse, handle_webhook
from sinch_async.webhooks._signature import (
    ALGORITHM_HEADER,
    DEFAULT_TOLERANCE,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    NonceCache,
    ReplayGuard,
    Secret,
    compute_signature,
    sign_headers,
    verify_signature,
)

__all__ = [
    "ALGORITHM_HEADER",
    "CALLBACK_TYPES",
    "DEFAULT_DEDUP_TTL",
    "DEFAULT_TOLERANCE",
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Deduplicator",
    "EventHandler",
    "InvalidCallbackError",
    "InvalidSignatureError",
    "MemorySeenStore",
    "NonceCache",
    "OnEvent",
    "ReplayGuard",
    "Secret",
    "SeenStore",
    "UnknownCallback",
    "WebhookError",
    "WebhookEvent",
    "WebhookResponse",
    "compute_signature",
    "event_key",
    "handle_webhook",
    "parse_callback",
    "sign_headers",
    "sinch_webhook_handler",
    "verify_signature",
]
