"""A seed file for the emulator: a JSON object naming what to put into it before it serves.

``yourgpt-async emulator --seed seed.json`` (and ``python -m yourgpt_async.testing --seed``)
read one; each part calls the :class:`Emulator`'s public seeding method of the same idea, so a
seed file offers what a test in Python can do. Every key is optional::

    {
      "limits": {"projects": 5, "texts": 100, "files": 10, "credits": 50},
      "tokens": [{"token": "api-v1-viewer", "role": "viewer",
                  "projects": ["a1b2c3d4-0000-0000-0000-000000000001"],
                  "permissions": {"Training": ["Read"]}, "status": "active"}],
      "plans": [{"knowledgebase": false}],
      "documents": ["A paragraph the knowledge base holds.", {"text": "...", "project_uid": "..."}],
      "faqs": [{"question": "Do you ship to Norway?", "answer": "Yes.", "tags": ["shipping"]}],
      "texts": [{"text": "We ship to every EU country.", "title": "Shipping"}],
      "files": [{"name": "handbook.pdf", "status": "done"}],
      "companies": [{"name": "Acme", "website": "https://acme.example"}],
      "contacts": [{"name": "Ada", "email": "ada@example.com", "type": "LEADS",
                    "tags": ["vip"], "company": "Acme", "created_at": "2024-08-01"}],
      "members": [{"email": "bo@example.com", "role": "editor"}],
      "invitations": [{"email": "cy@example.com", "role": "viewer"}]
    }

Items of a project take ``project_uid`` (default: the first project's, the API key's); a
contact's ``company`` names a company of the same seed. A bad seed is refused whole with a
:class:`ValueError` naming the place (``contacts[2].type``) and what is expected.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar, cast, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, mapping_structure_factory

from ._emulator import Emulator
from ._platform import Limits, Token

__all__ = ["apply_seed", "read_seed"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class _Token:
    token: str
    role: str = "owner"
    projects: tuple[str, ...] | None = None
    permissions: dict[str, tuple[str, ...]] | None = None
    status: str = "active"


@attrs.frozen(kw_only=True)
class _Plan:
    knowledgebase: bool = True
    project_uid: str | None = None


@attrs.frozen(kw_only=True)
class _Document:
    text: str
    project_uid: str | None = None


@attrs.frozen(kw_only=True)
class _Faq:
    question: str
    answer: str
    tags: tuple[str, ...] = ()
    project_uid: str | None = None


@attrs.frozen(kw_only=True)
class _Text:
    text: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    project_uid: str | None = None


@attrs.frozen(kw_only=True)
class _File:
    name: str
    status: str | None = "done"
    tags: tuple[str, ...] = ()
    project_uid: str | None = None


@attrs.frozen(kw_only=True)
class _Company:
    name: str
    website: str | None = None
    project_uid: str | None = None


@attrs.frozen(kw_only=True)
class _Contact:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    type: str = "LEADS"
    tags: tuple[str, ...] = ()
    company: str | None = None
    created_at: str | None = None
    project_uid: str | None = None


@attrs.frozen(kw_only=True)
class _Member:
    email: str
    name: str | None = None
    role: str = "editor"


@attrs.frozen(kw_only=True)
class _Invitation:
    email: str
    role: str = "editor"


@attrs.frozen(kw_only=True)
class _Seed:
    limits: dict[str, float | None] | None = None
    tokens: tuple[_Token, ...] = ()
    plans: tuple[_Plan, ...] = ()
    documents: tuple[_Document, ...] = ()
    faqs: tuple[_Faq, ...] = ()
    texts: tuple[_Text, ...] = ()
    files: tuple[_File, ...] = ()
    companies: tuple[_Company, ...] = ()
    contacts: tuple[_Contact, ...] = ()
    members: tuple[_Member, ...] = ()
    invitations: tuple[_Invitation, ...] = ()


def _strict(kind: type[T], what: str, accept: Callable[[object], bool]) -> Callable[..., T]:
    def structure(value: object, _: object) -> T:
        if not accept(value):
            raise ValueError(f"expected {what}, got {json.dumps(value)[:60]}")
        return cast(T, value)

    return structure


def _of(origin: type) -> Callable[[Any], bool]:
    """Whether a type is ``origin[...]`` (``tuple[str, ...]``, ``dict[str, int]``)."""

    def matches(kind: Any) -> bool:
        found: object = get_origin(kind)
        return found is origin

    return matches


def _converter() -> cattrs.Converter:
    """A converter that takes each value as JSON gives it: no str made of a number, no list
    made of a str, no unknown keys."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(str, _strict(str, "a string", lambda v: isinstance(v, str)))
    converter.register_structure_hook(int, _strict(int, "a whole number", lambda v: type(v) is int))
    converter.register_structure_hook(
        float, _strict(float, "a number", lambda v: type(v) in (int, float))
    )
    converter.register_structure_hook(
        bool, _strict(bool, "true or false", lambda v: isinstance(v, bool))
    )

    def lists(kind: Any) -> Callable[[object, Any], Any]:
        # A JSON list only: a string or an object is not taken for a list of its letters or keys.
        items = homogenous_tuple_structure_factory(kind, converter)

        def structure(value: object, _: object) -> Any:
            if not isinstance(value, list):
                raise ValueError(f"expected a list, got {json.dumps(value)[:60]}")
            return items(value, kind)

        return structure

    converter.register_structure_hook_factory(_of(tuple), lists)

    def objects(value: object, kind: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {json.dumps(value)[:60]}")
        return mapping_structure_factory(kind, converter)(value, kind)

    converter.register_structure_hook_func(_of(dict), objects)
    return converter


_CONVERTER = _converter()


def read_seed(path: str | Path) -> object:
    """The JSON of a seed file.

    Raises:
        ValueError: The file cannot be read, or is not JSON.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read it: {error.strerror or error}") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"not valid JSON: {error}") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


def _parse(data: object) -> _Seed:
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object with {', '.join(attrs.fields_dict(_Seed))}")
    documents = data.get("documents")
    if isinstance(documents, list):  # a document may be its text alone
        data = {**data, "documents": [{"text": d} if isinstance(d, str) else d for d in documents]}
    try:
        return _CONVERTER.structure(data, _Seed)
    except Exception as error:  # cattrs' error groups, made readable
        messages = cattrs.transform_error(error, path="")
        raise ValueError("; ".join(_where_first(message) for message in messages)) from None


_EXPECTED = {
    "str": "a string",
    "str | None": "a string or null",
    "int | None": "a whole number or null",
    "float | None": "a number or null",
    "bool": "true or false",
    "tuple": "a list",
}


def _where_first(message: str) -> str:
    """cattrs' ``"invalid value for type, expected str @ .faqs[0].question"`` as
    ``"faqs[0].question: expected a string"``."""
    text, _, where = message.rpartition(" @ ")
    where = where.lstrip(".")
    if text.startswith("invalid value for type, expected "):
        kind = text.removeprefix("invalid value for type, expected ")
        text = "expected " + _EXPECTED.get(kind, "a JSON object" if "dict" in kind else kind)
    elif text.startswith("extra fields found ("):
        text = f"unknown field(s): {text.removeprefix('extra fields found (').rstrip(')')}"
        if not where:
            text += f"; a seed has {', '.join(attrs.fields_dict(_Seed))}"
    return f"{where}: {text}" if where else text


def apply_seed(emulator: Emulator, data: object) -> None:
    """Put what a seed file's JSON names into ``emulator``.

    Raises:
        ValueError: The seed is not valid; nothing else is applied after the first bad part.
    """
    seed = _parse(data)
    uids = {record.project_uid: record.project for record in emulator.projects}
    _Applier(emulator, uids).apply(seed)


@attrs.define
class _Applier:
    emulator: Emulator
    projects: Mapping[str, str]  # project_uid -> the emulator's project id
    companies: dict[tuple[str, str], int] = attrs.Factory(dict)

    def uid(self, where: str, project_uid: str | None) -> str:
        if project_uid is None:
            return self.emulator.project_uid
        if project_uid not in self.projects:
            known = ", ".join(self.projects)
            raise ValueError(f"{where}.project_uid: no project {project_uid!r} (there are {known})")
        return project_uid

    def apply(self, seed: _Seed) -> None:
        if seed.limits is not None:
            self.limits(seed.limits)
        parts: list[tuple[str, tuple[Any, ...], Callable[[str, Any], None]]] = [
            ("tokens", seed.tokens, self.token),
            ("plans", seed.plans, self.plan),
            ("documents", seed.documents, self.document),
            ("faqs", seed.faqs, self.faq),
            ("texts", seed.texts, self.text),
            ("files", seed.files, self.file),
            ("companies", seed.companies, self.company),
            ("contacts", seed.contacts, self.contact),
            ("members", seed.members, self.member),
            ("invitations", seed.invitations, self.invitation),
        ]
        for name, items, add in parts:
            for index, item in enumerate(items):
                where = f"{name}[{index}]"
                try:
                    add(where, item)
                except ValueError as error:
                    text = str(error)
                    raise ValueError(
                        text if text.startswith(where) else f"{where}: {text}"
                    ) from None

    def limits(self, limits: Mapping[str, float | None]) -> None:
        known = attrs.fields_dict(Limits)
        for name, value in limits.items():
            if name not in known:
                raise ValueError(f"limits.{name}: not a limit; the limits are {', '.join(known)}")
            whole = name != "credits"
            if value is not None and (value < 0 or (whole and not float(value).is_integer())):
                what = "a whole number" if whole else "a number"
                raise ValueError(
                    f"limits.{name}: expected {what} of at least 0, or null (no limit)"
                )
            setattr(
                self.emulator.limits, name, int(value) if whole and value is not None else value
            )

    def token(self, where: str, item: _Token) -> None:
        projects = None
        if item.projects is not None:
            projects = frozenset(self.uid(f"{where}.projects", uid) for uid in item.projects)
        permissions = None
        if item.permissions is not None:
            permissions = {module: frozenset(acts) for module, acts in item.permissions.items()}
        status: Any = item.status
        self.emulator.tokens[item.token] = Token(
            item.token, item.role, projects, permissions, status
        )

    def plan(self, where: str, item: _Plan) -> None:
        project = self.projects[self.uid(where, item.project_uid)]
        self.emulator.set_plan(project=project, knowledgebase=item.knowledgebase)

    def document(self, where: str, item: _Document) -> None:
        project = self.projects[self.uid(where, item.project_uid)]
        self.emulator.add_document(item.text, project=project)

    def faq(self, where: str, item: _Faq) -> None:
        uid = self.uid(where, item.project_uid)
        self.emulator.add_training_text(
            item.answer, short_text=item.question, type="faq", tags=item.tags, project_uid=uid
        )

    def text(self, where: str, item: _Text) -> None:
        uid = self.uid(where, item.project_uid)
        self.emulator.add_training_text(
            item.text, short_text=item.title, type="text", tags=item.tags, project_uid=uid
        )

    def file(self, where: str, item: _File) -> None:
        uid = self.uid(where, item.project_uid)
        self.emulator.add_training_file(
            item.name, status=item.status, tags=item.tags, project_uid=uid
        )

    def company(self, where: str, item: _Company) -> None:
        uid = self.uid(where, item.project_uid)
        number = self.emulator.add_company(item.name, website=item.website, project_uid=uid)
        self.companies[(uid, item.name)] = number

    def contact(self, where: str, item: _Contact) -> None:
        uid = self.uid(where, item.project_uid)
        company = None
        if item.company is not None:
            company = self.companies.get((uid, item.company))
            if company is None:
                raise ValueError(
                    f"{where}.company: no company {item.company!r} among the seed's companies "
                    "of this project"
                )
        self.emulator.add_contact(
            item.name,
            email=item.email,
            phone=item.phone,
            type=item.type,
            tags=item.tags,
            company_id=company,
            created_at=_moment(f"{where}.created_at", item.created_at),
            project_uid=uid,
        )

    def member(self, where: str, item: _Member) -> None:
        self.emulator.add_member(item.email, name=item.name, role=item.role)

    def invitation(self, where: str, item: _Invitation) -> None:
        self.emulator.add_invitation(item.email, role=item.role)


def _moment(where: str, text: str | None) -> datetime | None:
    """A time or a day (``2024-08-01``, ``2024-08-01T09:30:00Z``), in UTC unless it says."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{where}: expected a day or a time such as 2024-08-01 or 2024-08-01T09:30:00Z, "
            f"got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
