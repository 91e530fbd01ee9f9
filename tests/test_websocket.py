"""Conversations over the real WebSocket against the real server, on SQLite and on PostgreSQL.

The PostgreSQL runs need ``CHINWAG_TEST_POSTGRES_URL`` (``make test`` sets it to the local server).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerThread, write_project


@pytest.fixture(params=["sqlite", "postgresql"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The quickstart project on each database."""
    config = {}
    if request.param == "postgresql":
        config["database"] = request.getfixturevalue("postgres_url")
    return write_project(tmp_path / "project", config=config, copy_from=QUICKSTART)


@pytest.fixture
def server(project: Path) -> Iterator[ServerThread]:
    with ServerThread(project, demo=False) as running:
        yield running


async def walk_to_email(visitor: ScriptedVisitor) -> None:
    await visitor.connect()
    await visitor.question()
    await visitor.answer("demo")
    await visitor.question()
    await visitor.answer("Ada")
    assert (await visitor.question())["input"]["kind"] == "email"


async def test_whole_conversation_is_played_and_stored(server: ServerThread) -> None:
    async with ScriptedVisitor(server) as visitor:
        welcome = await visitor.connect()
        assert welcome["status"] == "active" and welcome["dialogue"] == {"id": "welcome", "name": "Welcome tour"}
        assert welcome["visitor"].startswith("v_") and welcome["session"].startswith("s_")
        for value in ("demo", "Ada", "ada@example.com", "11-50", "+44 20 7946 0958"):
            await visitor.question()
            await visitor.answer(value)
        await visitor.until("message")
        assert visitor.texts()[-1] == "Thanks Ada, we'll be in touch soon!"
        await visitor.until("event")  # lead_captured / completed follow the last turn
        while "completed" not in visitor.events():
            await visitor.until("event")
    assert visitor.events() == ["triggered", "engaged", "lead_captured", "goal_reached", "completed"]

    async def stored(app):
        import sqlalchemy as sa

        from chinwag.tables import events, sessions, visitors
        async with app.store.connect() as connection:
            lead = (await connection.execute(sa.select(visitors.c.lead).where(visitors.c.id == visitor.visitor))).scalar()
            status = (await connection.execute(sa.select(sessions.c.status).where(sessions.c.id == visitor.session))).scalar()
            names = (await connection.execute(sa.select(events.c.name).order_by(events.c.id))).scalars().all()
        return lead, status, names

    lead, status, names = server.call(stored)
    # ada@example.com is the person the quickstart's Marketo stand-in knows: her CRM fields join the lead.
    assert lead == {"lead.interest": "demo", "lead.firstName": "Ada", "lead.email": "ada@example.com",
                    "lead.teamSize": "11-50", "lead.phone": "+442079460958", "person.firstName": "Ada",
                    "person.lastName": "Lovelace", "person.title": "Head of Research",
                    "person.company": "Analytical Engines"}
    assert status == "completed"
    assert names.count("answered") == 5 and names[0] == "triggered" and names[-1] == "completed"


async def test_reconnect_resumes_at_the_same_step_with_the_transcript(server: ServerThread) -> None:
    first = ScriptedVisitor(server)
    await walk_to_email(first)
    await first.close()
    async with ScriptedVisitor(server, visitor=first.visitor, session=first.session) as again:
        welcome = await again.connect()
        assert welcome["session"] == first.session and welcome["awaiting"] == first.awaiting
        kinds = [frame["type"] for frame in welcome["transcript"]]
        assert kinds == ["message", "question", "answered", "question", "answered", "question"]
        assert welcome["transcript"][-1]["text"] == "Thanks Ada. What's your work email?"
        await again.answer("ada@example.com")
        assert (await again.question())["card"] == "size"


async def test_another_server_process_resumes_the_session(project: Path, server: ServerThread) -> None:
    first = ScriptedVisitor(server)
    await walk_to_email(first)
    await first.close()
    with ServerThread(project, demo=False) as other:
        async with ScriptedVisitor(other, visitor=first.visitor, session=first.session) as again:
            welcome = await again.connect()
            assert welcome["awaiting"] == first.awaiting
            await again.answer("ada@example.com")
            assert (await again.question())["card"] == "size"


async def test_completed_dialogue_is_not_shown_again(server: ServerThread) -> None:
    async with ScriptedVisitor(server) as visitor:
        await visitor.connect()
        await visitor.question()
        await visitor.answer("browsing")
        await visitor.until("message")
    async with ScriptedVisitor(server, visitor=visitor.visitor, session=visitor.session) as again:
        welcome = await again.connect()
        assert welcome["status"] == "completed" and welcome["awaiting"] is None
        assert welcome["transcript"][-1]["text"].startswith("No problem")
    async with ScriptedVisitor(server, visitor=visitor.visitor) as fresh_tab:
        welcome = await fresh_tab.connect()
        assert welcome["status"] == "none" and welcome["session"] is None


