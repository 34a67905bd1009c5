"""What the command line prints and returns: the printer (rich or plain), models as JSON,
the ``bulk --output`` results file, and the exit codes.

Everything printed or written goes through :func:`printable` or :func:`dumps`: the API key is
redacted (a service may echo it back), terminal control sequences are taken out (anyone who can
post into a session could otherwise clear, retitle or rewrite the reader's terminal), and text
the output cannot encode (a lone surrogate in a reply, say) is escaped rather than crashing the
command after the work is done.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any, TextIO

import attrs

from .._exceptions import redact
from ..bulk import BulkOutcome, Failed, InDoubt, Sent

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Printer",
    "Results",
    "dumps",
    "in_flags",
    "one_line",
    "plain",
    "printable",
    "terminal_safe",
    "when",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _encoding(stream: object) -> str:
    return getattr(stream, "encoding", None) or "utf-8"


_LOOKS = " (with --reconcile, the command looks for it by itself)"


def _upper(found: re.Match[str]) -> str:
    """An argument's name as the command's positional: ``query`` as ``QUERY``."""
    return found.group().upper()


def _flag(found: re.Match[str]) -> str:
    """An argument's name as the command's option: ``max_nodes`` as ``--max-nodes``."""
    return "--" + found.group().replace("_", "-")


def _credential_flag(found: re.Match[str]) -> str:
    """``(YOURGPT_API_TOKEN)`` as ``(--token or YOURGPT_API_TOKEN)``."""
    flag = "--api-key" if found.group(1) == "YOURGPT_API_KEY" else "--token"
    return f"({flag} or {found.group(1)})"


# The package's messages give Python advice (``api_key=``, ``RetryPolicy(...)``, method names);
# on the command line the same advice is a flag or a command. Argument names are rewritten only
# where a message starts with them, so that the service's own text is left alone.
_ADVICE: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"pass api_key= to AsyncClient,", "pass --api-key,"),
        (r"pass token= to AsyncPlatformClient,", "pass --token,"),
        (r"pass widget_uid= to AsyncClient or to this call", "pass --widget-uid"),
        (r"pass widget_uid= to AsyncClient or set", "pass --widget-uid, or set"),
        (r"pass the key as api_key= \(", "pass the key with --api-key ("),
        (
            r"Check the session's messages \(get_session_messages\), or resume with "
            r"resend_in_doubt=True",
            "Check the session's messages (`yourgpt-async messages SESSION_UID`), or run the "
            "same command again with --resend-in-doubt",
        ),
        (
            r"look for it among the session's messages \(get_session_messages\) before sending "
            r"it again; pass .*accepting a possible duplicate",
            "check with `yourgpt-async messages SESSION_UID --order DESC --limit 5` before "
            "sending again",
        ),
        # The policies that would act by themselves, after an endpoint's own advice: a create
        # that can be read back has --reconcile; resending blindly has no flag.
        (
            r"; pass RetryPolicy\(reconcile=True\) to have the client check for you, or "
            r"RetryPolicy\(retry_unsafe=True\) to try again without checking, accepting a "
            r"possible duplicate",
            _LOOKS,
        ),
        (
            r"; pass RetryPolicy\(retry_unsafe=True\) to try again without checking, accepting a "
            r"possible duplicate",
            "",
        ),
        (
            r"; RetryPolicy\(retry_outbound_calls=True\) would call again by itself, and may "
            r"ring the person twice",
            ". This command never resends a call: running it again rings the person a second time",
        ),
        (r"\bget_sessions lists them", "`yourgpt-async sessions` lists them"),
        # Where to look for a create of the Platform API left in doubt.
        (r"\bprojects\.list\(search=name\)", "`yourgpt-async projects list --search NAME`"),
        (r"\btags\.list\(search=name\)", "`yourgpt-async tags list --search NAME`"),
        (
            r"\btraining\.list_texts\(type, search=\.\.\.\)",
            "`yourgpt-async train list faq --search TEXT` (or `train list text`)",
        ),
        (r"\btraining\.list_files\(\)", "`yourgpt-async train list files`"),
        (r"\borganization\.list_members\(\)", "`yourgpt-async members list`"),
        (r"\((YOURGPT_API_KEY|YOURGPT_API_TOKEN)\)", _credential_flag),
        (r"\(see RateLimit\)", "(bulk --rate)"),
        (r"\bpass (?:a new|another) journal path\b", "delete the journal, or pass --journal PATH"),
        (
            r"state='resolved' cannot be combined with chat_mode",
            "--state resolved cannot be combined with --chat-mode",
        ),
        (
            r"at least one of state, chat_mode or segment",
            "at least one of --state, --chat-mode or --segment",
        ),
        (r"\bcheck session_uid\b", "check SESSION_UID"),
        (r"\bcheck widget_uid\b", "check --widget-uid"),
        (r"\bcheck base_url\b", "check --base-url"),
        (r"^(?:base_url)\b", "--base-url"),
        (r"^(?:api_key)\b", "--api-key"),
        (r"^(?:widget_uid)\b", "--widget-uid"),
        (r"^(?:session_uid)\b", "SESSION_UID"),
        (r"^(?:message)\b(?= must)", "MESSAGE"),
        (r"^(?:limit|page|order|state|segment)\b(?= must)", r"--\g<0>"),
        (r"^chat_mode\b(?= must)", "--chat-mode"),
        # The arguments of the commands of the Platform API and of logs, search and call.
        (r"^project_uid\b", "--project"),
        (r"^date_from (.*) is after date_to (.*)$", r"--from \1 is after --to \2"),
        (r"^(?:query|agent_id|question|answer|text|name|email|file_url|tags)\b(?= must)", _upper),
        (
            r"^(?:title|prompt|restriction|model|mode|temperature|status|search|offset|"
            r"chat_history_count|max_nodes|auto_close_minutes|auto_resolve_minutes)\b(?= must)",
            _flag,
        ),
        (r"^node_id\b(?= must)", "--node"),
    )
)


def in_flags(message: str) -> str:
    """An error message with its Python advice put as the command line's flags and commands."""
    for pattern, replacement in _ADVICE:
        message = pattern.sub(replacement, message)
    return message


