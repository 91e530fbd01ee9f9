"""Starting a dialogue from the page (``window.chinwag.start``, the ``start`` frame of protocol 1.1)
over the real WebSocket against the real server: on pages with no targeted dialogue, more than
once, with attributes for its cards, beside pending and engaged dialogues, and refused with an
error frame (the session living on) when the frame is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from chinwag.tables import sessions
from chinwag.testing import ScriptedVisitor, ServerThread, write_project

SITE = "https://www.example.com"
BUTTONS = [{"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}]


def flow() -> dict[str, Any]:
    """Shown on no page: only ever started by the page. One question, then it ends."""
    return {"id": "flow", "name": "Talk to sales", "targeting": {"exclude": ["*"]}, "response_delay": 0, "cards": [
        {"id": "hi", "type": "message", "text": 'flow: about {{visit.topic:"anything"}}'},
        {"id": "ask", "type": "question", "text": "flow: shall we call you?", "buttons": BUTTONS},
        {"id": "bye", "type": "message", "text": "flow: bye"},
    ]}


def targeted(dialogue_id: str, targeting: dict[str, Any]) -> dict[str, Any]:
    """Two questions, then it ends."""
    return {"id": dialogue_id, "name": dialogue_id.title(), "targeting": targeting, "response_delay": 0, "cards": [
        {"id": "ask", "type": "question", "text": f"{dialogue_id}: shall we talk?", "buttons": BUTTONS},
        {"id": "more", "type": "question", "text": f"{dialogue_id}: tell you more?", "buttons": BUTTONS},
    ]}


def serve(path: Path, **config: Any) -> ServerThread:
    dialogues = {"flow": flow(), "main": targeted("main", {"include": [f"{SITE}/pricing/*"]}),
                 "later": targeted("later", {"include": ["/blog/*"], "trigger": {"scroll": 50}})}
    return ServerThread(write_project(path, dialogues=dialogues, config={
        "name": "page-start", "attributes": [{"name": "visit.topic", "type": "string"}], **config}), demo=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerThread]:
    config = {"database": request.getfixturevalue("postgres_url")} if request.param == "postgresql" else {}
    with serve(tmp_path / "p", **config) as running:
        yield running


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[ServerThread]:
    with serve(tmp_path / "p") as running:
        yield running


async def visit(server: ServerThread, url: str, visitor: str | None = None,
                session: str | None = None) -> tuple[ScriptedVisitor, dict[str, Any]]:
    """Load ``url`` as the widget does (protocol 1.1)."""
    page = ScriptedVisitor(server, visitor=visitor, session=session, page_url=url)
    return page, await page.connect(minor=1)


async def start(page: ScriptedVisitor, dialogue: Any, **fields: Any) -> dict[str, Any]:
    """Send ``start``; return the ``welcome`` (or ``error``) that answers it."""
    await page.send({"type": "start", "dialogue": dialogue, **fields})
    return await page.until("welcome")


async def finish(page: ScriptedVisitor) -> None:
    """Answer the open question until the dialogue has ended."""
    await page.answer("yes")
    while "completed" not in [frame["name"] for frame in page.frames if frame["type"] == "event"]:
        frame = await page.until("event", "question")
        assert frame["type"] != "error", frame
        if frame["type"] == "question":
            await page.answer("yes")


def stored_sessions(server: ServerThread, visitor: str) -> list[tuple[str, str, str]]:
    """(session, dialogue, status) of the visitor's sessions, oldest first."""
    async def read(app: Any) -> list[tuple[str, str, str]]:
        async with app.store.connect() as connection:
            return [tuple(row) for row in await connection.execute(  # type: ignore[misc]
                sa.select(sessions.c.id, sessions.c.dialogue_id, sessions.c.status)
                .where(sessions.c.visitor_id == visitor).order_by(sessions.c.created_at, sessions.c.id))]
    return server.call(read)


def triggered_events(page: ScriptedVisitor) -> list[str]:
    """The sessions of the ``triggered`` events the page was sent."""
    return [frame["session"] for frame in page.frames if frame["type"] == "event" and frame["name"] == "triggered"]


