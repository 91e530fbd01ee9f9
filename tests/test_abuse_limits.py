"""The public chat endpoint's abuse limits (``limits:``): real server processes, real WebSockets,
counts shared through the database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerProcess, write_project

DIALOGUE = {"id": "hi", "name": "Hi", "cards": [
    {"id": "name", "type": "capture", "text": "Your name?", "field": "lead.firstName"},
    {"id": "email", "type": "capture", "input": "email", "text": "Your email?", "field": "lead.email"},
    {"id": "bye", "type": "message", "text": "Thanks!"}]}
# A second meeting dialogue, for a visitor who completed the quickstart's.
AGAIN = {"id": "again", "name": "Again", "priority": 50, "cards": [
    {"id": "email", "type": "capture", "input": "email", "text": "Your email?", "field": "lead.email"},
    {"id": "book", "type": "meeting", "text": "Pick a time"}]}
FOREVER = 10 ** 9  # seconds: one fixed window for the whole test


def chinwag(*args: str) -> subprocess.CompletedProcess[str]:
    """A chinwag command, run to its end."""
    return subprocess.run([str(Path(sys.executable).with_name("chinwag")), *args], capture_output=True, text=True,
                          timeout=120)


def from_address(server: ServerProcess, address: str, **options: Any) -> ScriptedVisitor:
    """A visitor behind the project's proxy, which says the visitor's address in X-Forwarded-For."""
    return ScriptedVisitor(server, headers={"X-Forwarded-For": f"198.51.100.1, {address}"}, **options)


@pytest.fixture
def two_processes(tmp_path: Path, postgres_url: str) -> Any:
    limits = {"client_address_header": "X-Forwarded-For", "hellos_per_address": {"count": 3, "per_seconds": FOREVER},
              "connections_per_address": 2}
    folder = write_project(tmp_path / "p", {"name": "limits", "database": postgres_url, "response_delay": 0,
                                            "limits": limits}, {"hi": DIALOGUE})
    with ServerProcess(folder) as first, ServerProcess(folder) as second:
        yield folder, first, second


async def test_hellos_per_address_hold_across_processes_and_leave_the_report_alone(two_processes: Any) -> None:
    folder, first, second = two_processes
    welcomed = []
    for server in (first, second, first):
        async with from_address(server, "203.0.113.7") as visitor:
            welcomed.append((await visitor.connect())["type"])
    assert welcomed == ["welcome"] * 3
    for server in (second, first):
        async with from_address(server, "203.0.113.7") as visitor:
            refused = await visitor.connect()
            assert refused["type"] == "error" and refused["code"] == "rate_limited", refused
            assert "too many new chats from your address; try again in " in refused["message"]
            assert refused["retry_after"] > 3600  # seconds until the window ends (a long one here)
            await visitor.send({"type": "ping"})  # the connection lives on
            assert (await visitor.until("pong"))["type"] == "pong"
    async with from_address(second, "203.0.113.8") as other:  # another address is not affected
        assert (await other.connect())["type"] == "welcome"
    report = json.loads(chinwag("report", str(folder), "--json").stdout)
    assert report["dialogues"]["hi"]["triggered"] == 4  # three from the limited address, one from the other


async def test_connections_per_address_hold_across_processes(two_processes: Any) -> None:
    _, first, second = two_processes
    async with from_address(first, "203.0.113.9") as one, from_address(second, "203.0.113.9") as two:
        for visitor in (one, two):  # counted once admitted, which a pong proves
            await visitor.open()
            await visitor.send({"type": "ping"})
            assert (await visitor.receive())["type"] == "pong"
        async with from_address(first, "203.0.113.9") as three:
            await three.open()
            refused = await three.receive()
            assert refused["type"] == "error" and refused["code"] == "too_many_connections", refused
        async with from_address(second, "203.0.113.10") as elsewhere:  # another address is not affected
            assert (await elsewhere.connect())["type"] == "welcome"
    for _ in range(100):  # once one closes, its place is free again (closing is noticed asynchronously)
        async with from_address(second, "203.0.113.9") as again:
            await again.open()
            await again.send({"type": "ping"})
            frame = await again.receive()
        if frame["type"] == "pong":
            break
        await asyncio.sleep(0.1)
    assert frame["type"] == "pong", frame


async def test_frames_per_second_drop_a_flood_with_one_error_and_the_connection_lives(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "p", {"name": "limits", "response_delay": 0, "limits": {"frames_per_second": 2}},
                           {"hi": DIALOGUE})
    with ServerProcess(folder) as server:
        async with ScriptedVisitor(server) as visitor:
            await visitor.open()
            for _ in range(50):
                await visitor.send({"type": "ping"})
            first = [await visitor.receive() for _ in range(3)]
            kinds = [frame["type"] for frame in first]
            assert "error" in kinds and kinds.count("pong") <= 2, first  # a burst of 2, then one error
            error = next(frame for frame in first if frame["type"] == "error")
            assert error["code"] == "rate_limited" and "2 frames a second" in error["message"]
            await asyncio.sleep(0.6)  # at 2 a second, a place is free again after half a second
            await visitor.send({"type": "ping"})
            assert (await visitor.receive())["type"] == "pong"  # the connection lives on


async def test_blocked_email_domains_are_refused_and_never_stored(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "p", {"name": "limits", "response_delay": 0,
                                            "limits": {"blocked_email_domains": ["mailinator.com", "Example.NET"]}},
                           {"hi": DIALOGUE})
    with ServerProcess(folder) as server:
        async with ScriptedVisitor(server) as visitor:
            await visitor.connect()
            await visitor.question()
            await visitor.answer("Eve")
            await visitor.question()
            for address in ("eve@mailinator.com", "eve@spam.mailinator.com", "EVE@example.net"):
                await visitor.answer(address)
                refused = await visitor.until("invalid")
                assert refused["type"] == "invalid" and "not accepted" in refused["message"], refused
            await visitor.answer("eve@client.example")
            assert (await visitor.until("message"))["text"] == "Thanks!"
    with sqlite3.connect(folder / "chinwag.db") as db:
        stored = " ".join(str(row) for table in ("visitors", "transcript", "events")
                          for row in db.execute(f"SELECT * FROM {table}"))  # noqa: S608 (fixed names)
    assert "eve@client.example" in stored
    assert "mailinator" not in stored and "example.net" not in stored.lower()


async def book(server: ServerProcess, email: str, visitor: str | None = None) -> dict[str, Any]:
    """The quickstart's meeting path; the first frame after the email that is not a question of the path
    (with the visitor's id added as ``visitor``)."""
    async with ScriptedVisitor(server, visitor=visitor) as chat:
        await chat.connect()
        for answer in ("meeting", "Ada", email, "11-50"):
            await chat.question()
            await chat.answer(answer)
        frame = await chat.until("question", "message")
        if frame["type"] == "question" and frame["input"]["kind"] == "slots":
            await chat.answer(frame["input"]["slots"][0]["id"])
            frame = await chat.until("message")
        return {**frame, "visitor": chat.visitor}


async def test_meetings_per_email_per_day_and_blocked_domains_keep_the_calendar_clean(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "demo", {"response_delay": 0, "limits": {
        "meetings_per_email_per_day": 1, "meetings_per_visitor": 1, "blocked_email_domains": ["mailinator.com"]}},
        {"again": AGAIN}, copy_from=QUICKSTART)
    with ServerProcess(folder, args=("--demo",)) as server:
        assert (await book(server, "ada@client.example"))["text"].startswith("You're booked with ")
        second = await book(server, "ADA@client.example")  # the same address, another visitor
        assert second["text"] == "You have booked as many meetings as we can take for now. We'll be in touch by email."
        bob = await book(server, "bob@client.example")
        assert bob["text"].startswith("You're booked with ")
        async with ScriptedVisitor(server, visitor=bob["visitor"]) as returning:  # Bob again, with another address
            await returning.connect()
            await returning.question()
            await returning.answer("robert@client.example")
            refused = await returning.until("message")
        assert refused["text"].startswith("You have booked as many meetings as we can take")
    listed = json.loads(chinwag("meetings", "-p", str(folder), "--json").stdout)
    assert sorted(meeting["lead_email"] for meeting in listed) == ["ada@client.example", "bob@client.example"]
    report = json.loads(chinwag("report", str(folder), "--json").stdout)
    assert sum(counts.get("meeting_booked", 0) for counts in report["dialogues"].values()) == 2


def test_limits_are_checked_with_their_lines(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "p", {"name": "limits", "limits": {
        "hellos_per_address": {"count": 0, "per_seconds": 60}, "frames_per_second": "many",
        "blocked_email_domains": [f"d{n}.example" for n in range(51)], "conections_per_address": 3}}, {"hi": DIALOGUE})
    done = chinwag("validate", str(folder))
    assert done.returncode == 1
    lines = (folder / "chinwag.yaml").read_text().splitlines()
    for key, message in (("hellos_per_address", "{count: N, per_seconds: S}"), ("frames_per_second", "whole number"),
                         ("blocked_email_domains", "at most 50 domains (got 51)"), ("conections_per_address", "unknown limit")):
        line = next(number for number, text in enumerate(lines, 1) if text.strip().startswith(key + ":"))
        assert f"chinwag.yaml:{line}: limits.{key}: " in done.stderr and message in done.stderr, (key, done.stderr)
