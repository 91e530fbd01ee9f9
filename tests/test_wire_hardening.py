"""Hostile input over the real WebSocket: strings that are not Unicode, deep nesting, unknown time
zones, huge frames and markup in answers. Every one gets an error frame (or a documented close)
and never poisons the session.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import websockets
from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerThread, write_project
from meetings_support import agent, choose, connect_agent, free_port, project, serve, to_slots
from meetings_support import google, secret_key  # noqa: F401  (fixtures)

LONE_SURROGATE = "Eve\ud800"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(write_project(tmp_path / "project", copy_from=QUICKSTART), demo=False) as running:
        yield running


def raw(frame: dict) -> str:
    """The frame as JSON text; a lone surrogate becomes the escape ``\\ud800`` (valid JSON text)."""
    return json.dumps(frame)  # ensure_ascii: the escape, not the character


async def to_name(visitor: ScriptedVisitor) -> dict:
    """Say hello and answer the quickstart's first question; return the name question."""
    await visitor.connect()
    await visitor.question()
    await visitor.answer("demo")
    question = await visitor.question()
    assert question["card"] == "name"
    return question


async def test_a_lone_surrogate_in_an_answer_is_refused_and_the_visitor_goes_on(server: ServerThread) -> None:
    async with ScriptedVisitor(server) as visitor:
        question = await to_name(visitor)
        await visitor.send(raw({"type": "answer", "question": question["id"], "value": LONE_SURROGATE}))
        refused = await visitor.until("error")
        assert refused["code"] == "bad_frame" and "surrogate" in refused["message"]
        await visitor.answer("Eve")
        assert (await visitor.until("answered"))["text"] == "Eve"
        assert (await visitor.question())["card"] == "email"
    async with ScriptedVisitor(server, visitor=visitor.visitor, session=visitor.session) as again:
        welcome = await again.connect()
        assert welcome["type"] == "welcome" and welcome["awaiting"] == visitor.awaiting


@pytest.mark.parametrize("hello", [
    {"page": {"url": "http://127.0.0.1/" + LONE_SURROGATE}},
    {"page": {"url": "http://127.0.0.1/", "title": LONE_SURROGATE}},
    {"timezone": LONE_SURROGATE},
    {"attributes": {"visit.utm_source": LONE_SURROGATE}},
    {"attributes": {"visit." + LONE_SURROGATE: "x"}},
    {"unknown": [{"deep": LONE_SURROGATE}]},
])
async def test_a_lone_surrogate_anywhere_in_hello_is_refused(server: ServerThread, hello: dict) -> None:
    async with ScriptedVisitor(server) as visitor:
        await visitor.open()
        await visitor.send(raw({"type": "hello", "protocol": 1, "page": {"url": "http://127.0.0.1/"}, **hello}))
        refused = await visitor.until("welcome")
        assert (refused["type"], refused["code"]) == ("error", "bad_frame")
        assert (await visitor.connect())["type"] == "welcome"  # the same connection says hello properly


async def test_a_session_poisoned_before_the_fix_is_shown_again(server: ServerThread) -> None:
    async with ScriptedVisitor(server) as visitor:
        question = await to_name(visitor)

    async def poison(app):
        from chinwag.tables import transcript, visitors
        async with app.store.transaction() as connection:
            await connection.execute(sa.update(visitors).where(visitors.c.id == visitor.visitor)
                                     .values(lead={"lead.interest": "demo" + LONE_SURROGATE}))
            await connection.execute(sa.insert(transcript).values(
                session_id=visitor.session, created_at=sa.func.now(),
                frame={"type": "answered", "question": question["id"], "text": LONE_SURROGATE}))

    server.call(poison)
    async with ScriptedVisitor(server, visitor=visitor.visitor, session=visitor.session) as again:
        welcome = await again.connect()
        assert welcome["type"] == "welcome"
        assert welcome["transcript"][-1]["text"] == "Eve\ufffd"
        await again.answer("Eve")
        assert (await again.question())["card"] == "email"

    async def lead(app):
        from chinwag.tables import visitors
        async with app.store.connect() as connection:
            return (await connection.execute(sa.select(visitors.c.lead).where(visitors.c.id == visitor.visitor))).scalar()

    assert server.call(lead) == {"lead.interest": "demoEve\ufffd", "lead.firstName": "Eve"}  # written back clean


