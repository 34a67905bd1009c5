"""The repository's own conventions: the README's commands (as CI runs them), the install lines
of the documentation, the GitHub workflow and the issue and pull-request templates."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import attrs
import pytest

from yourgpt_async import RateLimit

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), README]

_FENCE = re.compile(r"^(`{3,})\s*(\w*)(.*)$")
_BARE_PYTHON = re.compile(r"(?<![\w/.-])python(?![\w.-])")


def blocks(page: Path) -> list[tuple[str, str, list[str]]]:
    """The fenced blocks of ``page``: (language, the rest of the fence line, lines)."""
    found: list[tuple[str, str, list[str]]] = []
    current: tuple[str, str, list[str]] | None = None
    for line in page.read_text(encoding="utf-8").splitlines():
        fence = _FENCE.match(line.strip())
        if current is None and fence:
            current = (fence.group(2), fence.group(3), [])
        elif current is not None and line.strip().startswith("```"):
            found.append(current)
            current = None
        elif current is not None:
            current[2].append(line)
    return found


def readme_commands() -> list[str]:
    """The commands of the README's console blocks (its set-up commands)."""
    return [line for lang, _, lines in blocks(README) if lang == "console" for line in lines]


def test_the_readme_sets_up_in_a_virtual_environment_with_python3() -> None:
    """The README's two commands make and use a virtual environment (a PEP 668 Python, such as
    Debian's, refuses `pip install` outside one) and call `python3`, never a bare `python`."""
    demo, tests = readme_commands()
    for command in (demo, tests):
        assert command.startswith("python3 -m venv .venv && .venv/bin/python -m pip install ")
        assert not _BARE_PYTHON.search(command), command
    assert demo.endswith("&& .venv/bin/yourgpt-async demo")
    assert tests.endswith("&& .venv/bin/nox -s tests")
    text = README.read_text(encoding="utf-8")
    assert "python3-venv" in text
    assert not _BARE_PYTHON.search(text.replace("```python", "```"))


def test_the_readme_says_how_to_run_its_example_offline() -> None:
    """The "Use it" section says how to run its example and how to start the emulator."""
    section = README.read_text(encoding="utf-8").split("## Use it", 1)[1]
    assert ".venv/bin/python example.py" in section
    assert ".venv/bin/yourgpt-async emulator" in section
    assert "export" in section


def test_ci_runs_the_readme_commands_exactly() -> None:
    """.ci/run runs each README command as written, and installs the servers the tests use."""
    lines = CI_RUN.read_text(encoding="utf-8").splitlines()
    demo, tests = readme_commands()
    assert tests in lines
    assert any(line.strip().endswith(f'bash -c "{demo}"') for line in lines)
    assert any(line.startswith("apt-get install") or "apt-get install -y" in line for line in lines)
    install = next(line for line in lines if "apt-get install" in line)
    for package in ("redis-server", "nginx-light", "zsh"):
        assert package in install


def _nox_sessions(text: str) -> list[str]:
    """The nox sessions a script runs, in order."""
    return [
        session
        for found in re.findall(r"nox -s ([\w ]+?)(?:$|[\"'&;])", text, re.MULTILINE)
        for session in found.split()
    ]


def test_the_github_workflow_runs_the_sessions_ci_runs() -> None:
    """.github/workflows/ci.yml runs the same nox sessions as .ci/run, in the same order, and
    the README's commands."""
    workflow = WORKFLOW.read_text(encoding="utf-8")
    sessions = _nox_sessions(CI_RUN.read_text(encoding="utf-8"))
    assert sessions == ["tests", "docs", "lint", "typecheck", "coverage"]
    assert _nox_sessions(workflow) == sessions
    for command in readme_commands():
        assert command in workflow
    assert "on:" in workflow
    assert "pull_request" in workflow


