"""orjson on the hot path reads and writes exactly what the standard library did: frames decoded
the fast way equal the careful reading, every value that could be written still can, and what
orjson refuses falls back instead of failing a turn."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chinwag import protocol
from chinwag.json_text import dumps, dumps_column

# Plain JSON values, with the awkward ones: lone surrogates, control and non-ASCII characters,
# integers beyond 64 bits, floats of every size.
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                      max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_a_frame_read_the_fast_way_is_read_as_the_careful_way_reads_it(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, separators=(",", ":"))):
        fast = protocol._plain_frame(text)
        if fast is not None:
            careful = protocol._parse(text)
            assert fast == careful and json.dumps(fast) == json.dumps(careful)  # same types too (1 vs 1.0)


@pytest.mark.parametrize("text", ["NaN", '{"value": Infinity}', '{"value": 1e999}', '{"value": -1e400}',
                                  '{"value": 123456789012345678901234567890}', '{"a": "\\ud800"}', "[" * 40 + "]" * 40])
def test_what_the_fast_way_would_read_differently_goes_the_careful_way(text: str) -> None:
    assert protocol._plain_frame(text) is None


def test_a_huge_integer_in_an_answer_stays_an_integer() -> None:
    frame = protocol.decode('{"type": "answer", "question": "q:1", "value": 123456789012345678901234567890}')
    assert frame == protocol.Answer("q:1", 123456789012345678901234567890)


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_a_frame_is_written_as_the_standard_library_writes_it(value: Any) -> None:
    frame = {"type": "message", "value": value}
    text = protocol.encode(frame)
    assert json.loads(text) == json.loads(protocol.SURROGATE.sub("\ufffd", json.dumps(frame, ensure_ascii=False)))
    assert protocol.SURROGATE.search(text) is None
    text.encode("utf-8")  # always valid UTF-8: no lone surrogate reaches the socket


def test_unknown_types_in_a_frame_are_written_as_text_as_before() -> None:
    when = dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.timezone.utc)
    assert dumps({"at": when, "ids": {1: "a"}}) == json.dumps({"at": str(when), "ids": {"1": "a"}}, separators=(",", ":"))


def test_a_json_column_refuses_what_json_cannot_hold_as_before() -> None:
    for value in ({"at": dt.datetime(2026, 12, 3)}, {"tags": {"a", "b"}}):
        with pytest.raises(TypeError):
            dumps_column(value)
    assert json.loads(dumps_column({"n": 2**70, "s": "\ud800", "é": 1})) == {"n": 2**70, "s": "\ud800", "é": 1}
