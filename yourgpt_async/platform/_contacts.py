"""A project's contacts, their lists, companies and tags (``yp.project(uid).contacts`` and
friends)."""

from __future__ import annotations

from ._base import ProjectResource

__all__ = ["Companies", "ContactLists", "Contacts", "Tags"]


class Contacts(ProjectResource):
    """``project.contacts``: list and read contacts, link them to a company and to tags."""


class ContactLists(ProjectResource):
    """``project.contact_lists``: saved filters over the contacts."""


class Companies(ProjectResource):
    """``project.companies``: read and delete companies."""


class Tags(ProjectResource):
    """``project.tags``: list and create contact tags."""
