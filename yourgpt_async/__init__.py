"""yourgpt-async: an asyncio SDK for YourGPT's chatbot Project Integration API."""

from ._bulk import BulkItem, BulkRun, BulkSummary, Failed, InDoubt, Sent
from ._client import DEFAULT_BASE_URL, AsyncClient
from ._config import RateLimit, RetryPolicy, Timeouts
from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConnectError,
    DeliveryUnknownError,
    FailureKind,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RateLimiterUnavailableError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    UnexpectedResponseError,
    YourGPTError,
)
from ._models import (
    AILogEntry,
    ChatMode,
    Choice,
    ContentType,
    Message,
    Page,
    RateLimitInfo,
    RawResponse,
    SendBy,
    Session,
    SessionMessage,
    SessionState,
)
from ._ratelimit import Limiter, LimiterFactory
from ._redis import RedisRateLimit
from ._telemetry import RequestEvent, ResponseEvent, RetryEvent, ThrottleEvent

__version__ = "0.1.0"
"""The version of this package."""

__all__ = [
    "DEFAULT_BASE_URL",
    "AILogEntry",
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BulkItem",
    "BulkRun",
    "BulkSummary",
    "ChatMode",
    "Choice",
    "ConfigurationError",
    "ConnectError",
    "ContentType",
    "DeliveryUnknownError",
    "Failed",
    "FailureKind",
    "InDoubt",
    "Limiter",
    "LimiterFactory",
    "Message",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RateLimitInfo",
    "RateLimiterUnavailableError",
    "RawResponse",
    "RedisRateLimit",
    "RequestEvent",
    "ResponseEvent",
    "ResponseTooLargeError",
    "RetryEvent",
    "RetryPolicy",
    "SendBy",
    "Sent",
    "ServerError",
    "Session",
    "SessionMessage",
    "SessionState",
    "ThrottleEvent",
    "Timeouts",
    "TransportError",
    "UnexpectedResponseError",
    "YourGPTError",
    "__version__",
]
