"""End to end with a real Radicale: an agent connects through the form chinwag serves (a wrong
password is refused there), then a visitor books over the WebSocket and the meeting lands in the
agent's CalDAV calendar with the visitor invited."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from chinwag.testing import ScriptedVisitor, ServerThread, free_port, write_project
from click.testing import CliRunner
from caldav_support import PASSWORDS, Radicale

ALL_DAY = {day: ["00:00-24:00"] for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
DIALOGUE = {"id": "book", "name": "Book", "cards": [
    {"id": "email", "type": "capture", "input": "email", "text": "Your email?", "field": "lead.email"},
    {"id": "meeting", "type": "meeting", "text": "Pick a time"},
    {"id": "done", "type": "end", "text": "Bye!"}]}


def project(path: Path, radicale: Radicale, port: int) -> Path:
    agent = {"email": "ada@example.com", "name": "Ada", "time_zone": "UTC", "provider": "caldav",
             "availability": ALL_DAY, "duration": 30, "horizon_days": 1}
    return write_project(path, {"name": "caldav", "response_delay": 0, "public_url": f"http://127.0.0.1:{port}",
                                "agents": [agent], "plugins": {"caldav_calendar": {"url": radicale.url}}},
                         {"book": DIALOGUE})


async def connect_link(folder: Path) -> str:
    from chinwag.cli import cli

    result = await asyncio.to_thread(CliRunner().invoke, cli, ["agents", "connect", "--provider", "caldav",
                                                                "ada@example.com", "--project", str(folder)])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


async def test_an_agent_connects_and_a_booking_lands_in_their_calendar(tmp_path: Path, radicale: Radicale) -> None:
    calendar = radicale.make_calendar("ada@example.com")
    port = free_port()
    folder = project(tmp_path / "p", radicale, port)
    with ServerThread(folder, port=port, demo=False) as server:
        link = await connect_link(folder)
        query = dict(parse_qsl(urlsplit(link).query))
        form = {"state": query["state"], "redirect_uri": query["redirect_uri"], "username": "ada@example.com"}
        async with httpx.AsyncClient(follow_redirects=True) as client:
            page = await client.get(link)
            assert page.status_code == 200 and "App password" in page.text and radicale.url in page.text
            assert 'value="ada@example.com"' in page.text  # the login hint
            wrong = await client.post(link.split("?")[0], data={**form, "password": "not-it"})
            assert wrong.status_code == 401 and "refused that username or password" in wrong.text
            forged = await client.post(link.split("?")[0], data={**form, "password": PASSWORDS["ada@example.com"],
                                                                  "redirect_uri": "https://evil.example/cb"})
            assert forged.status_code == 400
            done = await client.post(link.split("?")[0], data={**form, "password": PASSWORDS["ada@example.com"]})
        assert done.status_code == 200 and "Calendar connected" in done.text, done.text
        async with ScriptedVisitor(server) as visitor:
            await visitor.connect()
            await visitor.question()
            await visitor.answer("grace@client.example")
            slots = await visitor.until("question", timeout=60)
            assert slots["input"]["kind"] == "slots", slots
            chosen = slots["input"]["slots"][-1]  # the latest: never too soon to book
            await visitor.answer(chosen["id"])
            reply = await visitor.until("message", timeout=60)
    assert "You're booked with Ada" in reply["text"], reply
    [event] = calendar.events()
    component = event.icalendar_component
    assert str(component["attendee"]) == "mailto:grace@client.example"
    assert component["dtstart"].dt.isoformat().replace("+00:00", "Z") == chosen["start"]