@pytest.mark.parametrize(
    "path",
    [
        "ISSUE_TEMPLATE/bug_report.md",
        "ISSUE_TEMPLATE/feature_request.md",
        "PULL_REQUEST_TEMPLATE.md",
    ],
)
def test_issue_and_pull_request_templates(path: str) -> None:
    """Bug and feature templates (with their front matter) and a pull-request template."""
    text = (ROOT / ".github" / path).read_text(encoding="utf-8")
    if path.startswith("ISSUE_TEMPLATE"):
        front = text.split("---")[1]
        assert re.search(r"^name: \S", front, re.MULTILINE)
        assert re.search(r"^about: \S", front, re.MULTILINE)
    assert text.count("## ") >= 2


# -- what the documentation installs --------------------------------------------------------

# The packages a page must name for each module its examples import beyond the standard
# library and what yourgpt-async itself installs (aiohttp, attrs, cattrs, tenacity, yarl).
INSTALLS = {
    "fastapi": ("fastapi",),
    "pydantic": ("fastapi",),  # FastAPI brings it
    "httpx": ("httpx",),
    "opentelemetry": ("opentelemetry-sdk",),
    "pytest": ("'.[testing]'", "pytest"),
    "pytest_asyncio": ("'.[testing]'", "pytest-asyncio"),
    "redis": ("'.[redis]'",),
    "rich": ("'.[cli]'",),
    "orjson": ("'.[speedups]'",),
    "arq": ("arq",),
    "celery": ("celery",),
}
INSTALLED_WITH_THE_PACKAGE = {"aiohttp", "attrs", "cattrs", "tenacity", "yarl", "yourgpt_async"}


def _imports(page: Path) -> set[str]:
    """The top-level modules the page's Python blocks import, less the page's own files."""
    own = {
        Path(title).stem
        for _, rest, _ in blocks(page)
        for title in re.findall(r'title="([^"]+)"', rest)
    }
    modules: set[str] = set()
    for lang, _, lines in blocks(page):
        if lang not in ("python", "py"):
            continue
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - own - set(sys.stdlib_module_names) - INSTALLED_WITH_THE_PACKAGE


def _install_lines(page: Path) -> str:
    """Every line of ``page`` that installs something with pip."""
    text = page.read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if "pip install" in line)


@pytest.mark.parametrize(
    "page",
    [pytest.param(page, id=str(page.relative_to(ROOT))) for page in PAGES],
)
def test_every_page_installs_from_a_clone_what_its_examples_import(page: Path) -> None:
    """A page installs the package's extras from a clone (`'.[otel]'`), never by the name of a
    package that is not published, and names a package to install for every module its
    examples import beyond the standard library and the package's own dependencies."""
    installs = _install_lines(page)
    assert "yourgpt-async[" not in page.read_text(encoding="utf-8"), "installs as if published"
    missing = {
        module: INSTALLS.get(module, (module,))
        for module in _imports(page)
        if not any(name in installs for name in INSTALLS.get(module, (module,)))
    }
    assert not missing, f"{page.name} imports these without saying what to install: {missing}"


def test_the_rate_limiting_guide_names_real_settings_and_leaves_the_rules_to_the_design_page() -> (
    None
):
    """The guide's table of adaptive settings names fields of ``RateLimit`` with their true
    defaults; the step-by-step rules are on the design page, which the site's menu lists."""
    guide = (ROOT / "docs" / "guides" / "rate-limiting.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \| ([\d.]+)(?:, ([\d.]+))? \|", guide, re.M)
    assert rows, "the guide has no table of settings"
    defaults = {field.name: field.default for field in attrs.fields(RateLimit)}
    for first, second, value, second_value in rows:
        assert defaults[first] == float(value), first
        if second:
            assert defaults[second] == float(second_value), second
    design = ROOT / "docs" / "design" / "pacing.md"
    assert "(../design/pacing.md)" in guide
    assert "doubles its rate" in design.read_text(encoding="utf-8")
    assert "doubles its rate" not in guide
    assert "design/pacing.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
