"""The iCalendar chinwag writes and reads: one VEVENT per meeting, VFREEBUSY answers."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import icalendar
from chinwag.calendars import EventRequest, Interval

PRODID = "-//chinwag//chinwag-caldav-calendar//EN"


def uid_for(idempotency_key: str) -> str:
    """The meeting's UID, the same for the same key: a booking's key may hold characters (``/``,
    ``:``) that servers refuse in the resource name they derive from the UID."""
    return "chinwag-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


def meeting(event: EventRequest, organizer: str, now: dt.datetime) -> str:
    """The VCALENDAR of a new meeting: its UID comes from the idempotency key."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    vevent = icalendar.Event()
    vevent.add("uid", uid_for(event.idempotency_key))
    vevent.add("dtstamp", now)
    vevent.add("dtstart", event.start)
    vevent.add("dtend", event.end)
    vevent.add("summary", event.summary)
    vevent.add("description", event.description)
    vevent.add("status", "CONFIRMED")
    vevent.add("sequence", 0)
    vevent.add("organizer", icalendar.vCalAddress(f"mailto:{organizer}"))
    attendee = icalendar.vCalAddress(f"mailto:{event.attendee_email}")
    attendee.params.update({"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"})
    if event.attendee_name:
        attendee.params["CN"] = icalendar.vText(event.attendee_name)
    vevent.add("attendee", attendee)
    calendar.add_component(vevent)
    return calendar.to_ical().decode()


def moved(data: str, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> str:
    """The same meeting at a new time: a new SEQUENCE and DTSTAMP, as RFC 5545 asks."""
    calendar = icalendar.Calendar.from_ical(data)
    for vevent in calendar.walk("VEVENT"):
        sequence = int(vevent.get("sequence", 0)) + 1
        for name in ("dtstart", "dtend", "duration", "dtstamp", "sequence"):
            vevent.pop(name, None)
        vevent.add("dtstart", start)
        vevent.add("dtend", end)
        vevent.add("dtstamp", now)
        vevent.add("sequence", sequence)
    return calendar.to_ical().decode()


def busy_intervals(data: str) -> list[Interval]:
    """The busy periods of a VFREEBUSY answer (FBTYPE BUSY, BUSY-UNAVAILABLE or BUSY-TENTATIVE)."""
    intervals = []
    for component in icalendar.Calendar.from_ical(data).walk("VFREEBUSY"):
        values = component.get("freebusy") or []
        for value in values if isinstance(values, list) else [values]:
            if str(value.params.get("FBTYPE", "BUSY")).upper() == "FREE":
                continue
            start, end_or_length = value.dt
            end = start + end_or_length if isinstance(end_or_length, dt.timedelta) else end_or_length
            intervals.append(Interval(_utc(start), _utc(end)))
    return sorted(intervals, key=lambda interval: interval.start)


def _utc(moment: Any) -> dt.datetime:
    return moment.astimezone(dt.timezone.utc) if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
