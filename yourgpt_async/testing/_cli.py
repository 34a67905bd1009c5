"""The emulator's command line: its options, and serving until Ctrl-C or SIGTERM.

``add_options`` and ``run_from_args`` are the two halves of ``serve_main``, so that another
command line (``yourgpt-async emulator``) can offer the same options without defining them again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
from collections.abc import Callable

import attrs

from ._emulator import Emulator
from ._faults import FaultPlan
from ._platform import DEFAULT_API_TOKEN, Token
from ._ratelimit import HEADER_STYLES, KINDS, RETRY_AFTER_STYLES, EmulatorRateLimit
from ._seed import apply_seed, read_seed
from ._state import DEFAULT_API_KEY, DEFAULT_WIDGET_UID, OTHER_WIDGET_UID
from ._thread import environment

__all__ = ["add_options", "run_from_args", "serve_main"]

_MAX_PORT = 65535


def _rate_limit_arg(text: str) -> EmulatorRateLimit:
    per_second, _, burst = text.partition("/")
    try:
        rate = float(per_second)
        if not math.isfinite(rate):
            raise ValueError(rate)
        if burst:
            return EmulatorRateLimit(rate, int(burst))
        return EmulatorRateLimit(rate)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"expected PER_SECOND[/BURST] with positive numbers, e.g. 200/20; got {text!r}"
        ) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= _MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"expected a port from 0 (any free one) to {_MAX_PORT}, got {text!r}"
        )
    return port


def _seconds(*, positive: bool) -> Callable[[str], float]:
    """A parser of a finite number of seconds, at least 0 (above 0 if ``positive``)."""
    expected = "a finite number of seconds above 0" if positive else "a finite number of seconds"

    def parse(text: str) -> float:
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return seconds

    return parse


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``, with their defaults and help.

    The options are ``--host``, ``--port``, ``--rate-limit PER_SECOND[/BURST]`` (parsed into an
    ``EmulatorRateLimit``) with ``--rate-limit-kind``, ``--rate-window``, ``--retry-after`` and
    ``--rate-headers``, ``--fault-plan FILE.json``, ``--seed FILE.json``, ``--api-key``,
    ``--widget-uid``, ``--token`` and ``--ai-latency SECONDS``; ``run_from_args`` reads them
    back.

    Args:
        parser: The parser (or subcommand parser) to add them to.
    """
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=8089, help="port, 0 for any (default: 8089)")
    _add_rate_limit_options(parser)
    parser.add_argument("--fault-plan", metavar="FILE.json", help="faults to apply (JSON)")
    parser.add_argument(
        "--seed",
        metavar="FILE.json",
        help="what to put in it first (JSON): documents, faqs, texts, files, companies, "
        "contacts, members, invitations, tokens, plans, limits",
    )
    # No default on the namespace: a parent parser's own --api-key (given before a subcommand)
    # must survive; an absent value means the emulator's own key and widget.
    parser.add_argument(
        "--api-key",
        default=argparse.SUPPRESS,
        help=f"the accepted API key (default: {DEFAULT_API_KEY})",
    )
    parser.add_argument(
        "--widget-uid",
        default=argparse.SUPPRESS,
        help=f"the key's widget (default: {DEFAULT_WIDGET_UID})",
    )
    parser.add_argument(
        "--token",
        default=argparse.SUPPRESS,
        help=f"the accepted organisation token, an owner's (default: {DEFAULT_API_TOKEN})",
    )
    parser.add_argument(
        "--ai-latency",
        type=_seconds(positive=False),
        default=0.0,
        metavar="SECONDS",
        help="seconds before each AI reply (default: 0)",
    )


def _add_rate_limit_options(parser: argparse.ArgumentParser) -> None:
    """``--rate-limit`` and how it is enforced and told: kind, window, 429 style, headers."""
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit_arg,
        metavar="PER_SECOND[/BURST]",
        help="per-key rate limit, e.g. 200/20: a token bucket of 20 refilled at 200/s "
        "(default: no limit; BURST defaults to one second's worth)",
    )
    parser.add_argument(
        "--rate-limit-kind",
        choices=KINDS,
        default="token_bucket",
        help="how --rate-limit is enforced (default: %(default)s); the windows allow "
        "PER_SECOND x --rate-window requests per window",
    )
    parser.add_argument(
        "--rate-window",
        type=_seconds(positive=True),
        default=1.0,
        metavar="SECONDS",
        help="the windows' length (default: %(default)s)",
    )
    parser.add_argument(
        "--retry-after",
        choices=RETRY_AFTER_STYLES,
        default="seconds",
        help="how a 429 says when to retry: whole seconds (default), also exact "
        "retry-after-ms, none (an HTML page, as a bare gateway), or an HTTP date",
    )
    parser.add_argument(
        "--rate-headers",
        choices=HEADER_STYLES,
        help="rate-limit headers on every answer (default: none)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m yourgpt_async.testing",
        description="Serve the YourGPT API emulator until interrupted (Ctrl-C).",
    )
    add_options(parser)
    return parser


