"""The Platform API (an organisation's token): :class:`AsyncPlatformClient` and its resources.

Everything a user names is exported from ``yourgpt_async`` too; the resource classes are here
for annotations (``def sync(bot: ProjectView) -> ...``).
"""

from ._client import AsyncPlatformClient
from ._contacts import Companies, ContactLists, Contacts, Tags
from ._debugging import ExecutionLogs, Knowledgebase
from ._organization import OrganizationResource
from ._playground import Playground
from ._project import ProjectView
from ._projects import Models, Projects
from ._sessions import Sessions
from ._training import Training

__all__ = [
    "AsyncPlatformClient",
    "Companies",
    "ContactLists",
    "Contacts",
    "ExecutionLogs",
    "Knowledgebase",
    "Models",
    "OrganizationResource",
    "Playground",
    "ProjectView",
    "Projects",
    "Sessions",
    "Tags",
    "Training",
]
