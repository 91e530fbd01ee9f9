"""The CalDAV provider against a real Radicale server: free/busy by REPORT, a meeting PUT once
per key, moved, cancelled; refused credentials and a server that is gone."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest
from chinwag.calendars import CalendarUnavailable, EventRequest, Grant, GrantRevoked, Interval
from chinwag_caldav_calendar import CaldavProvider
from caldav_support import PASSWORDS, Radicale

START = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)


def grant(email: str = "ada@example.com", calendar: str = "me", password: str | None = None) -> Grant:
    return Grant(email, calendar, {"username": email, "password": password or PASSWORDS[email]})


def request(key: str = "s_1/meeting/3/2027-03-01T15:00:00Z", start: dt.datetime = START) -> EventRequest:
    return EventRequest(key, start, start + dt.timedelta(minutes=30), "Ada and Grace", "About the demo",
                        "grace@client.example", "Grace Hopper")


def put_event(calendar: object, uid: str, start: dt.datetime, minutes: int) -> None:
    """An event another calendar client made."""
    end = start + dt.timedelta(minutes=minutes)
    calendar.save_event(f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//other//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
                        f"DTSTAMP:20270101T000000Z\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\n"
                        f"SUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def vevent(calendar: object, uid: str) -> icalendar.Event:
    return icalendar.Calendar.from_ical(calendar.event_by_uid(uid).data).walk("VEVENT")[0]


async def test_free_busy_shows_what_other_clients_booked(radicale: Radicale) -> None:
    calendar = radicale.make_calendar("ada@example.com")
    put_event(calendar, "dentist", START, 45)
    put_event(calendar, "far-away", START + 48 * HOUR, 60)
    provider = CaldavProvider({"url": radicale.url})
    busy = await provider.busy(None, grant(), START - HOUR, START + 2 * HOUR)
    assert busy == [Interval(START, START + dt.timedelta(minutes=45))]
    assert await provider.busy(None, grant(), START + 3 * HOUR, START + 4 * HOUR) == []


async def test_a_meeting_is_put_once_per_key_moved_and_cancelled(radicale: Radicale) -> None:
    calendar = radicale.make_calendar("ada@example.com")
    provider = CaldavProvider({"url": radicale.url})
    created = await provider.create_event(None, grant(), request())
    again = await provider.create_event(None, grant(), request())  # a retried booking
    assert again.remote_id == created.remote_id and len(calendar.events()) == 1
    stored = vevent(calendar, created.remote_id)
    assert str(stored["attendee"]) == "mailto:grace@client.example" and str(stored["organizer"]) == "mailto:ada@example.com"
    assert await provider.busy(None, grant(), START - HOUR, START + HOUR) == [Interval(START, START + dt.timedelta(minutes=30))]
    later = START + 2 * HOUR
    await provider.move_event(None, grant(), created.remote_id, later, later + dt.timedelta(minutes=30))
    assert await provider.busy(None, grant(), START - HOUR, START + HOUR) == []
    assert [i.start for i in await provider.busy(None, grant(), later - HOUR, later + HOUR)] == [later]
    assert int(vevent(calendar, created.remote_id)["sequence"]) == 1
    await provider.cancel_event(None, grant(), created.remote_id)
    await provider.cancel_event(None, grant(), created.remote_id)  # gone already: fine
    assert calendar.events() == []


async def test_a_named_calendar_is_used_rather_than_the_first(radicale: Radicale) -> None:
    radicale.make_calendar("bob@example.com", "personal")
    meetings = radicale.make_calendar("bob@example.com", "meetings")
    provider = CaldavProvider({"url": radicale.url})
    created = await provider.create_event(None, grant("bob@example.com", "bob@example.com/meetings/"), request("m_2"))
    assert [event.icalendar_component["uid"] for event in meetings.events()] == [created.remote_id]


async def test_refused_credentials_revoke_the_grant_and_a_dead_server_is_an_outage(radicale: Radicale) -> None:
    radicale.make_calendar("ada@example.com")
    provider = CaldavProvider({"url": radicale.url})
    with pytest.raises(GrantRevoked, match="reconnect"):
        await provider.busy(None, grant(password="an-old-app-password"), START, START + HOUR)
    radicale.process.terminate()
    radicale.process.wait(15)
    with pytest.raises(CalendarUnavailable):
        await provider.create_event(None, grant(), request())
