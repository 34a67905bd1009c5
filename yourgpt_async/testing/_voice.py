"""Outbound voice calls: makeOutboundCall for a project's key, recorded in the emulator's
ledger of calls (no phone rings)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from aiohttp import web

from .._project_api import MAKE_OUTBOUND_CALL
from . import _params as read
from ._dispatch import ProjectCaller, handles
from ._params import Params
from ._responses import success
from ._state import State

__all__ = ["Voice"]

_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def _extra_data(params: Params) -> Mapping[str, object] | None:
    bad = read.invalid("extra_data", "extra_data must be an object")
    value = read.json_field(params, "extra_data", bad)
    if value is not None and not isinstance(value, dict):
        raise bad
    return value


class Voice:
    """makeOutboundCall for a project's key."""

    def __init__(self, state: State) -> None:
        self._state = state

    @handles(MAKE_OUTBOUND_CALL)
    async def make_outbound_call(self, params: Params, caller: ProjectCaller) -> web.Response:
        agent_id = read.required(params, "agent_id")
        call_to = read.required(params, "call_to")
        if not _E164.fullmatch(call_to):
            raise read.invalid("call_to", "call_to must be a phone number in E.164 format")
        extra = _extra_data(params)
        call = self._state.place_call(caller.project, agent_id, call_to, extra)
        data = {
            "call_id": call.call_id,
            "status": "queued",
            "call_to": call.call_to,
            "agent_id": call.agent_id,
        }
        return success("Call initiated successfully", data)
