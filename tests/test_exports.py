"""The public surface: what `yourgpt_async` exports, so the API changes only on purpose."""

from __future__ import annotations

import importlib

import yourgpt_async

EXPORTED = [
    "DEFAULT_BASE_URL",
    "AILogEntry",
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BulkInput",
    "BulkItem",
    "BulkOutcome",
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
    "Priority",
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


def isort_style(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps __all__ in: CONSTANTS, then Classes, then the rest."""
    category = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return category, name


def test_exported_members() -> None:
    """__all__ is exactly the agreed list, sorted, and every name in it is importable."""
    assert yourgpt_async.__all__ == EXPORTED
    assert yourgpt_async.__all__ == sorted(yourgpt_async.__all__, key=isort_style)
    module = importlib.import_module("yourgpt_async")
    for name in yourgpt_async.__all__:
        assert getattr(module, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from yourgpt_async import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(EXPORTED)


def test_public_objects_live_in_private_modules() -> None:
    """Every exported class is defined in a private `yourgpt_async._module`."""
    for name in EXPORTED:
        value = getattr(yourgpt_async, name)
        if isinstance(value, type):
            assert value.__module__.startswith("yourgpt_async._"), name
