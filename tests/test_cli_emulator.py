"""The emulator as the command line and the pytest plugin offer it for both API families: the
organisation token and project_uid it prints beside the key and widget, the --seed file
(applied, and refused with clear errors), EmulatorThread.env and the platform client fixture."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from yourgpt_async import AsyncPlatformClient, PermissionDeniedError
from yourgpt_async._cli import main
from yourgpt_async._cli._parser import build_parser
from yourgpt_async.testing import Emulator, EmulatorThread
from yourgpt_async.testing._cli import _emulator_from_args
from yourgpt_async.testing._seed import _Seed, apply_seed

Captured = pytest.CaptureFixture[str]

SEED: dict[str, Any] = {
    "limits": {"texts": 5, "credits": None},
    "tokens": [
        {"token": "api-v1-viewer", "role": "viewer"},
        {"token": "api-v1-trainer", "role": "trainer", "permissions": {"Training": ["Read"]}},
    ],
    "plans": [{"knowledgebase": False, "project_uid": "a1b2c3d4-0000-0000-0000-000000000002"}],
    "documents": ["Our office opens at nine."],
    "faqs": [{"question": "Do you ship to Norway?", "answer": "Yes.", "tags": ["shipping"]}],
    "texts": [{"text": "We ship to every EU country.", "title": "Shipping"}],
    "files": [{"name": "handbook.pdf"}],
    "companies": [{"name": "Acme", "website": "https://acme.example"}],
    "contacts": [
        {"name": "Ada", "email": "ada@example.com", "tags": ["vip"], "company": "Acme"},
        {"name": "Bo", "type": "USERS", "created_at": "2024-08-01"},
    ],
    "members": [{"email": "cy@example.com", "role": "viewer"}],
    "invitations": [{"email": "di@example.com", "role": "editor"}],
}


def _seeded(tmp_path: Path, seed: object, *options: str) -> Emulator:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    parser = build_parser()
    args = parser.parse_args(["emulator", "--seed", str(path), *options])
    return _emulator_from_args(args, parser)


def test_a_seed_file_fills_the_emulator(tmp_path: Path) -> None:
    """Every part of a seed file lands where the emulator's own seeding methods put it."""
    emulator = _seeded(tmp_path, SEED)
    assert (emulator.limits.texts, emulator.limits.credits) == (5, None)
    assert emulator.tokens["api-v1-viewer"].role == "viewer"
    assert emulator.tokens["api-v1-trainer"].permissions == {"Training": frozenset({"Read"})}
    contacts = sorted(emulator._contacts.contacts.values(), key=lambda c: c.id)
    [company] = emulator._contacts.companies.values()
    assert [(c.name, c.type, c.tags) for c in contacts] == [
        ("Ada", "LEADS", ["vip"]),
        ("Bo", "USERS", []),
    ]
    assert contacts[0].company_id == company.id
    assert contacts[1].created_at.isoformat() == "2024-08-01T00:00:00+00:00"
    assert [m.email for m in emulator.members] == ["owner@example.com", "cy@example.com"]
    assert [i.email for i in emulator.invitations] == ["di@example.com"]


