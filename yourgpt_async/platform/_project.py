"""One project, as ``yp.project(project_uid)`` gives it: a view bound to its ``project_uid``
(no I/O to make), holding the resources that work on one project."""

from __future__ import annotations

from .. import _validate as check
from .._resource import _Client
from ._base import ProjectResource
from ._contacts import Companies, ContactLists, Contacts, Tags
from ._debugging import ExecutionLogs, Knowledgebase
from ._playground import Playground
from ._sessions import Sessions
from ._training import Training

__all__ = ["ProjectView"]


class ProjectView(ProjectResource):
    """A project of the organisation, by its ``project_uid``: the resources that work on it.

    Made by ``yp.project(project_uid)``, which costs nothing and checks nothing with the service;
    a wrong uid shows when a call is made (``NotFoundError`` or ``PermissionDeniedError``)::

        bot = yp.project("a1b2c3d4-...")
        await bot.training.add_faq("Do you ship to Norway?", "Yes, in 3-5 days.")
    """

    def __init__(self, client: _Client, project_uid: str) -> None:
        super().__init__(client, check.uid("project_uid", project_uid))

    @property
    def sessions(self) -> Sessions:
        """Its conversations: create sessions, send messages, list and update sessions."""
        return Sessions(self._client, self._project_uid)

    @property
    def training(self) -> Training:
        """What its bot is trained on: texts, FAQs and files."""
        return Training(self._client, self._project_uid)

    @property
    def contacts(self) -> Contacts:
        """Its contacts."""
        return Contacts(self._client, self._project_uid)

    @property
    def contact_lists(self) -> ContactLists:
        """Its contact lists (saved filters)."""
        return ContactLists(self._client, self._project_uid)

    @property
    def companies(self) -> Companies:
        """The companies its contacts belong to."""
        return Companies(self._client, self._project_uid)

    @property
    def tags(self) -> Tags:
        """Its contact tags."""
        return Tags(self._client, self._project_uid)

    @property
    def knowledgebase(self) -> Knowledgebase:
        """Search over what its bot was trained on."""
        return Knowledgebase(self._client, self._project_uid)

    @property
    def execution_logs(self) -> ExecutionLogs:
        """What its bot did in conversations."""
        return ExecutionLogs(self._client, self._project_uid)

    @property
    def playground(self) -> Playground:
        """Try its bot with other settings (each answer spends credits)."""
        return Playground(self._client, self._project_uid)
