"""The reply decoder gives exactly what ``json.loads`` gives, with or without orjson."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yourgpt_async import _wire

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _same(left: Any, right: Any) -> bool:
    """Equal, and of the same types all the way down (1 and 1.0 are not the same here)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


@given(_json_values, st.booleans())
def test_decodes_like_json_loads(value: Any, ensure_ascii: bool) -> None:
    """Any JSON document decodes to the same values and types as with json.loads."""
    raw = json.dumps(value, ensure_ascii=ensure_ascii).encode()
    assert _same(_wire.loads(raw), json.loads(raw))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"session_uid": 17226012685401506}',
        b'{"session_uid": 1722601268540150612345}',
        b'{"n": -9223372036854775809}',
        b'{"n": 18446744073709551616}',
        b'{"n": NaN, "m": Infinity}',
        b'{"n": 1e400}',
        b'"\\ud800"',
        b'\xef\xbb\xbf{"type": "RXSUCCESS"}',
        '{"type": "RXSUCCESS"}'.encode("utf-16"),
        b'{"a": 1, "a": 2}',
    ],
)
def test_edge_cases_decode_like_json_loads(raw: bytes) -> None:
    """Big integers stay exact; what only json accepts (NaN, BOM, UTF-16...) still decodes."""
    assert _same(_wire.loads(raw), json.loads(raw))


def test_a_session_uid_beyond_64_bits_stays_exact() -> None:
    """A 22-digit numeric uid is not rounded through a float (orjson would)."""
    envelope = _wire.loads(b'{"data": {"session_uid": 1722601268540150612345}}')
    assert envelope["data"]["session_uid"] == 1722601268540150612345


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,]", b'"\xff"', b"<html></html>"])
def test_invalid_json_raises_what_json_loads_raises(raw: bytes) -> None:
    """Undecodable bodies raise the ValueError subclass json.loads raises."""
    try:
        json.loads(raw)
    except ValueError as error:
        expected = type(error)
    with pytest.raises(expected):
        _wire.loads(raw)
