"""The public surface: what `yourgpt_async` exports, so the API changes only on purpose."""

from __future__ import annotations

import importlib
import inspect
import typing

import yourgpt_async

EXPORTED = [
    "DEFAULT_BASE_URL",
    "AILogEntry",
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BulkClient",
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
    "RateHints",
    "RateLimit",
    "RateLimitError",
    "RateLimitInfo",
    "RateLimiterUnavailableError",
    "RawResponse",
    "RawResponses",
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


def test_all_is_the_agreed_list() -> None:
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


def _named_types(annotation: object) -> set[type]:
    """Every class an annotation names, through unions, generics and callables."""
    found: set[type] = set()
    if isinstance(annotation, type):
        found.add(annotation)
    for argument in typing.get_args(annotation):
        if isinstance(argument, list):  # Callable[[...], ...]
            for item in argument:
                found |= _named_types(item)
        else:
            found |= _named_types(argument)
    origin = typing.get_origin(annotation)
    if isinstance(origin, type):
        found.add(origin)
    return found


def _signatures(member: object) -> list[tuple[str, object]]:
    """The public callables and annotated attributes of an exported class or function."""
    if not inspect.isclass(member):
        return [(getattr(member, "__name__", "?"), member)] if callable(member) else []
    found: list[tuple[str, object]] = [(member.__name__, member)]
    for name, value in vars(member).items():
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(value, property) and value.fget is not None:
            found.append((f"{member.__name__}.{name}", value.fget))
        elif isinstance(value, (staticmethod, classmethod)):
            found.append((f"{member.__name__}.{name}", value.__func__))
        elif inspect.isfunction(value):
            found.append((f"{member.__name__}.{name}", value))
    return found


def test_exported_members() -> None:
    """Every class of the package that a public signature names (a parameter, a return, a
    public attribute of an exported class) is exported too, so a user can name it in their
    own annotations without reaching into a private module."""
    missing: dict[str, set[str]] = {}
    for name in yourgpt_async.__all__:
        member = getattr(yourgpt_async, name)
        for where, target in _signatures(member):
            try:
                hints = typing.get_type_hints(target)
            except (NameError, TypeError):
                continue  # a hint only a type checker can resolve
            for attribute, hint in hints.items():
                if attribute.startswith("_"):
                    continue  # a private attribute's type is the package's own business
                for named in _named_types(hint):
                    module = getattr(named, "__module__", "")
                    if not module.startswith("yourgpt_async") or named.__name__.startswith("_"):
                        continue
                    if getattr(yourgpt_async, named.__name__, None) is not named:
                        missing.setdefault(named.__name__, set()).add(where)
    assert not missing, f"named in public signatures but not exported: {missing}"