def _emulator_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Emulator:
    """Check the options ``add_options`` added and build the emulator; exits 2 on a bad one."""
    fault_plan = None
    if args.fault_plan is not None:
        try:
            fault_plan = FaultPlan.from_json_file(args.fault_plan)
        except (OSError, ValueError) as exc:
            parser.error(f"--fault-plan {args.fault_plan}: {exc}")
        except RecursionError:
            parser.error(f"--fault-plan {args.fault_plan}: JSON nested too deeply to read")
    api_key = getattr(args, "api_key", None) or DEFAULT_API_KEY
    widget_uid = getattr(args, "widget_uid", None) or DEFAULT_WIDGET_UID
    token = getattr(args, "token", None) or DEFAULT_API_TOKEN
    emulator = Emulator(
        api_keys={api_key: "project-1"},
        widgets={widget_uid: "project-1", OTHER_WIDGET_UID: "project-2"},
        tokens={token: Token(token)},
        rate_limit=_rate_limit(args, parser),
        fault_plan=fault_plan,
        host=args.host,
        port=args.port,
        ai_latency=args.ai_latency,
    )
    seed = getattr(args, "seed", None)
    if seed is not None:
        try:
            apply_seed(emulator, read_seed(seed))
        except ValueError as error:
            parser.error(f"--seed {seed}: {error}")
    return emulator


def _rate_limit(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> EmulatorRateLimit | None:
    """``--rate-limit`` with the kind, window, 429 style and headers the other options name
    (each checked by ``add_options``' types already; ``parser`` is kept for callers)."""
    limit: EmulatorRateLimit | None = args.rate_limit
    if limit is None:
        return None
    return attrs.evolve(
        limit,
        kind=args.rate_limit_kind,
        window=args.rate_window,
        retry_after=args.retry_after,
        headers=args.rate_headers,
    )


async def _serve_until_stopped(emulator: Emulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        # Not available on Windows or off the main thread; Ctrl-C then ends asyncio.run instead.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    try:
        async with emulator:
            print(f"YourGPT emulator serving at {emulator.base_url} (Ctrl-C to stop)")
            for name, value in environment(emulator).items():
                print(f"export {name}={value}")
            sys.stdout.flush()
            await stop.wait()
    finally:
        for signum in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signum)


def run_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Serve the emulator the parsed options of ``add_options`` describe, until Ctrl-C or SIGTERM.

    It prints the base URL, API key, widget uid, organisation token and project uid as
    ``export YOURGPT_...=`` lines.

    Args:
        args: The parsed arguments; they must hold the options ``add_options`` adds.
        parser: The parser that produced them; a bad value is reported with its ``error()``.

    Returns:
        The exit status: 0 after an interrupt, 1 when the server cannot start. A bad value
        (an unreadable fault plan or seed, a port out of range, an AI latency that is not a
        finite number of seconds) exits with status 2 through ``parser.error``.
    """
    emulator = _emulator_from_args(args, parser)
    try:
        asyncio.run(_serve_until_stopped(emulator))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def serve_main(argv: list[str] | None = None) -> int:
    """Run the emulator as a server from the command line until Ctrl-C or SIGTERM.

    It prints the base URL, API key, widget uid, organisation token and project uid as
    ``export YOURGPT_...=`` lines. Options: ``--host``, ``--port``, ``--rate-limit
    PER_SECOND[/BURST]`` (with ``--rate-limit-kind``, ``--rate-window``, ``--retry-after``,
    ``--rate-headers``), ``--fault-plan FILE.json`` (see ``FaultPlan.from_dict``), ``--seed
    FILE.json`` (documents, training, contacts, members, tokens, limits...), ``--api-key``,
    ``--widget-uid``, ``--token``, ``--ai-latency SECONDS``.

    Args:
        argv: The arguments, without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit status: 0 after an interrupt, 1 when the server cannot start. Bad arguments
        exit with status 2, as argparse does.
    """
    parser = _parser()
    return run_from_args(parser.parse_args(argv), parser)
