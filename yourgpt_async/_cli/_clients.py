"""The clients a command makes from the command line's options: a project's (``--api-key``) or
an organisation's (``--token``), and the project a Platform API command works on."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from .._client import AsyncClient
from .._config import RetryPolicy
from .._exceptions import ConfigurationError
from ..platform import AsyncPlatformClient

__all__ = [
    "PROJECT_VARIABLE",
    "client_for",
    "platform_client_for",
    "project_uid",
    "with_project",
]

PROJECT_VARIABLE = "YOURGPT_PROJECT_UID"
"""Where ``--project`` falls back to, for the commands that need a project."""


def _policy(args: argparse.Namespace, options: dict[str, Any]) -> None:
    """``--reconcile`` makes the retry policy settle an ambiguous create by reading back."""
    if getattr(args, "reconcile", False):
        options.setdefault("retry", RetryPolicy(reconcile=True))


def client_for(args: argparse.Namespace, **options: Any) -> AsyncClient:
    """A project's client with the connection options of the command line, and ``options``.

    ``--reconcile`` makes its retry policy settle ambiguous sends by reading the session back.
    """
    _policy(args, options)
    return AsyncClient(args.api_key, widget_uid=args.widget_uid, base_url=args.base_url, **options)


def platform_client_for(args: argparse.Namespace, **options: Any) -> AsyncPlatformClient:
    """An organisation's client with the command line's ``--token`` and ``--base-url``, and
    ``options``; ``--reconcile`` settles an ambiguous create by reading the service back."""
    _policy(args, options)
    return AsyncPlatformClient(args.token, base_url=args.base_url, **options)


def project_uid(args: argparse.Namespace) -> str:
    """The project a Platform API command works on: ``--project``, else
    ``$YOURGPT_PROJECT_UID``.

    Raises:
        ConfigurationError: Neither is set.
    """
    uid = args.project or os.environ.get(PROJECT_VARIABLE, "").strip()
    if not uid:
        raise ConfigurationError(
            f"no project: pass --project UID, or set {PROJECT_VARIABLE} (`yourgpt-async "
            "projects list` lists the projects with their project_uid)"
        )
    return str(uid)


def with_project(
    run: Callable[[argparse.Namespace, Any], int],
) -> Callable[[argparse.Namespace, Any], int]:
    """``run`` with ``args.project`` resolved first, as :func:`project_uid` does (for commands
    that read ``args.project`` themselves)."""

    def resolved(args: argparse.Namespace, out: Any) -> int:
        args.project = project_uid(args)
        return run(args, out)

    return resolved
