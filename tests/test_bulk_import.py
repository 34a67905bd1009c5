"""`yourgpt-async train import` and `contacts tag` against the emulator, and the import that
survives a crash: 2,000 FAQs under a fault mix (drops after sending, 500s, 429s), killed with
SIGKILL once its journal shows 600 starts and run again, store each FAQ exactly once or report
it in doubt; the same in one process, interrupted by a cancellation, in a fraction of the time."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fakes import FakeClock, stored

from yourgpt_async import (
    AsyncPlatformClient,
    FaqItem,
    InDoubt,
    RateLimit,
    RetryPolicy,
    Sent,
)
from yourgpt_async._cli import main
from yourgpt_async.testing import Emulator, EmulatorThread, Fault

Captured = pytest.CaptureFixture[str]
QUIET = ("--progress", "none")


@pytest.fixture
def platform_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorThread]:
    """An emulator thread, with YOURGPT_API_TOKEN and YOURGPT_BASE_URL pointing at it."""
    with EmulatorThread() as emulator:
        monkeypatch.setenv("YOURGPT_API_TOKEN", emulator.emulator.api_token)
        monkeypatch.setenv("YOURGPT_BASE_URL", emulator.base_url)
        yield emulator


def write_faqs(path: Path, count: int, *, tags: str = "") -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["question", "answer", "tags"])
        writer.writerows([f"Question {n}?", f"Answer {n}.", tags] for n in range(count))
    return path


def import_faqs(emulator: EmulatorThread, source: Path, *argv: str) -> int:
    project = emulator.emulator.project_uid
    return main(["train", "import", str(source), "--project", project, *argv])


# -- train import -------------------------------------------------------------------------------


def test_train_import_adds_each_faq_and_the_same_command_resumes(
    platform_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """A CSV of FAQs: each added once (tags too), the outcomes in --output, exit 0; the same
    command again finds them all in the journal next to the file and adds nothing."""
    source = write_faqs(tmp_path / "faqs.csv", 5, tags="shipping,eu")
    output = tmp_path / "out.jsonl"
    assert import_faqs(platform_env, source, "--output", str(output)) == 0
    assert "added 5, failed 0" in capsys.readouterr().out
    emulator = platform_env.emulator
    assert all(stored(emulator, f"Question {n}?") == 1 for n in range(5))
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert {r["question"] for r in records} == {f"Question {n}?" for n in range(5)}
    assert all(r["type"] == "faq" and r["status"] == "sent" and r["id"] for r in records)
    assert (tmp_path / "faqs.csv.journal").is_file()
    assert import_faqs(platform_env, source, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["sent"], summary["skipped"], summary["not_attempted"]) == (0, 5, 0)
    assert len(emulator.writes) == 5


def test_train_import_reads_texts_and_files_from_jsonl_and_skips_bad_lines(
    platform_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """JSON lines may mix FAQs, texts and file URLs; a line that is none is reported with
    its number and skipped (exit 1), the others added."""
    source = tmp_path / "training.jsonl"
    lines: list[dict[str, object]] = [
        {"question": "Do you ship?", "answer": "Yes."},
        {"title": "Hours", "text": "We open at nine.", "tags": ["hours"]},
        {"url": "https://example.com/handbook.pdf"},
        {"question": "No answer?"},
        {"url": "https://example.com/virus.exe"},
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert import_faqs(platform_env, source) == 1
    captured = capsys.readouterr()
    assert "added 3, failed 0, in doubt 0, skipped (already added) 0, bad lines 2" in captured.out
    assert "training.jsonl:4: skipped: missing answer" in captured.err
    assert "training.jsonl:5: skipped: url must be an absolute http(s) URL" in captured.err
    emulator = platform_env.emulator
    assert emulator.written("uploadFile", name="handbook.pdf") == 1
    assert emulator.written("createProjectText", short_text="Hours") == 1


@pytest.mark.parametrize(
    "case",
    [
        ("nohead.csv", "Do you ship?,Yes.\nReturns?,30 days.\n", "the file has no header"),
        ("colour.csv", "question,answer,colour\nQ?,A.,red\n", "unknown column(s) 'colour'"),
        ("mixed.csv", "question,answer,url\nQ?,A.,\n", "more than one kind of item"),
        ("half.csv", "question,tags\nQ?,a\n", "no answer column"),
        ("first.jsonl", '{"question": "Q?", "reply": "A."}\n', "unknown column(s) 'reply'"),
        ("array.jsonl", "[1, 2]\n", "the first line is not a record"),
    ],
)
def test_train_import_refuses_a_file_without_its_columns_in_one_line(
    platform_env: EmulatorThread, tmp_path: Path, capsys: Captured, case: tuple[str, str, str]
) -> None:
    """A file without a header, or whose header (or first JSON record) names unknown or mixed
    columns, is one error saying which columns a file names; exit 2, nothing sent."""
    name, text, expected = case
    source = tmp_path / name
    source.write_text(text * 20)
    assert import_faqs(platform_env, source) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert expected in err
    assert "question,answer[,tags] (FAQs)" in err
    assert platform_env.emulator.request_count() == 0


def test_train_import_at_the_plans_limit_stops_in_one_line_and_resumes_after(
    platform_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """The plan holds 30 texts: the import of 200 stops at the first refusal within one
    concurrency window, says so in one line with the count of items not attempted (exit 1),
    lists the refusals as one reason; raised to 500, the same command adds the other 170."""
    emulator = platform_env.emulator
    emulator.limits.texts = 30
    source = write_faqs(tmp_path / "faqs.csv", 200)
    assert import_faqs(platform_env, source, "--concurrency", "4", "--json", *QUIET) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["sent"] == 30
    assert 1 <= summary["failed"] <= 4
    assert summary["reasons"] == {
        "QuotaExceededError (HTTP 403): You have already reached the limit.": summary["failed"]
    }
    assert summary["not_attempted"] == 200 - 30 - summary["failed"]
    assert summary["stopped_by"].startswith("createProjectText: HTTP 403: You have already")
    [line] = captured.err.splitlines()
    assert "train import stopped at the plan's limit" in line
    assert f"{summary['not_attempted']} items were not attempted" in line
    assert emulator.request_count("createProjectText") <= 30 + 4
    emulator.limits.texts = 500
    assert import_faqs(platform_env, source, "--json") == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["sent"], again["skipped"]) == (170, 30)
    assert all(stored(emulator, f"Question {n}?") == 1 for n in range(200))


def test_train_import_with_a_revoked_token_exits_2_saying_what_to_check(
    platform_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """A revoked token: one line naming the refusal, what to check and how many items were
    not attempted; exit 2; one request at most per place."""
    emulator = platform_env.emulator
    emulator.tokens[emulator.api_token].status = "revoked"
    source = write_faqs(tmp_path / "faqs.csv", 100)
    assert import_faqs(platform_env, source, "--concurrency", "2", *QUIET) == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert "train import stopped at the first refusal of the token" in line
    assert "Invalid or revoked API token" in line
    assert "Check --token" in line
    assert "items were not attempted" in line
    assert emulator.api_token not in captured.err + captured.out
    assert emulator.request_count("createProjectText") <= 2


def test_train_import_in_doubt_reasons_speak_of_the_command(
    platform_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """An FAQ whose answer was lost is in doubt (exit 1); on the next run it is reported in
    the command's words (--resend-in-doubt, --reconcile); --reconcile then finds it added."""
    emulator = platform_env.emulator
    emulator.fault_plan.add("createProjectText", Fault.drop_after())
    source = write_faqs(tmp_path / "faqs.csv", 3)
    assert import_faqs(platform_env, source) == 1
    capsys.readouterr()
    assert import_faqs(platform_env, source) == 1
    [reason] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert reason.startswith("  1 × in doubt: sent by an earlier run that got no usable answer")
    assert "--resend-in-doubt" in reason
    assert "--reconcile" in reason
    assert "resend_in_doubt" not in reason
    assert "RetryPolicy" not in reason
    assert stored(emulator, "Question 0?") == 1


