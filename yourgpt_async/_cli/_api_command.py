"""``api ENDPOINT -F key=value``: call any declared endpoint with the fields given, as ``gh
api`` does, and print what the service sent back as JSON.

The endpoints, their summaries and which credential calls each come from the registry of
declarations, so a newly declared endpoint is here (in ``--help`` and in completion) at once.
The credential picks the family: an endpoint of one family takes that family's credential; a
path both serve takes the organisation's token when a ``project_uid`` field is given (or only
``--token`` is), else the project's key.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .._endpoints import Endpoint, Family, registry
from .._exceptions import ConfigurationError
from .._replies import Listing
from ._args import Commands, Parents, add_command
from ._clients import client_for, platform_client_for
from ._listing import Runner
from ._output import EXIT_OK, Printer

__all__ = ["COMMANDS", "add_parser", "parse_field", "payload_of"]

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?P<fraction>\.\d+)?(?P<exponent>[eE][+-]?\d+)?")
_WORDS: Mapping[str, object] = {"true": True, "false": False, "null": None}
_CREDENTIAL = {
    Family.PROJECT: "the Project Integration API's, called with a project's API key "
    "(--api-key or $YOURGPT_API_KEY)",
    Family.PLATFORM: "the Platform API's, called with an organisation's token "
    "(--token or $YOURGPT_API_TOKEN)",
}
_GIVEN = {Family.PROJECT: "a project's API key", Family.PLATFORM: "an organisation's token"}


def _endpoint_list() -> str:
    """The endpoints for ``--help``: each with the credentials that call it and its summary."""
    who = {
        frozenset({Family.PROJECT}): "key",
        frozenset({Family.PLATFORM}): "token",
        frozenset({Family.PROJECT, Family.PLATFORM}): "both",
    }
    width = max(len(name) for name in registry())
    lines = [
        f"  {name:<{width}}  {who[endpoint.families]:<5}  {endpoint.summary}"
        for name, endpoint in registry().items()
    ]
    return "endpoints (key: a project's API key; token: an organisation's; both: either):\n" + (
        "\n".join(lines)
    )


def _endpoint_name(text: str) -> str:
    if text in registry():
        return text
    close = difflib.get_close_matches(text, list(registry()), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise argparse.ArgumentTypeError(
        f"no endpoint is called {text!r}; {hint}`yourgpt-async api --help` lists them"
    )


def parse_field(text: str, *, typed: bool) -> tuple[str, Any]:
    """A ``KEY=VALUE`` field: with ``typed`` (``-F``) the value may be a number, ``true``,
    ``false``, ``null``, a JSON object or array, or ``@FILE`` (the file's text; ``@-`` reads
    standard input); otherwise (``-f``) it is the text as it is.

    Raises:
        argparse.ArgumentTypeError: No ``=``, no key, a bad JSON value or an unreadable file.
    """
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if not typed:
        return key, value
    if value in _WORDS:
        return key, _WORDS[value]
    number = _NUMBER.fullmatch(value)
    if number is not None:
        exact = number["fraction"] is None and number["exponent"] is None
        return key, int(value) if exact else float(value)
    if value.startswith(("{", "[")):
        try:
            return key, json.loads(value)
        except (ValueError, RecursionError) as error:
            raise argparse.ArgumentTypeError(f"{key}: not valid JSON ({error})") from None
    if value.startswith("@"):
        return key, _read(key, value[1:])
    return key, value


def _read(key: str, path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise argparse.ArgumentTypeError(f"{key}: cannot read {path!r}: {error}") from None


def add_parser(commands: Commands, parents: Parents) -> None:
    """Add ``api``."""
    api = add_command(
        commands,
        "api",
        "call any endpoint with the fields given, as gh api does",
        "Call ENDPOINT with a JSON body made of the fields given and print what the service "
        "sent back, as JSON (a list's items with its page and total). -F key=value types the "
        "value: numbers, true, false, null, JSON objects and arrays, and @FILE (a file's "
        "text, @- standard input); -f key=value sends it as text. The credential picks the "
        "API: an endpoint of one API takes its credential; those both serve take the "
        "organisation's token when a project_uid field (or only --token) is given, else the "
        "project's API key. The body is sent as given, unchecked: the service judges it.",
        (
            "yourgpt-async api getMyProjects -F limit=5",
            'yourgpt-async api createContactTag -f project_uid="$project" -f name=vip',
            'yourgpt-async api updateProjectSettings -f project_uid="$project" -F temperature=0.2',
            "yourgpt-async api getSessions -F limit=2 --json",
        ),
        parents.common,
        parents.as_json,
        epilog=_endpoint_list(),
    )
    api.add_argument("endpoint", type=_endpoint_name, choices=list(registry()), metavar="ENDPOINT")
    api.add_argument(
        "-F",
        "--field",
        dest="fields",
        action="append",
        default=[],
        type=lambda text: parse_field(text, typed=True),
        metavar="KEY=VALUE",
        help="a field, typed: 5, 0.2, true, false, null, {...}, [...], @FILE; else text",
    )
    api.add_argument(
        "--reconcile",
        action="store_true",
        help="when a create gets no answer, read the service back where the endpoint can be "
        "(messages, texts, files, tags, projects, invitations) rather than fail in doubt",
    )
    api.add_argument(
        "-f",
        "--raw-field",
        dest="fields",
        action="append",
        type=lambda text: parse_field(text, typed=False),
        metavar="KEY=VALUE",
        help="a field sent as text, whatever it looks like",
    )


def payload_of(fields: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The request body the fields make.

    Raises:
        ConfigurationError: A key given twice.
    """
    payload: dict[str, Any] = {}
    for key, value in fields:
        if key in payload:
            raise ConfigurationError(f"the field {key!r} is given twice: give each field once")
        payload[key] = value
    return payload


