"""Run the examples of the documentation against the emulator, so a page cannot drift from the code.

How a page is run (``docs/contributing.md`` says the same for writers):

- Every page of ``docs/`` and ``README.md`` is one test. Its ```` ```python ```` blocks run in
  order as one script (later blocks use names from earlier ones), in a fresh Python process and
  a fresh temporary working directory, with ``YOURGPT_API_KEY``, ``YOURGPT_WIDGET_UID``,
  ``YOURGPT_API_TOKEN``, ``YOURGPT_PROJECT_UID`` and ``YOURGPT_BASE_URL`` pointing at an
  emulator of the page's own. Each block sits at its line of the page, so a traceback's line
  number is the page's.
- A block with a title (```` ```python title="app.py" ````, ```` ```json title="items.jsonl" ````)
  is a file: it is written to the working directory under that name before the script starts,
  and not run itself.
- In a ```` ```console ```` block, each line starting with ``$ `` is a command, run at its place
  in the page with the page's environment; it must exit with status 0 unless the line ends with
  ``# exit status N``. The other lines show output and are not checked.
- A ``# prints: <text>`` comment at the end of a line says the page's output contains
  ``<text>``; the texts must appear in the output in the order of the page.
- ``<!-- skip: reason -->`` right before a block: the block is neither run nor written.
- ``<!-- requires: NAME -->`` right before a block: it runs only if module NAME can be
  imported, and is skipped otherwise. As the first line of a page it applies to the whole page;
  there ``redis`` means a redis-server: one is started on a free loopback port and
  ``YOURGPT_REDIS_URL`` points at it (without redis-server the page is skipped, or fails when
  ``CI=true``).
- The script must exit with status 0 and write nothing to stderr, deprecation warnings raised
  by third-party libraries excepted.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import itertools
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import attrs
import pytest

import yourgpt_async
import yourgpt_async.testing
from yourgpt_async.testing import EmulatorThread

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = "yourgpt_async"
PAGES = [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]
# The page runs start together in one fixture, so under pytest-xdist this file stays on one
# worker (`--dist loadfile` in pyproject.toml): a worker runs every page its tests select.

PAGE_TIMEOUT = 60.0
# Pages run two at a time: a page is mostly its own Python process, and more at once starve the
# other worker of a two-core machine, whose Redis tests read real time.
PARALLEL_PAGES = 2

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")
_TITLE = re.compile(r"""title=(?:"([^"]*)"|'([^']*)')""")
_DIRECTIVE = re.compile(r"^<!--\s*(?P<name>skip|requires)\s*(?::\s*(?P<value>.*?))?\s*-->$")
_PRINTS = re.compile(r"#\s*prints:\s*(?P<text>.+?)\s*$")
_WARNING = re.compile(r"^(?P<file>/\S+?):\d+: \w*(?:Deprecation|PendingDeprecation)Warning: ")
_EXIT_STATUS = re.compile(r"#\s*exit status\s+(?P<status>\d+)\s*$")

# Runs a page's script under the page's own file name, so tracebacks show the page's lines;
# console commands call shell().
_SUPPORT = '''
import subprocess, sys


def shell(command, status=0):
    """Run one command of a console block; fail the page if its exit status is not ``status``."""
    sys.stdout.flush()
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
    sys.stdout.write(done.stdout)
    sys.stdout.flush()
    if done.returncode != status:
        raise SystemExit(
            f"$ {command}\\nexited with status {done.returncode}, expected {status}\\n"
            f"--- its stdout\\n{done.stdout}--- its stderr\\n{done.stderr}"
        )


def run_page(script, page):
    with open(script, encoding="utf-8") as file:
        code = compile(file.read(), page, "exec")
    exec(code, {"__name__": "__main__", "__file__": script, "__docs_shell__": shell})
'''


_RUN_PAGE = "import _docs_support; _docs_support.run_page"


@attrs.frozen
class Block:
    """A fenced block of a page."""

    language: str
    title: str | None
    start: int  # 0-based index of the opening fence's line
    lines: tuple[str, ...]  # the content, dedented to the fence
    skip: str | None  # the reason given by <!-- skip: ... -->
    requires: tuple[str, ...]


@attrs.frozen
class Page:
    """A page's blocks and its page-wide requirements."""

    path: Path
    length: int
    blocks: tuple[Block, ...]
    requires: tuple[str, ...]