# An escape or control sequence a terminal acts on: CSI (ESC [ or the 8-bit CSI), OSC, DCS,
# SOS, PM and APC strings up to their terminator (or the end of the text), and any other ESC
# sequence. What is left of the C0 and C1 controls (bar tab and newline) goes too, so that no
# byte reaches the terminal that it would act on.
_CONTROL_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def terminal_safe(text: str) -> str:
    """``text`` without the escape and control sequences a terminal would act on (a line break
    ``\\r\\n`` becomes ``\\n``; tabs and newlines stay)."""
    if text.isprintable():  # the usual case, at once
        return text
    return _CONTROL_SEQUENCE.sub("", text.replace("\r\n", "\n"))


def printable(text: str, secrets: Sequence[str] = (), encoding: str = "utf-8") -> str:
    """``text`` without the secrets or terminal control sequences, and with what ``encoding``
    cannot encode escaped."""
    text = terminal_safe(redact(text, secrets))
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    return text


def dumps(
    value: object, secrets: Sequence[str] = (), encoding: str = "utf-8", indent: int | None = None
) -> str:
    """``value`` as JSON without the secrets (one line, or indented by ``indent``), readable
    where ``encoding`` can encode it, else escaped to ASCII (so a lone surrogate round-trips)."""
    text = json.dumps(value, ensure_ascii=False, default=_json_default, indent=indent)
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        text = json.dumps(value, default=_json_default, indent=indent)
    # json escapes the C0 controls; DEL and the C1 controls (an 8-bit CSI) it leaves as they are.
    return _C1.sub(lambda found: f"\\u{ord(found.group()):04x}", redact(text, secrets))


_C1 = re.compile("[\x7f-\x9f]")


