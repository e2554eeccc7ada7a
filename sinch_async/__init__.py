"""sinch_async: an asyncio-native client for the Sinch SMS REST API.

Quick use::

    from sinch_async import AsyncSmsClient

    async with AsyncSmsClient(service_plan_id="...", api_token="...", region="eu") as sms:
        batch = await sms.batches.send(to=["+46700000001"], body="Hi")
"""

from sinch_async._hooks import CallInfo, RequestEvent, ResponseEvent, RetryEvent, call_info
from sinch_async._options import ClientOptions, ClientSettings
from sinch_async._pagination import AsyncPaginator, Page
from sinch_async._ratelimit import Limiter, RateLimiter
from sinch_async._retry import RetryPolicy
from sinch_async._transport import DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT
from sinch_async._version import __version__
from sinch_async.client import AsyncSmsClient
from sinch_async.conversation import AsyncConversationBatchClient
from sinch_async.errors import (
    AmbiguousSendError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    EventLoopMismatchError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
    SinchConnectionError,
    SinchError,
    SinchTimeoutError,
    SinchValidationError,
)
from sinch_async.fanout import (
    ChunkResult,
    FanOutCancelled,
    FanOutProgress,
    FanOutReport,
    InvalidRecipient,
    MessageEstimate,
)
from sinch_async.models import (
    UNSET,
    AutoUpdate,
    AutoUpdateKeywords,
    Batch,
    BatchDeliveryReport,
    BinaryBatch,
    BinaryRequest,
    DeliveryReportType,
    DeliveryStatus,
    DryRunResult,
    Group,
    Inbound,
    InboundBinary,
    InboundMedia,
    InboundText,
    MediaBatch,
    MediaBody,
    MediaRequest,
    RecipientDeliveryReport,
    TextBatch,
    TextRequest,
    UpdateBatchRequest,
)
from sinch_async.numbers import normalize_number, same_number

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DEFAULT_TIMEOUT",
    "UNSET",
    "AmbiguousSendError",
    "ApiError",
    "AsyncConversationBatchClient",
    "AsyncPaginator",
    "AsyncSmsClient",
    "AuthenticationError",
    "AutoUpdate",
    "AutoUpdateKeywords",
    "BadRequestError",
    "Batch",
    "BatchDeliveryReport",
    "BinaryBatch",
    "BinaryRequest",
    "CallInfo",
    "ChunkResult",
    "ClientClosedError",
    "ClientOptions",
    "ClientSettings",
    "ConflictError",
    "DeliveryReportType",
    "DeliveryStatus",
    "DryRunResult",
    "EventLoopMismatchError",
    "FanOutCancelled",
    "FanOutProgress",
    "FanOutReport",
    "Group",
    "Inbound",
    "InboundBinary",
    "InboundMedia",
    "InboundText",
    "InvalidRecipient",
    "Limiter",
    "MediaBatch",
    "MediaBody",
    "MediaRequest",
    "MessageEstimate",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiter",
    "RecipientDeliveryReport",
    "RedirectError",
    "RequestEvent",
    "ResponseDecodeError",
    "ResponseEvent",
    "ResponseTooLargeError",
    "RetryEvent",
    "RetryPolicy",
    "ServerError",
    "SinchConnectionError",
    "SinchError",
    "SinchTimeoutError",
    "SinchValidationError",
    "TextBatch",
    "TextRequest",
    "UpdateBatchRequest",
    "__version__",
    "call_info",
    "normalize_number",
    "same_number",
]
