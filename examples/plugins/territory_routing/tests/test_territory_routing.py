"""The territory strategy: the CSV and its problems, the order it gives, and a real booking that
lands with the lead's territory's team (a chinwag server, its WebSocket, the Google sandbox)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from chinwag.app import Chinwag
from chinwag.credentials import generate_key
from chinwag.meetings.routing import RoutingContext
from chinwag.testing import ScriptedVisitor, ServerThread, free_port, write_project
from chinwag_territory_routing.territories import Territories, read_territories
from click.testing import CliRunner

CHINWAG = str(Path(sys.executable).with_name("chinwag"))
ALL_DAY = {day: ["00:00-24:00"] for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
AGENTS = ["emea1@example.com", "emea2@example.com", "west@example.com", "east@example.com"]
TEAMS = {"emea": AGENTS[:2], "us-west": [AGENTS[2]], "us-east": [AGENTS[3]]}
CSV = "country,region,team\nDE,,emea\nFrance,,emea\nUS,CA,us-west\nUS,,us-east\n"
DIALOGUE = {"id": "book", "name": "Book", "cards": [
    {"id": "country", "type": "capture", "text": "Your country?", "field": "lead.country"},
    {"id": "state", "type": "capture", "text": "Your state or region?", "field": "lead.state"},
    {"id": "email", "type": "capture", "input": "email", "text": "Your email?", "field": "lead.email"},
    {"id": "meeting", "type": "meeting", "text": "Pick a time", "route": "round_robin", "strategy": "territory"},
    {"id": "done", "type": "end", "text": "Bye!"}]}


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key chinwag encrypts calendar tokens with, as a deployment sets it."""
    monkeypatch.setenv("CHINWAG_SECRET_KEY", generate_key())


@pytest.fixture
def google() -> Iterator[Any]:
    from chinwag_google_calendar.sandbox import serve_in_thread

    server = serve_in_thread()
    yield server
    server.stop()


def project(path: Path, csv_text: str = CSV, google: Any = None, port: int = 8000, **settings: Any) -> Path:
    agents = [{"email": email, "name": email.split("@")[0], "time_zone": "UTC", "provider": "google",
               "availability": ALL_DAY, "duration": 30, "horizon_days": 1} for email in AGENTS]
    plugins: dict[str, Any] = {"territory_routing": {"territories": "territories.csv", **settings}}
    if google is not None:
        plugins["google_calendar"] = {**google.plugin_config(), "max_retries": 2, "retry_base_delay": 0.01}
    folder = write_project(path, {"name": "territories", "response_delay": 0, "public_url": f"http://127.0.0.1:{port}",
                                  "agents": agents, "meetings": {"teams": TEAMS}, "plugins": plugins},
                           {"book": DIALOGUE})
    (folder / "territories.csv").write_text(csv_text)
    return folder


def test_the_most_specific_territory_wins() -> None:
    territories = Territories({("us", "ca"): "us-west", ("us", ""): "us-east", ("*", ""): "global"})
    assert territories.team_for(" us ", "CA") == "us-west"
    assert territories.team_for("US", "NY") == "us-east"
    assert territories.team_for("US", None) == "us-east"
    assert territories.team_for("Japan", "Tokyo") == "global"
    assert Territories({("de", ""): "emea"}).team_for(None) is None


def test_csv_problems_are_named_by_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("country,region,team\nDE,,emea\nDE,,emea\nUS,,apac\n*,CA,emea\n,,emea\n")
    territories, problems = read_territories(path, TEAMS)
    assert territories.team_for("de") == "emea"
    assert problems == [(3, "territory DE is listed twice"), (4, "team 'apac' is not under meetings.teams"),
                        (5, "* means every country: leave its region empty"), (6, "needs a country (or *) and a team")]
    path.write_text("nation,team\nDE,emea\n")
    assert read_territories(path, TEAMS)[1] == [(1, "needs the columns country, region, team (region may be empty)")]


def context(lead: dict[str, Any], last: str | None = None, free: tuple[str, ...] = tuple(AGENTS)) -> RoutingContext:
    async def meetings_since(_: dt.datetime | None) -> dict[str, int]:
        return {}

    return RoutingContext(queue="q", agents=tuple(AGENTS), candidates=free, last_agent=last, weights={},
                          period_start=dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc), meetings_since=meetings_since,
                          lead=lead)