class Printer:
    """Prints through rich when the ``cli`` extra is installed, plainly otherwise.

    Attributes:
        secrets: Text never to print (the API key), replaced by ``***``.
    """

    def __init__(self, stream: TextIO, secrets: Sequence[str] = ()) -> None:
        self._stream = stream
        self.secrets = tuple(secrets)
        self.console: Any = None
        try:
            from rich.console import Console
        except ImportError:
            return
        # Chat text is printed as it is: no markup, no :emoji: codes, no highlighting.
        self.console = Console(file=stream, highlight=False, emoji=False)

    def step(self, title: str) -> None:
        if self.console is not None:
            self.console.rule(f"[bold]{title}")
        else:
            print(f"\n== {title}", file=self._stream)

    def clean(self, text: str) -> str:
        """``text`` as :meth:`line` would print it: see :func:`printable`."""
        return printable(text, self.secrets, _encoding(self._stream))

    def line(self, text: str) -> None:
        text = self.clean(text)
        if self.console is not None:
            self.console.print(text, markup=False, soft_wrap=True)
        else:
            print(text, file=self._stream)

    def raw(self, text: str) -> None:
        """Print text of this package's own as it is (a script for a shell, say)."""
        print(text, end="", file=self._stream)

    def json(self, value: object, indent: int | None = None) -> None:
        """Print ``value`` as JSON: one line, or indented by ``indent``."""
        # Plain print, never rich: a script reads this.
        text = dumps(value, self.secrets, _encoding(self._stream), indent)
        print(text, file=self._stream)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Print rows under their column names: a rich table on a terminal, else lines of
        tab-separated cells (a tab in a cell becomes a space). The first column (the id people
        copy) is never wrapped or cut."""
        if self.console is not None and self.console.is_terminal:
            from rich.table import Table
            from rich.text import Text

            table = Table(*columns)
            table.columns[0].no_wrap = True
            table.columns[0].min_width = max((len(row[0]) for row in rows), default=len(columns[0]))
            for row in rows:
                # Text cells: service text is shown as it is, never read as rich markup.
                table.add_row(*(Text(self.clean(cell)) for cell in row))
            self.console.print(table)
            return
        # Piped: tab-separated lines as they are (rich would expand the tabs), for cut and awk.
        for cells in (columns, *rows):
            print(
                self.clean("\t".join(cell.replace("\t", " ") for cell in cells)), file=self._stream
            )


def _json_default(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def one_line(text: str | None, width: int | None = None) -> str:
    """``text`` on one line (its runs of white space made one space), cut to ``width``."""
    flat = " ".join((text or "").split())
    return flat if width is None or len(flat) <= width else flat[: width - 1] + "…"


def when(moment: datetime | None) -> str:
    """A time as a table shows it: ``YYYY-MM-DD HH:MM`` (empty for none)."""
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def plain(model: attrs.AttrsInstance) -> dict[str, Any]:
    """A model as a JSON-ready dict (its ``raw`` copy left out)."""
    return attrs.asdict(
        model,
        filter=lambda attribute, _: attribute.name != "raw",
        value_serializer=lambda _, __, value: (
            _json_default(value) if isinstance(value, (datetime, date, Enum)) else value
        ),
    )


class Results:
    """Appends one JSON line per outcome to ``--output``: its index, key, status, what
    ``item_fields`` says of its item, and what ``reply_fields`` says of a sent one's reply, or
    the error."""

    def __init__(
        self,
        path: Path | None,
        secrets: Sequence[str] = (),
        *,
        item_fields: Callable[[Any], dict[str, object]],
        reply_fields: Callable[[Any], dict[str, object]],
    ) -> None:
        self._secrets = tuple(secrets)
        self._item_fields = item_fields
        self._reply_fields = reply_fields
        self._handle: IO[str] | None = None
        if path is not None:
            self._handle = path.open("a", encoding="utf-8")

    def write(self, outcome: BulkOutcome[Any]) -> None:
        if self._handle is None:
            return
        record: dict[str, object] = {
            "index": outcome.index,
            "key": outcome.key,
            **self._item_fields(outcome.item),
            "status": outcome.status,
        }
        match outcome:
            case Sent(reply=reply):
                record.update(self._reply_fields(reply))
            case Failed(error=error) | InDoubt(error=error):
                record.update(error=str(error))
        self._handle.write(dumps(record, self._secrets) + "\n")

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
