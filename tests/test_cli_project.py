"""The command line's `logs`, `search` and `call` against the emulator: each with a project's
key, `logs` and `search` also with an organisation's token (--project), and `call` never
resending a call whose answer was lost."""

from __future__ import annotations

import json

import pytest
from _fakes import new_session

from yourgpt_async._cli import main
from yourgpt_async.testing import EmulatorThread, Fault, Token

Captured = pytest.CaptureFixture[str]
NUMBER = "+4915112345678"


def _talk(emulator: EmulatorThread, *messages: str) -> str:
    """A session with ``messages`` sent as the user (each answered by the AI, and logged)."""
    uid = new_session(emulator)
    for message in messages:
        assert main(["send", uid, message]) == 0
    return uid


# -- logs --------------------------------------------------------------------------------------


def test_logs_list_what_the_bot_did(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`logs` prints the key's project's execution logs, newest first, one row per AI answer;
    --session keeps one session's, and --json gives the page with its items."""
    first = _talk(yourgpt_env, "one")
    second = _talk(yourgpt_env, "two", "three")
    capsys.readouterr()
    assert main(["logs"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "ai_reply" in line]
    assert [row.split("\t")[0] for row in rows] == [second, second, first]
    assert out.splitlines()[-1] == "page 1, 3 of ? entries"
    assert main(["logs", "--session", first, "--json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert (page["page"], page["limit"], page["has_more"]) == (1, 10, False)
    assert [item["session_uid"] for item in page["items"]] == [first]
    assert page["items"][0]["task"] == "ai_reply"


def test_logs_order_and_every_page(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`--order ASC` lists oldest first; `--all --limit 2` fetches page after page until the
    last and prints every entry, with the count."""
    uids = [_talk(yourgpt_env, f"m{n}") for n in range(5)]
    capsys.readouterr()
    yourgpt_env.emulator.reset()
    assert main(["logs", "--order", "asc", "--all", "--limit", "2", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [item["session_uid"] for item in listed["items"]] == uids
    assert set(listed) == {"total", "items"}
    assert yourgpt_env.emulator.request_count("getChatbotExecutionLogs") == 3
    assert main(["logs", "--all", "--limit", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "5 entries"


def test_logs_with_a_project_use_the_token(
    yourgpt_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """With --project, `logs` reads through the Platform API with the organisation's token
    (no API key needed); without it, it needs the key and says how to do without."""
    uid = _talk(yourgpt_env, "hello")
    capsys.readouterr()
    monkeypatch.delenv("YOURGPT_API_KEY")
    assert main(["logs", "--project", yourgpt_env.project_uid, "--json"]) == 0
    assert [item["session_uid"] for item in json.loads(capsys.readouterr().out)["items"]] == [uid]
    assert main(["logs"]) == 2
    assert "no API key: pass --api-key" in capsys.readouterr().err


def test_logs_refuse_bad_days_before_any_request(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """A day that is not YYYY-MM-DD, or --from after --to, is a usage error naming the
    options (exit 2), and nothing is sent."""
    assert main(["logs", "--from", "2024-13-01"]) == 2
    assert "argument --from: expected a day as YYYY-MM-DD" in capsys.readouterr().err
    assert main(["logs", "--from", "2024-09-01", "--to", "2024-08-01"]) == 2
    err = capsys.readouterr().err
    assert "--from 2024-09-01 is after --to 2024-08-01" in err
    assert "date_from" not in err
    assert yourgpt_env.emulator.requests == []


# -- search ------------------------------------------------------------------------------------


def test_search_prints_the_best_chunks(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`search` prints the matching chunks, best first, with their document and score; --json
    gives them as items with the offset and limit asked for."""
    doc = yourgpt_env.emulator.add_document("Refunds take 5 days.\n\nRefunds need a receipt.")
    assert main(["search", "refunds receipt"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"{doc}\t1.00\tRefunds need a receipt."
    assert out[2] == f"{doc}\t0.50\tRefunds take 5 days."
    assert out[-1] == "2 chunks"
    assert main(["search", "refunds", "--limit", "1", "--offset", "1", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["offset"], found["limit"]) == (1, 1)
    assert [hit["content"] for hit in found["items"]] == ["Refunds need a receipt."]


def test_search_pages_by_offset_and_keeps_one_document(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """A full lot says which --offset gives the next; --node keeps one document's chunks."""
    first = yourgpt_env.emulator.add_document("Cats purr.\n\nCats sleep.")
    yourgpt_env.emulator.add_document("Cats hunt.")
    assert main(["search", "cats", "--limit", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 chunks; next: --offset 2"
    assert main(["search", "cats", "--node", str(first), "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["items"]
    assert sorted(hit["content"] for hit in hits) == ["Cats purr.", "Cats sleep."]


def test_search_with_a_project_uses_the_token(
    yourgpt_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """With --project, `search` goes through the Platform API: it works with the token alone,
    and a token scoped to another project is refused (exit 1)."""
    monkeypatch.delenv("YOURGPT_API_KEY")
    argv = ["search", "reset my password", "--project", yourgpt_env.project_uid, "--json"]
    assert main(argv) == 0
    assert "reset your password" in json.loads(capsys.readouterr().out)["items"][0]["content"]
    other = yourgpt_env.emulator.projects[1].project_uid
    scoped = "api-v1-other-project-only"
    yourgpt_env.emulator.tokens[scoped] = Token(scoped, projects=frozenset({other}))
    assert main([*argv, "--token", scoped]) == 1
    err = capsys.readouterr().err
    assert "HTTP 403" in err
    assert scoped not in err


def test_search_on_a_plan_without_it_says_so(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """On a plan without knowledge-base search, `search` exits 1 saying the plan lacks it."""
    yourgpt_env.emulator.set_plan(knowledgebase=False)
    assert main(["search", "password"]) == 1
    assert "needs the Professional plan or above" in capsys.readouterr().err


# -- call --------------------------------------------------------------------------------------


def test_call_places_one_call_with_its_data(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`call` has the agent phone the number with the --extra data, and prints what the
    service says of the call; --json gives it whole."""
    extra = {"contact_data": {"name": "Ada", "order": "A-1042"}}
    assert main(["call", "agent-7", NUMBER, "--extra", json.dumps(extra)]) == 0
    assert capsys.readouterr().out.startswith(f"calling {NUMBER} with agent agent-7: queued")
    [call] = yourgpt_env.emulator.calls
    assert (call.agent_id, call.call_to, call.extra_data) == ("agent-7", NUMBER, extra)
    assert main(["call", "agent-9", NUMBER, "--json"]) == 0
    placed = json.loads(capsys.readouterr().out)
    assert (placed["agent_id"], placed["call_to"], placed["status"]) == (
        "agent-9",
        NUMBER,
        "queued",
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["call", "agent-7", "0151 1234 5678"],
            "argument NUMBER: expected a phone number in E.164",
        ),
        (["call", "agent-7", "+49"], "8 to 15 digits"),
        (["call", "agent-7", NUMBER, "--extra", "[1]"], "argument --extra: expected a JSON object"),
        (["call", "agent-7", NUMBER, "--extra", "{nope"], "argument --extra: expected a JSON"),
        (["call", " ", NUMBER], "argument AGENT_ID: expected a value that is not blank"),
    ],
)
def test_call_checks_its_arguments_before_any_request(
    yourgpt_env: EmulatorThread, capsys: Captured, argv: list[str], expected: str
) -> None:
    """A number that is not E.164, --extra that is not a JSON object or a blank agent is a
    usage error (exit 2) naming it, and nothing is sent."""
    assert main(argv) == 2
    assert expected in capsys.readouterr().err
    assert yourgpt_env.emulator.requests == []


def test_call_whose_answer_is_lost_is_never_resent(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """A call whose answer never came back exits 1 saying it may have been placed and that the
    command never resends it (in its terms, not Python's); the person was called once."""
    yourgpt_env.emulator.fault_plan.add("makeOutboundCall", Fault.drop_after())
    assert main(["call", "agent-7", NUMBER]) == 1
    err = capsys.readouterr().err
    assert "may or may not have taken effect" in err
    assert "This command never resends a call" in err
    assert "RetryPolicy" not in err
    assert len(yourgpt_env.emulator.calls) == 1
    assert yourgpt_env.emulator.request_count("makeOutboundCall") == 1


def test_call_needs_the_key_not_a_token(
    yourgpt_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """Without an API key, `call` exits 2 saying how to give one, even with a token set."""
    monkeypatch.delenv("YOURGPT_API_KEY")
    assert main(["call", "agent-7", NUMBER]) == 2
    assert "no API key: pass --api-key" in capsys.readouterr().err
