"""The ``yourgpt-async`` command line (also ``python -m yourgpt_async``).

Commands for a project's API key: ``demo``, ``create-session``, ``send``, ``update-session``,
``sessions``, ``messages``, ``bulk``, ``logs``, ``search`` and ``call``. For an organisation's
token: ``projects``, ``train``, ``contacts``, ``tags`` and ``members`` (each a group of
subcommands; ``train import`` and ``contacts tag FILE`` are bulk runs), and ``logs`` and
``search`` with ``--project``. ``api`` calls any endpoint of either; ``emulator`` serves the
emulator and ``completion`` prints a bash or zsh script. The options ``--api-key``,
``--token``, ``--widget-uid`` and ``--base-url`` (before or after the command) fall back to
``YOURGPT_API_KEY``, ``YOURGPT_API_TOKEN``, ``YOURGPT_WIDGET_UID`` and ``YOURGPT_BASE_URL``;
``--project`` to ``YOURGPT_PROJECT_UID`` where a command needs a project. With the ``cli`` extra
(rich) output is rich; without it, plain.

``-v`` logs retries and slow-downs on stderr, ``-vv`` each request too; error messages speak of
the command's flags rather than of Python arguments. Neither the key nor the token is ever
printed.

Exit codes: 0 success (a bulk command: every item done, now or by an earlier run), 1 an API
error or, for a bulk command, an item failed, in doubt or on a bad input line, or a run stopped
at the plan's limit, 2 a usage or configuration error (for a bulk command, also a run the
service stopped with 401 or 403), 130 interrupted (Ctrl-C or SIGTERM).

This module runs a command and turns its errors into exit codes; ``_parser`` holds the
arguments (with ``_args``' types and helpers), ``_commands`` the conversation commands,
``_project_command`` logs, search and call, ``_org_command`` projects and members,
``_train_command`` train, ``_contacts_command`` contacts and tags, ``_api_command`` api,
``_bulk_command``, ``_bulk_report`` and ``_progress`` the bulk commands (``bulk``, ``train
import``, ``contacts tag FILE``: their input file is read by
:class:`yourgpt_async.bulk.ItemFile`), ``_completion`` the shell completion scripts,
``_listing`` how a page is printed, ``_clients`` the clients the options make, and ``_output``
the printer, the results file and the exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from .._exceptions import ConfigurationError, YourGPTError
from .._telemetry import setup_logging
from . import _api_command, _contacts_command, _org_command, _project_command, _train_command
from ._commands import COMMANDS as _CONVERSATIONS
from ._commands import run_emulator
from ._completion import completion_script
from ._listing import Runner
from ._output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Printer,
    in_flags,
    printable,
)
from ._parser import build_parser

__all__ = ["main"]

COMMANDS: dict[str, Runner] = {
    **_CONVERSATIONS,
    **_project_command.COMMANDS,
    **_org_command.COMMANDS,
    **_train_command.COMMANDS,
    **_contacts_command.COMMANDS,
    **_api_command.COMMANDS,
}
"""The commands that run one coroutine, by their whole name (``"train add-faq"``)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    secrets = (
        getattr(args, "api_key", None) or os.environ.get("YOURGPT_API_KEY"),
        getattr(args, "token", None) or os.environ.get("YOURGPT_API_TOKEN"),
    )
    out = Printer(sys.stdout, secrets=[secret for secret in secrets if secret])
    try:
        verbose = getattr(args, "verbose", 0)
        if verbose:
            setup_logging("debug" if verbose > 1 else "info")
        return _run(args, parser, out)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (YourGPTError, OSError) as error:
        message = f"yourgpt-async: {in_flags(str(error))}"
        print(printable(message, out.secrets, sys.stderr.encoding or "utf-8"), file=sys.stderr)
        return EXIT_USAGE if isinstance(error, ConfigurationError) else EXIT_FAILED


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser, out: Printer) -> int:
    """Run the parsed command; returns the exit code."""
    if args.command == "emulator":
        try:
            return run_emulator(args, parser)
        except SystemExit as exit_:  # a bad option value (a seed, a fault plan): exit 2
            return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if args.command == "completion":
        out.raw(completion_script(parser, args.shell))
        return EXIT_OK
    handler = getattr(args, "bulk_command", None)  # bulk, train import, contacts tag: own loop
    if handler is not None:
        return int(handler(args, out))
    name = args.command
    if getattr(args, "action", None) is not None:  # a group's subcommand: "train add-faq"
        name = f"{name} {args.action}"
    return asyncio.run(COMMANDS[name](args, out))
