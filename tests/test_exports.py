"""The public surface: what `yourgpt_async` exports, so the API changes only on purpose."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import typing

import yourgpt_async
import yourgpt_async.platform
import yourgpt_async.types

EXPORTED = [
    "DEFAULT_BASE_URL",
    "AILogEntry",
    "APIError",
    "AsyncClient",
    "AsyncPlatformClient",
    "AuthenticationError",
    "BadRequestError",
    "BulkInput",
    "BulkItem",
    "BulkOutcome",
    "BulkRun",
    "BulkSummary",
    "ChatMode",
    "Choice",
    "Company",
    "ConfigurationError",
    "ConnectError",
    "Contact",
    "ContactList",
    "ContactTag",
    "ContactTagsItem",
    "ContactType",
    "ContentType",
    "DeliveryUnknownError",
    "ExecutionLog",
    "Failed",
    "FailureKind",
    "FaqItem",
    "FileItem",
    "InDoubt",
    "Invitation",
    "KnowledgebaseHit",
    "Limiter",
    "LimiterFactory",
    "Member",
    "MemberPage",
    "Message",
    "NotFoundError",
    "NotSentError",
    "Organization",
    "OutboundCall",
    "Page",
    "PermissionDeniedError",
    "PlaygroundReply",
    "PlaygroundSession",
    "Priority",
    "QuotaExceededError",
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
    "ServerErrorInDoubt",
    "Session",
    "SessionMessage",
    "SessionState",
    "TextItem",
    "ThrottleEvent",
    "Timeouts",
    "TrainingFile",
    "TrainingText",
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
    """Every exported class is defined in a private module (``yourgpt_async._x`` or
    ``yourgpt_async.types._x``): the public paths are the packages, never a module's file."""
    for name in EXPORTED:
        value = getattr(yourgpt_async, name)
        if isinstance(value, type):
            root, *inner = value.__module__.split(".")
            assert root == "yourgpt_async", name
            assert any(part.startswith("_") for part in inner), name


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


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")  # Literal["ASC", "DESC"] names no class
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def _package_classes(name: str) -> set[type]:
    """The classes called `name` that a loaded module of the package defines."""
    return {
        value
        for module_name, module in list(sys.modules.items())
        if module_name.startswith("yourgpt_async") and module is not None
        for value in vars(module).values()
        if inspect.isclass(value) and value.__module__ == module_name and value.__name__ == name
    }


def _types_in_text(text: str, namespace: dict[str, object]) -> set[type]:
    """The classes a string annotation names, read as text when it does not evaluate (a name
    imported only for type checkers): each dotted name in it, looked up in the namespace of
    the module that wrote it, else among the package's classes of that name."""
    found: set[type] = set()
    for dotted in _DOTTED_NAME.findall(_QUOTED.sub("", text)):
        head, *rest = dotted.split(".")
        value = namespace.get(head)
        for part in rest:
            value = getattr(value, part, None)
        if value is None:
            found |= _package_classes(dotted.rsplit(".", 1)[-1])
        else:
            found |= _named_types(value)
    return found


def _annotated_types(target: object) -> dict[str, set[type]]:
    """The classes each public annotation of a function or class names, by annotated name.

    Under ``from __future__ import annotations`` every annotation is a string. They are
    resolved by ``typing.get_type_hints``, in the globals of the module that wrote them; when
    one does not resolve there, each is evaluated on its own and, failing that, read as text.
    """
    try:
        hints = typing.get_type_hints(target)
    except (NameError, TypeError, AttributeError):
        pass
    else:
        return {name: _named_types(hint) for name, hint in hints.items() if name[:1] != "_"}
    found: dict[str, set[type]] = {}
    owners = inspect.getmro(target) if inspect.isclass(target) else (target,)
    for owner in owners:
        module = sys.modules.get(getattr(owner, "__module__", ""))
        namespace = getattr(owner, "__globals__", None) or (vars(module) if module else {})
        for name, annotation in inspect.get_annotations(owner).items():
            if name.startswith("_"):
                continue
            if isinstance(annotation, str):
                try:
                    types = _named_types(eval(annotation, namespace))
                except Exception:  # a name imported only for type checkers, say
                    types = _types_in_text(annotation, namespace)
            else:
                types = _named_types(annotation)
            found.setdefault(name, set()).update(types)
    return found


def _signatures(member: object) -> list[tuple[str, object]]:
    """The public callables and annotated attributes of an exported class or function."""
    if not inspect.isclass(member):
        return [(getattr(member, "__name__", "?"), member)] if callable(member) else []
    found: list[tuple[str, object]] = [(member.__name__, member)]  # its attributes (attrs fields)
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


# The public packages: a class exported by any of them can be named by a user.
PUBLIC_PACKAGES = (yourgpt_async, yourgpt_async.platform, yourgpt_async.types)


def test_exported_members() -> None:
    """Every class of the package that a public signature names (a parameter, a return, a
    public attribute of an exported class) is exported by a public package too (the top
    level, ``platform`` for its resources, ``types`` for the models), so a user can name it in
    their own annotations without reaching into a private module."""
    exported = {
        id(getattr(package, name)) for package in PUBLIC_PACKAGES for name in package.__all__
    }
    missing: dict[str, set[str]] = {}
    for package in PUBLIC_PACKAGES:
        for name in package.__all__:
            _check_signatures(getattr(package, name), exported, missing)
    report = "\n".join(
        f"  {name}, named by {', '.join(sorted(seen))}" for name, seen in sorted(missing.items())
    )
    assert not missing, f"named in public signatures but not exported:\n{report}"


def _check_signatures(member: object, exported: set[int], missing: dict[str, set[str]]) -> None:
    """Note in ``missing`` each class ``member``'s public signatures name that is not exported."""
    for where, target in _signatures(member):
        for attribute, types in _annotated_types(target).items():
            for named in types:
                module = getattr(named, "__module__", "")
                if not module.startswith("yourgpt_async") or named.__name__.startswith("_"):
                    continue
                if id(named) not in exported:
                    missing.setdefault(f"{module}.{named.__name__}", set()).add(
                        f"{where} ({attribute})"
                    )
