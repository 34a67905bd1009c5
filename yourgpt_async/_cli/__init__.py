"""The ``yourgpt-async`` command line (also ``python -m yourgpt_async``).

Commands: ``demo``, ``create-session``, ``send``, ``update-session``, ``sessions``,
``messages``, ``bulk``, ``train import``, ``contacts tag``, ``emulator`` and ``completion`` (a
bash or zsh script). The options ``--api-key``, ``--widget-uid``, ``--base-url`` and
``--token`` (before or after the command) fall back to ``YOURGPT_API_KEY``,
``YOURGPT_WIDGET_UID``, ``YOURGPT_BASE_URL`` and ``YOURGPT_API_TOKEN``. With the ``cli`` extra
(rich) output is rich; without it, plain.

``-v`` logs retries and slow-downs on stderr, ``-vv`` each request too; error messages speak of
the command's flags rather than of Python arguments.

Exit codes: 0 success (a bulk command: every item done, now or by an earlier run), 1 an API
error or, for a bulk command, an item failed, in doubt or on a bad input line, or a run stopped
at the plan's limit, 2 a usage or configuration error (for a bulk command, also a run the
service stopped with 401 or 403), 130 interrupted (Ctrl-C or SIGTERM).

This module runs a command and turns its errors into exit codes; ``_parser`` holds the
arguments, ``_commands`` the simple commands, ``_bulk_command``, ``_bulk_report`` and
``_progress`` the bulk commands (``bulk``, ``train import``, ``contacts tag``: their input file
is read by :class:`yourgpt_async.bulk.ItemFile`), ``_completion`` the
shell completion scripts, ``_output`` the printer, the results file and the exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from .._exceptions import ConfigurationError, YourGPTError
from .._telemetry import setup_logging
from ._bulk_command import bulk
from ._commands import COMMANDS, run_emulator
from ._completion import completion_script
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    key = getattr(args, "api_key", None) or os.environ.get("YOURGPT_API_KEY")
    token = getattr(args, "token", None) or os.environ.get("YOURGPT_API_TOKEN")
    out = Printer(sys.stdout, secrets=tuple(secret for secret in (key, token) if secret))
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
        return run_emulator(args, parser)
    if args.command == "completion":
        out.raw(completion_script(parser, args.shell))
        return EXIT_OK
    if args.command == "bulk":
        return bulk(args, out)
    handler = getattr(args, "bulk_command", None)  # train import, contacts tag
    if handler is not None:
        return int(handler(args, out))
    return asyncio.run(COMMANDS[args.command](args, out))
