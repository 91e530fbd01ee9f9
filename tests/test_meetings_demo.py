"""The quickstart books real (sandbox) meetings with no setup; stored tokens need their key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from chinwag.app import Chinwag
from chinwag.problems import InvalidProject
from chinwag.server import create_app
from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerThread, write_project
from meetings_support import agent, connect_agent, free_port, google, project, secret_key  # noqa: F401


async def test_the_quickstart_books_on_its_own_sandbox_calendars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("CHINWAG_SECRET_KEY")
    port = free_port()
    meetings = {"fallback": "Nobody is free."}
    folder = write_project(tmp_path / "demo", {"public_url": f"http://127.0.0.1:{port}", "meetings": meetings},
                           copy_from=QUICKSTART)
    with ServerThread(folder, port=port) as server:
        assert "throwaway" in caplog.text  # the demo's ephemeral key is announced loudly
        async with ScriptedVisitor(server, timezone="Asia/Tokyo") as visitor:
            await visitor.connect()
            for answer in ("meeting", "Ada", "ada@client.com", "11-50"):
                await visitor.question()
                await visitor.answer(answer)
            question = await visitor.question()
            assert question["input"]["kind"] == "slots" and question["input"]["timezone"] == "Asia/Tokyo"
            await visitor.answer(question["input"]["slots"][0]["id"])
            booked = await visitor.until("message")
            assert booked["text"].startswith("You're booked with ") and "(Asia/Tokyo)" in booked["text"]
            assert (await visitor.until("message"))["text"] == "Thanks Ada, we'll be in touch soon!"
        marketo = _marketo_sandbox(server)
        for _ in range(100):  # the chat's lead reaches the Marketo stand-in through the outbox
            if any(lead.get("email") == "ada@client.com" for lead in marketo.leads.values()):
                break
            await asyncio.sleep(0.1)
        [lead] = [lead for lead in marketo.leads.values() if lead.get("email") == "ada@client.com"]
        assert lead["firstName"] == "Ada"
        sandboxes = [server.app.calendar_providers[name].sandbox for name in ("google", "outlook")]
        [event] = [event for sandbox in sandboxes for calendar in sandbox.events.values() for event in calendar.values()]
        invited = event["attendees"][-1]
        assert "ada@client.com" in (invited.get("email"), invited.get("emailAddress", {}).get("address"))


async def test_stored_tokens_without_a_key_stop_the_server(tmp_path: Path, google, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com")], google=google)
    with ServerThread(folder, port=port, demo=False):
        await connect_agent(folder, "ada@example.com")
    monkeypatch.delenv("CHINWAG_SECRET_KEY")
    app = Chinwag.from_project(folder)
    create_app(app)  # a serving process (commands load the key only when they read or write tokens)
    with pytest.raises(InvalidProject, match="agents: CHINWAG_SECRET_KEY is not set"):
        await app.start()
    await app.stop()


def _marketo_sandbox(server: ServerThread) -> Any:
    from chinwag_marketo.plugin import MarketoState

    return server.app.plugin_state(MarketoState).sandbox