async def test_start_on_a_page_with_no_dialogue_runs_again_after_it_ended(server: ServerThread) -> None:
    page, welcome = await visit(server, f"{SITE}/about")
    assert welcome["status"] == "none" and welcome["session"] is None
    visitor = welcome["visitor"]
    started = await start(page, "flow", attributes={"visit.topic": "pricing", "visit.plan": 3})
    assert started["type"] == "welcome" and started["status"] == "active" and started["session"]
    assert started["dialogue"] == {"id": "flow", "name": "Talk to sales"}
    assert (await page.until("message"))["text"] == "flow: about pricing"  # the page's attributes reach the cards
    assert (await page.question())["text"] == "flow: shall we call you?"
    await finish(page)
    assert triggered_events(page) == [started["session"]]
    # The visitor finished it; the button still works, a new session each time.
    again = await start(page, "flow")
    assert again["status"] == "active" and again["session"] not in (None, started["session"])
    assert (await page.until("message"))["text"] == "flow: about anything"  # no attributes this time
    await page.question()
    await page.until("event")
    await page.close()
    # Another page, where targeting would never show it (finished, and excluded everywhere).
    page, welcome = await visit(server, f"{SITE}/about", visitor, again["session"])
    assert welcome["status"] == "none"
    third = await start(page, "flow")
    await page.question()
    await page.until("event")
    await page.close()
    assert [row[1:] for row in stored_sessions(server, visitor)] == [
        ("flow", "completed"), ("flow", "active"), ("flow", "active")]
    assert third["session"] == stored_sessions(server, visitor)[2][0]
    assert triggered_events(page) == [third["session"]]  # triggered once for each started session


async def test_a_second_start_while_it_runs_shows_the_same_session(sqlite_server: ServerThread) -> None:
    page, welcome = await visit(sqlite_server, f"{SITE}/about")
    first = await start(page, "flow")
    question = await page.question()
    await page.until("event")
    second = await start(page, "flow")  # a double click on the page's button
    assert second["session"] == first["session"] and second["awaiting"] == question["id"]
    assert [frame["text"] for frame in second["transcript"]] == ["flow: about anything", "flow: shall we call you?"]
    await page.answer("yes")
    assert (await page.until("answered"))["text"] == "Yes"
    await page.close()
    assert triggered_events(page) == [first["session"]]
    assert len(stored_sessions(sqlite_server, welcome["visitor"])) == 1


async def test_start_replaces_a_pending_or_unanswered_dialogue_and_keeps_an_engaged_one(
        sqlite_server: ServerThread) -> None:
    # A page whose dialogue waits for its trigger: the started one is shown instead.
    page, welcome = await visit(sqlite_server, f"{SITE}/blog/post")
    assert welcome["status"] == "pending" and welcome["dialogue"]["id"] == "later"
    visitor = welcome["visitor"]
    started = await start(page, "flow")
    assert started["dialogue"]["id"] == "flow" and started["status"] == "active"
    await page.send({"type": "trigger", "dialogue": "later"})
    assert (await page.until("error"))["code"] == "not_pending"
    await page.close()
    # The visitor engages with the pricing dialogue, then clicks the page's button.
    page, welcome = await visit(sqlite_server, f"{SITE}/pricing/team", visitor)
    assert welcome["dialogue"]["id"] == "main"
    main_session = welcome["session"]
    await page.answer("yes", question=welcome["awaiting"])
    await page.until("answered")
    assert (await page.question())["text"] == "main: tell you more?"
    started = await start(page, "flow")
    assert started["dialogue"]["id"] == "flow" and started["session"] != main_session
    await page.question()
    await finish(page)
    await page.close()
    # The engaged conversation was kept: it comes back on the next page, where it left off.
    page, welcome = await visit(sqlite_server, f"{SITE}/about", visitor, started["session"])
    await page.close()
    assert welcome["session"] == main_session and welcome["status"] == "active"
    assert welcome["transcript"][-1]["text"] == "main: tell you more?"
    assert ("main", "active") in [row[1:] for row in stored_sessions(sqlite_server, visitor)]


