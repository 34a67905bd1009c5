"""The models' former home, kept while modules move to :mod:`yourgpt_async.types`."""

from .types import (
    AILogEntry,
    ChatMode,
    Choice,
    ContentType,
    Message,
    Page,
    Priority,
    RateLimitInfo,
    RawResponse,
    SendBy,
    Session,
    SessionMessage,
    SessionState,
)
from .types._common import with_fetch

__all__ = [
    "AILogEntry",
    "ChatMode",
    "Choice",
    "ContentType",
    "Message",
    "Page",
    "Priority",
    "RateLimitInfo",
    "RawResponse",
    "SendBy",
    "Session",
    "SessionMessage",
    "SessionState",
    "with_fetch",
]
