"""`yourgpt-async api ENDPOINT -F key=value`: any declared endpoint, its fields typed as `gh
api` types them, the family picked by the credential, and what the service sent printed."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import pytest
from _hostile import KEY, HostileServer, Request, success

from yourgpt_async._cli import main
from yourgpt_async._cli._api_command import parse_field
from yourgpt_async._cli._parser import build_parser
from yourgpt_async._endpoints import registry
from yourgpt_async.testing import EmulatorThread

Captured = pytest.CaptureFixture[str]
TOKEN = "api-v1-HOSTILE-secret-token-0123456789"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("limit=5", ("limit", 5)),
        ("t=0.25", ("t", 0.25)),
        ("big=17226012685401506", ("big", 17226012685401506)),
        ("e=1e3", ("e", 1000.0)),
        ("neg=-3", ("neg", -3)),
        ("on=true", ("on", True)),
        ("off=false", ("off", False)),
        ("none=null", ("none", None)),
        ('f={"operator": "and", "conditions": []}', ("f", {"operator": "and", "conditions": []})),
        ("l=[1, 2]", ("l", [1, 2])),
        ("name=vip", ("name", "vip")),
        ("zip=007", ("zip", "007")),
        ("empty=", ("empty", "")),
        ("eq=a=b", ("eq", "a=b")),
    ],
)
def test_typed_fields(text: str, expected: tuple[str, object]) -> None:
    """Pure: -F makes numbers, true/false/null and JSON objects and arrays of its values, and
    leaves the rest text (a number with a leading zero stays text, as JSON has no such number)."""
    assert parse_field(text, typed=True) == expected


def test_raw_fields_stay_text() -> None:
    """Pure: -f sends the value as text, whatever it looks like."""
    for value in ("5", "true", "null", "[1]", "@file"):
        assert parse_field(f"k={value}", typed=False) == ("k", value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("limit", "expected KEY=VALUE"), ("=5", "expected KEY=VALUE"), ("x={", "x: not valid JSON")],
)
def test_bad_fields_are_usage_errors(text: str, expected: str) -> None:
    """Pure: a field without KEY= or with broken JSON is refused, saying which."""
    with pytest.raises(argparse.ArgumentTypeError, match=expected):
        parse_field(text, typed=True)


def test_a_field_from_a_file_or_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pure: -F key=@FILE sends the file's text, @- standard input's; an unreadable file is
    refused naming it."""
    (tmp_path / "answer.txt").write_text("Yes, in 3-5 days.\n", encoding="utf-8")
    assert parse_field(f"detail=@{tmp_path / 'answer.txt'}", typed=True) == (
        "detail",
        "Yes, in 3-5 days.\n",
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("from stdin"))
    assert parse_field("detail=@-", typed=True) == ("detail", "from stdin")
    with pytest.raises(argparse.ArgumentTypeError, match="detail: cannot read"):
        parse_field(f"detail=@{tmp_path / 'missing.txt'}", typed=True)


