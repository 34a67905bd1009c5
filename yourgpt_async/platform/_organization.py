"""The token's organisation: its details, members and invitations (``yp.organization``)."""

from __future__ import annotations

from .._resource import Resource

__all__ = ["Organization"]


class Organization(Resource):
    """``yp.organization``: the organisation, its members and its invitations."""
