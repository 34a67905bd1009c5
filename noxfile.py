"""Every chore is a nox session: `nox -s tests coverage lint typecheck docs bench`.

Tools come from the PEP 735 dependency groups in pyproject.toml, so the published package
carries no `dev` extra.
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

PACKAGE = "yourgpt_async"
PYPROJECT = nox.project.load_toml("pyproject.toml")
COVERAGE_FLOOR = 90  # percent of lines and branches of the package; below it the run fails


def _install(session: nox.Session, *groups: str, extras: str = "") -> None:
    requirements = [r for group in groups for r in nox.project.dependency_groups(PYPROJECT, group)]
    session.install("-e", f".[{extras}]" if extras else ".", *requirements)


def _compile(session: nox.Session) -> None:
    """Byte-compile the package once, so that each process the tests start (the command line,
    the documentation's pages, Redis workers) imports it instead of compiling it again, even
    where PYTHONDONTWRITEBYTECODE is set."""
    session.run("python", "-m", "compileall", "-q", PACKAGE, silent=True)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite against the embedded emulator (and a local redis-server)."""
    _install(session, "test", extras="cli,redis,otel")
    _compile(session)
    session.run("pytest", *session.posargs)


@nox.session
def coverage(session: nox.Session) -> None:
    """The test suite under coverage; fails below the floor."""
    _install(session, "coverage", extras="cli,redis,otel")
    _compile(session)
    # `coverage run` starts before pytest imports the package (its pytest plugin does, early);
    # pyproject's `patch = ["subprocess"]` measures pytest-xdist's workers too.
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", "-q", *session.posargs)
    session.run("coverage", "combine", "-q")
    session.run("coverage", "report", f"--fail-under={COVERAGE_FLOOR}")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    _install(session, "typecheck", extras="cli,redis,otel")
    session.run("mypy", "--strict", PACKAGE)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site; broken links or references fail the build."""
    session.install("-e", ".[docs,cli]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks and print each figure beside its baseline."""
    _install(session, "bench", extras="speedups,redis")
    session.run("python", "-m", "benchmarks", *session.posargs)