def _directives(lines: list[str], before: int) -> tuple[str | None, tuple[str, ...]]:
    """The skip reason and the requirements stated in comments just above line ``before``."""
    skip: str | None = None
    requires: list[str] = []
    index = before - 1
    while index >= 1 and (not lines[index].strip() or _DIRECTIVE.match(lines[index].strip())):
        match = _DIRECTIVE.match(lines[index].strip())
        if match and match["name"] == "skip":
            skip = match["value"] or ""
        elif match:
            requires += (match["value"] or "").replace(",", " ").split()
        index -= 1
    return skip, tuple(requires)


def parse_page(path: Path, text: str | None = None) -> Page:
    """Read the fenced blocks of a Markdown page, with their titles and directives."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).split("\n")
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"]
        end = index + 1
        while end < len(lines):
            closing = _FENCE.match(lines[end])
            if (
                closing is not None
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            end += 1
        content = tuple(
            line[len(indent) :] if line.startswith(indent) else line.lstrip()
            for line in lines[index + 1 : end]
        )
        language = info.split()[0].lstrip(".").lower() if info.split() else ""
        title_match = _TITLE.search(info)
        title = (title_match[1] or title_match[2]) if title_match else None
        skip, requires = _directives(lines, index)
        blocks.append(Block(language, title, index, content, skip, requires))
        index = end + 1
    page_requires: tuple[str, ...] = ()
    first = _DIRECTIVE.match(lines[0].strip()) if lines else None
    if first and first["name"] == "requires":
        page_requires = tuple((first["value"] or "").replace(",", " ").split())
    return Page(path, len(lines), tuple(blocks), page_requires)


def _missing_module(names: tuple[str, ...]) -> str | None:
    for name in names:
        if name != "redis-server" and importlib.util.find_spec(name) is None:
            return name
    return None


def build_script(page: Page) -> tuple[str, dict[str, str], list[str], list[str]]:
    """The page as one script, its files, the texts it must print, and the blocks skipped."""
    script = [""] * page.length
    files: dict[str, str] = {}
    prints: list[str] = []
    skipped: list[str] = []
    for block in page.blocks:
        where = f"{page.path.name}:{block.start + 1}"
        if block.skip is not None:
            skipped.append(f"{where}: {block.skip}")
            continue
        missing = _missing_module(block.requires)
        if missing is not None:
            skipped.append(f"{where}: needs {missing}, which is not installed")
            continue
        if block.title is not None:
            files[block.title] = "\n".join(block.lines) + "\n"
        elif block.language in ("python", "py"):
            for offset, line in enumerate(block.lines):
                script[block.start + 1 + offset] = line
                expected = _PRINTS.search(line)
                if expected:
                    prints.append(expected["text"])
        elif block.language == "console":
            for offset, line in enumerate(block.lines):
                if line.startswith("$ "):
                    command = line[2:]
                    status = _EXIT_STATUS.search(command)
                    code = int(status["status"]) if status else 0
                    script[block.start + 1 + offset] = f"__docs_shell__({command!r}, {code})"
    return "\n".join(script) + "\n", files, prints, skipped


def _without_foreign_deprecations(stderr: str) -> str:
    """Drop deprecation warnings raised by third-party code (and their source line)."""
    kept: list[str] = []
    lines = iter(stderr.splitlines(keepends=True))
    for line in lines:
        warning = _WARNING.match(line)
        source = Path(warning["file"]) if warning else None
        if source and not any(source.is_relative_to(ours) for ours in (ROOT / PACKAGE, DOCS)):
            next(lines, None)
            continue
        kept.append(line)
    return "".join(kept)


@attrs.frozen
class Run:
    """What running a page's script gave."""

    returncode: int
    stdout: str
    stderr: str
    prints: tuple[str, ...]


