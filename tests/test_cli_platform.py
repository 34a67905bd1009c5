"""The command line's Platform API commands against the emulator, with an organisation's token:
`projects`, `train`, `contacts`, `tags` and `members`, their --json, their errors in the
command line's terms, and the token kept out of everything printed."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest
from _hostile import HostileServer, Request, http

from yourgpt_async._cli import main
from yourgpt_async.testing import EmulatorThread, Fault, Token

Captured = pytest.CaptureFixture[str]
TOKEN = "api-v1-HOSTILE-secret-token-0123456789"


# -- projects ----------------------------------------------------------------------------------


def test_projects_list_and_create(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`projects list` prints each project with its project_uid and widget_uid; `projects
    create` prints the new project's uid, which the list and --json then show."""
    assert main(["projects", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "project_uid\tname\twidget_uid\tcreated"
    assert out[1].startswith(f"{yourgpt_env.project_uid}\tProject 1\t{yourgpt_env.widget_uid}\t")
    assert out[-1] == "page 1, 2 of 2 projects"
    assert main(["projects", "create", "Sales bot"]) == 0
    uid = capsys.readouterr().out.strip()
    assert main(["projects", "list", "--search", "Sales", "--json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert [(p["project_uid"], p["name"]) for p in page["items"]] == [(uid, "Sales bot")]
    assert yourgpt_env.emulator.written("createChatbot", name="Sales bot") == 1


def test_projects_list_every_page(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`projects list --all --limit 1` fetches each page in turn and lists every project."""
    yourgpt_env.emulator.reset()
    assert main(["projects", "list", "--all", "--limit", "1", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in listed["items"]] == ["Project 1", "Project 2"]
    assert yourgpt_env.emulator.request_count("getMyProjects") == 2


def test_projects_settings_change_what_is_given(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """`projects settings` sends the AI settings given (by their wire names), renames and sets
    the retention in seconds; the rest stay as they were."""
    argv = ["projects", "settings", "--model", "gpt-4o", "--temperature", "0.3"]
    argv += ["--no-add-page-link", "--auto-close-minutes", "30", "--name", "Support EU"]
    assert main([*argv, "--retention-days", "30", "--json"]) == 0
    changed = json.loads(capsys.readouterr().out)
    assert changed["project_uid"] == yourgpt_env.project_uid
    assert changed["changed"]["retention_days"] == 30
    [record] = [p for p in yourgpt_env.emulator.projects if p.project_uid == changed["project_uid"]]
    assert record.settings == {
        "model": "gpt-4o",
        "temperature": 0.3,
        "add_page_link": 0,
        "auto_close_duration": 30,
    }
    assert (record.name, record.retention) == ("Support EU", 30 * 86400)


def test_projects_settings_errors_name_the_flags(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """No setting, a value out of range or an unknown model: each says what to pass in the
    command line's terms (exit 2 before any request, or 1 for the service's refusal)."""
    assert main(["projects", "settings"]) == 2
    assert "nothing to change: pass at least one of --name, --prompt" in capsys.readouterr().err
    assert main(["projects", "settings", "--max-nodes", "11"]) == 2
    err = capsys.readouterr().err
    assert "--max-nodes must be an int from 1 to 10" in err
    assert "max_nodes" not in err
    assert yourgpt_env.emulator.requests == []
    assert main(["projects", "settings", "--model", "gpt-99"]) == 1
    assert "HTTP 400" in capsys.readouterr().err


# -- train -------------------------------------------------------------------------------------


def test_train_adds_and_lists_faqs_texts_and_files(
    yourgpt_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """add-faq, add-text (from stdin with -) and upload store one item each in the project
    of $YOURGPT_PROJECT_UID, and `train list` shows each kind."""
    emulator = yourgpt_env.emulator
    assert main(["train", "add-faq", "Ship to Norway?", "Yes.", "--tags", "shipping,eu"]) == 0
    assert capsys.readouterr().out.startswith("added FAQ ")
    monkeypatch.setattr(sys, "stdin", io.StringIO("Returns take 30 days.\n"))
    assert main(["train", "add-text", "-", "--title", "Returns"]) == 0
    capsys.readouterr()
    assert main(["train", "upload", "https://example.com/handbook.pdf"]) == 0
    assert capsys.readouterr().out.endswith(
        " handbook.pdf: processing (`yourgpt-async train list files` shows when it is done)\n"
    )
    project = yourgpt_env.project_uid
    assert emulator.written("createProjectText", short_text="Ship to Norway?", type="faq") == 1
    assert [w.project_uid for w in emulator.writes] == [project] * 3
    assert main(["train", "list", "faq"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "id\tquestion\tanswer\ttags\tadded"
    assert rows[1].split("\t")[1:4] == ["Ship to Norway?", "Yes.", "shipping,eu"]
    assert main(["train", "list", "text", "--json"]) == 0
    [text] = json.loads(capsys.readouterr().out)["items"]
    assert (text["short_text"], text["detail"]) == ("Returns", "Returns take 30 days.\n")
    assert main(["train", "list", "files", "--status", "processing"]) == 0
    assert "\thandbook.pdf\tprocessing\t" in capsys.readouterr().out


def test_train_project_flag_and_its_fallback(
    yourgpt_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """--project names the project, over $YOURGPT_PROJECT_UID; with neither, exit 2 saying
    how to name one, before any request."""
    other = yourgpt_env.emulator.projects[1].project_uid
    assert main(["train", "add-faq", "Q?", "A.", "--project", other]) == 0
    assert yourgpt_env.emulator.writes[-1].project_uid == other
    monkeypatch.delenv("YOURGPT_PROJECT_UID")
    yourgpt_env.emulator.reset()
    assert main(["train", "list", "faq"]) == 2
    assert "no project: pass --project UID, or set YOURGPT_PROJECT_UID" in capsys.readouterr().err
    assert yourgpt_env.emulator.requests == []


def test_train_refuses_what_the_library_refuses_in_flags(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """A file URL of a type the service cannot train on, or a filter of the other kind, is a
    usage error (exit 2) in the command line's terms, before any request."""
    assert main(["train", "upload", "https://example.com/setup.exe"]) == 2
    err = capsys.readouterr().err
    assert "FILE_URL must be an absolute http(s) URL" in err
    assert "file_url" not in err
    assert main(["train", "list", "files", "--search", "x"]) == 2
    assert "--search filters FAQs and texts, not files" in capsys.readouterr().err
    assert main(["train", "list", "faq", "--status", "done"]) == 2
    assert "--status filters files, not faq" in capsys.readouterr().err
    assert yourgpt_env.emulator.requests == []


def test_train_in_doubt_advises_the_command_and_reconcile_settles_it(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """An FAQ whose answer was lost exits 1 advising `train list faq --search` and --reconcile
    (no Python); with --reconcile the same loss is settled by reading back: exit 0, stored
    once."""
    emulator = yourgpt_env.emulator
    emulator.fault_plan.add("createProjectText", Fault.drop_after())
    assert main(["train", "add-faq", "Lost?", "Yes."]) == 1
    err = capsys.readouterr().err
    assert "`yourgpt-async train list faq --search TEXT`" in err
    assert "--reconcile" in err
    for python in ("RetryPolicy", "training.list_texts", "reconcile=True"):
        assert python not in err
    emulator.fault_plan.add("createProjectText", Fault.drop_after())
    assert main(["train", "add-faq", "Settled?", "Yes.", "--reconcile"]) == 0
    assert emulator.written("createProjectText", short_text="Settled?") == 1


def test_train_quota_and_permission_errors(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """The plan's limit exits 1 saying retrying will not help; a viewer's token exits 1 naming
    the permission needed, without printing the token."""
    yourgpt_env.emulator.limits.texts = 0
    assert main(["train", "add-text", "More."]) == 1
    assert "retrying will not help" in capsys.readouterr().err
    viewer = "api-v1-viewer-token-secret"
    yourgpt_env.emulator.tokens[viewer] = Token(viewer, role="viewer")
    assert main(["train", "add-faq", "Q?", "A.", "--token", viewer]) == 1
    err = capsys.readouterr().err
    assert "it needs Training › Write" in err
    assert viewer not in err


# -- contacts and tags -------------------------------------------------------------------------


def test_contacts_list_filter_show_and_tag(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`contacts list` filters by type, tags and text; `contacts show` prints one; `contacts
    tag` links existing tags by name, keeping the contact's others."""
    emulator = yourgpt_env.emulator
    ada = emulator.add_contact("Ada", email="ada@example.com", tags=["vip"])
    emulator.add_contact("Bo", email="bo@example.com", type="USERS")
    assert main(["contacts", "list", "--type", "leads"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[1].split("\t")[:6] == [str(ada), "Ada", "ada@example.com", "", "LEADS", "vip"]
    assert rows[-1] == "page 1, 1 of 1 contacts"
    assert main(["contacts", "list", "--search", "bo@", "--json"]) == 0
    assert [c["name"] for c in json.loads(capsys.readouterr().out)["items"]] == ["Bo"]
    assert main(["tags", "create", "gold"]) == 0
    assert capsys.readouterr().out.startswith("created tag ")
    assert main(["contacts", "tag", str(ada), "gold"]) == 0
    assert capsys.readouterr().out.strip() == f"tagged contact {ada}: gold"
    assert main(["contacts", "show", str(ada), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tags"] == ["vip", "gold"]
    assert main(["contacts", "show", str(ada)]) == 0
    assert "      tags: vip, gold" in capsys.readouterr().out.splitlines()


def test_contacts_errors(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """An unknown contact exits 1 (the service's "Not found"); an id that is not a number or
    no tags at all is a usage error naming the argument."""
    assert main(["contacts", "show", "999"]) == 1
    assert "Not found" in capsys.readouterr().err
    assert main(["contacts", "show", "ada"]) == 2
    assert "argument CONTACT_ID: expected a whole number" in capsys.readouterr().err
    assert main(["contacts", "tag", "5", ","]) == 2
    assert "TAGS must name at least one tag" in capsys.readouterr().err


def test_tags_list_and_create(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`tags create` makes a tag once; `tags list --search` finds it; a lost create with
    --reconcile is settled by name to exactly one."""
    assert main(["tags", "create", "vip", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    yourgpt_env.emulator.fault_plan.add("createContactTag", Fault.drop_after())
    assert main(["tags", "create", "gold", "--reconcile"]) == 0
    capsys.readouterr()
    assert main(["tags", "list", "--search", "vi"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [row.split("\t")[:2] for row in rows[1:-1]] == [[str(made["id"]), "vip"]]
    assert yourgpt_env.emulator.written("createContactTag", name="gold") == 1


def test_contact_text_reaches_the_terminal_without_control_sequences(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """A contact's name holding escape sequences is printed by `contacts list` and `show`
    without them; its text stays."""
    contact = yourgpt_env.emulator.add_contact("\x1b[2J\x1b]0;owned\x07Ada\x9b31m Lovelace")
    assert main(["contacts", "list"]) == 0
    assert main(["contacts", "show", str(contact)]) == 0
    out = capsys.readouterr().out
    assert out.count("Ada Lovelace") == 2
    for control in ("\x1b", "\x07", "\x9b"):
        assert control not in out


# -- members -----------------------------------------------------------------------------------


def test_members_list_invite_and_remove(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`members invite` sends one invitation, which `members list` shows as pending under the
    members; `members remove` removes a member; the creator cannot be removed (exit 1)."""
    emulator = yourgpt_env.emulator
    bo = emulator.add_member("bo@example.com", role="viewer")
    assert main(["members", "invite", "ada@example.com", "--role", "editor", "--json"]) == 0
    invitation = json.loads(capsys.readouterr().out)
    assert (invitation["email"], invitation["status"]) == ("ada@example.com", "pending")
    assert main(["members", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{bo}\tbo\tbo@example.com\tviewer" in out
    assert out.split("pending invitations:\n")[1].startswith("hash\temail\trole\tsent\n")
    assert f"{invitation['hash']}\tada@example.com\teditor\t" in out
    assert main(["members", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [i["hash"] for i in listed["invitations"]] == [invitation["hash"]]
    assert main(["members", "remove", str(bo)]) == 0
    assert [m.id for m in emulator.members if m.id == bo] == []
    assert main(["members", "remove", str(emulator.members[0].id)]) == 1
    assert "the organization's creator cannot be removed" in capsys.readouterr().err


def test_members_invite_checks_before_sending(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """A bad email or role is a usage error naming it (exit 2), before any request."""
    assert main(["members", "invite", "nope", "--role", "editor"]) == 2
    assert "EMAIL must be an email address" in capsys.readouterr().err
    assert main(["members", "invite", "a@example.com", "--role", "king"]) == 2
    assert "argument --role: invalid choice: 'king'" in capsys.readouterr().err
    assert yourgpt_env.emulator.requests == []


# -- the token ---------------------------------------------------------------------------------


def test_a_missing_token_exits_2_saying_how_to_give_one(
    yourgpt_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """Without a token, a Platform API command exits 2 naming --token and YOURGPT_API_TOKEN."""
    monkeypatch.delenv("YOURGPT_API_TOKEN")
    assert main(["projects", "list"]) == 2
    err = capsys.readouterr().err
    assert "no API token: pass --token, or set the YOURGPT_API_TOKEN" in err
    assert "token=" not in err


def test_a_refused_token_names_the_flag(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """A revoked token exits 1 with the service's reason and what to do, naming --token."""
    assert main(["projects", "list", "--token", "api-v1-revoked-long-enough"]) == 1
    err = capsys.readouterr().err
    assert "Invalid or revoked API token" in err
    assert "(--token or YOURGPT_API_TOKEN)" in err


def _echo_token(request: Request) -> bytes:
    """A reply that echoes the token in an error's text and in its data."""
    secret = request.headers.get("authorization", "").removeprefix("Bearer ")
    if request.endpoint == "createChatbot":
        return http({"type": "RXERROR", "message": f"bad token {secret}"}, status=400)
    return http({"type": "RXSUCCESS", "data": [{"project_uid": "p", "name": secret}]})


def test_the_token_is_never_printed(server: HostileServer, capsys: Captured) -> None:
    """A service that echoes the token back, in data or in an error, has it redacted from
    stdout (text and --json) and stderr."""
    server.reply = _echo_token
    connection = ["--token", TOKEN, "--base-url", server.base_url]
    assert main([*connection, "projects", "list"]) == 0
    assert main([*connection, "projects", "list", "--json"]) == 0
    assert main([*connection, "projects", "create", "x"]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("***") == 2
    assert "bad token ***" in captured.err
    assert TOKEN not in captured.out + captured.err
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in server.requests[0].headers


# -- advice in the command line's terms ----------------------------------------------------------


def test_every_in_doubt_advice_is_given_in_the_command_lines_terms() -> None:
    """Pure: what the library advises about any call that can be left in doubt (the endpoint's
    own advice and the policies that would act), as the command line prints it, names no
    Python."""
    from yourgpt_async._cli._output import in_flags
    from yourgpt_async._endpoints import registry
    from yourgpt_async._retry import _advice

    for endpoint in registry().values():
        said = in_flags(_advice(endpoint))
        assert re.findall(r"RetryPolicy|\w+\.\w+\(|\b\w+=\w", said) == [], said


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["search", "x" * 5001], "QUERY must be at most 5,000 characters"),
        (["logs", "--limit", "500"], "--limit must be an int from 1 to 100"),
        (["members", "list", "--limit", "5000"], "--limit must be an int from 1 to 1000"),
        (["projects", "settings", "--chat-history-count", "99"], "--chat-history-count must be"),
        (["projects", "settings", "--temperature", "3"], "--temperature must be a number"),
    ],
)
def test_library_refusals_name_the_commands_flags(
    yourgpt_env: EmulatorThread, capsys: Captured, argv: list[str], expected: str
) -> None:
    """A value the library refuses is reported with the command's own argument or flag, and
    nothing is sent."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "_" not in err.split(" must ")[0], err
    assert yourgpt_env.emulator.requests == []


# -- contacts tag and train import: one command, two forms; the project's fallback ---------------


def test_contacts_tag_one_contact_or_a_file(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """`contacts tag CONTACT_ID TAGS` tags one contact, `contacts tag FILE` many (a bulk
    run); the file's options with one contact, or a CONTACT_ID that is not an id, are usage
    errors (exit 2) before any request."""
    emulator = yourgpt_env.emulator
    ada = emulator.add_contact("Ada", tags=["vip"])
    bo = emulator.add_contact("Bo", tags=["gold"])
    source = tmp_path / "campaign.csv"
    source.write_text(f'contact_id,tags\n{ada},gold\n{bo},"vip,gold"\n', encoding="utf-8")
    emulator.reset()
    assert main(["contacts", "tag", str(ada), "gold", "--journal", "j"]) == 2
    assert "--journal is for tagging from a FILE, not one contact" in capsys.readouterr().err
    assert main(["contacts", "tag", "ada", "gold"]) == 2
    assert "CONTACT_ID must be a contact's id" in capsys.readouterr().err
    assert emulator.requests == []
    assert main(["contacts", "tag", str(source), "--no-journal", "--progress", "none"]) == 0
    assert emulator.request_count("linkContactTags") == 2
    assert main(["contacts", "show", str(bo), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["tags"] == ["gold", "vip"]


def test_train_import_takes_the_project_from_the_environment(
    yourgpt_env: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Captured,
) -> None:
    """`train import` names its project with --project or $YOURGPT_PROJECT_UID, as the other
    project commands do; with neither it exits 2 saying so, before any request."""
    source = tmp_path / "faqs.csv"
    source.write_text("question,answer\nShip to Norway?,Yes.\n", encoding="utf-8")
    assert main(["train", "import", str(source), "--no-journal", "--progress", "none"]) == 0
    assert yourgpt_env.emulator.written("createProjectText", short_text="Ship to Norway?") == 1
    assert yourgpt_env.emulator.writes[-1].project_uid == yourgpt_env.project_uid
    monkeypatch.delenv("YOURGPT_PROJECT_UID")
    yourgpt_env.emulator.reset()
    assert main(["train", "import", str(source), "--no-journal"]) == 2
    assert "no project: pass --project UID" in capsys.readouterr().err
    assert yourgpt_env.emulator.requests == []


def test_train_import_with_an_empty_project_takes_the_environment(
    yourgpt_env: EmulatorThread, tmp_path: Path
) -> None:
    """`train import --project ""` falls back to $YOURGPT_PROJECT_UID as if --project were not
    given, while `logs --project ""` is refused as a usage error before any request."""
    source = tmp_path / "faqs.csv"
    source.write_text("question,answer\nShip to Norway?,Yes.\n", encoding="utf-8")
    argv = ["train", "import", str(source), "--no-journal", "--progress", "none"]
    assert main([*argv, "--project", ""]) == 0
    assert yourgpt_env.emulator.writes[-1].project_uid == yourgpt_env.project_uid
    yourgpt_env.emulator.reset()
    assert main(["logs", "--project", ""]) == 2
    assert yourgpt_env.emulator.requests == []