async def test_bad_start_frames_get_error_frames_and_the_session_lives_on(sqlite_server: ServerThread) -> None:
    early = ScriptedVisitor(sqlite_server, page_url=f"{SITE}/about")
    await early.open()
    await early.send({"type": "start", "dialogue": "flow"})
    assert (await early.until("error"))["code"] == "not_ready"  # before hello
    await early.close()
    page, welcome = await visit(sqlite_server, f"{SITE}/pricing/team")
    assert welcome["dialogue"]["id"] == "main"
    await page.question()
    refused = [
        ({"dialogue": "nope"}, "unknown_dialogue"),
        ({"dialogue": ""}, "unknown_dialogue"),
        ({}, "bad_frame"),
        ({"dialogue": 5}, "bad_frame"),
        ({"dialogue": ["flow"]}, "bad_frame"),
        ({"dialogue": "flow", "attributes": ["visit.topic"]}, "bad_frame"),
        ({"dialogue": "flow", "attributes": "visit.topic=x"}, "bad_frame"),
        ({"dialogue": "flow", "attributes": {"topic": "x"}}, "bad_frame"),  # not a visit.* name
        ({"dialogue": "flow", "attributes": {"lead.email": "eve@example.com"}}, "bad_frame"),
        ({"dialogue": "flow", "attributes": {"visit.topic\n": "x"}}, "bad_frame"),
        ({"dialogue": "flow", "attributes": {"visit.topic": {"nested": 1}}}, "bad_frame"),
        ({"dialogue": "flow", "attributes": {"visit.topic": ["a"]}}, "bad_frame"),
        ({"dialogue": "flow", "attributes": {"visit.country": "FR"}}, "bad_frame"),  # the server derives it
        ({"dialogue": "flow", "attributes": {"visit.page_url": "https://evil.example/"}}, "bad_frame"),
    ]
    for fields, code in refused:
        await page.send({"type": "start", **fields})
        error = await page.until("error", "welcome")
        assert (error["type"], error["code"]) == ("error", code), fields
        assert error["message"]
    # Nothing was started, and the page's conversation goes on.
    await page.answer("yes")
    assert (await page.until("answered"))["text"] == "Yes"
    assert (await page.question())["text"] == "main: tell you more?"
    await page.send({"type": "ping"})
    assert (await page.until("pong"))["type"] == "pong"
    await page.close()
    assert [row[1] for row in stored_sessions(sqlite_server, welcome["visitor"])] == ["main"]


async def test_start_is_refused_while_chat_is_switched_off(tmp_path: Path) -> None:
    with serve(tmp_path / "p", chat_enabled=False) as server:
        page, welcome = await visit(server, f"{SITE}/pricing/team")
        assert welcome["status"] == "none"
        await page.send({"type": "start", "dialogue": "flow"})
        assert (await page.until("error"))["code"] == "chat_off"
        await page.send({"type": "ping"})
        assert (await page.until("pong"))["type"] == "pong"
        await page.close()
        assert stored_sessions(server, welcome["visitor"]) == []


async def test_each_start_counts_as_a_new_chat_against_the_address_limit(tmp_path: Path) -> None:
    limits = {"hellos_per_address": {"count": 3, "per_seconds": 86400}}
    with serve(tmp_path / "p", limits=limits) as server:
        page, welcome = await visit(server, f"{SITE}/about")  # new chat 1
        first = await start(page, "flow")  # 2
        await page.question()
        await finish(page)
        second = await start(page, "flow")  # 3
        assert second["type"] == "welcome" and second["session"] != first["session"]
        await page.question()
        await page.until("event")
        await page.answer("yes")
        await page.until("answered")
        while [frame.get("name") for frame in page.frames].count("completed") < 2:
            await page.until("event")
        refused = await start(page, "flow")  # 4: over the limit
        assert refused["type"] == "error" and refused["code"] == "rate_limited" and refused["retry_after"] >= 1
        await page.send({"type": "ping"})
        assert (await page.until("pong"))["type"] == "pong"
        await page.close()
        assert [row[1:] for row in stored_sessions(server, welcome["visitor"])] == [
            ("flow", "completed"), ("flow", "completed")]