async def test_bad_frames_get_error_frames_and_the_session_lives_on(server: ServerThread) -> None:
    async with ScriptedVisitor(server) as visitor:
        await visitor.open()
        await visitor.send({"type": "answer", "question": "x", "value": "y"})
        assert (await visitor.receive())["code"] == "not_ready"
        await visitor.connect()
        question = await visitor.question()
        await visitor.until("event")
        cases = [
            ("{not json", "bad_json"),
            ("[1, 2]", "bad_json"),
            (json.dumps({"type": "shout"}), "unknown_type"),
            (json.dumps({"no": "type"}), "unknown_type"),
            (json.dumps({"type": "answer", "question": 5, "value": "demo"}), "bad_frame"),
            (json.dumps({"type": "answer", "question": question["id"]}), "bad_frame"),
            (json.dumps({"type": "answer", "question": question["id"], "value": {"a": 1}}), "bad_frame"),
            (json.dumps({"type": "answer", "question": question["id"], "value": "demo", "timezone": 5}), "bad_frame"),
            (json.dumps({"type": "answer", "question": "greet:1", "value": "demo"}), "not_asked"),
            (json.dumps({"type": "answer", "question": question["id"], "value": "x" * 20000}), "too_large"),
            (json.dumps({"type": "answer", "question": question["id"], "value": "€" * 6000}, ensure_ascii=False), "too_large"),
            (json.dumps({"type": "hello", "protocol": 1, "page": {"url": "x"}}), "not_ready"),
        ]
        for raw, code in cases:
            await visitor.send(raw)
            frame = await visitor.receive()
            assert (frame["type"], frame["code"]) == ("error", code), raw
            assert frame["message"]
        await visitor.answer("nonsense")
        assert (await visitor.receive())["type"] == "invalid"
        await visitor.answer("demo")
        assert (await visitor.until("answered"))["text"] == "I'd like a demo"
        await visitor.send({"type": "ping"})
        assert (await visitor.until("pong"))["type"] == "pong"


async def test_unsupported_protocol_version_is_refused(server: ServerThread) -> None:
    async with ScriptedVisitor(server) as visitor:
        frame = await visitor.connect(protocol=2)
        assert frame["code"] == "unsupported_protocol"


async def test_answering_twice_from_two_tabs_plays_once(server: ServerThread) -> None:
    first = ScriptedVisitor(server)
    await first.connect()
    question = await first.question()
    second = ScriptedVisitor(server, visitor=first.visitor, session=first.session)
    await second.connect()
    await first.answer("demo", question["id"])
    assert (await first.until("answered"))["text"] == "I'd like a demo"
    await second.answer("pricing", question["id"])
    reply = await second.until("welcome")
    assert reply["type"] == "error" and reply["code"] == "conflict"
    welcome = await second.until("welcome")  # the losing tab learns the question now open
    assert welcome["type"] == "welcome" and welcome["awaiting"] != question["id"]
    await first.close()
    await second.close()

    async def answers(app):
        import sqlalchemy as sa

        from chinwag.tables import sessions
        async with app.store.connect() as connection:
            return (await connection.execute(sa.select(sessions.c.state).where(sessions.c.id == first.session))).scalar()["answers"]

    assert server.call(answers) == {"interest": "demo"}


async def test_foreign_origin_is_refused_and_allowed_origin_accepted(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, config={"allowed_origins": ["https://www.example.com"]})
    with ServerThread(project, demo=False) as server:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await ScriptedVisitor(server, origin="https://evil.example.net").connect()
        assert refused.value.response.status_code == 403
        with pytest.raises(websockets.exceptions.InvalidStatus):
            await ScriptedVisitor(server.ws_url, origin=None).connect()
        async with ScriptedVisitor(server, origin="https://www.example.com") as allowed:
            assert (await allowed.connect())["type"] == "welcome"


async def test_theme_response_delay_sets_the_typing_delay(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, config={"plugins": {"widget_theme": {"response_delay": 2.5}}})
    with ServerThread(project, demo=False) as server:
        async with ScriptedVisitor(server) as visitor:
            await visitor.connect()
            message = await visitor.until("message")
    assert message["delay"] == 2.5


async def test_two_tabs_on_two_processes_answering_at_once_store_one_and_the_other_resyncs(
        tmp_path: Path, postgres_url: str) -> None:
    import asyncio

    from chinwag.testing import ServerProcess

    folder = write_project(tmp_path / "p", config={"database": postgres_url, "response_delay": 0}, copy_from=QUICKSTART)
    with ServerProcess(folder) as one, ServerProcess(folder) as two:
        for round_number in range(3):  # a race: several rounds, so both orders are likely met
            first = ScriptedVisitor(one)
            await first.connect()
            question = await first.question()
            second = ScriptedVisitor(two, visitor=first.visitor, session=first.session)
            await second.connect()
            await asyncio.gather(first.answer("demo", question["id"]), second.answer("pricing", question["id"]))
            outcomes = []
            for tab in (first, second):
                frame = await tab.until("answered", "welcome")
                if frame["type"] == "error":
                    assert frame["code"] == "conflict", frame
                    welcome = await tab.until("welcome")
                    assert welcome["type"] == "welcome" and welcome["awaiting"] != question["id"]
                outcomes.append(frame["type"])
            assert sorted(outcomes) == ["answered", "error"], f"round {round_number}: {outcomes}"
            await first.close()
            await second.close()
