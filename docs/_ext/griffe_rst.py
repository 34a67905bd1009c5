"""Griffe extension: render the package's reST inline markup as mkdocstrings Markdown.

The package's docstrings are Google style with reST inline markup, so that they read well in
``help()`` and in editors: ``code`` in double backticks, cross-references as roles
(``:class:`Sent```, ``:meth:`~yourgpt_async.AsyncClient.send_message```) and code examples
after a ``::``. This extension rewrites them when the docs are built:

- a role becomes an autorefs link to the object's public path (``yourgpt_async.Sent``
  rather than ``yourgpt_async.bulk._outcomes.Sent``), resolved from the documented object's
  scope, then among the public names; a built-in (``ValueError``) becomes plain code. A name
  that resolves to nothing is left as a link that autorefs cannot resolve, so
  ``mkdocs build --strict`` fails;
- an indented block after a line ending in ``::`` becomes a fenced ``python`` block.

It also documents the ``iter_*`` methods made by ``iterates(get_x)`` in a class body (a static
reader sees an attribute): each becomes a method with ``get_x``'s parameters, ``limit``
defaulting to 100 as it does at run time, and the docstring ``iterates`` gives it.
"""

from __future__ import annotations

import builtins
import functools
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|attr|exc|mod|data|obj):`(~?)([\w.]+)(\(\))?`")
_PUBLIC_PACKAGES = ("yourgpt_async", "yourgpt_async.testing")


class ReSTInline(griffe.Extension):
    """Rewrite reST roles and ``::`` literal blocks in every docstring of the package."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Rewrite the docstrings of the whole package once it is loaded."""
        public = _public_paths(pkg, loader)
        for obj in _walk(pkg):
            if obj.is_class:
                _iterating_twins(obj)  # type: ignore[arg-type]
        for obj in _walk(pkg):
            if obj.docstring is not None:
                text = _literal_blocks(obj.docstring.value)
                obj.docstring.value = _ROLE.sub(
                    functools.partial(_link, obj=obj, public=public), text
                )

    def on_package_loaded(
        self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any
    ) -> None:
        """The same, under the hook's name in Griffe 1 (Griffe 2 calls ``on_package``)."""
        self.on_package(pkg=pkg, loader=loader, **kwargs)


_ITERATES = re.compile(r"iterates\((\w+)\)")


def _iterating_twins(cls: griffe.Class) -> None:
    """Replace each ``iter_x = iterates(get_x)`` attribute by the method it makes."""
    for name, member in list(cls.members.items()):
        if member.is_alias or not member.is_attribute:
            continue
        found = _ITERATES.fullmatch(str(member.value or ""))  # type: ignore[union-attr]
        source = cls.members.get(found.group(1)) if found else None
        if source is None or source.is_alias or not source.is_function:
            continue
        parameters = [
            griffe.Parameter(p.name, annotation=p.annotation, kind=p.kind,
                             default="100" if p.name == "limit" else p.default)
            for p in source.parameters  # type: ignore[union-attr]
        ]  # fmt: skip
        getter = source.name
        text = (
            f"Iterate over every item :meth:`{getter}` lists, fetching page after page.\n\n"
            f"The same as ``async for item in await {getter}(...)``, with the same arguments; "
            "``limit`` is the page size (100 unless given), not a total."
        )
        twin = griffe.Function(
            name,
            lineno=member.lineno,
            endlineno=member.endlineno,
            parameters=griffe.Parameters(*parameters),
            returns="AsyncIterator",
            docstring=griffe.Docstring(
                text, parser=source.docstring.parser if source.docstring else None
            ),
        )
        twin.labels.add("async")
        cls.set_member(name, twin)
        twin.docstring.parent = twin  # type: ignore[union-attr]


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found += _walk(member)  # type: ignore[arg-type]
    return found


def _public_paths(pkg: griffe.Module, loader: griffe.GriffeLoader) -> dict[str, str]:
    """Canonical path -> public path, for every name in a public package's ``__all__``."""
    paths: dict[str, str] = {}
    for name in _PUBLIC_PACKAGES:
        module = loader.modules_collection.get_member(name) if name != pkg.path else pkg
        for export in module.exports or ():
            if isinstance(export, str) and export in module.members:
                member = module.members[export]
                target = member.target_path if isinstance(member, griffe.Alias) else member.path
                paths.setdefault(target, f"{module.path}.{export}")
    return paths


def _public(path: str, public: dict[str, str]) -> str:
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        head = ".".join(parts[:end])
        if head in public:
            return ".".join([public[head], *parts[end:]])
    return path


def _resolve(name: str, obj: griffe.Object, public: dict[str, str]) -> str | None:
    first, _, rest = name.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            path = scope.resolve(first)
        except griffe.NameResolutionError:
            path = None
        if path is not None:
            return _public(f"{path}.{rest}" if rest else path, public)
        scope = scope.parent
    for public_path in public.values():
        if public_path.rsplit(".", 1)[1] == first:
            return f"{public_path}.{rest}" if rest else public_path
    if name.startswith("yourgpt_async."):
        return _public(name, public)
    return None


def _link(match: re.Match[str], *, obj: griffe.Object, public: dict[str, str]) -> str:
    short, name, call = match.group(1), match.group(2), match.group(3) or ""
    title = (name.rsplit(".", 1)[-1] if short else name) + call
    if "." not in name and hasattr(builtins, name):
        return f"`{title}`"
    target = _resolve(name, obj, public) or name
    return f"[`{title}`][{target}]"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _literal_blocks(text: str) -> str:
    """Turn each ``::`` paragraph ending and its indented block into a fenced block."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.rstrip()
        if not stripped.endswith("::") or i + 1 >= len(lines) or lines[i + 1].strip():
            out.append(line)
            i += 1
            continue
        base = _indent(line)
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines) or _indent(lines[j]) <= base:
            out.append(line)
            i += 1
            continue
        block_indent = _indent(lines[j])
        end = j
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) >= block_indent):
            end += 1
        while end > j and not lines[end - 1].strip():
            end -= 1
        head = stripped[:-2].rstrip()
        if head:
            out.append(head + ":" if not stripped[:-2].endswith(" ") else head)
        pad = " " * base
        out += ["", f"{pad}```python"]
        out += [pad + block[block_indent:] if block.strip() else "" for block in lines[j:end]]
        out.append(f"{pad}```")
        i = end
    return "\n".join(out)