def _run_page(page: Page, tmp_path: Path) -> Run:
    """Run the page's script against an emulator of its own (and a redis-server if it needs one).

    Raises pytest's skip when the page has nothing to run or lacks what it requires.
    """
    missing = _missing_module(tuple(name for name in page.requires if name != "redis"))
    if missing is not None:
        pytest.skip(f"{page.path.name} needs {missing}, which is not installed")
    script, files, prints, skipped = build_script(page)
    if not script.strip():
        pytest.skip(f"{page.path.name}: {'; '.join(skipped) or 'no example to run'}")
    work = tmp_path / "work"
    support = tmp_path / "support"
    work.mkdir()
    support.mkdir()
    (support / "_docs_support.py").write_text(_SUPPORT, encoding="utf-8")
    for name, content in files.items():
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    program = work / f"{page.path.stem}_page.py"
    program.write_text(script, encoding="utf-8")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("YOURGPT_", "PYTEST_", "COV_"))
    }
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(support), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["NO_COLOR"] = "1"
    with contextlib.ExitStack() as stack:
        if "redis" in page.requires:
            from redis_fixtures import RedisServer, require_redis_server

            server = RedisServer(require_redis_server(), tmp_path)
            server.start()
            stack.callback(server.stop)
            env["YOURGPT_REDIS_URL"] = server.url
        emulator = stack.enter_context(EmulatorThread())
        env.update(emulator.env)  # the key, widget, token, project_uid and base URL
        done = subprocess.run(
            [sys.executable, "-c", f"{_RUN_PAGE}({program.name!r}, {str(page.path)!r})"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=PAGE_TIMEOUT,
            check=False,
        )
    return Run(done.returncode, done.stdout, done.stderr, tuple(prints))


def _check_run(page: Page, run: Run) -> None:
    where = page.path.relative_to(ROOT)
    if run.returncode != 0:
        pytest.fail(
            f"{where}: the examples failed\n--- stdout\n{run.stdout}--- stderr\n{run.stderr}",
            pytrace=False,
        )
    stderr = _without_foreign_deprecations(run.stderr)
    if stderr:
        pytest.fail(f"{where}: the examples wrote to stderr:\n{stderr}", pytrace=False)
    position = 0
    for text in run.prints:
        found = run.stdout.find(text, position)
        if found < 0:
            pytest.fail(
                f"{where}: {text!r} is not in the output (after what came before it):\n"
                f"{run.stdout}",
                pytrace=False,
            )
        position = found + len(text)


def _has_examples(path: Path) -> bool:
    return any(
        block.title is not None or block.language in ("python", "py", "console")
        for block in parse_page(path).blocks
    )


EXAMPLE_PAGES = [path for path in PAGES if _has_examples(path)]


@pytest.fixture(scope="module")
def page_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Path, Future[Run]]]:
    """Every selected page's run, started at once: most of a run is waiting, so they overlap."""
    selected = [
        item.callspec.params["path"]
        for item in request.session.items
        if item.originalname == "test_page_examples_run" and hasattr(item, "callspec")
    ]
    with ThreadPoolExecutor(max_workers=PARALLEL_PAGES) as pool:
        yield {
            path: pool.submit(_run_page, parse_page(path), tmp_path_factory.mktemp(path.stem))
            for path in selected
        }


@pytest.mark.parametrize(
    "path", EXAMPLE_PAGES, ids=[str(p.relative_to(ROOT)) for p in EXAMPLE_PAGES]
)
def test_page_examples_run(path: Path, page_runs: dict[Path, Future[Run]]) -> None:
    """Every example of a documentation page runs against the emulator and prints what it says."""
    _check_run(parse_page(path), page_runs[path].result())


