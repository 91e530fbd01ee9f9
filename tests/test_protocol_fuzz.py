"""Fuzzing the wire protocol against the real server over a real WebSocket (Hypothesis).

Each example opens a connection and sends a few generated frames of every type: hellos, answers,
starts, pings, unknown types and raw text, full of hostile strings (lone surrogates, control and bidi
characters, markup, template tokens, huge and deeply nested values). After every frame, and after
every example, these must hold:

* no ``internal`` error, and every ``error`` frame carries a code docs/protocol.md lists;
* the connection lives (a ``ping`` is answered) or closes with a documented code;
* the visitor's session can be resumed with ``hello`` (nothing stored made it unplayable);
* a fresh visitor completes the quickstart dialogue.

The run is small and the same every time (40 examples, derandomised); set
``CHINWAG_FUZZ_EXAMPLES=2000`` for a longer, random hunt.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chinwag.testing import QUICKSTART, ServerThread, write_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

DOCUMENTED_ERRORS = {"bad_json", "too_large", "unknown_type", "bad_frame", "unsupported_protocol", "not_ready",
                     "not_asked", "conflict", "unknown_dialogue", "chat_off"}
DOCUMENTED_CLOSES = {1000, 1009}
TIMEOUT = 30
AWAITING = object()  # stands for the id of the question open at the time of sending
KNOWN = object()  # stands for the visitor's (or session's) real id

HOSTILE = ["Eve\ud800", "\udfff", "\ud83d", "\x00", "\x1b[2J", "\u202eevil", "<img src=x onerror=alert(1)>",
           "</script><script>alert(1)</script>", "{{lead.email}}", '{{x:"\\"}}', "\\", "\r\n", "Europe",
           "../../../../etc/passwd", "Europe/London", "x" * 3000, "€" * 700, "", " ", "null", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
           "demo", "browsing", "Ada", "ada@example.com", "+44 20 7946 0958"]
strings = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.text(st.sampled_from(["\ud800", "\udc00", "<", ">", "&", "\x00", "\x7f", "\u202e", "{", "}", '"', "a"]), max_size=12),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), strings)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
                           max_leaves=12)
ids = st.one_of(st.just(KNOWN), st.none(), strings, scalars)

hellos = st.fixed_dictionaries(
    {"type": st.just("hello"), "protocol": st.one_of(st.just(1), scalars)},
    optional={
        "visitor": ids, "session": ids,
        "page": st.one_of(st.fixed_dictionaries({"url": strings}, optional={"referrer": scalars, "title": scalars}),
                          json_values),
        "locale": st.one_of(st.just("en-GB"), scalars), "timezone": st.one_of(strings, scalars),
        "attributes": st.one_of(st.dictionaries(st.one_of(st.just("visit.utm_source"), strings.map(lambda s: "visit." + s)),
                                                scalars, max_size=3), json_values),
        "tracking": st.one_of(st.dictionaries(st.sampled_from(["_mkto_trk", "hubspotutk"]) | strings, scalars, max_size=3),
                              json_values),
        "extra": json_values,
    },
)
answers = st.fixed_dictionaries(
    {"type": st.just("answer")},
    optional={"question": st.one_of(st.just(AWAITING), strings, scalars), "value": st.one_of(scalars, json_values),
              "extra": json_values},
)
starts = st.fixed_dictionaries(
    {"type": st.just("start")},
    optional={"dialogue": st.one_of(st.just("welcome"), strings, scalars),
              "attributes": st.one_of(st.dictionaries(st.one_of(st.sampled_from(["visit.topic", "visit.country"]),
                                                                strings.map(lambda s: "visit." + s)), scalars, max_size=3),
                                      json_values),
              "extra": json_values},
)
others = st.one_of(
    st.fixed_dictionaries({"type": st.just("ping")}, optional={"extra": json_values}),
    st.fixed_dictionaries({"type": st.one_of(strings, scalars)}, optional={"extra": json_values}),
    json_values,
)
raw_texts = st.one_of(
    st.sampled_from(["", "{", "[" * 5000 + "]" * 5000, '{"type":' * 2000, "\ufeff{}", '{"type":"ping"}' * 2,
                     "NaN", '{"type":"answer","question":"x","value":1e999}', " " * 20000]),
    st.text(max_size=60),
)
frames = st.one_of(
    st.tuples(st.just("json"), st.one_of(hellos, answers, starts, others)),
    st.tuples(st.just("text"), raw_texts),
    st.tuples(st.just("bytes"), st.binary(max_size=60)),
)


class Visitor:
    """One connection to the server, with what the server told it so far."""

    def __init__(self, server: ServerThread, visitor: str | None = None, session: str | None = None) -> None:
        self._stack = contextlib.ExitStack()
        self.socket: ClientConnection = self._stack.enter_context(
            connect(server.ws_url, origin=server.url, max_size=1 << 22, open_timeout=TIMEOUT))
        self.visitor, self.session, self.awaiting = visitor, session, None
        self.closed: int | None = None

    def send(self, frame: tuple[str, Any]) -> None:
        """Send a generated frame (its placeholders filled in), then check every reply."""
        kind, content = frame
        if kind == "json":
            if isinstance(content, dict):
                content = {key: self._fill(value) for key, value in content.items()}
            text: str | bytes = json.dumps(content)  # lone surrogates travel as JSON escapes
        elif kind == "text":
            try:
                content.encode()
                text = content
            except UnicodeEncodeError:  # not UTF-8 text: its bytes go as a binary frame
                text = content.encode("utf-8", "surrogatepass")
        else:
            text = content
        try:
            self.socket.send(text)
        except ConnectionClosed as error:
            self._closed(error)
            return
        self.check_alive()

    def _fill(self, value: Any) -> Any:
        if value is AWAITING:
            return self.awaiting or "nothing-open"
        if value is KNOWN:
            return self.visitor
        return value

    def check_alive(self) -> list[dict[str, Any]]:
        """Ping; every frame up to the pong is checked. Return those frames."""
        if self.closed is not None:
            return []
        try:
            self.socket.send(json.dumps({"type": "ping"}))
            replies = []
            while True:
                frame = json.loads(self.socket.recv(timeout=TIMEOUT))
                self._check(frame)
                if frame["type"] == "pong":
                    return replies
                replies.append(frame)
        except ConnectionClosed as error:
            self._closed(error)
            return []

    def _check(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "error":
            assert frame["code"] != "internal", frame
            assert frame["code"] in DOCUMENTED_ERRORS, frame
            assert isinstance(frame["message"], str) and frame["message"]
        elif frame["type"] == "welcome":
            self.visitor, self.session, self.awaiting = frame["visitor"], frame["session"], frame["awaiting"]
        elif frame["type"] == "question":
            self.awaiting = frame["id"]

    def _closed(self, error: ConnectionClosed) -> None:
        code = error.rcvd.code if error.rcvd is not None else None
        assert code in DOCUMENTED_CLOSES, f"closed with {code}: {error}"
        self.closed = code

    def hello(self, **fields: Any) -> dict[str, Any]:
        """Say hello; return the welcome."""
        self.socket.send(json.dumps({"type": "hello", "protocol": 1, "page": {"url": "http://127.0.0.1/"},
                                     "visitor": self.visitor, "session": self.session, **fields}))
        while True:
            frame = json.loads(self.socket.recv(timeout=TIMEOUT))
            self._check(frame)
            if frame["type"] in ("welcome", "error"):
                return frame

    def close(self) -> None:
        """Leave."""
        self._stack.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    folder = write_project(tmp_path_factory.mktemp("fuzz") / "p", copy_from=QUICKSTART, config={"response_delay": 0})
    with ServerThread(Path(folder), demo=False) as running:
        yield running


def completes_the_quickstart(server: ServerThread) -> None:
    """A fresh visitor says hello, answers "Just browsing" and reaches the end of the dialogue."""
    visitor = Visitor(server)
    try:
        welcome = visitor.hello(timezone="Europe/London")
        assert welcome["type"] == "welcome" and welcome["status"] == "active", welcome
        while visitor.awaiting is None:
            visitor.check_alive()
        visitor.socket.send(json.dumps({"type": "answer", "question": visitor.awaiting, "value": "browsing"}))
        events: list[str] = []
        while "completed" not in events:
            frame = json.loads(visitor.socket.recv(timeout=TIMEOUT))
            assert frame["type"] != "error", frame
            if frame["type"] == "event":
                events.append(frame["name"])
    finally:
        visitor.close()


@settings(max_examples=int(os.environ.get("CHINWAG_FUZZ_EXAMPLES", "40")), deadline=None,
          derandomize=not os.environ.get("CHINWAG_FUZZ_EXAMPLES"), database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(say_hello_first=st.booleans(), sent=st.lists(frames, min_size=1, max_size=5))
def test_hostile_frames_never_break_the_server_or_a_session(server: ServerThread, say_hello_first: bool,
                                                           sent: list[Any]) -> None:
    visitor = Visitor(server)
    try:
        if say_hello_first:
            assert visitor.hello()["type"] == "welcome"
        for frame in sent:
            visitor.send(frame)
            if visitor.closed is not None:
                break
    finally:
        visitor.close()
    if visitor.visitor is not None:  # whatever was stored, the session can be resumed
        again = Visitor(server, visitor.visitor, visitor.session)
        try:
            assert again.hello()["type"] == "welcome"
        finally:
            again.close()
    completes_the_quickstart(server)