async def test_the_territorys_team_goes_first_in_turn_then_the_rest(tmp_path: Path) -> None:
    strategy = Chinwag.from_project(project(tmp_path / "p")).routing_strategies["territory"]
    german = {"lead.country": "de"}
    assert await strategy.choose(context(german)) == [*AGENTS[:2], AGENTS[2], AGENTS[3]]
    assert await strategy.choose(context(german, last=AGENTS[0])) == [AGENTS[1], AGENTS[0], AGENTS[2], AGENTS[3]]
    assert (await strategy.choose(context({"lead.country": "US", "lead.state": "CA"})))[0] == AGENTS[2]
    assert await strategy.choose(context(german, free=(AGENTS[3],))) == [AGENTS[3]]  # the team is busy
    assert await strategy.choose(context({"lead.country": "Japan"})) == AGENTS  # nobody's territory


async def test_team_only_leaves_others_out(tmp_path: Path) -> None:
    strategy = Chinwag.from_project(project(tmp_path / "p", fallback="team_only")).routing_strategies["territory"]
    assert await strategy.choose(context({"lead.country": "France"})) == AGENTS[:2]
    assert await strategy.choose(context({"lead.country": "France"}, free=(AGENTS[3],))) == []
    assert await strategy.choose(context({"lead.country": "Japan"})) == []


def test_bad_settings_and_rows_stop_validation_with_their_lines(tmp_path: Path) -> None:
    folder = project(tmp_path / "p", "country,region,team\nDE,,emea\nUS,,apac\n", fallback="random",
                     country_attribute="lead.nation")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHINWAG_")}
    result = subprocess.run([CHINWAG, "validate", str(folder)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    assert "plugins.territory_routing.fallback: must be one of everyone, team_only" in result.stderr
    assert "plugins.territory_routing.country_attribute: must name a registered attribute" in result.stderr
    assert "territories.csv:3: team 'apac' is not under meetings.teams" in result.stderr


async def connect_agent(folder: Path, email: str) -> None:
    """``chinwag agents connect``, then the agent allows access on the sandbox's consent page."""
    from chinwag.cli import cli

    result = await asyncio.to_thread(CliRunner().invoke, cli, ["agents", "connect", "--provider", "google", email,
                                                                "--project", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[-1]
    query = dict(parse_qsl(urlsplit(url).query))
    async with httpx.AsyncClient(follow_redirects=True) as client:
        done = await client.post(url.split("?")[0], data={
            "decision": "allow", "email": email, "redirect_uri": query["redirect_uri"], "state": query["state"],
            "scope": query.get("scope", "")})
    assert done.status_code == 200 and "Calendar connected" in done.text, done.text


async def book(server: ServerThread, country: str, region: str, email: str) -> dict[str, Any]:
    async with ScriptedVisitor(server) as visitor:
        await visitor.connect()
        for answer in (country, region, email):
            question = await visitor.question()
            assert question["type"] == "question", question
            await visitor.answer(answer)
        slots = await visitor.until("question", timeout=30)
        assert slots["input"]["kind"] == "slots", slots
        await visitor.answer(slots["input"]["slots"][-1]["id"])  # the latest: never too soon to book
        return await visitor.until("message", timeout=60)


async def test_a_booking_goes_to_the_leads_territory(tmp_path: Path, google: Any) -> None:
    port = free_port()
    folder = project(tmp_path / "p", google=google, port=port)
    with ServerThread(folder, port=port, demo=False) as server:
        for email in AGENTS:
            await connect_agent(folder, email)
        replies = [await book(server, "US", "CA", "ada@client.example"),
                   await book(server, "Germany", "Berlin", "bob@client.example"),  # not a territory: anyone
                   await book(server, "DE", "Bavaria", "eve@client.example")]

        async def takers(app: Any) -> dict[str, str]:
            from chinwag.meetings.tables import meetings

            async with app.store.connect() as connection:
                rows = await connection.execute(sa.select(meetings.c.lead_email, meetings.c.agent_email))
                return {row.lead_email: row.agent_email for row in rows}

        taken = server.call(takers)
    assert all("You're booked with" in reply["text"] for reply in replies), replies
    assert taken["ada@client.example"] == "west@example.com"
    assert taken["eve@client.example"] in TEAMS["emea"]
    assert set(taken) == {"ada@client.example", "bob@client.example", "eve@client.example"}
