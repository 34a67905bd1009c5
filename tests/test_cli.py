"""The `yourgpt-async` command line against the emulator: every command, bulk input, signals."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _fakes import new_session, write_jsonl
from _hostile import KEY, HostileServer, Request, success

import yourgpt_async
from yourgpt_async._cli import main
from yourgpt_async._cli._parser import build_parser
from yourgpt_async.testing import EmulatorThread, Fault

Captured = pytest.CaptureFixture[str]
UID = "17226012685401506"


def delivered(emulator: EmulatorThread) -> list[str]:
    return [entry.message for entry in emulator.emulator.ledger]


# -- send, sessions, messages ----------------------------------------------------------------


def test_send_prints_the_reply(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`send` prints the AI's reply with its choices; exit 0."""
    uid = new_session(yourgpt_env)
    assert main(["send", uid, "Can you help?"]) == 0
    out = capsys.readouterr().out
    assert "You said: Can you help?" in out
    assert "[requesthumanoperator]" in out


def test_send_as_operator_with_json(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`send --as operator --json` sends as the operator and prints the stored message as JSON."""
    uid = new_session(yourgpt_env)
    assert main(["send", uid, "Dana here", "--as", "operator", "--json"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["send_by"] == "operator"
    assert reply["message"] == "Dana here"
    assert reply["session_uid"] == uid
    assert yourgpt_env.emulator.ledger[-1].send_by == "operator"


def test_send_says_when_an_operator_holds_the_session(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """Sent as the user while an operator holds the session, the reply is the message itself:
    `send` says the AI did not answer instead of printing the user's own words as a reply."""
    uid = new_session(yourgpt_env)
    assert main(["send", uid, "Dana here", "--as", "operator"]) == 0
    assert capsys.readouterr().out.startswith("stored as operator (message ")
    assert main(["send", uid, "Thanks Dana!"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the AI did not answer: an operator holds this session")
    assert "Thanks Dana!" not in out
    assert main(["send", uid, "And now?", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["is_ai_reply"] is False


def test_an_api_error_exits_1(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """A refused call exits 1 with the service's message on stderr."""
    assert main(["send", "123", "hello"]) == 1
    assert "Session not found" in capsys.readouterr().err


def test_connection_options_work_after_the_command(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """--api-key after the command overrides the environment (here, with a wrong key: 401)."""
    uid = new_session(yourgpt_env)
    assert main(["send", uid, "hi", "--api-key", "apk-wrong"]) == 1
    err = capsys.readouterr().err
    assert "HTTP 401" in err
    assert "apk-wrong" not in err


def test_create_session_prints_a_usable_uid(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`create-session` prints the new session's uid, which `send` then accepts; --json too."""
    assert main(["create-session"]) == 0
    uid = capsys.readouterr().out.strip()
    assert uid.isdigit()
    assert main(["send", uid, "hello"]) == 0
    assert "You said: hello" in capsys.readouterr().out
    assert main(["create-session", "--json"]) == 0
    session = json.loads(capsys.readouterr().out)
    assert session["session_uid"] != uid
    assert session["chat_mode"] == "bot"


def test_sessions_list_whole_uids_when_piped(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """Piped (no terminal), `sessions` prints each full session_uid, never a cut one."""
    uid = new_session(yourgpt_env)
    assert main(["send", uid, "A question long enough to fill its column? " * 2]) == 0
    capsys.readouterr()
    assert main(["sessions"]) == 0
    assert uid in capsys.readouterr().out.split()


def test_sessions_table_and_json(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`sessions` prints a page of sessions; --json gives the page and its items."""
    uids = [new_session(yourgpt_env) for _ in range(3)]
    assert main(["sessions", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert uids[0] in out
    assert uids[2] not in out
    assert "next: --page 2" in out
    assert main(["sessions", "--page", "2", "--limit", "2", "--json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert (page["page"], page["total"], page["has_more"]) == (2, 3, False)
    assert [item["session_uid"] for item in page["items"]] == [uids[2]]


def test_messages_lists_the_conversation(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`messages` prints every message of the session; --json gives a list."""
    uid = new_session(yourgpt_env)
    assert main(["send", uid, "first"]) == 0
    capsys.readouterr()
    assert main(["messages", uid]) == 0
    out = capsys.readouterr().out
    assert "user: first" in out
    assert "assistant: You said: first" in out
    assert main(["messages", uid, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(m["send_by"], m["message"]) for m in listed] == [
        ("user", "first"),
        ("assistant", "You said: first"),
    ]


def test_demo_still_runs(monkeypatch: pytest.MonkeyPatch, capsys: Captured) -> None:
    """`demo` without a key walks the round trip against the embedded emulator."""
    monkeypatch.delenv("YOURGPT_API_KEY", raising=False)
    monkeypatch.delenv("YOURGPT_BASE_URL", raising=False)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "embedded emulator" in out
    assert "AI: You said: One more question?" in out


def test_update_session_hands_the_session_back_to_the_bot(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """After `send --as operator`, `update-session --chat-mode bot` lets the AI answer again."""
    uid = new_session(yourgpt_env)
    assert main(["send", uid, "Dana here", "--as", "operator"]) == 0
    assert main(["update-session", uid, "--chat-mode", "bot", "--segment", "vip,billing"]) == 0
    assert f"{uid}: state=pending chat_mode=bot segment=vip,billing" in capsys.readouterr().out
    assert main(["send", uid, "Still there?"]) == 0
    assert "You said: Still there?" in capsys.readouterr().out
    assert main(["update-session", uid, "--state", "closed", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "closed"


def test_messages_order_and_limit(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """`messages --order DESC --limit N` lists the N newest, asking for no more than needed."""
    uid = new_session(yourgpt_env)
    for n in range(5):
        assert main(["send", uid, f"note {n}", "--as", "assistant"]) == 0
    capsys.readouterr()
    yourgpt_env.emulator.reset()
    assert main(["messages", uid, "--order", "desc", "--limit", "2", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["message"] for m in listed] == ["note 4", "note 3"]
    assert yourgpt_env.emulator.request_count("getSessionMessages") == 1
    assert main(["messages", uid, "--limit", "3"]) == 0
    assert capsys.readouterr().out.split("\n")[:3] == [
        "assistant: note 0",
        "assistant: note 1",
        "assistant: note 2",
    ]


def test_version(capsys: Captured) -> None:
    """--version prints the package's version."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"yourgpt-async {yourgpt_async.__version__}"


def test_every_command_has_a_description() -> None:
    """Each command has a summary in the list and a description in its own --help."""
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    summaries = {choice.dest: choice.help for choice in commands._choices_actions}
    for name, command in commands.choices.items():
        assert summaries[name], name
        assert command.description, name


# -- demo against a real service --------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_demo_asks_before_writing_to_a_real_service(
    monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """With a key and a base URL off this machine, demo asks; "n" sends nothing (no request is
    even tried: the URL does not exist)."""
    monkeypatch.setenv("YOURGPT_API_KEY", "apk-real-key")
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    assert main(["demo", "--base-url", "https://yourgpt.invalid/chatbot/v1"]) == 0
    captured = capsys.readouterr()
    assert "https://yourgpt.invalid/chatbot/v1" in captured.out  # the question names it
    assert "Go on? [y/N]" in captured.out
    assert "Nothing was sent." in captured.out


def test_demo_without_a_terminal_needs_yes(
    monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """Without a terminal to ask on, demo against a real service refuses unless --yes."""
    monkeypatch.setenv("YOURGPT_API_KEY", "apk-real-key")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["demo", "--base-url", "https://yourgpt.invalid/chatbot/v1"]) == 2
    assert "pass --yes to run it without asking" in capsys.readouterr().err


def test_demo_with_a_key_runs_against_a_local_emulator_without_asking(
    yourgpt_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """An emulator on this machine is not the real service: no question, and --yes is harmless."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["demo", "--yes"]) == 0
    assert "An API key is set: running against http://127.0.0.1:" in capsys.readouterr().out
    assert yourgpt_env.emulator.delivered("Can you help me with billing?") == 1


# -- usage and configuration errors ----------------------------------------------------------


def test_a_missing_key_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: Captured) -> None:
    """No API key anywhere is a configuration error: exit 2 with what to do."""
    monkeypatch.delenv("YOURGPT_API_KEY", raising=False)
    assert main(["sessions"]) == 2
    assert "YOURGPT_API_KEY" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bulk"],
        ["send", "123"],
        ["bulk", "items.jsonl", "--concurrency", "0"],
        ["sessions", "--limit", "many"],
        ["send", "1", "hi", "--as", "robot"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: Captured) -> None:
    """Bad command lines exit 2 with argparse's usage message."""
    assert main(argv) == 2
    assert "usage: yourgpt-async" in capsys.readouterr().err


def test_errors_speak_of_flags_not_python(
    yourgpt_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """What the command line prints for a bad value or a failed call names its flags and
    commands, never a Python argument or class."""
    uid = new_session(yourgpt_env)
    expected = {
        ("sessions", "--limit", "101"): "--limit must be an int from 1 to 100",
        ("update-session", uid): "at least one of --state, --chat-mode or --segment",
        ("send", "12345", "hi"): "check SESSION_UID: this project has no such session "
        "(`yourgpt-async sessions` lists them)",
        ("send", uid, "  "): "MESSAGE must not be empty",
        ("send", uid, "hi", "--base-url", "http://example.com/v1"): "--base-url ",
    }
    expected[("send", uid, "lost")] = "check with `yourgpt-async messages SESSION_UID --order"
    for argv, text in expected.items():
        if argv[-1] == "lost":
            yourgpt_env.emulator.fault_plan.add("sendMessage", Fault.drop_after())
        assert main(list(argv)) in (1, 2)
        err = capsys.readouterr().err
        assert text in err, (argv, err)
        for python in ("api_key=", "widget_uid=", "RetryPolicy", "get_session", "session_uid"):
            assert python not in err, (argv, err)
    monkeypatch.delenv("YOURGPT_WIDGET_UID")
    assert main(["create-session"]) == 2
    assert "no widget_uid: pass --widget-uid, or set YOURGPT_WIDGET_UID" in capsys.readouterr().err


def test_help_exits_0(capsys: Captured) -> None:
    """--help documents the commands and the exit codes."""
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "send", "sessions", "messages", "bulk", "emulator"):
        assert command in out
    assert "130 interrupted" in out


# -- bulk ------------------------------------------------------------------------------------


def test_bulk_jsonl_reports_and_skips_bad_lines(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """Bad lines are reported with their number, skipped and counted; exit 1."""
    uid = new_session(yourgpt_env)
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"session_uid": uid, "message": "one"},
            "{not json",
            {"session_uid": uid},
            "",
            [1, 2],
            {"session_uid": uid, "message": "two", "send_by": "assistant"},
            {"session_uid": uid, "message": "x", "send_by": "robot"},
            {"session_uid": uid, "message": "y", "colour": "red"},
            {"session_uid": uid, "message": "z", "key": "#1"},
        ],
    )
    assert main(["bulk", str(source), "--json"]) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert (summary["sent"], summary["bad_lines"], summary["failed"]) == (2, 6, 0)
    assert summary["interrupted"] is False
    for number, reason in [
        (2, "not valid JSON"),
        (3, "missing message"),
        (5, "expected a JSON object, got an array"),
        (7, "send_by must be one of"),
        (8, "unknown field(s): colour"),
        (9, "key must be a non-empty str"),
    ]:
        assert f"in.jsonl:{number}: skipped: {reason}" in captured.err
    assert sorted(delivered(yourgpt_env)) == ["one", "two"]


def test_bulk_csv_with_and_without_a_header(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """CSV with a header names its columns; without one they are positional. All sent: exit 0."""
    uid = new_session(yourgpt_env)
    with_header = tmp_path / "a.csv"
    with_header.write_text(
        f'message,session_uid,key\n"hello, world",{uid},k1\nplain,{uid},\n', encoding="utf-8"
    )
    without = tmp_path / "b.csv"
    without.write_text(f"{uid},as bot,assistant\n{uid},as user\n", encoding="utf-8")
    assert main(["bulk", str(with_header)]) == 0
    assert main(["bulk", str(without), "--format", "csv"]) == 0
    assert "sent 2, failed 0" in capsys.readouterr().out
    ledger = yourgpt_env.emulator.ledger
    assert sorted((e.message, e.send_by) for e in ledger) == [
        ("as bot", "assistant"),
        ("as user", "user"),
        ("hello, world", "user"),
        ("plain", "user"),
    ]


def test_bulk_csv_bad_rows_and_a_bad_header(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """A CSV row with too many columns is skipped; a header with unknown columns exits 2."""
    uid = new_session(yourgpt_env)
    source = tmp_path / "in.csv"
    source.write_text(f"{uid},ok\n{uid},a,user,k,extra\n{uid},\n", encoding="utf-8")
    assert main(["bulk", str(source)]) == 1
    err = capsys.readouterr().err
    assert "in.csv:2: skipped: 5 columns, expected at most 4" in err
    assert "in.csv:3: skipped: missing message" in err
    header = tmp_path / "h.csv"
    header.write_text(f"session_uid,message,colour\n{uid},hi,red\n", encoding="utf-8")
    assert main(["bulk", str(header)]) == 2
    assert "colour" in capsys.readouterr().err


def test_bulk_journal_resumes_and_output_records_outcomes(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """A rerun with the journal sends nothing again (exit 0); --output has a line per outcome."""
    uid = new_session(yourgpt_env)
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"session_uid": uid, "message": f"r{i}"} for i in range(5)]
    )
    journal, output = tmp_path / "journal.jsonl", tmp_path / "out.jsonl"
    yourgpt_env.emulator.fault_plan.add("sendMessage", Fault.status(400))
    argv = ["bulk", str(source), "--journal", str(journal), "--output", str(output), "--json"]
    assert main([*argv, "--concurrency", "1"]) == 1
    first = json.loads(capsys.readouterr().out)
    assert (first["sent"], first["failed"]) == (4, 1)
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["sent"], second["skipped"], second["failed"]) == (1, 4, 0)
    assert sorted(delivered(yourgpt_env)) == [f"r{i}" for i in range(5)]
    results = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["status"] for r in results].count("sent") == 5
    failed = next(r for r in results if r["status"] == "failed")
    assert "HTTP 400" in failed["error"]
    assert {r["index"] for r in results} == set(range(5))
    assert all(r["reply"].startswith("You said: r") for r in results if r["status"] == "sent")


def test_bulk_refuses_another_inputs_journal(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """A journal written for another file exits 2 with a clear error, sending nothing."""
    uid = new_session(yourgpt_env)
    journal = tmp_path / "journal.jsonl"
    first = write_jsonl(tmp_path / "a.jsonl", [{"session_uid": uid, "message": "a"}])
    other = write_jsonl(tmp_path / "b.jsonl", [{"session_uid": uid, "message": "b"}])
    assert main(["bulk", str(first), "--journal", str(journal)]) == 0
    assert main(["bulk", str(other), "--journal", str(journal)]) == 2
    err = capsys.readouterr().err
    assert "was written for a different input" in err
    assert "delete the journal, or pass --journal PATH" in err
    assert delivered(yourgpt_env) == ["a"]


def test_bulk_missing_file_exits_2(yourgpt_env: EmulatorThread, capsys: Captured) -> None:
    """A missing input file is a usage error naming it."""
    assert main(["bulk", "no-such-file.jsonl"]) == 2
    assert "no-such-file.jsonl" in capsys.readouterr().err


def test_bulk_in_doubt_items_exit_1(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """An item whose answer was lost counts as in doubt and makes the exit code 1."""
    uid = new_session(yourgpt_env)
    yourgpt_env.emulator.fault_plan.add("sendMessage", Fault.drop_after())
    source = write_jsonl(tmp_path / "in.jsonl", [{"session_uid": uid, "message": "lost"}])
    assert main(["bulk", str(source)]) == 1
    assert "in doubt 1" in capsys.readouterr().out


def test_bulk_progress_lines_and_bar(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """Plain progress lines off a terminal; the rich bar when asked for."""
    uid = new_session(yourgpt_env)
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"session_uid": uid, "message": f"p{i}"} for i in range(3)]
    )
    assert main(["bulk", str(source), "--progress", "lines", "--no-journal"]) == 0
    assert "bulk: 3/3 done: sent 3, failed 0, in doubt 0" in capsys.readouterr().err
    assert main(["bulk", str(source), "--progress", "bar", "--no-journal"]) == 0
    err = capsys.readouterr().err
    assert "3/3" in err
    assert "━" in err
    assert main(["bulk", str(source), "--progress", "none", "--no-journal"]) == 0
    assert capsys.readouterr().err == ""


# -- in a subprocess: the entry points, the emulator, signals ---------------------------------


def run_cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yourgpt_async", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )


def test_console_script_and_python_m() -> None:
    """`yourgpt-async` and `python -m yourgpt_async` are the same command line."""
    script = Path(sys.executable).parent / "yourgpt-async"
    by_script = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    by_module = run_cli("--help")
    assert by_script.returncode == by_module.returncode == 0
    assert by_script.stdout == by_module.stdout
    assert "bulk" in by_module.stdout


def test_verbose_logs_each_request_on_stderr() -> None:
    """-vv (before or after the command) logs a line per request on stderr, whatever
    YOURGPT_LOG says; -v only retries and slow-downs; without it, nothing."""
    with EmulatorThread() as emulator:
        env = {
            **os.environ,
            "YOURGPT_API_KEY": emulator.api_key,
            "YOURGPT_WIDGET_UID": emulator.widget_uid,
            "YOURGPT_BASE_URL": emulator.base_url,
        }
        env.pop("YOURGPT_LOG", None)
        debug = run_cli("sessions", "-vv", env={**env, "YOURGPT_LOG": "warning"})
        info = run_cli("-v", "sessions", env=env)
        quiet = run_cli("sessions", env=env)
    assert debug.returncode == info.returncode == quiet.returncode == 0
    assert "DEBUG yourgpt_async: getSessions attempt 1: HTTP 200 in " in debug.stderr
    assert emulator.api_key not in debug.stderr
    assert info.stderr == quiet.stderr == ""


def test_emulator_command_serves_with_a_fault_plan(tmp_path: Path, capsys: Captured) -> None:
    """`emulator` serves the API with the given fault plan until SIGINT, then exits 0."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"getSessions": [{"kind": "status", "status": 400}]}))
    command = [sys.executable, "-m", "yourgpt_async", "emulator", "--port", "0"]
    options = ["--fault-plan", str(plan), "--rate-limit", "100/10", "--ai-latency", "0"]
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
        connection = [
            *("--base-url", exports["YOURGPT_BASE_URL"]),
            *("--api-key", exports["YOURGPT_API_KEY"]),
            *("--widget-uid", exports["YOURGPT_WIDGET_UID"]),
        ]
        assert exports["YOURGPT_API_TOKEN"] == "api-v1-emulator-token"
        assert exports["YOURGPT_PROJECT_UID"] == "a1b2c3d4-0000-0000-0000-000000000001"
        assert main([*connection, "sessions"]) == 1  # the planned fault
        assert main([*connection, "sessions", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["items"] == []
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


def journal_records(journal: Path) -> list[dict[str, object]]:
    try:
        lines = journal.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.endswith("}")]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_bulk_interrupted_finishes_in_flight_and_exits_130(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """On SIGINT/SIGTERM bulk stops taking items, settles those in flight, says how to resume
    and exits 130; its journal is kept next to the input without being asked for, so the same
    command run again sends only what is left."""
    count, concurrency = 100, 4
    with EmulatorThread(ai_latency=0.01) as emulator:
        uid = new_session(emulator)
        source = write_jsonl(
            tmp_path / "in.jsonl",
            [{"session_uid": uid, "message": f"i{i}"} for i in range(count)],
        )
        journal = tmp_path / "in.jsonl.journal"
        env = {
            **os.environ,
            "YOURGPT_API_KEY": emulator.api_key,
            "YOURGPT_WIDGET_UID": emulator.widget_uid,
            "YOURGPT_BASE_URL": emulator.base_url,
        }
        argv = [str(source), "--concurrency", str(concurrency)]
        with subprocess.Popen(
            [sys.executable, "-m", "yourgpt_async", "bulk", *argv, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        ) as process:
            for _ in range(2000):  # up to 10 s, normally well under 1
                sent = sum(r.get("s") == "sent" for r in journal_records(journal))
                if sent >= 8 or process.poll() is not None:
                    break
                time.sleep(0.005)
            process.send_signal(signum)
            out, err = process.communicate(timeout=20)
        assert process.returncode == 130, err
        assert f"to resume, run the same command again: the journal {journal}" in err

        summary = json.loads(out)
        assert summary["interrupted"] is True
        assert summary["cancelled"] == 0
        assert 8 <= summary["sent"] < count
        ends: dict[object, str] = {}
        starts = set()
        for record in journal_records(journal)[1:]:
            if record["s"] == "start":
                starts.add(record["k"])
            else:
                ends[record["k"]] = str(record["s"])
        assert starts == set(ends)  # consistent: everything started has ended
        assert list(ends.values()).count("sent") == summary["sent"]
        if signum is signal.SIGTERM:
            return  # the resume below is the same after either signal

        resumed = run_cli("bulk", *argv, "--json", env=env)
        assert resumed.returncode == 0, resumed.stderr
        again = json.loads(resumed.stdout)
        assert again["skipped"] == summary["sent"]
        assert again["sent"] == count - summary["sent"]
        ledger = delivered(emulator)
    assert sorted(ledger) == sorted(f"i{i}" for i in range(count))


def test_emulator_command_takes_the_emulators_own_options() -> None:
    """`yourgpt-async emulator` parses the options of `python -m yourgpt_async.testing`, and a
    key given before the command is the one the emulator accepts."""
    from yourgpt_async._cli._parser import build_parser
    from yourgpt_async.testing import EmulatorRateLimit

    args = build_parser().parse_args(["--api-key", "apk-mine", "emulator", "--rate-limit", "5/2"])
    assert args.api_key == "apk-mine"
    assert args.rate_limit == EmulatorRateLimit(5.0, 2)
    bare = build_parser().parse_args(["emulator"])
    assert getattr(bare, "api_key", None) is None  # the emulator then uses its own key


# -- bulk: the journal by default, keys, CSV records, reasons ------------------------------------


def test_bulk_keeps_a_journal_next_to_the_input_so_a_rerun_resumes(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """Without --journal, bulk journals to FILE.journal: the same command run again sends only
    what did not go (here the item refused the first time), and says it is resuming."""
    uid = new_session(yourgpt_env)
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"session_uid": uid, "message": f"r{i}"} for i in range(5)]
    )
    yourgpt_env.emulator.fault_plan.add("sendMessage", Fault.status(400))
    argv = ["bulk", str(source), "--json", "--concurrency", "1"]
    assert main(argv) == 1
    assert (tmp_path / "in.jsonl.journal").is_file()
    capsys.readouterr()
    assert main(argv) == 0
    captured = capsys.readouterr()
    again = json.loads(captured.out)
    assert (again["sent"], again["skipped"]) == (1, 4)
    assert again["journal"] == str(tmp_path / "in.jsonl.journal")
    assert "resuming from the journal" in captured.err
    assert sorted(delivered(yourgpt_env)) == [f"r{i}" for i in range(5)]


def test_bulk_no_journal_keeps_none(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """--no-journal writes no journal (and cannot be combined with --journal)."""
    uid = new_session(yourgpt_env)
    source = write_jsonl(tmp_path / "in.jsonl", [{"session_uid": uid, "message": "once"}])
    assert main(["bulk", str(source), "--no-journal"]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.jsonl"]
    assert main(["bulk", str(source), "--no-journal", "--journal", "j"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_bulk_refuses_a_key_used_twice_before_sending(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """Two lines with one key: exit 2 naming both lines, and nothing is sent."""
    uid = new_session(yourgpt_env)
    source = tmp_path / "in.csv"
    source.write_text(f"session_uid,message,key\n{uid},a,k1\n{uid},b,k2\n{uid},c,k1\n")
    assert main(["bulk", str(source)]) == 2
    assert "lines 2 and 4 have the same key 'k1'" in capsys.readouterr().err
    assert delivered(yourgpt_env) == []


def test_bulk_counts_csv_records_not_lines(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """Quoted fields over several lines: the progress counts 3 records, not 9 lines."""
    uid = new_session(yourgpt_env)
    source = tmp_path / "in.csv"
    source.write_text(
        "session_uid,message\n"
        + "".join(f'{uid},"message {i}\nits second line\nits third"\n' for i in range(3))
    )
    assert main(["bulk", str(source), "--progress", "lines"]) == 0
    assert "bulk: 3/3 done: sent 3" in capsys.readouterr().err


def test_bulk_says_once_that_a_csv_has_no_usable_header(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """uid,message,key rows without a header: one error (exit 2), not one line per row."""
    uid = new_session(yourgpt_env)
    source = tmp_path / "in.csv"
    source.write_text("".join(f"{uid},hello {i},order-{i}\n" for i in range(20)))
    assert main(["bulk", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the first line is not a header" in err
    assert delivered(yourgpt_env) == []


def test_bulk_concurrency_defaults_to_the_librarys() -> None:
    """bulk --concurrency defaults to AsyncClient's max_concurrency, one shared constant."""
    import inspect

    from yourgpt_async import AsyncClient

    library = inspect.signature(AsyncClient).parameters["max_concurrency"].default
    args = build_parser().parse_args(["bulk", "in.jsonl"])
    assert args.concurrency == library == 64
    assert f"default: {library}" in _help("bulk")


def test_progress_says_what_bounds_the_run() -> None:
    """The progress line names the concurrency when every place is taken and nothing waits
    for the rate limit, and the rate limit when requests wait for their turn."""
    from yourgpt_async import BulkSummary
    from yourgpt_async._cli._progress import what_limits

    full = BulkSummary(in_flight=16, at_capacity=True)
    assert what_limits(full, 16).startswith("limited by --concurrency 16")
    paced = BulkSummary(in_flight=16, waiting=12, at_capacity=True)
    assert what_limits(paced, 16) == "12 of 16 in flight waiting for the rate limit"
    assert what_limits(BulkSummary(in_flight=3), 16) == ""


def _forget_ends(journal: Path, count: int) -> None:
    """Drop the end lines of the first ``count`` items, as if the run had been killed."""
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    keys = [json.loads(line)["k"] for line in lines[1:] if '"s":"start"' in line][:count]
    journal.write_text(
        "".join(
            line
            for line in lines
            if not (json.loads(line).get("k") in keys and '"s":"start"' not in line)
        ),
        encoding="utf-8",
    )


def test_bulk_resume_groups_alike_in_doubt_items_in_plain_words(
    yourgpt_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """Items an earlier (killed) run started and never ended: one grouped reason that says so
    truthfully, with no key and no word cut, and CLI advice rather than Python."""
    uid = new_session(yourgpt_env)
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [{"session_uid": uid, "message": f"m{i}", "key": f"order-{i}"} for i in range(6)],
    )
    assert main(["bulk", str(source)]) == 0
    _forget_ends(tmp_path / "in.jsonl.journal", 4)
    capsys.readouterr()
    assert main(["bulk", str(source)]) == 1
    out = capsys.readouterr().out
    [reason] = [line for line in out.splitlines() if line.startswith("  ")]
    assert reason.startswith("  4 × in doubt: started by an earlier run that stopped")
    assert "before recording its outcome" in reason
    assert "order-" not in out
    assert "--resend-in-doubt" in reason
    assert "resend_in_doubt" not in reason
    assert "…" not in reason  # whole, not cut
    capsys.readouterr()
    assert main(["bulk", str(source)]) == 1  # the same, truthfully, on the next resume
    assert "4 × in doubt: started by an earlier run that stopped" in capsys.readouterr().out


def test_reasons_never_cut_a_word() -> None:
    """A long reason is cut between words, with an ellipsis."""
    from yourgpt_async import BadRequestError, BulkItem, Failed
    from yourgpt_async._cli._bulk_command import reason_of

    words = " ".join(f"word{i}" for i in range(200))
    error = BadRequestError(words, status=400, body=None, endpoint="sendMessage")
    reason = reason_of(Failed(item=BulkItem("1", "x"), error=error, key="#0:0", index=0))
    assert reason.endswith(" …")
    assert all(word.startswith("word") for word in reason.split(": ", 1)[1][:-2].split())


# -- terminal output ---------------------------------------------------------------------------

HOSTILE_TEXT = "\x1b[2J\x1b]0;owned\x07visible\x9b31m\rtext\x1bc"


def test_sessions_on_a_terminal_prints_chat_text_as_it_is(
    yourgpt_env: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal, `sessions` draws a table without reading chat text as rich markup: a
    last message with "[/b]" or "[red]" is shown as typed."""
    uid = new_session(yourgpt_env)
    assert main(["send", uid, "closing [/b] tag and [red]colour[/red]", "--as", "operator"]) == 0
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["sessions"]) == 0
    assert "closing [/b] tag and [red]colour[/red]" in terminal.getvalue()


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_service_text_reaches_the_terminal_without_control_sequences(
    server: HostileServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Captured,
    terminal: bool,
) -> None:
    """Chat text holding escape sequences (clear screen, retitle, 8-bit CSI, carriage return)
    is printed by messages, send, sessions and demo without them; its text stays."""
    server.reply = _hostile_replies
    if terminal:
        monkeypatch.setattr(sys, "stdout", _Terminal())
        monkeypatch.setenv("COLUMNS", "200")
    connection = ["--api-key", KEY, "--base-url", server.base_url, "--widget-uid", "w"]
    for argv in (["messages", UID], ["send", UID, "hi"], ["sessions"], ["demo"]):
        assert main([*connection, *argv]) == 0, argv
    printed = sys.stdout.getvalue() if terminal else capsys.readouterr().out  # type: ignore[attr-defined]
    # (rich styles its own text on a terminal: only the chat text's sequences must be gone)
    for control in ("\x1b[2J", "\x1b]", "\x07", "\x9b", "\r", "\x1bc"):
        assert control not in printed
    assert printed.count("visibletext") >= 4


def _hostile_replies(request: Request) -> bytes:
    """Replies for every endpoint of the demo, each message carrying HOSTILE_TEXT."""
    session = {"session_uid": UID, "chat_mode": "bot", "state": "pending"}
    message = {"id": 1, "message": HOSTILE_TEXT, "send_by": "assistant", "session_uid": UID}
    data: object = {
        "createSession": session,
        "updateSession": session,
        "sendMessage": message,
        "getSessionMessages": [message],
        "getSessions": [{**session, "last_message": HOSTILE_TEXT}],
    }[request.endpoint]
    return success(data, total=1) if isinstance(data, list) else success(data)


def test_terminal_safe_keeps_text_and_drops_sequences() -> None:
    """Pure: CSI, OSC (ended or not), DCS, 8-bit C1 and lone controls go; text, tabs and
    newlines stay; \\r\\n becomes \\n."""
    from yourgpt_async._cli._output import dumps, terminal_safe

    assert terminal_safe("a\x1b[1;31mb\x1b[0mc") == "abc"
    assert terminal_safe("a\x1b]0;title\x07b\x1b]8;;http://x\x1b\\c") == "abc"
    assert terminal_safe("a\x1bPq#0\x1b\\b\x9b2Jc\x90data\x9cd") == "abcd"
    assert terminal_safe("tab\tnew\r\nline\rx\x08y\x7f") == "tab\tnew\nlinexy"
    assert terminal_safe("日本 ü €") == "日本 ü €"
    assert "\x9b" not in dumps({"m": "\x9b2J"})
    assert json.loads(dumps({"m": "\x9b2J"})) == {"m": "\x9b2J"}


# -- advice for the reader ---------------------------------------------------------------------


def test_create_session_in_doubt_advises_about_sessions(
    yourgpt_env: EmulatorThread, capsys: Captured
) -> None:
    """A create-session whose answer was lost advises what makes sense for a session, in the
    command line's terms: list the sessions; never check messages or set a RetryPolicy."""
    yourgpt_env.emulator.fault_plan.add("createSession", Fault.drop_after())
    assert main(["create-session"]) == 1
    err = capsys.readouterr().err
    assert "a session left unused costs nothing" in err
    assert "`yourgpt-async sessions` lists them" in err
    for wrong in ("messages", "RetryPolicy", "get_session", "sending again"):
        assert wrong not in err


def test_library_messages_give_python_advice_only(
    monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    """No message of the library (outside the command lines) names a command-line flag: its
    reader writes Python. The command line says the same with its flags."""
    import ast

    package = Path(yourgpt_async.__file__).parent
    flags = []
    for path in package.rglob("*.py"):
        if "_cli" in path.parts or path.name in ("_cli.py", "__main__.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # A string standing alone as a statement is documentation (a docstring), not a message.
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if id(node) in docstrings:
                continue  # documentation may speak of the command line
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                flags += [f"{path.name}: {node.value}" for _ in re.findall(r" --[a-z]", node.value)]
    assert flags == []
    monkeypatch.delenv("YOURGPT_API_KEY", raising=False)
    with pytest.raises(yourgpt_async.ConfigurationError) as raised:
        yourgpt_async.AsyncClient(widget_uid="w")
    assert "pass api_key= to AsyncClient" in str(raised.value)
    assert "--api-key" not in str(raised.value)
    assert main(["sessions"]) == 2
    err = capsys.readouterr().err
    assert "pass --api-key, or set the YOURGPT_API_KEY" in err
    assert "api_key=" not in err


# -- help and completion -----------------------------------------------------------------------


def _help(*argv: str) -> str:
    """What `yourgpt-async ARGV --help` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return out.getvalue()


def test_send_help_describes_only_options_it_has() -> None:
    """`send --help` says nothing of a journal, which send does not keep; bulk's does."""
    assert "journal" not in _help("send")
    assert "--journal" in _help("bulk")
    assert "--no-journal" in _help("bulk")


@pytest.mark.parametrize("name", ["bulk", "train import", "contacts tag"])
def test_bulk_command_help_ends_with_the_exit_codes(name: str) -> None:
    """Each bulk command's --help ends with the exit codes the top level's --help gives, after
    its examples: `contacts tag`, whose one-contact form rewrites its examples, too."""
    exit_codes = "exit codes:" + _help().split("exit codes:")[1]
    text = _help(*name.split())
    assert text.endswith(exit_codes), text
    assert "examples:" in text.removesuffix(exit_codes)


def _all_commands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """Every command of ``parser`` by its whole name ("train add-faq"), groups included."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                path = f"{prefix} {name}".strip()
                found[path] = command
                found.update(_all_commands(command, path))
    return found


def test_every_command_help_ends_with_examples_that_parse() -> None:
    """Each command's --help (a group's and each of its subcommands') ends with examples, and
    each example is a valid command line of that command."""
    import shlex

    from yourgpt_async._cli._parser import EXAMPLES

    commands = _all_commands(build_parser())
    assert set(EXAMPLES) == set(commands)
    for name, lines in EXAMPLES.items():
        text = _help(*name.split())
        assert "examples:" in text, name
        for line in lines:
            assert line in text, (name, line)
            command = re.split(r"\s{2,}|\s[<>|]\s", line)[0]  # less its comment or redirection
            found = re.search(r"yourgpt-async\s+([^)]*)", command)
            assert found is not None, line
            words = re.sub(r"\$\w+", "17226012685401506", found.group(1))
            argv = shlex.split(words)
            assert argv[: len(name.split())] == name.split(), line
            build_parser().parse_args(argv)  # SystemExit (a failed test) on a bad example
    assert "examples:" in _help()


def test_the_reference_covers_every_subcommand_and_option() -> None:
    """docs/reference/cli.md names each subcommand of a group (`train add-faq`) and each of its
    options, as it does the top-level commands'."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md").read_text()
    missing = []
    for name, command in _all_commands(build_parser()).items():
        if " " not in name:
            continue
        group, sub = name.split()
        if f"{group} {sub}" not in page and not re.search(rf"`{group} [^`]*\b{sub}\b", page):
            missing.append(name)
        for action in command._actions:
            missing += [
                f"{name} {option}"
                for option in action.option_strings
                if option.startswith("--") and option != "--help" and f"`{option}" not in page
            ]
    assert missing == []


def _documented_command_lines() -> list[tuple[str, str]]:
    """Every ``$ yourgpt-async ...`` line of a fenced block in the docs and the README, run by
    the page or not, with where it is."""
    root = Path(__file__).resolve().parent.parent
    found = []
    for page in [*sorted((root / "docs").rglob("*.md")), root / "README.md"]:
        fenced = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif fenced and line.startswith("$ yourgpt-async "):
                found.append((f"{page.relative_to(root)}:{number}", line[2:]))
    return found


def test_every_documented_command_line_parses() -> None:
    """Each command line the docs show, in blocks the pages run or not, is one the parser
    takes (unless it is shown failing with exit status 2)."""
    import shlex

    lines = _documented_command_lines()
    assert len(lines) > 40
    for where, line in lines:
        command = re.split(r"\s+#|\s[<>|]\s?", line)[0]  # less a comment or a redirection
        command = re.sub(r"\$\([^)]*\)|\$\w+", "17226012685401506", command)
        argv = shlex.split(command)[1:]
        if line.endswith("# exit status 2"):
            continue
        try:
            build_parser().parse_args(argv)
        except SystemExit as exit_:  # --version and --help exit 0
            if exit_.code != 0:
                pytest.fail(f"{where}: {line}")


def _complete(script: str, *words: str, cwd: Path) -> list[str]:
    """What the bash completion ``script`` offers for the command line ``words``."""
    program = (
        f"{script}\nCOMP_WORDS=({' '.join(shlex_quote(w) for w in words)}); "
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _yourgpt_async; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, cwd=cwd, timeout=30, check=True
    )
    return done.stdout.split()


def shlex_quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


def test_bash_completion_completes_commands_options_and_values(
    tmp_path: Path, capsys: Captured
) -> None:
    """`completion bash` prints a script that bash runs: it completes commands, each
    command's options, their choices, and file names where a file is expected."""
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    (tmp_path / "messages.csv").write_text("")
    cases = {
        ("yourgpt-async", "bu"): ["bulk"],
        ("yourgpt-async", "bulk", "--no"): ["--no-journal"],
        ("yourgpt-async", "bulk", "--format", ""): ["auto", "jsonl", "csv"],
        ("yourgpt-async", "bulk", "mess"): ["messages.csv"],
        ("yourgpt-async", "send", "1", "--as", "op"): ["operator"],
        ("yourgpt-async", "messages", "1", "--order", ""): ["ASC", "DESC"],
        ("yourgpt-async", "completion", ""): ["bash", "zsh"],
        ("yourgpt-async", "--api-key", "k", "sessions", "--li"): ["--limit"],
        ("yourgpt-async", "tr"): ["train"],
        ("yourgpt-async", "train", ""): [
            *("add-faq", "add-text", "upload", "list", "import", "-h", "--help")
        ],
        ("yourgpt-async", "--token", "t", "train", "add-faq", "--ta"): ["--tags"],
        ("yourgpt-async", "train", "list", ""): ["faq", "text", "files"],
        ("yourgpt-async", "members", "invite", "a@b.c", "--role", "ed"): ["editor"],
        ("yourgpt-async", "contacts", "list", "--type", "L"): ["LEADS"],
        ("yourgpt-async", "api", "getMy"): ["getMyProjects"],
        ("yourgpt-async", "emulator", "--seed", "mess"): ["messages.csv"],
    }
    for words, expected in cases.items():
        assert _complete(script, *words, cwd=tmp_path) == expected, words


def test_zsh_completion_loads_in_zsh(capsys: Captured) -> None:
    """`completion zsh` prints a script that zsh loads after compinit, registering the
    completion of yourgpt-async."""
    import shutil

    assert main(["completion", "zsh"]) == 0
    script = capsys.readouterr().out
    assert "bashcompinit" in script
    zsh = shutil.which("zsh")
    if zsh is None:
        if os.environ.get("CI"):
            pytest.fail("zsh is not installed (.ci/run installs it)")
        pytest.skip("zsh is not installed")
    program = (
        "autoload -U compinit && compinit -u -D\n"
        f"{script}\n"
        'print -r -- "${_comps[yourgpt-async]}"'
    )
    done = subprocess.run(
        [zsh, "-f", "-c", program], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() != ""
