"""Agents' schedules saved outside chinwag.yaml (``chinwag agents schedule``, the console's agent
page): checked by chinwag.yaml's rules, stored in the database, followed by a running server the
next time it offers times, and ignored (chinwag.yaml's applies) when a stored one no longer holds."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from chinwag.cli import cli as command
from chinwag.meetings.tables import agent_schedules
from click.testing import CliRunner
from meetings_support import (  # noqa: F401  (fixtures)
    agent, cli, connect_agent, free_port, google, project, secret_key, serve, to_slots)

WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TEN_TO_ELEVEN = json.dumps({"time_zone": "UTC", "availability": {day: ["10:00-11:00"] for day in WEEK},
                            "duration": 60, "horizon_days": 3})


async def offered(server, email: str) -> list[tuple[dt.time, dt.timedelta]]:
    """Each offered time's start (UTC clock) and length."""
    visitor, question = await to_slots(server, email)
    await visitor.close()
    assert question["type"] == "question", question
    return [(dt.datetime.fromisoformat(s["start"]).astimezone(dt.timezone.utc).time(),
             dt.datetime.fromisoformat(s["end"]) - dt.datetime.fromisoformat(s["start"])) for s in question["input"]["slots"]]


async def test_a_schedule_saved_from_another_process_is_what_the_server_offers_next(tmp_path: Path, google,
                                                                                   caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com")], google=google)
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        before = await offered(server, "one@client.example")
        assert before and {length for _, length in before} == {dt.timedelta(minutes=30)}

        saved = await cli(folder, "agents", "schedule", "ada@example.com", "--set", TEN_TO_ELEVEN)
        assert "saved" in saved.output and "10:00-11:00" in saved.output
        after = await offered(server, "two@client.example")
        assert after and set(after) == {(dt.time(10), dt.timedelta(hours=1))}

        # A wrong schedule: every problem named, exit 1, the saved one still in force.
        refused = await asyncio.to_thread(CliRunner().invoke, command, [
            "agents", "schedule", "ada@example.com", "--project", str(folder), "--set",
            json.dumps({"time_zone": "Atlantis/Main", "duration": 0, "availability": {"someday": ["09:00-10:00"]}})])
        assert refused.exit_code == 1
        for message in ("time_zone: unknown time zone 'Atlantis/Main'", "duration: must be a whole number from 5 to 480",
                        "availability: unknown weekday 'someday'"):
            assert message in refused.output, refused.output
        shown = json.loads((await cli(folder, "agents", "schedule", "ada@example.com", "--json")).output)
        assert (shown["source"], shown["duration"]) == ("saved", 60)

        # A stored schedule that no longer holds (written by hand, or a zone the system dropped) is
        # logged and left aside: chinwag.yaml's applies, the chat goes on.
        async def spoil(app) -> None:
            async with app.store.transaction() as connection:
                await connection.execute(sa.update(agent_schedules).values(
                    schedule=json.dumps({"time_zone": "Nowhere/Gone", "availability": {"monday": ["10:00-11:00"]}})))

        server.call(spoil)
        with caplog.at_level(logging.WARNING, logger="chinwag.meetings.schedules"):
            spoiled = await offered(server, "three@client.example")
        assert spoiled and {length for _, length in spoiled} == {dt.timedelta(minutes=30)}
        assert any("saved schedule of ada@example.com no longer holds" in r.getMessage() for r in caplog.records)

        cleared = await cli(folder, "agents", "schedule", "ada@example.com", "--clear")
        assert "ada@example.com: chinwag.yaml" in cleared.output
        assert {length for _, length in await offered(server, "four@client.example")} == {dt.timedelta(minutes=30)}
