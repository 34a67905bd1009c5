"""Every chore is a nox session: `nox -s tests lint typecheck docs bench`."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

PACKAGE = "yourgpt_async"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite against the embedded emulator (and a local redis-server)."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", PACKAGE)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site; broken links or references fail the build."""
    session.install("-e", ".[docs,cli]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks and print each figure beside its baseline."""
    session.install("-e", ".[dev,speedups]")
    session.run("python", "-m", "benchmarks", *session.posargs)
