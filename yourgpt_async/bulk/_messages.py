"""Messages, as ``send_many`` sends them: :class:`BulkItem`, the inputs taken
(:data:`BulkInput`), and :data:`MESSAGES`, sendMessage described for the bulk engine and for the
``bulk`` command's file reader."""

from __future__ import annotations

from typing import Final, TypeAlias

import attrs

from .._exceptions import ConfigurationError
from .._project_api import SEND_MESSAGE
from .._validate import choice, message_text, short, uid
from ..types import Message, SendBy
from ._items import BAD_KEY, generated_key, own_key, refused
from ._kind import BadRecord, BulkKind, Prepared, Rows

__all__ = ["MESSAGES", "BulkInput", "BulkItem"]


@attrs.frozen
class BulkItem:
    """One message to send with :meth:`AsyncClient.send_many`.

    Nothing is checked when an item is made; ``send_many`` checks each item before sending it
    and reports a bad one as :class:`Failed` without a request.

    Attributes:
        session_uid: The session to send into.
        message: The text.
        send_by: Who the message is from.
        key: A stable, unique id for the item, used by the journal to recognise it when a run
            is resumed (at most 256 characters, not starting with ``#``). ``None`` derives one
            from the item's position in the input and its content.
    """

    session_uid: str
    message: str
    send_by: SendBy | str = SendBy.USER
    key: str | None = None


BulkInput: TypeAlias = BulkItem | tuple[object, ...]
"""What ``send_many`` takes per item: a :class:`BulkItem` or a tuple
``(session_uid, message[, send_by[, key]])``."""

_PLACEHOLDER: Final = BulkItem(session_uid="", message="")


def _prepare(raw: object, index: int) -> Prepared[BulkItem]:
    """Normalise one input into a sendMessage call with its key; record, not raise, a problem."""
    if isinstance(raw, BulkItem):
        item = raw
    elif isinstance(raw, tuple) and 2 <= len(raw) <= 4:
        item = BulkItem(*raw)
    else:
        problem = (
            "must be a BulkItem or a (session_uid, message[, send_by[, key]]) tuple, got "
            f"{type(raw).__name__}: {short(raw)}"
        )
        return refused(index, _PLACEHOLDER, generated_key(index, type(raw).__qualname__), problem)
    own = own_key(item.key)
    try:
        session_uid = uid("session_uid", item.session_uid)
        text = message_text(item.message)
        sender = choice("send_by", item.send_by, SendBy)
    except ConfigurationError as error:
        content = repr((item.session_uid, item.message, item.send_by))
        return refused(index, item, own or generated_key(index, content), error.message)
    item = BulkItem(session_uid, text, sender, item.key)
    key = own or generated_key(index, "\x1f".join((session_uid, sender.value, text)))
    if item.key is not None and own is None:
        return refused(index, item, key, f"{BAD_KEY}; got {short(item.key)}")
    payload = {"session_uid": session_uid, "message": text, "send_by": sender.value}
    return Prepared(index, item, key, SEND_MESSAGE, payload)


def _own_key(raw: object) -> str | None:
    key: object = raw.key if isinstance(raw, BulkItem) else None
    if isinstance(raw, tuple) and len(raw) == 4:
        key = raw[3]
    return own_key(key)


def _result(prepared: Prepared[BulkItem], reply: Message | None) -> Message:
    """What ``send_message`` returns: the reply, or (operator and assistant sends may come back
    without a body) the message as sent."""
    if reply is not None:
        return reply
    item = prepared.item
    return Message(session_uid=item.session_uid, message=item.message, send_by=item.send_by, raw={})


# -- a file's records ------------------------------------------------------------------------

_FIELDS: Final = ("session_uid", "message", "send_by", "key")


def _header_problem(names: list[str]) -> str | None:
    unknown = [name for name in names if name not in _FIELDS]
    missing = [name for name in ("session_uid", "message") if name not in names]
    repeated = sorted({name for name in names if names.count(name) > 1})
    problems = [
        *([f"unknown column(s) {', '.join(map(repr, unknown))}"] if unknown else []),
        *([f"no {' and no '.join(missing)} column"] if missing else []),
        *([f"{', '.join(repeated)} named twice"] if repeated else []),
    ]
    if not problems:
        return None
    return (
        f"has {'; '.join(problems)}. It may name only session_uid, message, send_by and key, "
        "and must name the first two"
    )


def _record(fields: dict[str, object]) -> tuple[object, ...]:
    missing = [name for name in ("session_uid", "message") if fields.get(name) is None]
    if missing:
        raise BadRecord(f"missing {' and '.join(missing)}")
    send_by = fields.get("send_by")  # absent or null: the user; any other value is checked
    return (
        fields.get("session_uid"),
        fields.get("message"),
        SendBy.USER if send_by is None else send_by,
        fields.get("key"),
    )


MESSAGES: Final = BulkKind[BulkItem, Message](
    what="message",
    accepts="BulkItem or tuples",
    prepare=_prepare,
    own_key=_own_key,
    result=_result,
    result_id=lambda reply: reply.id,
    done="delivered",
    check="Check the session's messages (get_session_messages), or resume with "
    "resend_in_doubt=True to send it again at the risk of a duplicate",
    placeholder=_PLACEHOLDER,
    rows=Rows(
        fields=_FIELDS,
        expected="session_uid, message, and optionally send_by and key",
        header_problem=_header_problem,
        positional=_FIELDS,
        record=_record,
    ),
)
"""sendMessage, for ``send_many`` and the ``bulk`` command."""
