"""The package's shape: small modules, short functions, and an import graph with no cycle.

A long function may stay whole where it reads better so, with a comment on its ``def`` line
saying ``long:`` and why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "yourgpt_async"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
MODULES = sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Package modules ``path`` imports, at any depth of its code (lazy imports included)."""
    module = _name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[: len(base) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("yourgpt_async"):
            found.add(node.module or "")
    known = {_name(p) for p in MODULES}
    return {name for name in found if name in known and name != module}


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_is_small(path: Path) -> None:
    """No module is over 600 lines."""
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_functions_are_short(path: Path) -> None:
    """No function is over 60 lines, unless its def line says ``long:`` and why."""
    lines = path.read_text().splitlines()
    too_long = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES and "long:" not in lines[node.lineno - 1]:
                too_long.append(f"{node.name} ({length} lines)")
    assert not too_long


def test_no_import_cycle() -> None:
    """The package's modules import each other without a cycle (parents importing their own
    subpackage's modules aside, as ``__init__`` re-exports them)."""
    # A package's __init__ imports its children; that is not a cycle.
    graph = {
        name: {target for target in _imports(path) if not target.startswith(name + ".")}
        for path in MODULES
        for name in [_name(path)]
    }
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, trail: list[str]) -> bool:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycle.extend([*trail[trail.index(target) :], target] if target in trail else [])
                return True
            if state.get(target) is None and visit(target, [*trail, target]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if state.get(start) is None and visit(start, [start]):
            break
    assert not cycle, " -> ".join(cycle)


def test_the_graph_is_read() -> None:
    """The import scan finds known edges, so the cycle test is not vacuous."""
    client = _imports(PACKAGE / "_calls.py")
    assert {"yourgpt_async._transport", "yourgpt_async._wire"} <= client
