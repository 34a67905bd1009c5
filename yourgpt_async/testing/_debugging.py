"""What the bot did and what it knows: getChatbotExecutionLogs and searchIndexDocument for a
project's key, answering from the emulator's state.

The answers are :class:`Debugging`'s own logic, by project; the organisation token's handlers
(``_platform_conversations``) call it too.
"""

from __future__ import annotations

import re

from aiohttp import web

from .._project_api import GET_EXECUTION_LOGS, SEARCH_KNOWLEDGEBASE
from . import _params as read
from ._dispatch import ProjectCaller, handles
from ._params import MAX_LIMIT, Params, RequestError
from ._responses import success
from ._state import State, log_item

__all__ = ["Debugging", "search"]

MAX_QUERY = 5000
_WORD = re.compile(r"\w+")
_PLAN_REFUSAL = "Knowledge base search is not available on your current plan"


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def search(state: State, project: str, query: str, node_id: str | None) -> list[dict[str, object]]:
    """Every chunk of ``project``'s documents sharing a word with ``query``, best first.

    The score is the share of the query's words a chunk has (a stand-in for the service's
    semantic score, in the same 0-1 range); ties keep the documents' order.
    """
    wanted = _words(query)
    hits = []
    for document in state.documents:
        if document.project != project or node_id not in (None, str(document.doc_id)):
            continue
        for point_id, text in document.chunks:
            shared = len(wanted & _words(text))
            if shared:
                score = round(shared / len(wanted), 4)
                hits.append({"point_id": point_id, "doc_id": document.doc_id,
                             "score": score, "content": text})  # fmt: skip
    hits.sort(key=lambda hit: -float(hit["score"]))  # type: ignore[arg-type]
    return hits


class Debugging:
    """getChatbotExecutionLogs and searchIndexDocument for a project's key; and the logic
    behind them, by project, for every credential."""

    def __init__(self, state: State) -> None:
        self._state = state

    def logs(self, params: Params, project: str) -> list[object]:
        """The page of ``project``'s execution logs that ``params`` asks for."""
        start, end = read.day(params, "from"), read.day(params, "to")
        order = read.order(params, "orderBy", default="DESC")  # unlike every other list
        page, limit = read.paging(params)
        session_uid = read.text(params, "session_uid")
        records = [
            record
            for record in self._state.logs
            if record.project == project
            and session_uid in (None, record.session_uid)
            and (start is None or record.created_at.date() >= start)
            and (end is None or record.created_at.date() <= end)
        ]
        if order == "DESC":
            records.reverse()
        project_id = self._state.project_ids[project]
        items = [log_item(record, project_id) for record in records]
        return read.page_of(items, page, limit)

    def hits(self, params: Params, project: str, *, limit_required: bool = False) -> list[object]:
        """The chunks of ``project``'s documents that the search in ``params`` finds.

        Args:
            params: The request's parameters.
            project: The project searched.
            limit_required: Refuse a search without ``limit`` (else it defaults to 10).
        """
        query = read.required(params, "query")
        if len(query) > MAX_QUERY:
            raise read.invalid("query", f"query must be at most {MAX_QUERY} characters")
        if limit_required and params.get("limit") in (None, ""):
            raise read.invalid("limit", "limit is required")
        limit = read.integer(params, "limit", default=10, minimum=1, maximum=MAX_LIMIT)
        offset = read.integer(params, "offset", default=0, minimum=0, maximum=None)
        node_id = read.text(params, "node_id")
        if not self._state.plan(project).knowledgebase:
            raise RequestError(403, _PLAN_REFUSAL)
        return list(search(self._state, project, query, node_id)[offset : offset + limit])

    @handles(GET_EXECUTION_LOGS)
    async def get_execution_logs(self, params: Params, caller: ProjectCaller) -> web.Response:
        return success("Execution logs fetched successfully", self.logs(params, caller.project))

    @handles(SEARCH_KNOWLEDGEBASE)
    async def search_knowledgebase(self, params: Params, caller: ProjectCaller) -> web.Response:
        return success("Data Fetched Successfully!", self.hits(params, caller.project))