# -- contacts tag ---------------------------------------------------------------------------------


def test_contacts_tag_links_the_files_tags_and_resumes(
    platform_env: EmulatorThread, tmp_path: Path, capsys: Captured
) -> None:
    """A CSV of contact_id,tags: each contact tagged, a missing one failed (exit 1); the same
    command again tags nothing twice and fails the missing one again."""
    emulator = platform_env.emulator
    ann = emulator.add_contact("Ann", tags=["vip", "churn-risk"])
    bo = emulator.add_contact("Bo")
    source = tmp_path / "campaign.csv"
    source.write_text(f'contact_id,tags\n{ann},vip\n{bo},"vip,churn-risk"\n999999,vip\n')
    project = emulator.project_uid
    assert main(["contacts", "tag", str(source), "--project", project]) == 1
    out = capsys.readouterr().out
    assert "tagged 2, failed 1" in out
    assert "1 × NotFoundError (HTTP 404): Not found" in out
    assert main(["contacts", "tag", str(source), "--project", project, "--json"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert (again["sent"], again["skipped"], again["failed"]) == (0, 2, 1)
    assert emulator.request_count("linkContactTags") == 4


def test_contacts_tag_has_no_options_for_calls_in_doubt(capsys: Captured) -> None:
    """Linking tags is safe to repeat, so `contacts tag` offers neither --resend-in-doubt nor
    --reconcile, which train import has."""
    assert main(["contacts", "tag", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--resend-in-doubt" not in text
    assert "--reconcile" not in text
    assert main(["train", "import", "--help"]) == 0
    assert "--resend-in-doubt" in capsys.readouterr().out


# -- a crash in the middle of 2,000 FAQs -----------------------------------------------------------

COUNT = 2000
KILL_AFTER = 600  # starts in the journal


def fault_mix(emulator: Emulator, count: int = COUNT) -> None:
    """Every 25th createProjectText dropped after storing, every 25th answered 500 without
    storing, every 25th refused 429 (retried): enough for both runs of ``count`` items."""
    block = [None] * 22 + [Fault.drop_after(), Fault.status(500), Fault.status(429, retry_after=0)]
    emulator.fault_plan.add("createProjectText", *block, times=2 * count // len(block))


def starts(journal: Path) -> int:
    try:
        return journal.read_bytes().count(b'"s":"start"')
    except FileNotFoundError:
        return 0


def check_each_stored_once_or_in_doubt(
    emulator: Emulator, questions: list[str], reported: dict[str, str], skipped: int
) -> None:
    """None stored twice; each one missing reported (in doubt, or failed); each one not
    reported by the second run skipped by it as done, and stored once."""
    counts = {question: stored(emulator, question) for question in questions}
    assert max(counts.values()) == 1, "an FAQ stored twice"
    for question, count in counts.items():
        status = reported.get(question)
        if count == 0:
            assert status in ("in_doubt", "failed"), (question, status)
        elif status is None or status == "sent":
            assert count == 1
    assert len(questions) - len(reported) == skipped


def test_an_import_killed_mid_run_stores_each_faq_once_or_reports_it_in_doubt(
    tmp_path: Path,
) -> None:
    """2,000 FAQs under drops, 500s and 429s, `kill -9` once the journal shows 600 starts, then
    the same command again: each FAQ is stored exactly once or reported in doubt; none twice,
    none missing without a report."""
    source = write_faqs(tmp_path / "faqs.csv", COUNT)
    journal = tmp_path / "faqs.csv.journal"
    output = tmp_path / "second.jsonl"
    with EmulatorThread() as thread:
        emulator = thread.emulator
        fault_mix(emulator)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("YOURGPT_")},
            "YOURGPT_API_TOKEN": emulator.api_token,
            "YOURGPT_BASE_URL": thread.base_url,
        }
        argv = [sys.executable, "-m", "yourgpt_async", "train", "import", str(source)]
        argv += ["--project", emulator.project_uid, "--rate", "2000", "--concurrency", "16"]
        with subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ) as first:
            while starts(journal) < KILL_AFTER and first.poll() is None:
                time.sleep(0.005)  # waits for the journal, not for time to pass
            first.send_signal(signal.SIGKILL)
            _, err = first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL, err.decode()
        assert KILL_AFTER <= starts(journal) < COUNT
        second = subprocess.run(
            [*argv, "--json", "--output", str(output)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode in (0, 1), second.stderr
        summary = json.loads(second.stdout)
        records = [json.loads(line) for line in output.read_text().splitlines()]
        reported = {r["question"]: r["status"] for r in records}
        questions = [f"Question {n}?" for n in range(COUNT)]
        check_each_stored_once_or_in_doubt(emulator, questions, reported, summary["skipped"])
    assert summary["in_doubt"] >= 1  # the fault mix leaves some, told apart from the rest
    assert summary["not_attempted"] == 0


async def test_an_import_interrupted_in_process_stores_each_faq_once_or_in_doubt(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """The same in one process, on 500 FAQs: the first run is abandoned once 150 items have
    started (any request on the wire cancelled, as a kill would leave it), the second resumes;
    then a third, reconciling, settles what it can: still none twice."""
    count, kill_after = 500, 150
    items = [FaqItem(f"Question {n}?", f"Answer {n}.") for n in range(count)]
    journal = tmp_path / "faqs.journal"
    async with Emulator() as emulator:
        fault_mix(emulator, count)

        def client(**retry: Any) -> AsyncPlatformClient:
            return AsyncPlatformClient(
                emulator.api_token,
                base_url=emulator.base_url,
                rate_limit=RateLimit.unlimited(),
                retry=RetryPolicy(sleep=fake_clock.sleep, clock=fake_clock.clock, **retry),
            )

        async with client() as yp:
            training = yp.project(emulator.project_uid).training
            run = training.add_many(items, journal=journal, concurrency=16)
            async with run:
                async for _ in run:
                    if starts(journal) >= kill_after:
                        break  # leaving the block cancels what is in flight
            assert kill_after <= starts(journal) < count
            second = training.add_many(items, journal=journal, concurrency=16)
            async with second:
                reported = {o.item.question: o.status async for o in second}
        questions = [item.question for item in items]
        check_each_stored_once_or_in_doubt(emulator, questions, reported, second.summary().skipped)
        in_doubt = [q for q, status in reported.items() if status == "in_doubt"]
        assert in_doubt
        async with client(reconcile=True, settle=0) as yp:
            third = yp.project(emulator.project_uid).training.add_many(items, journal=journal)
            async with third:
                settled = [o async for o in third]
        for outcome in settled:  # Failed: refused (a 429 to the end), and not stored
            expected = {Sent: {1}, InDoubt: {0, 1}}.get(type(outcome), {0})
            assert stored(emulator, outcome.item.question) in expected, outcome
        assert all(stored(emulator, question) <= 1 for question in questions)
        assert third.summary().settled >= 1
