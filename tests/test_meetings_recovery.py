"""Meetings when things change under a booking: a grant revoked after the offer, a lost reply from a
provider that then stays down, a rescheduled time the agent's calendar already holds, and token
rotation by two servers at once. Real servers, real WebSocket, sandboxes over loopback HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import httpx

from meetings_support import (  # noqa: F401  (fixtures)
    agent, choose, cli, connect_agent, free_port, google, meetings_rows, outlook, project, secret_key, serve, to_slots,
)

UTC = dt.timezone.utc


def instant(slot_id: str) -> dt.datetime:
    return dt.datetime.fromisoformat(slot_id.replace("Z", "+00:00"))


async def test_a_grant_revoked_after_the_offer_says_the_time_is_no_longer_available(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com"), agent("bob@example.com")], google=google)
    now = dt.datetime.now(UTC)
    google.state.add_busy("bob@example.com", now, now + dt.timedelta(hours=3))  # the first times are Ada's alone
    with serve(folder, port) as server:
        for email in ("ada@example.com", "bob@example.com"):
            await connect_agent(folder, email)
        visitor, question = await to_slots(server, "visitor@client.com")
        wanted = question["input"]["slots"][0]["id"]
        google.state.revoke(user="ada@example.com")  # Ada disconnects chinwag between offer and booking
        told = await choose(visitor, wanted)
        assert told["text"] == "Sorry, that time is no longer available. Here are the next free times."
        again = await visitor.question()
        offered = [slot["id"] for slot in again["input"]["slots"]]
        assert offered and wanted not in offered
        assert all(instant(slot) >= now + dt.timedelta(hours=3) for slot in offered)  # Bob's times
        assert (await choose(visitor, offered[0]))["text"].startswith("You're booked with Bob")
        await visitor.close()
        assert [row["agent_email"] for row in meetings_rows(server)] == ["bob@example.com"]


async def test_rescheduling_onto_a_time_the_agents_calendar_holds_is_refused(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com", buffer_after=10)], google=google)
    headers = {"Authorization": "Bearer a-test-admin-token-0123456789"}
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        visitor, question = await to_slots(server, "visitor@client.com")
        assert (await choose(visitor, question["input"]["slots"][0]["id"]))["text"].startswith("You're booked")
        await visitor.close()
        [row] = meetings_rows(server)
        booked = row["start"].replace(tzinfo=UTC)
        # Ada accepts another appointment in her own calendar, three hours after the meeting.
        other = booked + dt.timedelta(hours=3)
        google.state.add_busy("ada@example.com", other, other + dt.timedelta(hours=1))
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
            for clash in (other, other + dt.timedelta(minutes=45), other - dt.timedelta(minutes=35)):  # the last one: the buffer
                refused = await client.post(f"/-/admin/meetings/{row['id']}/reschedule", json={"start": clash.isoformat()})
                assert refused.status_code == 409 and "calendar is already busy" in refused.json()["error"], refused.text
            [unchanged] = meetings_rows(server)
            assert unchanged["start"].replace(tzinfo=UTC) == booked and unchanged["status"] == "scheduled"
            # Moving by a quarter of an hour overlaps only the meeting's own event: allowed.
            later = booked + dt.timedelta(minutes=15)
            moved = await client.post(f"/-/admin/meetings/{row['id']}/reschedule", json={"start": later.isoformat()})
            assert moved.status_code == 200 and moved.json()["meeting"]["status"] == "rescheduled", moved.text
    event = google.state.events["ada@example.com"][row["remote_id"]]
    assert event["start"]["dateTime"] == later.isoformat().replace("+00:00", "Z")
    assert [mail["kind"] for mail in google.state.notifications] == ["invitation", "update"]


async def test_two_servers_refreshing_a_rotating_token_at_once_keep_the_grant(tmp_path: Path, outlook) -> None:
    port, other_port = free_port(), free_port()
    folder = project(tmp_path / "p", port, [agent("grace@example.com", provider="outlook")], outlook=outlook)
    now = dt.datetime.now(UTC)

    async def read_calendar(app) -> object:
        from chinwag.meetings.agent_state import with_grant

        return await with_grant(app, "grace@example.com", lambda provider, grant: provider.busy(app, grant, now, now + dt.timedelta(hours=1)))

    with serve(folder, port) as first, serve(folder, other_port) as second:  # two servers, one database
        await connect_agent(folder, "grace@example.com", provider="outlook")
        outlook.state.expire_access_tokens()  # both servers' next call gets a 401 and refreshes
        outlook.state.slow_next(2.0, path="/token")  # the first refresh rotates the token, then answers late
        first_read = asyncio.create_task(asyncio.to_thread(first.call, read_calendar))
        while outlook.state.token_requests.count("refresh_token") < 1:  # the first refresh reached Microsoft
            await asyncio.sleep(0.01)
        second_read = await asyncio.to_thread(second.call, read_calendar)
        assert await first_read == [] and second_read == []  # both read the calendar; neither lost the grant
        listing = json.loads((await cli(folder, "agents", "list", "--json")).output)
        assert [(row["email"], row["status"]) for row in listing] == [("grace@example.com", "connected")]
    assert outlook.state.token_requests.count("refresh_token") == 1  # the second server used the first one's tokens
