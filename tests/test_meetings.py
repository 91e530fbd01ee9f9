"""Booking meetings end to end: real server, real WebSocket, real HTTP to the calendar sandboxes."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from chinwag.testing import ScriptedVisitor
from meetings_support import (  # noqa: F401  (fixtures)
    agent, book, choose, cli, connect_agent, free_port, google, meetings_rows, outlook, project, secret_key, serve, to_slots,
)


async def test_google_booking_end_to_end(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com")], google=google, field="lead.meetingAgent")
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        visitor, question = await to_slots(server, "visitor@client.com", timezone="America/New_York")
        shown = question["input"]
        assert shown["kind"] == "slots" and shown["timezone"] == "America/New_York" and shown["duration"] == 30
        assert shown["agent"] == {"name": "Ada"}  # every time offered is hers
        first = shown["slots"][0]
        assert first["id"].endswith("Z") and first["start"] == first["id"]
        reply = await choose(visitor, first["id"])
        start = dt.datetime.fromisoformat(first["start"].replace("Z", "+00:00"))
        local = start.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
        assert reply["text"].startswith("You're booked with Ada on ") and f"{local:%H:%M} (America/New_York)" in reply["text"]
        assert reply["attachment"] == {"kind": "meeting", "start": first["start"], "end": first["end"],
                                       "timezone": "America/New_York", "agent": {"name": "Ada"}}
        event = await visitor.until("event")
        while event["name"] != "meeting_booked":
            event = await visitor.until("event")
        assert event["data"]["agent_email"] == "ada@example.com" and event["data"]["scheduled_for"] == first["start"]
        assert event["data"]["queue"] == "all agents" and event["data"]["page_url"] == "http://127.0.0.1/"
        await visitor.close()
        [row] = meetings_rows(server)
        assert row["status"] == "scheduled" and row["lead_email"] == "visitor@client.com" and row["remote_id"]
    [created] = google.state.events["ada@example.com"].values()
    assert created["attendees"][-1]["email"] == "visitor@client.com"
    assert "Thanks for booking a meeting with Ada" in created["description"]
    assert f"{local:%H:%M} (America/New_York)" in created["description"]
    [mail] = google.state.notifications
    assert mail["kind"] == "invitation" and mail["to"] == ["visitor@client.com"] and mail["send_updates"] == "all"


async def test_the_visitor_reads_the_times_in_a_zone_they_choose(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com"), agent("bob@example.com")], google=google)
    with serve(folder, port) as server:
        for email in ("ada@example.com", "bob@example.com"):
            await connect_agent(folder, email)
        visitor = ScriptedVisitor(server, timezone="Europe/London")
        welcome = await visitor.connect()
        assert welcome["books_meetings"] is True  # the widget shows the agents in its header
        await visitor.question()
        await visitor.send({"type": "answer", "question": visitor.awaiting, "value": "v@client.com", "timezone": "Mars/Olympus"})
        await visitor.question()  # an unknown zone is ignored
        await visitor.answer("demo")
        question = await visitor.until("question", timeout=30)
        assert question["input"]["timezone"] == "Europe/London"
        assert "agent" not in question["input"]  # two agents share the times: the queue decides at booking
        slot = question["input"]["slots"][0]
        await visitor.send({"type": "answer", "question": question["id"], "value": slot["id"], "timezone": "Asia/Tokyo"})
        local = dt.datetime.fromisoformat(slot["start"].replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Tokyo"))
        assert (await visitor.until("answered"))["text"].endswith(f"{local:%H:%M} (Asia/Tokyo)")
        booked = await visitor.until("message", timeout=60)
        assert f"{local:%H:%M} (Asia/Tokyo)" in booked["text"]
        assert booked["attachment"]["timezone"] == "Asia/Tokyo" and booked["attachment"]["agent"]["name"] in ("Ada", "Bob")
        await visitor.until("event")
        await visitor.close()

        again = ScriptedVisitor(server, visitor=visitor.visitor, session=visitor.session)
        transcript = (await again.connect())["transcript"]  # a reload: the card and each frame's time come back
        await again.close()
        assert [frame for frame in transcript if frame.get("attachment")] == [{**booked, "delay": 0, "at": transcript[-2]["at"]}]
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", frame["at"]) for frame in transcript)


async def test_outlook_booking_end_to_end(tmp_path: Path, outlook) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("grace@example.com", provider="outlook")], outlook=outlook)
    with serve(folder, port) as server:
        await connect_agent(folder, "grace@example.com", provider="outlook")
        visitor, reply = await book(server, "visitor@client.com")
        assert reply["text"].startswith("You're booked with Grace")
        await visitor.close()
        [row] = meetings_rows(server)
    [created] = outlook.state.events["grace@example.com"].values()
    assert created["transactionId"] == row["idempotency_key"]
    assert created["attendees"][0]["emailAddress"]["address"] == "visitor@client.com"
    assert "Thanks for booking a meeting with Grace" in created["body"]["content"]
    assert [mail["kind"] for mail in outlook.state.notifications] == ["invitation"]


async def test_a_time_taken_meanwhile_is_refused_and_the_next_times_offered(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com")], google=google)
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        first, question_one = await to_slots(server, "one@client.com")
        second, question_two = await to_slots(server, "two@client.com")
        wanted = question_one["input"]["slots"][0]["id"]
        assert question_two["input"]["slots"][0]["id"] == wanted
        assert (await choose(first, wanted))["text"].startswith("You're booked")
        told = await choose(second, wanted)
        assert told["text"] == "Sorry, that time was just taken. Here are the next free times."
        again = await second.question()
        offered = [slot["id"] for slot in again["input"]["slots"]]
        assert wanted not in offered
        # The agent's own calendar fills the next time: the fresh check with Google catches it.
        busy_start = dt.datetime.fromisoformat(offered[0].replace("Z", "+00:00"))
        google.state.add_busy("ada@example.com", busy_start, busy_start + dt.timedelta(minutes=30))
        assert (await choose(second, offered[0]))["text"].startswith("Sorry, that time was just taken")
        await second.question()
        for visitor in (first, second):
            await visitor.close()
        assert len(meetings_rows(server)) == 1
    assert len(google.state.events["ada@example.com"]) == 1


async def test_provider_outage_mid_booking_leaves_nothing_behind(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com")], google=google)
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        visitor, question = await to_slots(server, "visitor@client.com")
        google.state.fail_next(503, times=10, path="/events", method="POST")
        reply = await choose(visitor, question["input"]["slots"][0]["id"])
        assert reply["text"].startswith("The calendar service isn't answering right now")
        assert (await visitor.until("message"))["text"] == "Bye!"
        await visitor.close()
        assert meetings_rows(server) == []
    assert google.state.events.get("ada@example.com", {}) == {}


async def test_cancel_and_reschedule_update_the_remote_event(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com")], google=google)
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        visitor, _ = await book(server, "visitor@client.com")
        await visitor.close()
        [row] = meetings_rows(server)
        listing = json.loads((await cli(folder, "meetings", "--json")).output)
        assert [(m["id"], m["lead_email"], m["agent_email"], m["status"], m["passed"]) for m in listing] == [
            (row["id"], "visitor@client.com", "ada@example.com", "scheduled", False)]
        later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=30)).replace(minute=0, second=0, microsecond=0)
        text = (await cli(folder, "meetings", "reschedule", row["id"], "--to", later.isoformat())).output
        assert "rescheduled to" in text
        event = google.state.events["ada@example.com"][row["remote_id"]]
        assert event["start"]["dateTime"] == later.isoformat().replace("+00:00", "Z")
        assert google.state.notifications[-1]["kind"] == "update"
        table = (await cli(folder, "meetings", "--agent", "ada@example.com")).output
        assert row["id"] in table and "rescheduled" in table and "upcoming" in table
        headers = {"Authorization": "Bearer a-test-admin-token-0123456789"}
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/-/admin/meetings.json")).status_code == 401
            cancelled = await client.post(f"/-/admin/meetings/{row['id']}/cancel", headers=headers)
            assert cancelled.status_code == 200 and cancelled.json()["meeting"]["status"] == "cancelled"
            listed = (await client.get("/-/admin/meetings.json", headers=headers)).json()["meetings"]
            assert [m["status"] for m in listed] == ["cancelled"]
            again = await client.post(f"/-/admin/meetings/{row['id']}/cancel", headers=headers)
            assert again.status_code == 409
    assert google.state.events["ada@example.com"][row["remote_id"]]["status"] == "cancelled"
    assert google.state.notifications[-1]["kind"] == "cancellation"


async def test_rescheduling_onto_a_taken_time_is_refused(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com", buffer_after=15)], google=google)
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        for email, slot in (("one@client.com", 0), ("two@client.com", 5)):
            visitor, _ = await book(server, email, slot=slot)
            await visitor.close()
        first, second = meetings_rows(server)
        headers = {"Authorization": "Bearer a-test-admin-token-0123456789"}
        # 15 minutes after the first meeting ends is still inside its buffer
        clash = (first["end"].replace(tzinfo=dt.timezone.utc) + dt.timedelta(minutes=10)).isoformat()
        async with httpx.AsyncClient(base_url=server.url) as client:
            refused = await client.post(f"/-/admin/meetings/{second['id']}/reschedule", json={"start": clash}, headers=headers)
            assert refused.status_code == 409 and "already has a meeting" in refused.json()["error"]
            free = (first["end"].replace(tzinfo=dt.timezone.utc) + dt.timedelta(minutes=15)).isoformat()
            moved = await client.post(f"/-/admin/meetings/{second['id']}/reschedule", json={"start": free}, headers=headers)
            assert moved.status_code == 200 and moved.json()["meeting"]["status"] == "rescheduled"
    event = google.state.events["ada@example.com"][second["remote_id"]]
    assert event["start"]["dateTime"] == free.replace("+00:00", "Z")


async def test_a_hold_left_by_a_dead_booking_is_released_and_a_live_one_kept(tmp_path: Path, google) -> None:
    import sqlalchemy as sa

    from chinwag.meetings.tables import claim_cells, meeting_claims, meetings
    from chinwag.store import utcnow

    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com")], google=google)
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        visitor, question = await to_slots(server, "one@client.com")
        await visitor.close()
        # The latest times offered: the earliest may start (and so stop being offered) before the restart.
        dead, live = question["input"]["slots"][-1]["id"], question["input"]["slots"][-2]["id"]

        async def hold(app, slot_id: str, age: dt.timedelta) -> None:
            start = dt.datetime.fromisoformat(slot_id.replace("Z", "+00:00"))
            end, created = start + dt.timedelta(minutes=30), utcnow() - age
            async with app.store.transaction() as connection:
                await connection.execute(sa.insert(meetings).values(
                    id=f"m_{slot_id}", idempotency_key=f"k_{slot_id}", agent_email="ada@example.com", queue="all agents",
                    status="pending", start=start, end=end, created_at=created, updated_at=created))
                await connection.execute(sa.insert(meeting_claims), [
                    {"agent_email": "ada@example.com", "cell": cell, "meeting_id": f"m_{slot_id}"} for cell in claim_cells(start, end)])

        server.call(lambda app: hold(app, dead, dt.timedelta(hours=1)))
        server.call(lambda app: hold(app, live, dt.timedelta(seconds=5)))
    with serve(folder, port) as server:  # a restart releases the dead booking's hold
        visitor, question = await to_slots(server, "two@client.com")
        offered = [slot["id"] for slot in question["input"]["slots"]]
        assert dead in offered and live not in offered
        assert (await choose(visitor, dead))["text"].startswith("You're booked")
        await visitor.close()
        rows = {row["idempotency_key"]: row["status"] for row in meetings_rows(server)}
    assert f"k_{dead}" not in rows and rows[f"k_{live}"] == "pending" and sorted(rows.values()) == ["pending", "scheduled"]
