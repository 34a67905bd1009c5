"""An emulator of YourGPT's API, both families, for testing code that talks to it.

``Emulator`` serves the API over loopback HTTP with a ledger of delivered messages, a per-key rate
limit and a scriptable ``FaultPlan``; run ``python -m yourgpt_async.testing`` to serve it by hand.
"""

from ._cli import serve_main
from ._emulator import Emulator
from ._faults import ANY_ENDPOINT, Fault, FaultKind, FaultPlan
from ._platform import DEFAULT_API_TOKEN, Limits, ProjectRecord, Token, Write
from ._platform_org import InvitationRecord, MemberRecord
from ._ratelimit import EmulatorRateLimit
from ._state import (
    DEFAULT_API_KEY,
    DEFAULT_WIDGET_UID,
    OTHER_WIDGET_UID,
    LedgerEntry,
    RequestRecord,
)
from ._thread import EmulatorThread

__all__ = [
    "ANY_ENDPOINT",
    "DEFAULT_API_KEY",
    "DEFAULT_API_TOKEN",
    "DEFAULT_WIDGET_UID",
    "OTHER_WIDGET_UID",
    "Emulator",
    "EmulatorRateLimit",
    "EmulatorThread",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "InvitationRecord",
    "LedgerEntry",
    "Limits",
    "MemberRecord",
    "ProjectRecord",
    "RequestRecord",
    "Token",
    "Write",
    "serve_main",
]
