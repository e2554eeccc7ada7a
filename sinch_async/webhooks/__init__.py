"""Receiving Sinch SMS callbacks: delivery reports and inbound (MO) messages.

* :func:`parse_callback` decodes a callback body into a typed struct (:data:`WebhookEvent`);
* :func:`verify_signature` checks Sinch's HMAC-SHA256 signature headers, with an optional
  replay guard (:class:`NonceCache`);
* :func:`sinch_webhook_handler` is a ready aiohttp handler, and
  ``sinch_async.webhooks.fastapi.sinch_webhook_router`` a FastAPI router (that module is the
  only one that imports FastAPI);
* :func:`handle_webhook` is the framework-independent core, for other frameworks;
* both receivers refuse before they read: a body over ``max_body_size``
  (:data:`DEFAULT_MAX_BODY_SIZE`, 1 MiB) is answered 413 on its ``Content-Length`` or as
  soon as the stream passes the cap, and every malformed or unauthenticated request gets a
  400 or 401 with one log line and no traceback;
* :class:`Deduplicator` and :func:`event_key` make handling idempotent: Sinch retries, so
  the same report can arrive more than once;
* for several processes behind one callback URL, the replay guard and the de-duplication
  store can be shared (:class:`AsyncReplayGuard`, :class:`ClaimingSeenStore`; on Redis in
  ``sinch_async.redis``); when such a store fails the receivers answer 503 and Sinch
  retries.
"""

from sinch_async.webhooks._aiohttp import sinch_webhook_handler
from sinch_async.webhooks._errors import (
    CallbackInProgressError,
    CallbackTooLargeError,
    InvalidCallbackError,
    InvalidSignatureError,
    WebhookError,
    WebhookRetryLater,
    WebhookStoreError,
)
from sinch_async.webhooks._idempotency import (
    DEFAULT_BUSY_WAIT,
    DEFAULT_DEDUP_TTL,
    ClaimingSeenStore,
    ClaimOutcome,
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
from sinch_async.webhooks._receiver import (
    DEFAULT_MAX_BODY_SIZE,
    AnyReplayGuard,
    OnEvent,
    WebhookResponse,
    handle_webhook,
)
from sinch_async.webhooks._signature import (
    ALGORITHM_HEADER,
    DEFAULT_TOLERANCE,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AsyncReplayGuard,
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
    "DEFAULT_BUSY_WAIT",
    "DEFAULT_DEDUP_TTL",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_TOLERANCE",
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AnyReplayGuard",
    "AsyncReplayGuard",
    "CallbackInProgressError",
    "CallbackTooLargeError",
    "ClaimOutcome",
    "ClaimingSeenStore",
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
    "WebhookRetryLater",
    "WebhookStoreError",
    "compute_signature",
    "event_key",
    "handle_webhook",
    "parse_callback",
    "sign_headers",
    "sinch_webhook_handler",
    "verify_signature",
]