@pytest.mark.parametrize("nested", ["[" * 8000 + "]" * 8000, '{"a":' * 2500 + "1" + "}" * 2500,
                                    json.dumps({"type": "ping", "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})])
async def test_deeply_nested_json_is_bad_json(server: ServerThread, nested: str) -> None:
    async with ScriptedVisitor(server) as visitor:
        await visitor.connect()
        await visitor.send(nested)
        refused = await visitor.until("pong")
        assert (refused["type"], refused["code"]) == ("error", "bad_json")
        await visitor.send({"type": "ping"})
        assert (await visitor.until("pong"))["type"] == "pong"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_numbers_json_has_not_are_bad_json(server: ServerThread, number: str) -> None:
    # Python's parser takes them, and NaN would go back out as text no browser can parse.
    async with ScriptedVisitor(server) as visitor:
        question = await to_name(visitor)
        await visitor.send('{"type": "answer", "question": "%s", "value": %s}' % (question["id"], number))
        refused = await visitor.until("answered", "invalid")
        assert (refused["type"], refused["code"]) == ("error", "bad_json")
        await visitor.answer("Ada")
        assert (await visitor.until("answered"))["text"] == "Ada"


async def test_frames_over_16_kib_are_too_large_and_over_1_mib_close_with_1009(server: ServerThread) -> None:
    async with ScriptedVisitor(server) as visitor:
        question = await to_name(visitor)
        await visitor.answer("x" * 1_000_000)  # under the transport's 1 MiB: refused, the connection lives
        assert (await visitor.until("answered"))["code"] == "too_large"
        await visitor.answer("Ada", question["id"])
        assert (await visitor.until("answered"))["text"] == "Ada"
        assert (await visitor.question())["card"] == "email"
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:  # over it: the documented close
            await visitor.answer("x" * 10_000_000)
            await visitor.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with ScriptedVisitor(server, visitor=visitor.visitor, session=visitor.session) as again:
        assert (await again.connect())["awaiting"] == visitor.awaiting  # nothing was lost


@pytest.mark.parametrize("name, message", [
    ("<img src=x onerror=alert(1)>Ada", "angle brackets"),
    ("Ada\x1b[31m", "visible characters"),
    ("Ada\u202eecalevol", "visible characters"),
    ("A" * 81, "under 80 characters"),
])
async def test_a_name_with_markup_control_characters_or_too_long_is_refused(server: ServerThread, name: str,
                                                                            message: str) -> None:
    async with ScriptedVisitor(server) as visitor:
        await to_name(visitor)
        await visitor.answer(name)
        refused = await visitor.until("invalid")
        assert refused["type"] == "invalid" and message in refused["message"]
        await visitor.answer("  Ada \n Lovelace ")
        assert (await visitor.until("answered"))["text"] == "Ada Lovelace"


async def test_a_card_may_strip_markup_instead(tmp_path: Path) -> None:
    dialogue = {"id": "ask", "name": "Ask", "cards": [
        {"id": "company", "type": "capture", "input": "text", "text": "Company?", "field": "lead.teamName", "markup": "strip"},
        {"id": "bye", "type": "message", "text": "Thanks, {{lead.teamName}}."}]}
    folder = write_project(tmp_path / "p", {"name": "strip", "response_delay": 0, "attributes": [{"name": "lead.teamName"}]}, {"ask": dialogue})
    with ServerThread(folder, demo=False) as running:
        async with ScriptedVisitor(running) as visitor:
            await visitor.connect()
            await visitor.question()
            await visitor.answer("<b>ACME</b> Corp<br/>")
            assert (await visitor.until("answered"))["text"] == "ACME Corp"
            assert (await visitor.until("message"))["text"] == "Thanks, ACME Corp."


async def test_an_unknown_time_zone_falls_back_to_the_agents(tmp_path: Path, google) -> None:  # noqa: F811
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com", time_zone="America/New_York")], google=google)
    with serve(folder, port) as running:
        await connect_agent(folder, "ada@example.com")
        for zone in ("Europe", "../../../etc/passwd", "Not/AZone"):
            visitor, question = await to_slots(running, f"lead-{len(zone)}@client.com", timezone=zone)
            assert visitor.frames[0]["type"] == "welcome" and visitor.frames[0]["timezone"] is None
            assert question["input"]["kind"] == "slots" and question["input"]["timezone"] == "America/New_York"
            booked = await choose(visitor, question["input"]["slots"][-1]["id"])
            assert booked["type"] == "message" and "booked" in booked["text"].lower(), booked
            await visitor.close()
        visitor, question = await to_slots(running, "lead@client.com", timezone="Asia/Tokyo")
        assert visitor.frames[0]["timezone"] == "Asia/Tokyo" and question["input"]["timezone"] == "Asia/Tokyo"
        await visitor.close()
    descriptions = [event["description"] for event in google.state.events["ada@example.com"].values()]
    assert len(descriptions) == 3 and all("(America/New_York)" in text for text in descriptions)


async def test_page_attributes_cannot_change_what_the_server_sets_about_the_visit(server: ServerThread) -> None:
    async with ScriptedVisitor(server, page_url="https://site.example/pricing") as visitor:
        await visitor.connect(attributes={"visit.page_url": "https://evil.example/", "visit.referrer": "forged"})

    async def stored(app: object) -> str:
        from chinwag.tables import sessions
        async with app.store.connect() as connection:  # type: ignore[attr-defined]
            return (await connection.execute(sa.select(sessions.c.page_url).where(
                sessions.c.id == visitor.session))).scalar_one()

    assert server.call(stored) == "https://site.example/pricing"


async def test_a_tracking_cookie_name_with_a_line_break_is_refused(server: ServerThread) -> None:
    async with ScriptedVisitor(server) as visitor:
        refused = await visitor.connect(tracking={"_mkto_trk\n": "id:123-ABC-456&token:_mch-x"})
        assert refused["type"] == "error" and refused["code"] == "bad_frame"
        assert (await visitor.connect())["type"] == "welcome"  # the connection lives on
