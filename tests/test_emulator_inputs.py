"""What the emulator and the client do with inputs no one should send: a lone surrogate in a
message, and the emulator's command line given values out of range or a hostile fault plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from yourgpt_async import AsyncClient, ConfigurationError
from yourgpt_async.testing import Emulator


async def test_a_lone_surrogate_is_refused_before_sending(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A message holding a lone surrogate is refused by validation, naming its position, and
    no request is made."""
    session = await client.create_session()
    with pytest.raises(ConfigurationError, match=r"lone surrogate \(U\+D800\) at position 5"):
        await client.send_message(session.session_uid, "hello\ud800world")
    assert emulator.request_count("sendMessage") == 0
    assert (await client.send_message(session.session_uid, "emoji \U0001f600 ok")).message


async def test_the_emulator_refuses_a_lone_surrogate_and_keeps_serving(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A raw request whose JSON holds a lone surrogate is answered 400, and the session's later
    reads still answer 200 (nothing unencodable was stored); a valid pair is fine."""
    session = await client.create_session()
    body = {"widget_uid": emulator.widget_uid, "session_uid": session.session_uid}
    async with aiohttp.ClientSession() as http:

        async def post(endpoint: str, text: str) -> tuple[int, dict[str, object]]:
            async with http.post(
                f"{emulator.base_url}/{endpoint}",
                data=text,
                headers={"api-key": emulator.api_key, "content-type": "application/json"},
            ) as response:
                return response.status, await response.json()

        sent = json.dumps({**body, "message": "a"})[:-1] + ', "message": "a\\ud800b"}'
        status, reply = await post("sendMessage", sent)
        assert (status, reply["type"]) == (400, "RXERROR")
        assert "not valid Unicode" in str(reply["message"])
        pair = json.dumps({**body, "message": "\U0001f600"})
        assert (await post("sendMessage", pair))[0] == 200
        for endpoint in ("getSessionMessages", "getSessions"):
            assert (await post(endpoint, json.dumps(body)))[0] == 200


def _emulator(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yourgpt_async", "emulator", "--port", "0", *options],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--port", "99999"], "argument --port: expected a port from 0"),
        (["--port", "-1"], "argument --port: expected a port from 0"),
        (["--ai-latency", "nan"], "argument --ai-latency: expected a finite number of seconds"),
        (["--ai-latency", "inf"], "argument --ai-latency: expected a finite number of seconds"),
        (["--rate-window", "inf"], "argument --rate-window: expected a finite number"),
        (["--rate-limit", "inf"], "argument --rate-limit: expected PER_SECOND[/BURST]"),
        (["--fault-plan", "DEEP"], "JSON nested too deeply to read"),
    ],
)
def test_bad_emulator_options_are_usage_errors(
    tmp_path: Path, options: list[str], message: str
) -> None:
    """Out-of-range or non-finite values and a deeply nested fault plan exit 2 with a usage
    error naming the option, never a traceback."""
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    done = _emulator(*(str(deep) if option == "DEEP" else option for option in options))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