async def test_a_seeded_emulator_answers_with_what_was_seeded(tmp_path: Path) -> None:
    """Over HTTP, the seeded training, documents and plan are what the Platform API shows."""
    async with (
        _seeded(tmp_path, SEED) as emulator,
        AsyncPlatformClient(emulator.api_token, base_url=emulator.base_url) as yp,
    ):
        bot = yp.project(emulator.project_uid)
        [faq] = (await bot.training.list_texts("faq")).items
        [file] = (await bot.training.list_files()).items
        [hit] = await bot.knowledgebase.search("office opens")
        other = yp.project(emulator.projects[1].project_uid)
        with pytest.raises(PermissionDeniedError, match="Professional plan"):
            await other.knowledgebase.search("office")
    assert (faq.question, faq.tags) == ("Do you ship to Norway?", ("shipping",))
    assert (file.name, file.status) == ("handbook.pdf", "done")
    assert hit.content == "Our office opens at nine."


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        ([1], "expected a JSON object with limits, tokens"),
        ({"colour": 1}, "unknown field(s): colour; a seed has limits"),
        ({"faqs": [{"question": "Q?"}]}, "faqs[0].answer: required field missing"),
        ({"faqs": [{"question": 1, "answer": "A"}]}, "faqs[0].question: expected a string"),
        (
            {"faqs": [{"question": "Q", "answer": "A", "tags": "x"}]},
            "faqs[0].tags: expected a list",
        ),
        ({"contacts": [{"type": "BOSS"}]}, "contacts[0]: type must be one of USERS, LEADS, SPAM"),
        ({"contacts": [{"company": "Nope"}]}, "contacts[0].company: no company 'Nope'"),
        ({"contacts": [{"created_at": "soon"}]}, "contacts[0].created_at: expected a day"),
        ({"tokens": [{"token": "t", "role": "king"}]}, "tokens[0]: role must be one of owner"),
        ({"tokens": [{"token": "t", "projects": ["x"]}]}, "tokens[0].projects.project_uid: no"),
        ({"members": [{"email": "a@b.c", "role": "boss"}]}, "members[0]: role must be one of"),
        ({"limits": {"texts": -1}}, "limits.texts: expected a whole number of at least 0"),
        ({"limits": {"seats": 3}}, "limits.seats: not a limit; the limits are projects"),
        ({"plans": [{"knowledgebase": "no"}]}, "plans[0].knowledgebase: expected true or false"),
    ],
)
def test_a_bad_seed_is_a_usage_error_naming_the_place(
    tmp_path: Path, capsys: Captured, seed: object, expected: str
) -> None:
    """A seed that does not fit exits 2 before serving, naming the option, the file, the place
    in it and what is expected."""
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    assert main(["emulator", "--port", "0", "--seed", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"--seed {path}: " in err
    assert expected in err


def test_the_reference_seed_file_is_valid() -> None:
    """The seed file docs/reference/cli.md shows has every part a seed can have, and applies
    whole to an emulator."""
    page = Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md"
    text = page.read_text(encoding="utf-8").split('```json title="seed.json"\n', 1)[1]
    seed = json.loads(text.split("\n```", 1)[0])
    emulator = Emulator()
    apply_seed(emulator, seed)
    assert set(seed) == set(attrs.fields_dict(_Seed))
    assert emulator.tokens["api-v1-expired"].status == "expired"
    assert [m.name for m in emulator.members] == ["Emulated Owner", "Cy"]


def test_an_unreadable_seed_is_a_usage_error(tmp_path: Path, capsys: Captured) -> None:
    """A missing file, or one that is not JSON, exits 2 saying which."""
    assert main(["emulator", "--seed", str(tmp_path / "missing.json")]) == 2
    assert "cannot read it: No such file or directory" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{nope", encoding="utf-8")
    assert main(["emulator", "--seed", str(tmp_path / "bad.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_the_emulator_command_serves_a_seed_to_the_token_commands(
    tmp_path: Path, capsys: Captured
) -> None:
    """`emulator --seed --token` prints five export lines (the token given, a project_uid),
    and the token commands pointed at them see the seeded contacts and roles."""
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(SEED), encoding="utf-8")
    command = [sys.executable, "-m", "yourgpt_async", "emulator", "--port", "0"]
    options = ["--seed", str(path), "--token", "api-v1-mine"]
    with subprocess.Popen(
        [*command, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        exports: dict[str, str] = {}
        for line in process.stdout:  # ends at EOF if the emulator fails to start
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value
            if len(exports) == 5:
                break
        try:
            connection = ["--base-url", exports["YOURGPT_BASE_URL"]]
            project = ["--project", exports["YOURGPT_PROJECT_UID"]]
            assert exports["YOURGPT_API_TOKEN"] == "api-v1-mine"
            argv = [*connection, "--token", "api-v1-mine", "contacts", "list", *project]
            assert main([*argv, "--json"]) == 0
            names = [c["name"] for c in json.loads(capsys.readouterr().out)["items"]]
            assert names == ["Ada", "Bo"]
            viewer = [*connection, "--token", "api-v1-viewer", "train", "add-faq", "Q?", "A."]
            assert main([*viewer, *project]) == 1
            assert "it needs Training › Write" in capsys.readouterr().err
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=10)
    assert process.returncode == 0


def test_emulator_thread_env_points_both_clients_at_it() -> None:
    """EmulatorThread.env names the base URL, key, widget, token and project_uid of the
    running emulator."""
    with EmulatorThread() as emulator:
        assert emulator.env == {
            "YOURGPT_BASE_URL": emulator.base_url,
            "YOURGPT_API_KEY": emulator.api_key,
            "YOURGPT_WIDGET_UID": emulator.widget_uid,
            "YOURGPT_API_TOKEN": emulator.api_token,
            "YOURGPT_PROJECT_UID": emulator.project_uid,
        }
        assert emulator.api_token == emulator.emulator.api_token
        assert emulator.project_uid == emulator.emulator.projects[0].project_uid


async def test_yourgpt_env_sets_the_token_for_a_client_from_the_environment(
    yourgpt_env: EmulatorThread,
) -> None:
    """With the yourgpt_env fixture, AsyncPlatformClient() made from the environment alone
    reaches the test's emulator."""
    assert os.environ["YOURGPT_API_TOKEN"] == yourgpt_env.api_token
    assert os.environ["YOURGPT_PROJECT_UID"] == yourgpt_env.project_uid
    async with AsyncPlatformClient() as yp:
        page = await yp.projects.list()
    assert yourgpt_env.project_uid in [project.project_uid for project in page]


async def test_the_platform_client_fixture(
    yourgpt_emulator: EmulatorThread, yourgpt_platform_client: AsyncPlatformClient
) -> None:
    """yourgpt_platform_client is an owner's client of the test's emulator."""
    bot = yourgpt_platform_client.project(yourgpt_emulator.project_uid)
    await bot.training.add_faq("Plugged in?", "Yes.")
    assert yourgpt_emulator.emulator.written("createProjectText", short_text="Plugged in?") == 1
    assert "Plugged in?" in repr(await bot.training.list_texts("faq"))
