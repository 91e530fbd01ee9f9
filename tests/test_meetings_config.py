"""Agents and meetings configuration: problems named with their line, invitations, OAuth refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from chinwag.testing import write_project
from meetings_support import (  # noqa: F401  (fixtures)
    agent, book, cli, connect_agent, dialogue, free_port, google, meetings_rows, project, secret_key, serve,
)

CHINWAG = str(Path(sys.executable).with_name("chinwag"))


def test_bad_agents_and_meetings_are_named_with_their_line(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "p", {"name": "x", "attributes": [{"name": "lead.interest"}]}, {"book": dialogue(route={"team": "nobody"})})
    (folder / "chinwag.yaml").write_text(
        "name: x\n"
        "attributes: [{name: lead.interest}]\n"
        "agents:\n"
        "  - email: ada@example.com\n"
        "    provider: google\n"
        "    time_zone: Mars/Olympus\n"
        "    availability: {monday: ['09:00-12:00']}\n"
        "  - email: bob@example.com\n"
        "    provider: fax\n"
        "    availability: {funday: ['09:00-12:00']}\n"
        "    duration: 0\n"
        "  - {email: cy@example.com, provider: google, time_zone: Europe, availability: {monday: ['09:00-12:00']}}\n"
        "meetings:\n"
        "  account_routing: missing.csv\n"
        "  rules:\n"
        "    - {name: r, if: {attribute: lead.nothing, op: is, value: x}, agent: zed@example.com}\n")
    result = subprocess.run([CHINWAG, "validate", str(folder)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    for expected in ("chinwag.yaml:6: agents[0].time_zone: unknown time zone 'Mars/Olympus'",
                     "chinwag.yaml:9: agents[1].provider: must name a calendar provider plugin",
                     "chinwag.yaml:10: agents[1].availability: unknown weekday 'funday'",
                     "chinwag.yaml:11: agents[1].duration: must be a whole number from 5 to 480",
                     "chinwag.yaml:12: agents[2].time_zone: unknown time zone 'Europe'",  # a folder, not a zone
                     "chinwag.yaml:14: meetings.account_routing: must name a CSV file",
                     "chinwag.yaml:16: meetings.rules[0]: if: unknown attribute 'lead.nothing'",
                     "meetings.rules[0]: agent 'zed@example.com' is not listed under agents:",
                     "card 'meeting': 'route' names team 'nobody'"):
        assert expected in result.stderr, result.stderr


async def test_agent_template_override_and_online_meeting_link(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com", invitation_template="ada.txt")], google=google,
                     meetings={"online_meeting": True, "summary": "Intro: {{ lead.email }} & {{ agent.name }}"})
    (folder / "templates").mkdir()
    (folder / "templates" / "ada.txt").write_text("Dear {{ lead.email }} <{{ lead.interest }}>, Ada here.\n")
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        visitor, reply = await book(server, "o'brien@client.com")
        await visitor.close()
        [row] = meetings_rows(server)
    [event] = google.state.events["ada@example.com"].values()
    # The template renders plain text (nothing escaped); Google reads the description as HTML, so
    # the provider escapes it: what the agent sees is the text as written.
    assert event["description"] == "Dear o'brien@client.com &lt;demo&gt;, Ada here."
    assert event["summary"] == "Intro: o'brien@client.com & Ada"
    assert row["join_url"].startswith("https://meet.google.com/") and row["join_url"] == event["hangoutLink"]


async def test_oauth_callback_refuses_unknown_used_or_denied_links(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com")], google=google)
    with serve(folder, port) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            forged = await client.get("/-/oauth/google/callback", params={"code": "x", "state": "forged"})
            assert forged.status_code == 400 and "Link expired" in forged.text
            denied = await client.get("/-/oauth/google/callback", params={"error": "access_denied", "state": "x"})
            assert denied.status_code == 400 and "access_denied" in denied.text
            unknown = await client.get("/-/oauth/fax/callback", params={"code": "x", "state": "x"})
            assert unknown.status_code == 404
        await connect_agent(folder, "ada@example.com")
        listing = (await cli(folder, "agents", "list")).output
        assert "ada@example.com" in listing and listing.rstrip().endswith("connected")
        stored = server.call(_stored_credentials)
    [refresh_token] = google.state.refresh_tokens  # the one Google issued
    assert stored.startswith("gAAAAA") and refresh_token not in stored  # Fernet, not the token itself
    unknown_agent = subprocess.run([CHINWAG, "agents", "connect", "--provider", "google", "zed@example.com", "--project", str(folder)],
                                   capture_output=True, text=True, timeout=60)
    assert unknown_agent.returncode == 1 and "zed@example.com is not listed under agents:" in unknown_agent.stderr
    other_provider = subprocess.run([CHINWAG, "agents", "connect", "--provider", "outlook", "ada@example.com", "--project", str(folder)],
                                    capture_output=True, text=True, timeout=60)
    assert other_provider.returncode == 1 and "uses the google provider" in other_provider.stderr


async def _stored_credentials(app) -> str:
    import sqlalchemy as sa
    from chinwag.meetings.tables import agents

    async with app.store.connect() as connection:
        return (await connection.execute(sa.select(agents.c.credentials))).scalar_one()
