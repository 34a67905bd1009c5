"""The registry of endpoint declarations, and everything that must derive from it.

A declared endpoint must have a method (and so a raw-response form), an emulator handler for
each family it serves, a fault name, and a row of the tests' call table; and its wire name is
written in one place of the package. Each check fails naming what is missing.
"""

from __future__ import annotations

import ast
import inspect
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _calls import CALLS

import yourgpt_async.platform
from yourgpt_async import AsyncClient, AsyncPlatformClient
from yourgpt_async._endpoints import Endpoint, Family, Safety, declare, registry
from yourgpt_async._replies import one
from yourgpt_async._resource import RawResponses, Resource, endpoint_of
from yourgpt_async.testing import Emulator
from yourgpt_async.testing._faults import ENDPOINT_NAMES
from yourgpt_async.types import Session

PACKAGE = Path(yourgpt_async.platform.__file__).parents[1]

# The classes whose methods call endpoints, by the family of their credential.
OWNERS: dict[Family, list[type[Any]]] = {
    Family.PROJECT: [AsyncClient],
    Family.PLATFORM: [
        value
        for value in vars(yourgpt_async.platform).values()
        if inspect.isclass(value) and issubclass(value, Resource)
    ],
}


def declared() -> set[tuple[Family, str]]:
    """Every (family, endpoint name) the registry declares."""
    return {(family, e.name) for e in registry().values() for family in e.families}


def methods(family: Family) -> dict[str, str]:
    """Endpoint name -> the method of ``family``'s classes that calls it."""
    found: dict[str, str] = {}
    for owner in OWNERS[family]:
        for name in dir(owner):
            endpoint = endpoint_of(getattr(owner, name))
            if endpoint is not None:
                found[endpoint.name] = f"{owner.__name__}.{name}"
    return found


def test_every_declared_endpoint_has_a_method_in_each_family() -> None:
    """Each (family, endpoint) has a method marked as calling it on that family's classes."""
    missing = {(family.value, name) for family, name in declared() if name not in methods(family)}
    assert not missing, f"declared without a method: {sorted(missing)}"


def test_every_method_calls_an_endpoint_of_its_family() -> None:
    """No method is marked with an endpoint its credential cannot call."""
    wrong = {
        where
        for family in Family
        for name, where in methods(family).items()
        if family not in registry()[name].families
    }
    assert not wrong


async def test_every_endpoint_method_is_in_the_raw_response_view() -> None:
    """``with_raw_response`` reaches every endpoint method, of the client and of each resource."""
    project = AsyncClient("k", widget_uid="w")
    platform = AsyncPlatformClient("t")
    bot = platform.project("p")
    views = {
        AsyncClient: project.with_raw_response,
        **{
            type(resource): RawResponses(resource)
            for resource in (
                platform.projects,
                platform.models,
                platform.organization,
                *(
                    getattr(bot, name)
                    for name in dir(type(bot))
                    if isinstance(getattr(type(bot), name), property)
                ),
            )
            if isinstance(resource, Resource)
        },
    }
    missing = []
    for family in Family:
        for where in methods(family).values():
            owner_name, method = where.split(".")
            view = next(v for cls, v in views.items() if cls.__name__ == owner_name)
            if method not in dir(view) or not callable(getattr(view, method)):
                missing.append(where)
    assert not missing, f"missing from with_raw_response: {missing}"
    await project.aclose()
    await platform.aclose()


async def test_the_emulator_serves_exactly_what_is_declared() -> None:
    """The emulator has a handler for each declared (family, endpoint), and for nothing else."""
    emulator = Emulator()
    served = set(emulator._handlers)
    assert declared() - served == set(), "declared but not served"
    assert served - declared() == set(), "served but not declared"


def test_every_declared_endpoint_can_be_faulted() -> None:
    """A fault plan takes exactly the declared endpoints' names."""
    assert set(ENDPOINT_NAMES) == set(registry())


def test_the_call_table_covers_every_declared_endpoint() -> None:
    """tests/_calls.py has a call for each declared (family, endpoint), so the parametrized
    retry, hostile-reply and fuzz tests cover it."""
    assert declared() - set(CALLS) == set(), "declared, with no call in tests/_calls.py"
    assert set(CALLS) - declared() == set(), "in tests/_calls.py, but not declared"


def _strings(path: Path) -> list[str]:
    """The string constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_each_wire_name_is_written_once_in_the_package() -> None:
    """Outside ``testing/``, each endpoint's wire name is a string in exactly one place."""
    counts: Counter[str] = Counter()
    names = set(registry())
    for path in PACKAGE.rglob("*.py"):
        if "testing" not in path.relative_to(PACKAGE).parts:
            counts.update(text for text in _strings(path) if text in names)
    assert {name: n for name, n in counts.items() if n != 1} == {}
    assert set(counts) == names


def test_the_wire_name_check_sees_a_second_spelling(tmp_path: Path) -> None:
    """The scan behind the once-only check finds a name written twice (so it is not vacuous)."""
    module = tmp_path / "m.py"
    module.write_text(
        '"""getSessions in a docstring is fine."""\nA = "getSessions"\nB = "getSessions"\n'
    )
    assert _strings(module).count("getSessions") == 2


def test_a_name_cannot_be_declared_twice() -> None:
    """Declaring a name again is refused, so two declarations can never disagree."""
    with pytest.raises(RuntimeError, match="declared twice"):
        declare(
            "createSession",
            safety=Safety.CREATE,
            reply=one(Session),
            families=Family.PROJECT,
            summary="again",
        )


@pytest.mark.parametrize("endpoint", list(registry().values()), ids=lambda e: e.name)
def test_each_declaration_is_complete(endpoint: Endpoint[Any]) -> None:
    """Every declaration has a summary, at least one family, and a reply with a model unless
    it returns nothing; a list has a page class."""
    assert endpoint.summary.endswith(".")
    assert endpoint.families
    if endpoint.reply.is_listing:
        assert endpoint.reply.page_type is not None
        assert endpoint.safety is Safety.READ