def test_api_prints_what_the_service_sent(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """A list prints its items as the service sent them (wire names kept) with its page and
    total, indented; --json on one line; an object prints as sent."""
    assert main(["api", "getMyProjects", "-F", "limit=1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("{\n  ")
    page = json.loads(out)
    assert (page["page"], page["total"], len(page["items"])) == (1, 2, 1)
    assert page["items"][0]["integration_setting"]["widget_uid"] == yourgpt_env.widget_uid
    uid = yourgpt_env.project_uid
    assert main(["api", "createContactTag", "-f", f"project_uid={uid}", "-f", "name=vip"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "vip"
    assert main(["api", "getAllContactTags", "-f", f"project_uid={uid}", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert [tag["name"] for tag in json.loads(out)["items"]] == ["vip"]
    assert yourgpt_env.emulator.written("createContactTag", name="vip") == 1


def test_api_prints_a_pages_extras_and_null_for_no_data(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """The members' page keeps its pending invitations beside the items; an endpoint whose
    reply has no data prints null and exits 0."""
    yourgpt_env.emulator.add_invitation("ada@example.com")
    assert main(["api", "getOrganizationMembers", "--json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert [i["email"] for i in page["invitations"]] == ["ada@example.com"]
    assert page["items"][0]["Member"]["email"] == "owner@example.com"
    argv = ["api", "updateChatbot", "-f", f"project_uid={yourgpt_env.project_uid}"]
    assert main([*argv, "-f", "name=Renamed", "--json"]) == 0
    assert capsys.readouterr().out == "null\n"
    assert yourgpt_env.emulator.projects[0].name == "Renamed"


def test_the_credential_picks_the_family(
    yourgpt_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """A path both APIs serve goes with the key unless a project_uid field is given, then with
    the token: each works with its own credential alone."""
    monkeypatch.delenv("YOURGPT_API_TOKEN")
    assert main(["api", "getSessions", "-F", "limit=2"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []
    monkeypatch.setenv("YOURGPT_API_TOKEN", yourgpt_env.api_token)
    monkeypatch.delenv("YOURGPT_API_KEY")
    assert main(["api", "getSessions", "-f", f"project_uid={yourgpt_env.project_uid}"]) == 0
    assert main(["api", "getSessions"]) == 2
    assert "no API key: pass --api-key" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["api", "makeOutboundCall", "--token", TOKEN, "-f", "agent_id=a"],
            "makeOutboundCall is the Project Integration API's, called with a project's API "
            "key (--api-key or $YOURGPT_API_KEY), not with an organisation's token",
        ),
        (
            ["api", "getMyProjects", "--api-key", KEY],
            "getMyProjects is the Platform API's, called with an organisation's token "
            "(--token or $YOURGPT_API_TOKEN), not with a project's API key",
        ),
        (["api", "getSesions"], "no endpoint is called 'getSesions'; did you mean getSessions?"),
        (["api", "getMyProjects", "-F", "limit=1", "-f", "limit=2"], "'limit' is given twice"),
    ],
)
def test_api_usage_errors_send_nothing(
    yourgpt_env: EmulatorThread, capsys: Captured, argv: list[str], expected: str
) -> None:
    """A credential that cannot call the endpoint, an unknown endpoint or a field given twice
    is a usage error (exit 2) that says so, and nothing is sent."""
    assert main(argv) == 2
    assert expected in capsys.readouterr().err
    assert yourgpt_env.emulator.requests == []


def _recorded(request: Request) -> bytes:
    return success([{"id": 1, "content": "x"}], total=1)


def test_api_sends_exactly_the_fields_with_the_right_header(
    server: HostileServer, capsys: Captured
) -> None:
    """The body is exactly the fields, typed as -F and -f say, to /chatbot/v1/ENDPOINT; the
    token goes as Bearer without an api-key header, the key as api-key without Bearer."""
    server.reply = _recorded
    token = ["--token", TOKEN, "--base-url", server.base_url]
    fields = ["-F", "limit=5", "-F", 'f={"a": [1]}', "-f", "page=2", "-F", "spam=false"]
    assert main([*token, "api", "getAllContacts", *fields, "-f", "project_uid=p"]) == 0
    key = ["--api-key", KEY, "--base-url", server.base_url]
    assert main([*key, "api", "searchIndexDocument", "-f", "query=hi", "-F", "limit=3"]) == 0
    platform, project = server.requests
    assert platform.path == "/chatbot/v1/getAllContacts"
    expected = {"limit": 5, "f": {"a": [1]}, "page": "2", "spam": False, "project_uid": "p"}
    assert platform.body == expected
    assert platform.headers["authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in platform.headers
    assert project.body == {"query": "hi", "limit": 3}
    assert project.headers["api-key"] == KEY
    assert "authorization" not in project.headers
    out = capsys.readouterr().out
    assert json.loads(out.split("\n}\n")[0] + "\n}")["items"] == [{"id": 1, "content": "x"}]
    assert TOKEN not in out
    assert KEY not in out


def test_every_endpoint_is_in_help_and_completion(capsys: Captured) -> None:
    """`api --help` lists every declared endpoint with the credentials that call it and its
    summary, and bash completion offers every one as ENDPOINT."""
    help_text = io.StringIO()
    with contextlib.redirect_stdout(help_text), pytest.raises(SystemExit):
        build_parser().parse_args(["api", "--help"])
    lines = help_text.getvalue().splitlines()
    for name, endpoint in registry().items():
        [line] = [line for line in lines if line.split()[:1] == [name]]
        assert line.endswith(endpoint.summary), line
        assert line.split()[1] in ("key", "token", "both")
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    [case] = [line for line in script.splitlines() if line.strip().startswith("api)")]
    for name in registry():
        assert name in case


def test_api_reconcile_settles_a_lost_create(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """A create whose answer was lost exits 1 in doubt; with --reconcile the same loss is
    settled by reading the service back: exit 0, the tag printed, and stored once."""
    from yourgpt_async.testing import Fault

    uid = ["-f", f"project_uid={yourgpt_env.project_uid}"]
    yourgpt_env.emulator.fault_plan.add("createContactTag", Fault.drop_after())
    assert main(["api", "createContactTag", *uid, "-f", "name=lost"]) == 1
    assert "may or may not have taken effect" in capsys.readouterr().err
    yourgpt_env.emulator.fault_plan.add("createContactTag", Fault.drop_after())
    assert main(["api", "createContactTag", *uid, "-f", "name=found", "--reconcile"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "found"
    assert yourgpt_env.emulator.written("createContactTag", name="found") == 1
