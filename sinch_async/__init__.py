"""sinch_async: an asyncio-native client for the Sinch SMS REST API.

Quick use::

    from sinch_async import AsyncSmsClient

    async with AsyncSmsClient(service_plan_id="...", api_token="...", region="eu") as sms:
        batch = await sms.batches.send(to=["+46700000001"], body="Hi")
"""

from sinch_async._hooks import CallInfo, RequestEvent, ResponseEvent, RetryEvent, call_info
from sinch_async._pagination import AsyncPaginator, Page
from sinch_async._ratelimit import RateLimiter
from sinch_async._retry import RetryPolicy
from sinch_async._transport import DEFAULT_TIMEOUT
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
    ResponseDecodeError,
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

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TIMEOUT",
    "AmbiguousSendError",
    "CallInfo",
    "ChunkResult",
    "FanOutCancelled",
    "FanOutProgress",
    "FanOutReport",
    "InvalidRecipient",
    "MessageEstimate",
    "RateLimiter",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "RetryPolicy",
    "call_info",
    "UNSET",
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
    "ClientClosedError",
    "ConflictError",
    "DeliveryReportType",
    "DeliveryStatus",
    "DryRunResult",
    "EventLoopMismatchError",
    "Group",
    "Inbound",
    "InboundBinary",
    "InboundMedia",
    "InboundText",
    "MediaBatch",
    "MediaBody",
    "MediaRequest",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "RecipientDeliveryReport",
    "ResponseDecodeError",
    "ServerError",
    "SinchConnectionError",
    "SinchError",
    "SinchTimeoutError",
    "SinchValidationError",
    "TextBatch",
    "TextRequest",
    "UpdateBatchRequest",
    "__version__",
    "normalize_number",
    "same_number",
]
