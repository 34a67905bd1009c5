"""Outbound voice calls: what the service says of a call it was asked to place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._common import raw_field

__all__ = ["OutboundCall"]


@attrs.frozen(kw_only=True)
class OutboundCall:
    """A phone call the project's voice agent was asked to place.

    The service's reply to makeOutboundCall is not documented; every field is ``None`` when it
    does not send it (it may send no data at all), and ``raw`` keeps whatever it did send.

    Attributes:
        call_id: The call's id, when the service gives one.
        status: Where the call stands (``"queued"``, ...), when the service says.
        call_to: The number dialled.
        agent_id: The voice agent placing the call.
        raw: The decoded ``data``, with any field this model does not name.
    """

    call_id: str | None = None
    status: str | None = None
    call_to: str | None = None
    agent_id: str | None = None
    raw: Mapping[str, Any] = raw_field()
