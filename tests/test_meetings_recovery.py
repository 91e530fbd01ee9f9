"""Meetings when things change under a booking: a grant revoked after the offer, a lost reply from a
provider that then stays down, a rescheduled time the agent's calendar already holds, and token
rotation by two servers at once. Real servers, real WebSocket, sandboxes over loopback HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import httpx
import pytest

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


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_two_servers_refreshing_a_rotating_token_at_once_keep_the_grant(tmp_path: Path, request, outlook,
                                                                             database: str) -> None:
    port, other_port = free_port(), free_port()
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else None
    folder = project(tmp_path / "p", port, [agent("grace@example.com", provider="outlook")], outlook=outlook, database=url)
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


def live_events(sandbox, email: str) -> list[dict]:
    """The agent's events in a sandbox that are not cancelled (Google or Microsoft)."""
    events = sandbox.state.events.get(email, {}).values()
    return [event for event in events if event.get("status", "confirmed") != "cancelled" and not event.get("isCancelled")]


async def lose_the_booking(server, sandbox) -> None:
    """A visitor books; the provider makes the event but every answer is lost until the booking gives up."""
    visitor, question = await to_slots(server, "visitor@client.com")
    sandbox.state.fail_next(503, times=10, path="/events", method="POST", after_processing=True)
    reply = await choose(visitor, question["input"]["slots"][0]["id"])
    assert reply["text"].startswith("The calendar service isn't answering right now")
    await visitor.close()
    sandbox.state.faults.clear()


@pytest.mark.parametrize("provider", ["google", "outlook"])
async def test_an_event_whose_answer_was_lost_is_found_and_cancelled(tmp_path: Path, request, provider: str) -> None:
    sandbox = request.getfixturevalue(provider)
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com", provider=provider)], **{provider: sandbox})
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com", provider=provider)
        await lose_the_booking(server, sandbox)
        assert meetings_rows(server) == []
        [orphan] = live_events(sandbox, "ada@example.com")  # on Ada's calendar, the visitor invited, no meeting

        sandbox.state.fail_next(503, times=1000)  # the provider stays down: the sweep keeps the record
        told = (await cli(folder, "meetings", "reconcile")).output
        assert "0 event(s) cancelled" in told and "1 waiting" in told
        assert len(live_events(sandbox, "ada@example.com")) == 1

        sandbox.state.faults.clear()  # back up
        told = (await cli(folder, "meetings", "reconcile")).output
        assert "1 event(s) cancelled" in told and "0 waiting" in told
        assert live_events(sandbox, "ada@example.com") == []
        assert sandbox.state.notifications[-1]["kind"] == "cancellation"
        assert sandbox.state.notifications[-1]["to"] == ["visitor@client.com"]
        again = (await cli(folder, "meetings", "reconcile")).output
        assert "0 event(s) cancelled" in again and "0 record(s) cleared" in again and "0 waiting" in again


async def test_the_server_sweeps_by_itself_and_spares_booked_meetings(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com")], google=google, meetings={"reconcile_every": 1})
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        visitor, question = await to_slots(server, "booked@client.com")
        assert (await choose(visitor, question["input"]["slots"][-1]["id"]))["text"].startswith("You're booked")
        await visitor.close()
        await lose_the_booking(server, google)
        assert len(live_events(google, "ada@example.com")) == 2
        for _ in range(600):  # the sweep runs every second; allow a slow machine plenty of time
            if len(live_events(google, "ada@example.com")) == 1:
                break
            await asyncio.sleep(0.1)
        [kept] = live_events(google, "ada@example.com")
        [row] = meetings_rows(server)
        assert kept["id"] == row["remote_id"] and row["status"] == "scheduled"