def family_for(
    endpoint: Endpoint[Any], payload: Mapping[str, Any], args: argparse.Namespace
) -> Family:
    """Which API to call ``endpoint`` through, by the credentials given on the command line.

    Raises:
        ConfigurationError: The only credential given cannot call it.
    """
    given = {
        family
        for family, value in ((Family.PROJECT, args.api_key), (Family.PLATFORM, args.token))
        if value is not None
    }
    able = endpoint.families & given if given else endpoint.families
    if not able:
        [only] = endpoint.families
        [other] = given
        raise ConfigurationError(
            f"{endpoint.name} is {_CREDENTIAL[only]}, not with {_GIVEN[other]}"
        )
    if len(able) == 1:
        return next(iter(able))
    return Family.PLATFORM if "project_uid" in payload else Family.PROJECT


def _raw(value: object) -> object:
    """What the service sent for a decoded result: a model's ``raw``, a list's items'."""
    if isinstance(value, tuple):
        return [_raw(item) for item in value]
    raw = getattr(value, "raw", None)
    return dict(raw) if isinstance(raw, Mapping) else value


def _printable(result: object, payload: Mapping[str, Any]) -> object:
    if isinstance(result, Listing):
        extras = {key: _raw(items) for key, items in result.extras.items()}
        page = payload.get("page", 1)
        return {"page": page, "total": result.total, **extras, "items": _raw(result.items)}
    return _raw(result)


async def _api(args: argparse.Namespace, out: Printer) -> int:
    endpoint = registry()[args.endpoint]
    payload = payload_of(args.fields)
    if family_for(endpoint, payload, args) is Family.PLATFORM:
        async with platform_client_for(args) as yp:
            result = await yp._caller.call(endpoint, payload, None, None)
    else:
        async with client_for(args) as yg:
            result = await yg._caller.call(endpoint, payload, None, None)
    out.json(_printable(result, payload), indent=None if args.json else 2)
    return EXIT_OK


COMMANDS: dict[str, Runner] = {"api": _api}
"""The command of this module, by name."""