@pytest.mark.parametrize("path", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_skipped_blocks_give_a_reason(path: Path) -> None:
    """A block kept out of the run says why, and every Python block has a language tag."""
    for block in parse_page(path).blocks:
        where = f"{path.relative_to(ROOT)}:{block.start + 1}"
        assert block.skip is None or block.skip.strip(), f"{where}: <!-- skip: --> needs a reason"
        if block.language == "" and block.lines and block.lines[0].startswith(("import ", "from ")):
            pytest.fail(f"{where}: a Python block without ```python is never run")


def test_parser_reads_titles_directives_and_indented_blocks() -> None:
    """The page parser finds titled files, skip and requires comments, and blocks inside tabs."""
    text = textwrap.dedent(
        """\
        # Title

        ```python
        x = 1  # prints: 1
        ```

        <!-- skip: serves forever -->
        ```python
        run_forever()
        ```

        === "Tab"

            <!-- requires: some_module_that_is_not_there -->
            ```python title="app.py"
            APP = 1
            ```

        ```console
        $ yourgpt-async demo  # exit status 1
        output
        ```
        """
    )
    page = parse_page(Path("page.md"), text)
    assert [(b.language, b.title, b.skip) for b in page.blocks] == [
        ("python", None, None),
        ("python", None, "serves forever"),
        ("python", "app.py", None),
        ("console", None, None),
    ]
    assert page.blocks[2].lines == ("APP = 1",)
    script, files, prints, skipped = build_script(page)
    lines = script.split("\n")
    assert lines[3] == "x = 1  # prints: 1"
    assert "run_forever()" not in script
    assert files == {}
    assert prints == ["1"]
    assert len(skipped) == 2
    assert lines[19] == "__docs_shell__('yourgpt-async demo  # exit status 1', 1)"


def _documented_names(package: ModuleType) -> set[str]:
    """Names of a package's ``__all__`` with a docstring (for data: a string literal after it)."""
    documented = {
        name
        for name in package.__all__
        if isinstance(getattr(package, name), type) or callable(getattr(package, name))
        if (getattr(package, name).__doc__ or "").strip()
    }
    assert package.__file__ is not None
    for source in Path(package.__file__).parent.rglob("*.py"):
        body = ast.parse(source.read_text(encoding="utf-8")).body
        for statement, following in itertools.pairwise(body):
            if isinstance(statement, ast.Assign):
                targets = [t.id for t in statement.targets if isinstance(t, ast.Name)]
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                targets = [statement.target.id]
            else:
                continue
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                documented.update(targets)
    return documented


@pytest.mark.parametrize(
    "package", [yourgpt_async, yourgpt_async.testing], ids=lambda m: m.__name__
)
def test_every_public_name_has_a_docstring(package: ModuleType) -> None:
    """The API reference shows a public name only if it has a docstring: every one has."""
    missing = sorted(set(package.__all__) - _documented_names(package))
    assert not missing, f"public names without a docstring (absent from the reference): {missing}"


@pytest.mark.parametrize(
    ("package", "page"),
    [(yourgpt_async, "api.md"), (yourgpt_async.testing, "testing.md")],
    ids=["yourgpt_async", "yourgpt_async.testing"],
)
def test_every_public_name_is_in_the_reference(package: ModuleType, page: str) -> None:
    """Each name of a package's ``__all__`` has its ``::: package.name`` in the reference."""
    text = (DOCS / "reference" / page).read_text(encoding="utf-8")
    shown = set(re.findall(rf"^::: {re.escape(package.__name__)}\.(\w+)\s*$", text, re.M))
    missing = sorted(set(package.__all__) - shown)
    assert not missing, f"docs/reference/{page} lacks: {missing}"


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    commands: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    return commands


def test_cli_reference_covers_every_command_and_option() -> None:
    """docs/reference/cli.md names every command of ``yourgpt-async`` and each of its options."""
    from yourgpt_async._cli._parser import build_parser

    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    missing = sorted(option for option in _options(parser) if f"`{option}" not in page)
    for name, command in _commands(parser).items():
        if f"yourgpt-async {name}" not in page:
            missing.append(name)
        missing += [f"{name} {option}" for option in _options(command) if f"`{option}" not in page]
    assert not missing, f"not in docs/reference/cli.md: {missing}"


def test_the_aiohttp_example_serves_under_python_m_aiohttp_web(tmp_path: Path) -> None:
    """The web-services page's app.py runs as the page says, under `python -m aiohttp.web`
    (which calls make_app with the leftover arguments), and answers a chat request."""
    page = parse_page(DOCS / "guides" / "web-services.md")
    [app] = [block for block in page.blocks if block.title == "app.py"]
    (tmp_path / "app.py").write_text("\n".join(app.lines) + "\n", encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "aiohttp.web", "-H", "127.0.0.1", "-P", str(port)]
    with EmulatorThread() as emulator:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("YOURGPT_")},
            "YOURGPT_API_KEY": emulator.api_key,
            "YOURGPT_WIDGET_UID": emulator.widget_uid,
            "YOURGPT_BASE_URL": emulator.base_url,
        }
        server = subprocess.Popen(
            [*command, "app:make_app"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            reply = _post_when_up(f"http://127.0.0.1:{port}/chats", server)
        finally:
            server.terminate()
            _, stderr = server.communicate(timeout=10)
    assert "session_uid" in reply, stderr


def _post_when_up(url: str, server: subprocess.Popen[bytes], seconds: float = 20.0) -> str:
    """POST to ``url`` once the server listens; fail if it exits or never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5) as r:
                return str(r.read().decode())
        except (ConnectionError, urllib.error.URLError):
            time.sleep(0.05)  # a process starting up: nothing to inject a clock into
    pytest.fail(f"nothing answered at {url} within {seconds} s")
