"""The fleet's Lua and the Python model, fed the same events, take the same decisions.

``RateModel`` (``pacing/_model.py``) is the adaptive rate of a lone client; ``lua/model.lua``
is its transcription, which the fleet runs in Redis. Here both get the same successes and 429s
at the same times, the Lua in a real ``redis-server`` through a script made of the fleet's own
library and a line that calls one of its functions. After every event each field of the
Lua's state must equal the attribute of the same name, to the last bit, and both must keep the
same log of successes.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_fixtures import RedisServer, require_redis_server

from yourgpt_async.pacing import _lua as lua
from yourgpt_async.pacing import _rules
from yourgpt_async.pacing._model import RateModel

pytestmark = pytest.mark.redis

# One event, then the model's state: each attribute of RateModel by name ('' for none).
_EVENT = """
local event, a = ARGV[ARGS], function(i) return tonumber(ARGV[ARGS + i]) end
if event == 'success' then
  for i = 2, #ARGV - ARGS do on_success(a(i), now, ARGV[ARGS + 1] == "1") end
elseif event == 'throttled' then
  on_throttled(a(1), now, a(2), ARGV[ARGS + 3] == '1', a(4), a(5))
elseif event == 'held_back' then
  held_back(now)
end
save()
local out = {}
for _, name in ipairs(FIELDS) do
  out[#out + 1] = name
  if S[name] == nil then out[#out + 1] = '' else out[#out + 1] = fmt(S[name]) end
end
return out
"""
_SCALARS = (
    "rate",
    "estimate",
    "rate_at_decrease",
    "last_decrease",
    "paused",
    "paused_total",
    "resumed_at",
    "resume_pause",
    "probe_price",
    "step_base",
    "step_since",
    "recount_until",
    "recount_end",
)


def python_state(model: RateModel) -> dict[str, float | None]:
    """The model's attributes under the Lua's field names (tuples split, NaN as none)."""
    state: dict[str, float | None] = {name: getattr(model, name) for name in _SCALARS}
    state["slow_start"] = 1.0 if model.slow_start else 0.0
    state["origin"] = None if math.isnan(model.origin) else model.origin
    ramp: Sequence[float | None] = model.ramp or (None, None, None)
    refill: Sequence[float | None] = model.refill or (None, None, None)
    state.update(zip(("ramp_since", "ramp_sent", "ramp_top"), ramp, strict=True))
    state.update(zip(("refill_resumed", "refill_pause", "refill_since"), refill, strict=True))
    return state


class LuaModel:
    """The Lua model in Redis, called as :class:`RateModel` is."""

    def __init__(self, client: Any, **options: float) -> None:
        key = f"parity:{{{uuid.uuid4().hex}}}"
        self._client, self._keys = client, (key, f"{key}:log", f"{key}:sent")
        self._script = client.register_script(lua.LIBRARY + _EVENT)
        self._settings = lua.settings(
            per_second=None if options["ceiling"] == math.inf else options["ceiling"],
            adaptive=True,
            burst=1,
            initial=options["initial"],
            floor=options["floor"],
            increase=options["increase"],
            decrease=options["decrease"],
            max_cooldown=30.0,
            clients=1,
            idle_ms=60_000,
        )
        self.state: dict[str, float | None] = {}

    def _call(self, now: float, *args: object) -> None:
        reply = self._script(keys=self._keys, args=(repr(now), *self._settings, *args))
        fields = [item.decode() for item in reply]
        self.state = {
            name: float(value) if value else None
            for name, value in zip(fields[::2], fields[1::2], strict=True)
            if name in PYTHON_FIELDS
        }

    def on_success(self, tickets: Sequence[float], now: float, *, demand: bool) -> None:
        self._call(now, "success", "1" if demand else "0", *map(repr, tickets))

    def on_throttled(
        self, ticket: float, now: float, *, pause: float, demand: bool, since: float, given: float
    ) -> None:
        flags = "1" if demand else "0"
        self._call(now, "throttled", repr(ticket), repr(pause), flags, repr(since), repr(given))

    def held_back(self, now: float) -> None:
        self._call(now, "held_back")

    def successes(self) -> list[float]:
        return [score for _, score in self._client.zrange(self._keys[1], 0, -1, withscores=True)]


PYTHON_FIELDS = frozenset(python_state(RateModel(initial=20.0)))


@pytest.fixture(scope="module")
def redis_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import redis

    server = RedisServer(require_redis_server(), Path(tmp_path_factory.mktemp("parity")))
    server.start()
    client = redis.Redis(port=server.port)
    try:
        yield client
    finally:
        client.close()
        server.stop()


def replay(client: Any, events: Sequence[tuple[Any, ...]], **options: float) -> None:
    """Feed ``events`` to both models; after each, their states must be equal."""
    python = RateModel(**options)  # type: ignore[arg-type]
    script = LuaModel(client, **options)
    for number, (kind, now, *args) in enumerate(events):
        if kind == "success":
            tickets, demand = args
            for ticket in tickets:
                python.on_success(ticket, now, demand=demand)
            script.on_success(tickets, now, demand=demand)
        elif kind == "throttled":
            ticket, pause, demand, since, given_at = args
            python.on_throttled(
                ticket, now, pause=pause, demand=demand, demand_since=since, given=given_at
            )
            script.on_throttled(
                ticket, now, pause=pause, demand=demand, since=since, given=given_at
            )
        else:
            python.held_back(now)
            script.held_back(now)
        assert script.state == python_state(python), f"after event {number}: {kind} at {now}"
    assert script.successes() == list(python.successes)


# A client's life: held back, slow start's successes, a costly 429 whose pause lets replies
# it overtook arrive, the refill after the pause and a second 429 soon after it, a cheap one
# later, and probing.
_RAMP = [0.5 + 0.01 * n for n in range(60)]
_REFILL = [2.2 + 0.002 * n for n in range(100)]
SCENARIOS = {
    "a costly first 429, replies during its pause": [
        ("held_back", 0.5),
        ("success", 1.1, _RAMP[:55], True),
        ("throttled", 1.1, 1.095, 1.0, True, 0.5, 1.095),
        ("success", 1.15, _RAMP[55:], True),
        ("success", 2.3, [2.25], True),
    ],
    "a window's refill, then a second costly 429": [
        ("held_back", 0.5),
        ("success", 1.1, _RAMP, True),
        ("throttled", 1.1, 1.1, 1.0, True, 0.5, 1.1),
        ("success", 2.4, _REFILL, True),
        ("throttled", 2.41, 2.4, 1.0, True, 0.5, 2.4),
        ("success", 2.45, [2.405, 2.406], True),
    ],
    "a long run after the pause, then a costly 429": [
        ("held_back", 0.5),
        ("success", 1.1, _RAMP, True),
        ("throttled", 1.1, 1.1, 1.0, True, 0.5, 1.1),
        ("success", 5.0, [2.1 + 0.01 * n for n in range(280)], True),
        ("throttled", 5.0, 4.99, 1.0, True, 0.5, 4.99),
    ],
    "cheap 429s, nobody held back, then probing": [
        ("success", 0.6, _RAMP[:10], False),
        ("throttled", 0.6, 0.6, 0.005, False, -math.inf, 0.6),
        ("held_back", 0.7),
        ("success", 1.2, _RAMP[20:], True),
        ("throttled", 1.3, 1.25, 0.0, True, 0.7, 1.25),
        ("throttled", 1.31, 1.24, 0.0, True, 0.7, 1.24),
        ("success", 40.0, [30.0 + 0.1 * n for n in range(99)], True),
    ],
}


@pytest.mark.parametrize("events", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_the_same_events_take_both_models_to_the_same_state(
    redis_client: Any, events: list[tuple[Any, ...]]
) -> None:
    """Each rule of the model (slow start, a cheap and a costly first 429, the recount during
    a pause, the refill's fit, the resumed bucket, the accepted rate, probing within the
    pause budget) reaches the same state in the Lua, field by field."""
    replay(
        redis_client, events, initial=100.0, ceiling=math.inf, floor=0.5, increase=0.1, decrease=0.9
    )


def test_a_full_log_drops_its_oldest_alike(redis_client: Any) -> None:
    """Past its size the log of successes drops the oldest, and a success older than all it
    keeps is not kept, in both."""
    size = _rules.LOG_SIZE
    events: list[tuple[Any, ...]] = [
        ("held_back", 0.0),
        ("success", 30.0, [0.005 * n for n in range(1, size + 50)], True),
        ("success", 30.1, [0.001, 29.0, 0.25], True),
        ("throttled", 30.2, 30.0, 0.0, True, 0.0, 30.0),
    ]
    replay(redis_client, events, initial=20.0, ceiling=500.0, floor=0.5, increase=0.1, decrease=0.9)


@st.composite
def lives(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """A random client's life: time moves on by small and large steps; replies come back a
    little out of order; 429s cost nothing, a few milliseconds, or whole seconds."""
    now, events = 10.0, []
    for _ in range(draw(st.integers(1, 40))):
        now += draw(st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.3, 1.0, 2.5]))
        kind = draw(st.sampled_from(["success", "success", "success", "throttled", "held_back"]))
        if kind == "success":
            count = draw(st.integers(1, 30))
            lags = draw(st.lists(st.floats(0.0, 0.2), min_size=count, max_size=count))
            events.append(("success", now, [now - lag for lag in lags], draw(st.booleans())))
        elif kind == "throttled":
            ticket = now - draw(st.floats(0.0, 0.1))
            pause = draw(st.sampled_from([0.0, 0.003, 0.5, 1.0, 2.0]))
            since = now - draw(st.sampled_from([0.0, 0.4, 3.0, math.inf]))
            given_at = ticket - draw(st.sampled_from([0.0, 0.0, 0.02, 0.05]))
            events.append(("throttled", now, ticket, pause, draw(st.booleans()), since, given_at))
        else:
            events.append(("held_back", now))
    return events


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=lives(),
    initial=st.sampled_from([5.0, 20.0, 200.0, 1500.0]),
    ceiling=st.sampled_from([math.inf, 100.0]),
)
def test_random_lives_take_both_models_to_the_same_state(
    redis_client: Any, events: list[tuple[Any, ...]], initial: float, ceiling: float
) -> None:
    """Whatever the order and timing of successes and 429s, the two stay equal."""
    replay(
        redis_client,
        events,
        initial=initial,
        ceiling=ceiling,
        floor=0.5,
        increase=0.1,
        decrease=0.9,
    )
